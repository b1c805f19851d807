package testpe_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/avdgen/avdgen/internal/testkit"
	"github.com/avdgen/avdgen/internal/testpe"
)

// TestFileAgrees: file(1) (libmagic, which we did not write) reads the
// images as the machine and subsystem asked for.
func TestFileAgrees(t *testing.T) {
	file, err := exec.LookPath("file")
	if err != nil {
		testkit.Unavailable(t, "file(1) not found (Debian package file): %v", err)
	}
	cases := []struct {
		img  []byte
		want string
	}{
		{testpe.Agent(testpe.MachineAMD64, "amd64"), "PE32+ executable (console) x86-64"},
		{testpe.Agent(testpe.MachineARM64, "arm64"), "PE32+ executable (console) Aarch64"},
		{testpe.Build(testpe.MachineAMD64, testpe.SubsystemGUI, nil), "PE32+ executable (GUI) x86-64"},
	}
	for i, c := range cases {
		p := filepath.Join(t.TempDir(), "x.exe")
		if err := os.WriteFile(p, c.img, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(file, "-b", p).Output()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(out), c.want) {
			t.Errorf("case %d: file says %q, want %q", i, out, c.want)
		}
	}
}
