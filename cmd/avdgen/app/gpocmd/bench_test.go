package gpocmd

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/avdgen/avdgen/cmd/avdgen/app/cmdutil"
	"github.com/avdgen/avdgen/dist"
)

// BenchmarkGPOInProcess runs `avdgen gpo` on the example spec in-process
// with the real embedded agents (skipped when avdgen was built without them).
func BenchmarkGPOInProcess(b *testing.B) {
	agents, err := dist.Embedded()
	if err != nil {
		b.Skip("agents not embedded: run make agents")
	}
	example, _ := filepath.Abs("../../../../examples/avdgen.yaml")
	f := &cmdutil.Factory{
		IO:     &cmdutil.IOStreams{Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}},
		Getenv: func(string) string { return "" },
		Agents: func() (dist.Agents, error) { return agents, nil },
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		cmd := NewCmdGPO(f, nil)
		cmd.SetArgs([]string{"--config", example, "--out", filepath.Join(b.TempDir(), "out")})
		if err := cmd.Execute(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGPOProcess measures the built avdgen binary end to end: median
// wall time from exec to exit and peak RSS (docs/performance.md).
func BenchmarkGPOProcess(b *testing.B) {
	if _, err := dist.Embedded(); err != nil {
		b.Skip("agents not embedded: run make agents")
	}
	bin := filepath.Join(b.TempDir(), "avdgen")
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "github.com/avdgen/avdgen/cmd/avdgen")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	example, _ := filepath.Abs("../../../../examples/avdgen.yaml")
	runs := max(b.N, 20)
	var walls []time.Duration
	var peak int64
	b.ResetTimer()
	for i := 0; i < runs; i++ {
		out := filepath.Join(b.TempDir(), "out")
		cmd := exec.Command(bin, "gpo", "--config", example, "--out", out)
		cmd.Env = os.Environ()
		start := time.Now()
		if o, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%v\n%s", err, o)
		}
		walls = append(walls, time.Since(start))
		peak = max(peak, peakRSSKiB(cmd.ProcessState))
	}
	b.StopTimer()
	sort.Slice(walls, func(i, j int) bool { return walls[i] < walls[j] })
	b.ReportMetric(float64(walls[len(walls)/2].Microseconds())/1000, "median-ms")
	b.ReportMetric(float64(peak)/1024, "peak-RSS-MiB")
}
