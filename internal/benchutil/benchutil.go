// Package benchutil measures whole processes for the benchmarks behind
// docs/performance.md: wall time from start to exit and peak RSS.
package benchutil

import (
	"bytes"
	"fmt"
	"os/exec"
	"sort"
	"time"
)

// Run runs cmd and returns its wall time and peak RSS in KiB (0 where the
// OS does not report it).
func Run(cmd *exec.Cmd) (time.Duration, int64, error) {
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return wall, 0, fmt.Errorf("%s: %v\n%s", cmd.Path, err, out.String())
	}
	return wall, peakRSSKiB(cmd.ProcessState), nil
}

// Median of the durations.
func Median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// MS is d in milliseconds.
func MS(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
