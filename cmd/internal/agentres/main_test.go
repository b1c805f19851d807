package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/tc-hib/winres"
	"github.com/tc-hib/winres/version"
)

func TestNumeric(t *testing.T) {
	for in, want := range map[string][4]uint16{
		"v1.2.3": {1, 2, 3, 0}, "1.2.3": {1, 2, 3, 0}, "v1.2.3-4-gabcdef0": {1, 2, 3, 4},
		"v1.2.3-4-gabcdef0-dirty": {1, 2, 3, 4}, "v0.9.0-rc1": {0, 9, 0, 0}, "dev": {}, "abcdef0": {}, "v99999.1.1": {},
	} {
		if got := Numeric(in); got != want {
			t.Errorf("Numeric(%q) = %v, want %v", in, got, want)
		}
	}
}

// The object depends only on version and architecture.
func TestObjectIsReproducible(t *testing.T) {
	for _, arch := range []string{"amd64", "arm64"} {
		a, err := Object("v1.2.3", arch)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := Object("v1.2.3", arch)
		if !bytes.Equal(a, b) {
			t.Errorf("%s: two runs differ", arch)
		}
		c, _ := Object("v1.2.4", arch)
		if bytes.Equal(a, c) {
			t.Errorf("%s: the version does not reach the object", arch)
		}
	}
	if _, err := Object("v1", "386"); err == nil {
		t.Error("386 accepted")
	}
	if _, err := Object("", "amd64"); err == nil {
		t.Error("empty version accepted")
	}
}

// Issue 10 item 3: a Windows program linked with the object carries the
// version resource, read back from the PE file by winres' own reader.
func TestLinkedProgramCarriesTheVersion(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module hello\n\ngo 1.21\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nfunc main() {}\n"), 0o644)
	for _, arch := range []string{"amd64", "arm64"} {
		syso := filepath.Join(dir, "rsrc_windows_"+arch+".syso")
		if err := run("v1.2.3-4-gabcdef0", arch, syso); err != nil {
			t.Fatal(err)
		}
		exe := filepath.Join(dir, "hello-"+arch+".exe")
		cmd := exec.Command("go", "build", "-trimpath", "-o", exe, ".")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOOS=windows", "GOARCH="+arch, "CGO_ENABLED=0", "GOFLAGS=-mod=mod", "GOWORK=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
		f, err := os.Open(exe)
		if err != nil {
			t.Fatal(err)
		}
		rs, err := winres.LoadFromEXE(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", arch, err)
		}
		data := rs.Get(winres.RT_VERSION, winres.ID(1), version.LangDefault)
		if data == nil {
			t.Fatalf("%s: no version resource", arch)
		}
		vi, err := version.FromBytes(data)
		if err != nil {
			t.Fatal(err)
		}
		if vi.FileVersion != [4]uint16{1, 2, 3, 4} || vi.ProductVersion != [4]uint16{1, 2, 3, 4} {
			t.Errorf("%s: fixed versions %v %v", arch, vi.FileVersion, vi.ProductVersion)
		}
		js, _ := json.Marshal(vi)
		for _, key := range []string{version.FileVersion, version.ProductVersion} {
			if !bytes.Contains(js, []byte(`"`+key+`":"v1.2.3-4-gabcdef0"`)) {
				t.Errorf("%s: %s string missing in %s", arch, key, js)
			}
		}
	}
}
