package pack

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/avdgen/avdgen/internal/testkit"
)

func stage(t *testing.T) string {
	dir := t.TempDir()
	for name, mode := range map[string]os.FileMode{"avdgen_v1_linux_amd64/avdgen": 0o755, "avdgen_v1_linux_amd64/README.md": 0o644,
		"avdgen_v1_windows_arm64/avdgen.exe": 0o755, "avdgen_v1_windows_arm64/README.md": 0o644} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("content of "+name), mode); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// The same staged files give the same archive bytes, whatever the files'
// own times on disk; another release time gives other bytes.
func TestArchivesAreReproducible(t *testing.T) {
	st := stage(t)
	a, b := t.TempDir(), t.TempDir()
	if _, err := All(st, a, 1700000000); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Hour)
	filepath.Walk(st, func(p string, _ os.FileInfo, _ error) error { return os.Chtimes(p, later, later) })
	if _, err := All(st, b, 1700000000); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"avdgen_v1_linux_amd64.tar.gz", "avdgen_v1_windows_arm64.zip", "SHA256SUMS"} {
		x, _ := os.ReadFile(filepath.Join(a, name))
		y, _ := os.ReadFile(filepath.Join(b, name))
		if len(x) == 0 || !bytes.Equal(x, y) {
			t.Errorf("%s differs between two packs of the same files (%d vs %d bytes)", name, len(x), len(y))
		}
	}
	c := t.TempDir()
	if _, err := All(st, c, 1700000001); err != nil {
		t.Fatal(err)
	}
	x, _ := os.ReadFile(filepath.Join(a, "SHA256SUMS"))
	y, _ := os.ReadFile(filepath.Join(c, "SHA256SUMS"))
	if bytes.Equal(x, y) {
		t.Error("the release time does not reach the archives")
	}
}

// tar, unzip and sha256sum (not our code) read what we wrote.
func TestArchivesReadByStandardTools(t *testing.T) {
	for _, tool := range []string{"tar", "unzip", "sha256sum"} {
		if _, err := exec.LookPath(tool); err != nil {
			testkit.Unavailable(t, "%s missing (make deps)", tool)
		}
	}
	out := t.TempDir()
	if _, err := All(stage(t), out, 1700000000); err != nil {
		t.Fatal(err)
	}
	tv, err := exec.Command("tar", "-tzvf", filepath.Join(out, "avdgen_v1_linux_amd64.tar.gz")).CombinedOutput()
	if err != nil || !strings.Contains(string(tv), "-rwxr-xr-x") || !strings.Contains(string(tv), "avdgen_v1_linux_amd64/avdgen") ||
		!strings.Contains(string(tv), "2023-11-14") {
		t.Errorf("tar -tzvf: %v\n%s", err, tv)
	}
	zl, err := exec.Command("unzip", "-Z", "-l", filepath.Join(out, "avdgen_v1_windows_arm64.zip")).CombinedOutput()
	if err != nil || !strings.Contains(string(zl), "avdgen_v1_windows_arm64/avdgen.exe") {
		t.Errorf("unzip -Z: %v\n%s", err, zl)
	}
	cmd := exec.Command("sha256sum", "-c", "SHA256SUMS")
	cmd.Dir = out
	if res, err := cmd.CombinedOutput(); err != nil || strings.Count(string(res), ": OK") != 2 {
		t.Errorf("sha256sum -c: %v\n%s", err, res)
	}
}
