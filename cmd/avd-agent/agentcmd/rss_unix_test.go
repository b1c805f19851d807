//go:build unix

package agentcmd

import (
	"os"
	"syscall"
)

// peakRSSKiB is the child's peak resident set size (Linux reports KiB).
func peakRSSKiB(ps *os.ProcessState) int64 {
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return int64(ru.Maxrss)
	}
	return 0
}
