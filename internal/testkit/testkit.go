// Package testkit holds the helpers avdgen's tests share across packages:
// skip-locally-fail-in-CI for a missing tool, the repository root, and
// stand-in agents. Test support only: neither binary links it.
package testkit

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/avdgen/avdgen/dist"
	"github.com/avdgen/avdgen/internal/testpe"
)

// Unavailable skips locally, and fails in CI (CI=true), where every tool a
// test needs (oracles, Wine, Samba, file(1)) must be installed: `make deps`
// installs them.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("unavailable in CI (make deps installs it): "+format, args...)
	}
	t.Skipf("skipping, unavailable (run `make deps`): "+format, args...)
}

// RepoRoot is the folder holding go.mod above the running test.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test")
		}
		dir = parent
	}
}

// Agents are small in-memory stand-ins for both agents, version v1.0.0,
// for tests that treat the agent binaries as opaque bytes.
func Agents() dist.Agents {
	return dist.Agents{Version: "v1.0.0", ByArch: map[dist.Arch]dist.Agent{
		dist.AMD64: {Arch: dist.AMD64, Binary: []byte("MZ fake amd64 agent")},
		dist.ARM64: {Arch: dist.ARM64, Binary: []byte("MZ fake arm64 agent")},
	}}
}

// WriteAgents writes a stand-in PE image of each agent (testpe.Agent, the
// right machine type and console subsystem, so --agent-dir accepts it)
// under its dist file name in dir.
func WriteAgents(dir string) error {
	for _, a := range dist.Arches {
		if err := os.WriteFile(filepath.Join(dir, dist.FileName(a)), testpe.Agent(dist.Machine[a], string(a)), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// AgentDir is a new temporary folder holding WriteAgents' stand-ins.
func AgentDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if err := WriteAgents(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}
