package dist

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

func TestLoadFromDir(t *testing.T) {
	dir := t.TempDir()
	for _, a := range Arches {
		if err := os.WriteFile(filepath.Join(dir, FileName(a)), []byte("MZ"+string(a)), 0o644); err != nil {
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
	if !ok || string(amd.Binary) != "MZamd64" {
		t.Fatalf("amd64 agent = %q, %v", amd.Binary, ok)
	}
	// sha256("MZamd64"), computed independently with sha256sum.
	if got, want := amd.SHA256(), "472a725b897e7926e2aca9826528509a37a6855db6cf56f3bc82f08377df661d"; got != want {
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
	if err := os.WriteFile(filepath.Join(dir, FileName(AMD64)), []byte("MZ"), 0o644); err != nil {
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
