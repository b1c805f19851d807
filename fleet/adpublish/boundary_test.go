package adpublish

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNotInTheAgent: publishing is admin-side. The on-host agent must not
// link LDAP, SMB or this package (size, and attack surface as SYSTEM).
func TestNotInTheAgent(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/avdgen/avdgen/cmd/avd-agent").CombinedOutput()
	if err != nil {
		t.Skipf("go list unavailable: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		for _, banned := range []string{"github.com/avdgen/avdgen/fleet/adpublish", "github.com/go-ldap/", "github.com/cloudsoda/go-smb2"} {
			if strings.HasPrefix(pkg, banned) {
				t.Errorf("cmd/avd-agent depends on %s", pkg)
			}
		}
	}
}
