package dist

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/avdgen/avdgen/internal/testpe"
)

func TestLoadFromDir(t *testing.T) {
	dir := t.TempDir()
	for _, a := range Arches {
		if err := os.WriteFile(filepath.Join(dir, FileName(a)), testpe.Agent(Machine[a], string(a)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ag, err := FromDir(dir)
	if err != nil {
		t.Fatalf("FromDir: %v", err)
	}
	if ag.Version != "custom" {
		t.Errorf("version without VERSION file = %q, want custom", ag.Version)
	}
	amd, ok := ag.Get(AMD64)
	if !ok || !strings.HasSuffix(string(amd.Binary), "fake avd-agent for amd64") {
		t.Fatalf("amd64 agent = %q, %v", amd.Binary, ok)
	}
	// sha256 of testpe.Agent(AMD64), computed independently with sha256sum.
	if got, want := amd.SHA256(), "e1223b4f1d67704861d35b5550184a9be1b4da09245059dabc6b7485d27e71d2"; got != want {
		t.Errorf("SHA256 = %q, want %q", got, want)
	}

	if err := os.WriteFile(filepath.Join(dir, "VERSION"), []byte("v1.2.3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if ag, _ := FromDir(dir); ag.Version != "v1.2.3" {
		t.Errorf("version = %q, want v1.2.3 from VERSION", ag.Version)
	}
}

func TestLoadMissingArch(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, FileName(AMD64)), testpe.Agent(testpe.MachineAMD64, "amd64"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := FromDir(dir)
	if err == nil || !strings.Contains(err.Error(), "avd-agent-arm64.exe") {
		t.Fatalf("FromDir with arm64 missing: err = %v, want it to name avd-agent-arm64.exe", err)
	}
	if _, err := FromDir(filepath.Join(dir, "nope")); err == nil {
		t.Fatal("FromDir of a missing folder: want error")
	}
}

func TestEmbeddedPlaceholderSaysHowToFix(t *testing.T) {
	fsys := fstest.MapFS{"bin/README.txt": {Data: []byte("placeholder")}}
	_, err := load(fsys, "bin", true)
	if !errors.Is(err, ErrNotBundled) {
		t.Fatalf("load of placeholder-only bin = %v, want ErrNotBundled", err)
	}
	if !strings.Contains(err.Error(), "make") || !strings.Contains(err.Error(), "--agent-dir") {
		t.Errorf("error %q does not say how to fix it", err)
	}
}

// TestFromDirChecksPE: --agent-dir takes only console executables of the
// right machine type; anything else is refused naming the file and what is
// wrong.
func TestFromDirChecksPE(t *testing.T) {
	good := map[Arch][]byte{AMD64: testpe.Agent(testpe.MachineAMD64, "amd64"), ARM64: testpe.Agent(testpe.MachineARM64, "arm64")}
	cases := []struct {
		name string
		arch Arch
		data []byte
		want []string
	}{
		{"9-byte text file", AMD64, []byte("not a PE\n"), []string{"avd-agent-amd64.exe is not a Windows executable (PE file)"}},
		{"amd64 exe named arm64", ARM64, good[AMD64], []string{"avd-agent-arm64.exe is built for machine AMD64 (x64), 0x8664, want ARM64, 0xAA64"}},
		{"arm64 exe named amd64", AMD64, good[ARM64], []string{"avd-agent-amd64.exe is built for machine ARM64, 0xAA64, want AMD64 (x64), 0x8664"}},
		{"GUI subsystem", AMD64, testpe.Build(testpe.MachineAMD64, testpe.SubsystemGUI, nil), []string{"avd-agent-amd64.exe has subsystem 2, want the console subsystem (3"}},
		{"i386", AMD64, testpe.Build(testpe.MachineI386, testpe.SubsystemCUI, nil), []string{"i386", "0x014C"}},
		{"MZ only", ARM64, []byte("MZ fake avd-agent for arm64"), []string{"avd-agent-arm64.exe is not a Windows executable"}},
	}
	for _, c := range cases {
		dir := t.TempDir()
		for _, a := range Arches {
			data := good[a]
			if a == c.arch {
				data = c.data
			}
			if err := os.WriteFile(filepath.Join(dir, FileName(a)), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		_, err := FromDir(dir)
		if err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", c.name, err, w)
			}
		}
	}
}

// Issue 15 finding 6: VERSION from --agent-dir ends up in install.ps1 (run
// as SYSTEM on every host): anything but a version string is refused, with
// the file, the value and what is allowed.
func TestHostileVersionFileIsRefused(t *testing.T) {
	dir := t.TempDir()
	for _, a := range Arches {
		if err := os.WriteFile(filepath.Join(dir, FileName(a)), testpe.Agent(Machine[a], string(a)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, v := range []string{"v1'; Start-Process calc; '", "v1\u2019; calc; \u2019", "$(calc)", "v1 2", "-v1", strings.Repeat("9", 65), "v1\x00"} {
		if err := os.WriteFile(filepath.Join(dir, "VERSION"), []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := FromDir(dir)
		if err == nil || !strings.Contains(err.Error(), "VERSION: version") || !strings.Contains(err.Error(), "allowed are") {
			t.Errorf("VERSION %q: %v", v, err)
		}
	}
	for _, v := range []string{"v1.2.3", "1.2.3+build.7", "4d746d0", "v2.0.0-rc_1", strings.Repeat("9", 64)} {
		if err := CheckVersion(v); err != nil {
			t.Errorf("%q: %v", v, err)
		}
	}
}
