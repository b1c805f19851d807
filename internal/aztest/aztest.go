// Package aztest puts a stand-in `az` on PATH for tests of --auth cli:
// azidentity's AzureCLICredential runs `az account get-access-token`, and
// the stand-in answers like the real one without any network. Test support.
package aztest

import (
	"os"
	"path/filepath"
	"testing"
)

// StandInAz installs the stand-in for the test and returns the file where
// it records its arguments.
func StandInAz(t *testing.T, subscription string) string {
	t.Helper()
	dir := t.TempDir()
	log := filepath.Join(dir, "az.log")
	script := "#!/bin/sh\necho \"$@\" >> '" + log + "'\n" +
		`echo '{"accessToken":"fake-cli-token","expiresOn":"2100-01-01 00:00:00.000000","expires_on":4102444800,"subscription":"` + subscription + `","tenant":"72f988bf-0000-0000-0000-000000000000","tokenType":"Bearer"}'` + "\n"
	if err := os.WriteFile(filepath.Join(dir, "az"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	return log
}
