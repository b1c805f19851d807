package gpocmd

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/avdgen/avdgen/cmd/avdgen/app/cmdutil"
	"github.com/avdgen/avdgen/dist"
	"github.com/avdgen/avdgen/internal/benchutil"
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
		wall, rss, err := benchutil.Run(cmd)
		if err != nil {
			b.Fatal(err)
		}
		walls = append(walls, wall)
		peak = max(peak, rss)
	}
	b.StopTimer()
	b.ReportMetric(benchutil.MS(benchutil.Median(walls)), "median-ms")
	b.ReportMetric(float64(peak)/1024, "peak-RSS-MiB")
}
