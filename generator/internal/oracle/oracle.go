// Package oracle runs the independent checkers of ../shared/tools (Samba's
// registry.pol parser, Microsoft's Task Scheduler XSD through xmllint) and
// compares golden files. Test support only.
package oracle

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files instead of comparing")

// Unavailable skips locally, and fails in CI (CI=true) where every oracle
// must be installed.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("oracle unavailable in CI: "+format, args...)
	}
	t.Skipf("skipping, oracle unavailable: "+format, args...)
}

// Shared returns ../shared beside the repository (AVDGEN_SHARED overrides).
func Shared(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("AVDGEN_SHARED"); d != "" {
		return d
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test")
		}
		dir = parent
	}
	shared := filepath.Join(filepath.Dir(dir), "shared")
	if _, err := os.Stat(filepath.Join(shared, "tools")); err != nil {
		Unavailable(t, "%s/tools not found (shared/ must sit beside the checkout)", shared)
	}
	return shared
}

// PolEntry is one line of pol-check's output.
type PolEntry struct {
	Key   string `json:"key"`
	Value string `json:"value"`
	Type  string `json:"type"`
	Size  int    `json:"size"`
	Data  any    `json:"data"`
}

// PolCheck runs Samba's parser on file and returns the entries; any defect
// it reports fails the test.
func PolCheck(t testing.TB, file string) []PolEntry {
	t.Helper()
	tool := filepath.Join(Shared(t), "tools", "pol-check")
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		Unavailable(t, "%s missing", py)
	}
	if err := exec.Command(py, "-c", "import samba.dcerpc.preg").Run(); err != nil {
		Unavailable(t, "python3-samba is not installed")
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(py, tool, file)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("pol-check %s: %v\n%s%s", file, err, stdout.String(), stderr.String())
	}
	var out []PolEntry
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		var e PolEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("pol-check output %q: %v", sc.Text(), err)
		}
		out = append(out, e)
	}
	return out
}

// TaskCheck validates task XML (standalone or a preferences
// ScheduledTasks.xml) against Microsoft's XSD; failure fails the test.
func TaskCheck(t testing.TB, files ...string) string {
	t.Helper()
	tool := filepath.Join(Shared(t), "tools", "task-check")
	if _, err := exec.LookPath("xmllint"); err != nil {
		Unavailable(t, "xmllint missing (apt-get install libxml2-utils)")
	}
	out, err := exec.Command("python3", append([]string{tool}, files...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("task-check: %v\n%s", err, out)
	}
	return string(out)
}

// Golden compares got with testdata/golden/<name> byte for byte; with
// -update it rewrites the file.
func Golden(t testing.TB, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", filepath.FromSlash(name))
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden %s: %v (run go test -update to create it)", path, err)
	}
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		t.Errorf("%s differs from its golden file at byte %d (got %d bytes, want %d); rerun with -update if the change is intended", name, i, len(got), len(want))
	}
}

// PSParse checks PowerShell files with tree-sitter-powershell through
// shared/tools/ps-parse/ps-parse.mjs, which must sit beside the node_modules
// that hold tree-sitter and tree-sitter-powershell (see its README). The
// folder is $AVDGEN_PS_PARSE, else shared/tools/ps-parse. Any syntax error
// fails the test.
func PSParse(t testing.TB, files ...string) string {
	t.Helper()
	dir := os.Getenv("AVDGEN_PS_PARSE")
	if dir == "" {
		dir = filepath.Join(Shared(t), "tools", "ps-parse")
	}
	if _, err := exec.LookPath("node"); err != nil {
		Unavailable(t, "node missing")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "tree-sitter-powershell")); err != nil {
		Unavailable(t, "%s/node_modules lacks tree-sitter-powershell (npm install tree-sitter@0.25 tree-sitter-powershell@0.26.4 there, or set AVDGEN_PS_PARSE)", dir)
	}
	out, err := exec.Command("node", append([]string{filepath.Join(dir, "ps-parse.mjs")}, files...)...).Output()
	if err != nil {
		t.Fatalf("ps-parse: %v\n%s", err, out)
	}
	return string(out)
}
