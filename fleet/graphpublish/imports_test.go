package graphpublish

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The on-host agent must not carry the admin-side publisher, its fake or
// the blob SDK (design card: cmd/avd-agent imports only on-host packages).
func TestAgentDoesNotImportThePublisher(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool on PATH")
	}
	cmd := exec.Command(goTool, "list", "-deps", "github.com/avdgen/avdgen/cmd/avd-agent")
	cmd.Env = append(os.Environ(), "GOOS=windows")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		for _, banned := range []string{"/agent/graphpublish", "/agent/fakegraph", "/internal/csdl", "/storage/azblob"} {
			if strings.HasSuffix(pkg, banned) || strings.Contains(pkg, banned+"/") {
				t.Errorf("cmd/avd-agent depends on %s", pkg)
			}
		}
	}
}
