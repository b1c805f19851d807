package contract

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The task paths the GPO, Intune scripts and `avd-agent check` use.
func TestTaskPaths(t *testing.T) {
	if TaskPath != `\avdgen\avd-agent logoff` || IdleTaskPath != `\avdgen\avd-agent idle` {
		t.Errorf("TaskPath %q, IdleTaskPath %q", TaskPath, IdleTaskPath)
	}
}

// No Go, Markdown or template source holds a control byte other than tab,
// LF and CR: "\a" typed through a tool that expands escapes once left BEL
// bytes in this package's IdleTaskName comment where `\avdgen\avd-agent idle`
// was meant. Test data (UTF-16 files, binaries) is not source and is left out.
func TestSourcesHoldNoControlBytes(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found: %v", err)
	}
	checked := 0
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if p != root && (strings.HasPrefix(name, ".") && name != ".ci" || name == "testdata" || name == "node_modules" || name == "out" || name == "bin") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, ".md") && !strings.HasSuffix(name, ".tmpl") && name != "Makefile" {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		checked++
		line := 1
		for _, c := range b {
			if c == '\n' {
				line++
			}
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' || c == 0x7f {
				rel, _ := filepath.Rel(root, p)
				t.Errorf("%s:%d holds control byte 0x%02x", rel, line, c)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 100 {
		t.Fatalf("checked only %d files under %s", checked, root)
	}
}
