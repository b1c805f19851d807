package agentcmd

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/avdgen/avdgen/internal/benchutil"
	"github.com/avdgen/avdgen/internal/fakeazure"
)

// BenchmarkAgentProcess measures the whole agent process (start to exit,
// grace 0) against the loopback fake, beside the same three requests made by
// curl in one shell: the floor no agent can beat. Figures: docs/perf/agent.md.
func BenchmarkAgentProcess(b *testing.B) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		b.Skip("curl not installed: no floor to compare with")
	}
	bin := filepath.Join(b.TempDir(), "avd-agent")
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "github.com/avdgen/avdgen/cmd/avd-agent")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	fake := fakeazure.New(b, fakeazure.DefaultVM())
	logFile := filepath.Join(b.TempDir(), "agent.log")
	agentArgs := []string{"logoff", "--grace", "0s", "--imds-endpoint", fake.URL, "--arm-endpoint", fake.URL, "--log-file", logFile}
	id := fakeazure.DefaultVM().ID()
	script := `set -e
c() { "$CURL" -sS -o /dev/null --noproxy '*' "$@"; }
c -H 'Metadata: true' "$BASE/metadata/instance?api-version=2021-12-13"
c -H 'Metadata: true' "$BASE/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://management.azure.com/"
c -X POST -H 'Authorization: Bearer fake-token-for-x' "$BASE$ID/deallocate?api-version=2024-07-01"`

	measure := func(name string, args ...string) (time.Duration, int64) {
		cmd := exec.Command(name, args...)
		cmd.Env = append(os.Environ(), "CURL="+curl, "BASE="+fake.URL, "ID="+id)
		wall, rss, err := benchutil.Run(cmd)
		if err != nil {
			b.Fatal(err)
		}
		return wall, rss
	}
	runs := b.N
	if runs < 15 {
		runs = 15
	}
	var agentWall, curlWall []time.Duration
	var peak int64
	b.ResetTimer()
	for i := 0; i < runs; i++ {
		w, rss := measure(bin, agentArgs...)
		agentWall = append(agentWall, w)
		if rss > peak {
			peak = rss
		}
		w, _ = measure("sh", "-c", script)
		curlWall = append(curlWall, w)
	}
	b.StopTimer()
	if got := fake.Count("POST", id+"/deallocate"); got != 2*runs {
		b.Fatalf("deallocate POSTs = %d, want %d (each run must really deallocate)", got, 2*runs)
	}
	am, cm := benchutil.Median(agentWall), benchutil.Median(curlWall)
	b.ReportMetric(float64(am.Microseconds())/1000, "agent-median-ms")
	b.ReportMetric(float64(cm.Microseconds())/1000, "curl-floor-median-ms")
	b.ReportMetric(float64(am)/float64(cm), "agent/floor")
	b.ReportMetric(float64(peak)/1024, "agent-peak-RSS-MiB")
}
