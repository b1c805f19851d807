package sweepcmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/avdgen/avdgen/cmd/avdgen/app/cmdutil"
	"github.com/avdgen/avdgen/internal/cmdtest"
)

// Bad input names the flag (exit 2) and pushes nothing. (The push itself is
// tested against a real registry in fleet/sweepimage.)
func TestImageBadInputNamesTheFlag(t *testing.T) {
	dir := t.TempDir()
	notELF := filepath.Join(dir, "avdgen")
	os.WriteFile(notELF, []byte("MZ not linux"), 0o755)
	for flag, args := range map[string][]string{
		"--push":         {"image", "--binary-amd64", notELF, "--binary-arm64", notELF},
		"--push ":        {"image", "--push", "contoso.azurecr.io/avdgen", "--binary-amd64", notELF, "--binary-arm64", notELF},
		"--binary-arm64": {"image", "--push", "contoso.azurecr.io/avdgen:1", "--binary-amd64", notELF},
		"--binary-amd64": {"image", "--push", "contoso.azurecr.io/avdgen:1", "--binary-amd64", notELF, "--binary-arm64", notELF},
		"--ca-certs":     {"image", "--push", "contoso.azurecr.io/avdgen:1", "--binary-amd64", notELF, "--binary-arm64", notELF, "--ca-certs", filepath.Join(dir, "none")},
	} {
		f, _, _ := cmdtest.Factory(t)
		cmd := NewCmdSweep(f, nil)
		cmd.SetArgs(args)
		cmd.SilenceErrors, cmd.SilenceUsage = true, true
		err := cmd.Execute()
		if !cmdutil.IsUsage(err) || !strings.Contains(err.Error(), strings.TrimSpace(flag)) {
			t.Errorf("%s: %v", flag, err)
		}
	}
}
