package app

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/avdgen/avdgen/internal/cmdtest"
	"github.com/avdgen/avdgen/internal/testkit"
)

// TestExitCodes: usage errors (unknown flag, command or argument, bad or
// empty value) exit 2; runtime failures exit 1.
func TestExitCodes(t *testing.T) {
	t.Chdir(t.TempDir())
	agents := testkit.AgentDir(t)
	if err := os.WriteFile("a-file", []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	gpo := []string{"gpo", "--domain", "contoso.local", "--disconnected", "15m", "--agent-dir", agents}
	cases := []struct {
		name string
		args []string
		want int
	}{
		{"unknown flag", []string{"gpo", "--bogus"}, 2},
		{"unknown command", []string{"bogus"}, 2},
		{"unknown subcommand", []string{"rbac", "bogus"}, 2},
		{"stray argument", append(append([]string{}, gpo...), "--out", "o1", "extra"), 2},
		{"stray argument to version", []string{"version", "x"}, 2},
		{"bad limit", append(append([]string{}, gpo...), "--out", "o2", "--idle", "45m"), 2},
		{"bad duration", append(append([]string{}, gpo...), "--out", "o3", "--grace", "soon"), 2},
		{"empty host pool", append(append([]string{}, gpo...), "--out", "o4", "--host-pool", ""), 2},
		{"empty init --out", []string{"init", "--out", ""}, 2},
		{"empty --subscription", []string{"sweep", "--subscription", "", "--resource-group", "rg", "--host-pool", "hp"}, 2},
		{"init into a missing folder", []string{"init", "--out", filepath.Join("missing", "avdgen.yaml")}, 1},
		{"gpo under a file", append(append([]string{}, gpo...), "--out", filepath.Join("a-file", "out")), 1},
		{"help", []string{"--help"}, 0},
		{"group without subcommand", []string{"rbac"}, 0},
	}
	for _, c := range cases {
		f, _, errOut := cmdtest.Factory(t)
		if got := Main(c.args, f); got != c.want {
			t.Errorf("%s: avdgen %s exited %d, want %d\n%s", c.name, strings.Join(c.args, " "), got, c.want, errOut)
		}
	}
}

// TestHelpPlaceholders: every flag that takes a value shows a value name
// (FILE, DIR, LIMIT...) in help, never a backticked word from its usage
// text or a bare type name.
func TestHelpPlaceholders(t *testing.T) {
	f, _, _ := cmdtest.Factory(t)
	root := NewRootCmd(f)
	placeholder := regexp.MustCompile(`^[A-Z][A-Z0-9_]*(=[A-Z]+)?$`)
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		c.LocalFlags().VisitAll(func(fl *pflag.Flag) {
			name, usage := pflag.UnquoteUsage(fl)
			switch {
			case fl.Value.Type() == "bool" && name != "":
				t.Errorf("%s --%s: a switch shows placeholder %q", c.CommandPath(), fl.Name, name)
			case fl.Value.Type() != "bool" && !placeholder.MatchString(name):
				t.Errorf("%s --%s: placeholder %q is not a value name", c.CommandPath(), fl.Name, name)
			}
			if strings.Contains(usage, "`") {
				t.Errorf("%s --%s: usage keeps a backtick: %q", c.CommandPath(), fl.Name, usage)
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// TestCompletionOffersEnumValues: shell completion lists the allowed
// values of every enumerated flag.
func TestCompletionOffersEnumValues(t *testing.T) {
	limits := []string{"never", "1m", "15m", "2h", "18h", "5d"}
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"gpo", "--idle", ""}, limits},
		{[]string{"gpo", "--disconnected", ""}, limits},
		{[]string{"intune", "--active", ""}, limits},
		{[]string{"intune", "--action", ""}, []string{"deallocate", "hibernate"}},
		{[]string{"sweep", "--cloud", ""}, []string{"public", "usgov", "china"}},
		{[]string{"rbac", "apply", "--auth", ""}, []string{"default", "cli", "managed-identity", "env", "device-code"}},
	}
	for _, c := range cases {
		f, out, _ := cmdtest.Factory(t)
		if code := Main(append([]string{"__complete"}, c.args...), f); code != 0 {
			t.Fatalf("%v: exit %d", c.args, code)
		}
		lines := map[string]bool{}
		for _, l := range strings.Split(out.String(), "\n") {
			lines[l] = true
		}
		for _, w := range c.want {
			if !lines[w] {
				t.Errorf("completing %v: %q not offered; got:\n%s", c.args, w, out)
			}
		}
	}
}
