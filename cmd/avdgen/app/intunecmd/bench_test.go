package intunecmd

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/avdgen/avdgen/dist"
	"github.com/avdgen/avdgen/internal/benchutil"
)

// floorScript does the same packaging work with zip and openssl in one
// shell: zip the content, encrypt it, HMAC IV||ciphertext, digest the zip,
// and zip the result with its metadata. It is the floor avdgen is measured
// against (docs/performance.md).
const floorScript = `set -e
cd "$WORK"
rm -rf src out && mkdir -p src out/IntuneWinPackage/Contents out/IntuneWinPackage/Metadata
cp "$AGENTS"/avd-agent-amd64.exe "$AGENTS"/avd-agent-arm64.exe src/
printf 'install\r\n' > src/install.ps1; printf 'uninstall\r\n' > src/uninstall.ps1; printf '<Task/>' > src/avd-agent-logoff.xml
(cd src && zip -q -X -r ../content.zip .)
KEY=$(openssl rand -hex 32); MAC=$(openssl rand -hex 32); IV=$(openssl rand -hex 16)
openssl enc -aes-256-cbc -K "$KEY" -iv "$IV" -in content.zip -out ct
printf '%s' "$IV" | xxd -r -p > iv
cat iv ct > ivct
openssl mac -digest SHA256 -macopt hexkey:"$MAC" -binary -in ivct HMAC > mac
sha256sum content.zip > digest
cat mac ivct > out/IntuneWinPackage/Contents/IntunePackage.intunewin
printf '<ApplicationInfo/>' > out/IntuneWinPackage/Metadata/Detection.xml
(cd out && zip -q -X -0 -r ../avd-agent.intunewin IntuneWinPackage)
`

// BenchmarkIntuneBundle runs the built avdgen (real embedded agents) for
// `avdgen intune` beside the zip+openssl floor, in the same run.
func BenchmarkIntuneBundle(b *testing.B) {
	agents, err := dist.Embedded()
	if err != nil {
		b.Skip("agents not embedded: run make agents")
	}
	for _, tool := range []string{"zip", "openssl", "xxd", "sha256sum"} {
		if _, err := exec.LookPath(tool); err != nil {
			b.Skipf("%s not installed: no floor to compare with", tool)
		}
	}
	work := b.TempDir()
	agentDir := filepath.Join(work, "agents")
	os.MkdirAll(agentDir, 0o755)
	for _, a := range dist.Arches {
		ag, _ := agents.Get(a)
		bin, err := ag.Bytes()
		if err != nil || len(bin) == 0 {
			b.Fatalf("agent %s: %v", a, err)
		}
		os.WriteFile(filepath.Join(agentDir, dist.FileName(a)), bin, 0o755)
	}
	bin := filepath.Join(work, "avdgen")
	if out, err := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "github.com/avdgen/avdgen/cmd/avdgen").CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	runs := max(b.N, 15)
	var ours, floor []time.Duration
	var peak int64
	b.ResetTimer()
	for i := 0; i < runs; i++ {
		out := filepath.Join(work, "bundle")
		os.RemoveAll(out)
		wall, rss, err := benchutil.Run(exec.Command(bin, "intune", "--disconnected", "15m", "--idle", "2h", "--out", out))
		if err != nil {
			b.Fatal(err)
		}
		ours = append(ours, wall)
		peak = max(peak, rss)
		cmd := exec.Command("sh", "-c", floorScript)
		cmd.Env = append(os.Environ(), "WORK="+work, "AGENTS="+agentDir)
		wall, _, err = benchutil.Run(cmd)
		if err != nil {
			b.Fatal(err)
		}
		floor = append(floor, wall)
	}
	b.StopTimer()
	o, f := benchutil.Median(ours), benchutil.Median(floor)
	b.ReportMetric(benchutil.MS(o), "avdgen-median-ms")
	b.ReportMetric(benchutil.MS(f), "floor-median-ms")
	b.ReportMetric(float64(o)/float64(f), "avdgen/floor")
	b.ReportMetric(float64(peak)/1024, "avdgen-peak-RSS-MiB")
}
