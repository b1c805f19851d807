package app

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/avdgen/avdgen/cmd/avdgen/app/gpocmd"
	"github.com/avdgen/avdgen/cmd/avdgen/app/initcmd"
	"github.com/avdgen/avdgen/cmd/avdgen/app/intunecmd"
	"github.com/avdgen/avdgen/cmd/avdgen/app/rbaccmd"
	"github.com/avdgen/avdgen/cmd/avdgen/app/sweepcmd"
	"github.com/avdgen/avdgen/cmd/avdgen/app/versioncmd"
	"github.com/avdgen/avdgen/fleet/pool"
	"github.com/avdgen/avdgen/internal/cmdtest"
)

// errCaptured ends a run at the runF hook: the command parsed its flags
// into its options and called runF instead of its run function.
var errCaptured = errors.New("captured")

// runCaptured executes cmd with args and fails unless it reached runF.
func runCaptured(t *testing.T, cmd *cobra.Command, args ...string) {
	t.Helper()
	cmd.SetArgs(args)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	if err := cmd.Execute(); !errors.Is(err, errCaptured) {
		t.Fatalf("%s %v: %v, want the runF hook to run", cmd.Name(), args, err)
	}
}

// Every command's flags land in its options struct (the runF hook of each
// constructor, cli/cli style): a flag wired to the wrong field or left
// unwired fails here without running anything.
func TestFlagsReachTheOptions(t *testing.T) {
	f, _, _ := cmdtest.Factory(t)
	azureArgs := []string{"--subscription", "00000000-0000-0000-0000-000000000001", "--resource-group", "rg1", "--host-pool", "hp1",
		"--auth", "cli", "--cloud", "usgov", "--arm-endpoint", "http://127.0.0.1:9", "--concurrency", "4"}
	wantPool := pool.Ref{Subscription: "00000000-0000-0000-0000-000000000001", ResourceGroup: "rg1", HostPool: "hp1"}

	t.Run("version", func(t *testing.T) {
		var got *versioncmd.Options
		runCaptured(t, versioncmd.NewCmdVersion(f, func(o *versioncmd.Options) error { got = o; return errCaptured }))
		if got.IO != f.IO || got.Agents == nil {
			t.Errorf("%+v", got)
		}
	})
	t.Run("init", func(t *testing.T) {
		var got *initcmd.Options
		runCaptured(t, initcmd.NewCmdInit(f, func(o *initcmd.Options) error { got = o; return errCaptured }), "--out", "x.yaml", "--force")
		if got.Out != "x.yaml" || !got.Force || got.IO != f.IO {
			t.Errorf("%+v", got)
		}
	})
	t.Run("gpo", func(t *testing.T) {
		var got *gpocmd.Options
		runCaptured(t, gpocmd.NewCmdGPO(f, func(o *gpocmd.Options) error { got = o; return errCaptured }),
			"--config", "c.yaml", "--out", "o", "--force", "--dry-run", "--json", "--agent-dir", "a")
		if b := got.Bundle; got.Spec.Config != "c.yaml" || b.Out != "o" || !b.Force || !b.DryRun || !b.JSON || b.AgentDir != "a" || got.Factory != f {
			t.Errorf("%+v", got)
		}
	})
	for _, diff := range []bool{false, true} {
		t.Run("gpo publish", func(t *testing.T) {
			var got *gpocmd.PublishOptions
			args := []string{"--config", "c.yaml", "--server", "dc1", "--username", `CONTOSO\admin`, "--ca-file", "ca.pem", "--json", "--agent-dir", "a"}
			if !diff {
				args = append(args, "--dry-run")
			}
			runCaptured(t, gpocmd.NewCmdPublish(f, diff, func(o *gpocmd.PublishOptions) error { got = o; return errCaptured }), args...)
			if got.Spec.Config != "c.yaml" || got.Server != "dc1" || got.Username != `CONTOSO\admin` || got.CAFile != "ca.pem" || !got.JSON || got.AgentDir != "a" || !got.DryRun || got.Connect == nil {
				t.Errorf("diff=%v: %+v", diff, got)
			}
		})
	}
	t.Run("intune", func(t *testing.T) {
		var got *intunecmd.Options
		runCaptured(t, intunecmd.NewCmdIntune(f, func(o *intunecmd.Options) error { got = o; return errCaptured }),
			"--config", "c.yaml", "--out", "o", "--force", "--dry-run", "--json", "--agent-dir", "a")
		if b := got.Bundle; got.Spec.Config != "c.yaml" || b.Out != "o" || !b.Force || !b.DryRun || !b.JSON || b.AgentDir != "a" || got.Rand == nil {
			t.Errorf("%+v", got)
		}
	})
	t.Run("intune publish", func(t *testing.T) {
		var got *intunecmd.PublishOptions
		runCaptured(t, intunecmd.NewCmdPublish(f, func(o *intunecmd.PublishOptions) error { got = o; return errCaptured }),
			"--bundle", "b", "--assign-group", "g1", "--graph-endpoint", "http://127.0.0.1:9", "--dry-run", "--json", "--remediation", "--agent-dir", "a")
		if got.BundleDir != "b" || got.Group != "g1" || got.GraphEndpoint != "http://127.0.0.1:9" || !got.DryRun || !got.JSON || !got.Remediation || got.AgentDir != "a" {
			t.Errorf("%+v", got)
		}
	})
	t.Run("rbac role", func(t *testing.T) {
		var got *rbaccmd.RoleOptions
		runCaptured(t, rbaccmd.NewCmdRole(f, func(o *rbaccmd.RoleOptions) error { got = o; return errCaptured }),
			"--scope", "/subscriptions/s", "--subscription", "s2", "--sweeper")
		if got.Scope != "/subscriptions/s" || got.Subscription != "s2" || !got.Sweeper {
			t.Errorf("%+v", got)
		}
	})
	t.Run("rbac apply", func(t *testing.T) {
		var got *rbaccmd.ApplyOptions
		runCaptured(t, rbaccmd.NewCmdApply(f, func(o *rbaccmd.ApplyOptions) error { got = o; return errCaptured }),
			append(azureArgs, "--scope", "/subscriptions/s", "--dry-run", "--json")...)
		a := got.Azure
		if a.Pool != wantPool || a.Auth != "cli" || a.Cloud != "usgov" || a.ARMEndpoint != "http://127.0.0.1:9" || a.Concurrency != 4 ||
			got.Scope != "/subscriptions/s" || !got.DryRun || !got.JSON {
			t.Errorf("%+v", got)
		}
	})
	t.Run("sweep", func(t *testing.T) {
		var got *sweepcmd.Options
		runCaptured(t, sweepcmd.NewCmdSweep(f, func(o *sweepcmd.Options) error { got = o; return errCaptured }),
			append(azureArgs, "--confirm-delay", "5s", "--exclude-tag", "keep=yes", "--dry-run", "--json")...)
		// sweep's --subscription is repeatable (issue 18: a tenant-wide
		// sweep); run takes the one-pool form's subscription from it.
		pool := got.Azure.Pool
		pool.Subscription = strings.Join(got.Subscriptions, ",")
		if pool != wantPool || got.Azure.Pool.Subscription != "" || got.ConfirmDelay != 5*time.Second || got.ExcludeTag != "keep=yes" || !got.DryRun || !got.JSON {
			t.Errorf("%+v", got)
		}
	})
}

// Commands are registered one way: every subcommand of the root (cobra's
// own help and completion aside) comes from commands().
func TestEveryCommandRegisteredThroughCommands(t *testing.T) {
	f, _, _ := cmdtest.Factory(t)
	listed := map[string]bool{}
	for _, newCmd := range commands() {
		listed[newCmd(f).Name()] = true
	}
	for _, c := range NewRootCmd(f).Commands() {
		if n := c.Name(); n != "help" && n != "completion" && !listed[n] {
			t.Errorf("avdgen %s is added to the root outside commands()", n)
		}
	}
}
