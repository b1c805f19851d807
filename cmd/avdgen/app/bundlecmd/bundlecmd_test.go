package bundlecmd

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/avdgen/avdgen/cmd/avdgen/app/cmdutil"
	"github.com/avdgen/avdgen/generator/bundle"
)

type fullDisk struct{ bundle.OSFS }

func (fullDisk) Create(name string, _ fs.FileMode) (bundle.WritableFile, error) {
	return nil, &fs.PathError{Op: "open", Path: name, Err: syscall.ENOSPC}
}

// TestEmitClassifiesErrors: a full disk is a runtime failure (exit 1); a
// folder avdgen will not touch is a usage error (exit 2).
func TestEmitClassifiesErrors(t *testing.T) {
	var out, errOut bytes.Buffer
	streams := &cmdutil.IOStreams{Out: &out, ErrOut: &errOut}
	files := []bundle.File{{Path: "a.txt", Data: []byte("a")}}
	dir := filepath.Join(t.TempDir(), "out")

	err := Emit(streams, Options{Out: dir, FS: fullDisk{}}, "gpo", "hp", files, "")
	if !errors.Is(err, syscall.ENOSPC) || cmdutil.IsUsage(err) {
		t.Errorf("full disk: err = %v (usage %v), want ENOSPC as a runtime failure", err, cmdutil.IsUsage(err))
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s exists after a failed write", dir)
	}

	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "mine.txt"), []byte("x"), 0o644)
	err = Emit(streams, Options{Out: dir, Force: true}, "gpo", "hp", files, "")
	if !cmdutil.IsUsage(err) {
		t.Errorf("foreign folder: err = %v, want a usage error", err)
	}
}
