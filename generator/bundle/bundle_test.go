package bundle

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func build(t *testing.T, files ...File) []File {
	t.Helper()
	out, _, err := Build(files, "gpo", "avdgen test", "hp")
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestBuildSortsAndAddsManifest(t *testing.T) {
	files := build(t, File{Path: "b.txt", Data: []byte("b"), Kind: "x"}, File{Path: "a/c.txt", Data: []byte("abc"), Kind: "y"})
	if len(files) != 3 || files[0].Path != "a/c.txt" || files[2].Path != ManifestName {
		t.Fatalf("files %+v", files)
	}
	m := string(files[2].Data)
	// sha256("abc"), from sha256sum.
	if !strings.Contains(m, `"sha256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"`) || !strings.HasSuffix(m, "}\n") {
		t.Errorf("manifest:\n%s", m)
	}
	for _, bad := range []string{"/abs", "../up", `a\b`, "a/../b", ManifestName} {
		if _, _, err := Build([]File{{Path: bad}}, "gpo", "g", "h"); err == nil {
			t.Errorf("path %q accepted", bad)
		}
	}
}

func TestWriteRefusesNonEmptyDirWithoutForce(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "mine.txt"), []byte("user data"), 0o644)
	files := build(t, File{Path: "a.txt", Data: []byte("a")})
	if _, err := Write(dir, files, WriteOptions{}); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("err = %v", err)
	}
	if _, err := Write(dir, files, WriteOptions{Force: true}); err == nil || !strings.Contains(err.Error(), "no avdgen-manifest.json") {
		t.Fatalf("--force over a foreign folder: err = %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "a.txt")); err == nil {
		t.Error("a file was written although Write refused")
	}
}

func TestForceReplacesOnlyOwnFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	first := build(t, File{Path: "a.txt", Data: []byte("1")}, File{Path: "old/gone.txt", Data: []byte("x")})
	if _, err := Write(dir, first, WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	second := build(t, File{Path: "a.txt", Data: []byte("2")}, File{Path: "run.ps1", Data: []byte("x"), Executable: true})
	if _, err := Write(dir, second, WriteOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "a.txt")); string(b) != "2" {
		t.Errorf("a.txt = %q", b)
	}
	if _, err := os.Stat(filepath.Join(dir, "old")); err == nil {
		t.Error("stale file's folder left behind")
	}
	if fi, _ := os.Stat(filepath.Join(dir, "run.ps1")); fi.Mode().Perm() != 0o755 {
		t.Errorf("mode %v", fi.Mode())
	}
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o644)
	if _, err := Write(dir, second, WriteOptions{Force: true}); err == nil || !strings.Contains(err.Error(), "notes.txt") {
		t.Errorf("foreign file: err = %v", err)
	}
}
