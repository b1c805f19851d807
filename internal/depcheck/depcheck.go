// Package depcheck lists what a binary links, as `go list -deps` reports it
// for a target GOOS/GOARCH, for the dependency tests of cmd/avd-agent and
// cmd/avdgen. Test support only: neither binary links it.
package depcheck

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
)

// Module is avdgen's module path.
const Module = "github.com/avdgen/avdgen"

// Linked is what one binary links for one target.
type Linked struct {
	Target string // e.g. windows/amd64
	// Own are avdgen's own packages, relative to the module (agent/logoff).
	Own []string
	// Modules are the third-party modules of every linked package.
	Modules []string
	// DirectModules are the modules of the third-party packages that
	// avdgen's own packages import themselves (not through a library).
	DirectModules []string
}

// List runs `go list -deps` for pkg (an import path relative to the module,
// e.g. cmd/avd-agent) with GOOS and GOARCH set, and fails the test when it
// cannot: a dependency test that cannot look must not pass.
func List(t testing.TB, goos, goarch, pkg string) Linked {
	t.Helper()
	const format = `{{if not .Standard}}{{.ImportPath}}	{{with .Module}}{{.Path}}{{end}}	{{join .Imports " "}}{{end}}`
	cmd := exec.Command(goTool(), "list", "-deps", "-f", format, Module+"/"+pkg)
	cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch, "CGO_ENABLED=0", "GOFLAGS=-mod=readonly")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps %s (GOOS=%s GOARCH=%s): %v\n%s", pkg, goos, goarch, err, stderr.String())
	}
	l := Linked{Target: goos + "/" + goarch}
	moduleOf := map[string]string{}
	var ownImports []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		fields := strings.SplitN(sc.Text(), "\t", 3)
		if len(fields) < 2 || fields[0] == "" {
			continue
		}
		path, mod := fields[0], fields[1]
		moduleOf[path] = mod
		if mod == Module {
			l.Own = append(l.Own, strings.TrimPrefix(path, Module+"/"))
			if len(fields) == 3 {
				ownImports = append(ownImports, strings.Fields(fields[2])...)
			}
			continue
		}
		l.Modules = append(l.Modules, mod)
	}
	for _, imp := range ownImports {
		if mod, ok := moduleOf[imp]; ok && mod != Module {
			l.DirectModules = append(l.DirectModules, mod)
		}
	}
	l.Own, l.Modules, l.DirectModules = uniq(l.Own), uniq(l.Modules), uniq(l.DirectModules)
	if len(l.Own) == 0 {
		t.Fatalf("go list -deps %s named none of avdgen's packages:\n%s", pkg, out)
	}
	return l
}

// Packages lists avdgen's packages matching pattern (./agent/...) that hold
// non-test Go files for goos, relative to the module.
func Packages(t testing.TB, goos, pattern string) []string {
	t.Helper()
	cmd := exec.Command(goTool(), "list", "-f", `{{if .GoFiles}}{{.ImportPath}}{{end}}`, Module+"/"+pattern)
	cmd.Env = append(os.Environ(), "GOOS="+goos, "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %s: %v\n%s", pattern, err, stderr.String())
	}
	var pkgs []string
	for _, p := range strings.Fields(string(out)) {
		pkgs = append(pkgs, strings.TrimPrefix(p, Module+"/"))
	}
	return pkgs
}

// IsTestSupport reports the packages only tests may link: everything under
// the top-level internal/ (loopback fakes, test helpers, harnesses) and any
// package named like a fake or a test helper wherever it sits.
func IsTestSupport(own string) bool {
	base := own[strings.LastIndex(own, "/")+1:]
	return strings.HasPrefix(own, "internal/") || strings.HasPrefix(base, "fake") || strings.HasSuffix(base, "test")
}

// goTool is the go command on PATH, else the one of the running toolchain.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

func uniq(s []string) []string {
	sort.Strings(s)
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}
