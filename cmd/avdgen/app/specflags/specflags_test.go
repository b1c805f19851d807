package specflags

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

func newFlags(t *testing.T, args ...string) *Flags {
	t.Helper()
	cmd := &cobra.Command{Use: "x"}
	f := Add(cmd, GPO|Intune)
	if err := cmd.Flags().Parse(args); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestResolveReadsDefaultConfig: with no --config, ./avdgen.yaml (what
// `avdgen init` wrote and the user edited) is read, and that is said.
func TestResolveReadsDefaultConfig(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := os.WriteFile(DefaultConfig, []byte("hostPool: hp-edited\nlimits:\n  disconnected: 15m\ngpo:\n  domain: contoso.local\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var notice bytes.Buffer
	s, err := newFlags(t).Resolve(true, &notice)
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	if s.HostPool != "hp-edited" || s.GPO.Domain != "contoso.local" {
		t.Errorf("spec = %+v, want hostPool and domain from ./avdgen.yaml", s)
	}
	if got, want := notice.String(), "avdgen: reading ./avdgen.yaml (use --config to choose another file)\n"; got != want {
		t.Errorf("notice = %q, want %q", got, want)
	}

	// --config names another file: ./avdgen.yaml is not read, nothing said.
	if err := os.WriteFile("other.yaml", []byte("hostPool: hp-other\nlimits:\n  disconnected: 15m\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	notice.Reset()
	s, err = newFlags(t, "--config", "other.yaml").Resolve(false, &notice)
	if err != nil {
		t.Fatalf("Resolve --config: %v", err)
	}
	if s.HostPool != "hp-other" || notice.Len() != 0 {
		t.Errorf("--config other.yaml: hostPool %q, notice %q; want hp-other and no notice", s.HostPool, notice.String())
	}
}

func TestResolveWithoutDefaultConfigSaysNothing(t *testing.T) {
	t.Chdir(t.TempDir())
	var notice bytes.Buffer
	s, err := newFlags(t, "--disconnected", "15m").Resolve(false, &notice)
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	if notice.Len() != 0 || !strings.HasPrefix(s.HostPool, "avd-") {
		t.Errorf("notice %q hostPool %q; want no notice and the default pool", notice.String(), s.HostPool)
	}
}
