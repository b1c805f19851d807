package sweepcmd

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/avdgen/avdgen/cmd/avdgen/app/cmdutil"
	"github.com/avdgen/avdgen/internal/cmdtest"
	"github.com/avdgen/avdgen/internal/fakedeploy"
)

func deployArgs(extra ...string) []string {
	return append([]string{"deploy", "--management-group", "mg-avd", "--subscription", sub, "--resource-group", "rg-avdgen-sweep",
		"--image", "contoso.azurecr.io/avdgen:1.4.0"}, extra...)
}

func TestDeployWritesFilesOnceAndAppliesIdempotently(t *testing.T) {
	fake := fakedeploy.New(t)
	dir := filepath.Join(t.TempDir(), "out")
	for run := 0; run < 2; run++ {
		f, out, errOut := cmdtest.Factory(t)
		staticCred(f)
		f.Sleep = func(context.Context, time.Duration) error { return nil }
		cmd := NewCmdSweep(f, nil)
		cmd.SetArgs(deployArgs("--out", dir, "--apply", "--location", "westeurope", "--arm-endpoint", fake.URL))
		if err := cmd.Execute(); err != nil {
			t.Fatalf("run %d: %v\n%s", run, err, errOut.String())
		}
		s := out.String()
		switch run {
		case 0:
			if strings.Count(s, "wrote ") != 4 || !strings.Contains(s, "3 change(s)") {
				t.Errorf("first run:\n%s", s)
			}
		case 1:
			if strings.Count(s, "unchanged") != 7 || !strings.Contains(s, "0 change(s)") {
				t.Errorf("rerun:\n%s", s)
			}
		}
	}
	if fake.Writes() != 3 {
		t.Errorf("ARM writes %d, want 3", fake.Writes())
	}
	b, err := os.ReadFile(filepath.Join(dir, "sweep-role.json"))
	if err != nil || !strings.Contains(string(b), "managementGroupDeploymentTemplate.json") {
		t.Errorf("%v %s", err, b)
	}
	// A changed file is not overwritten without --force.
	f, _, _ := cmdtest.Factory(t)
	cmd := NewCmdSweep(f, nil)
	cmd.SetArgs(deployArgs("--out", dir, "--schedule", "0 * * * *"))
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	if err := cmd.Execute(); !cmdutil.IsUsage(err) || !strings.Contains(err.Error(), "--force") {
		t.Errorf("overwrite without --force: %v", err)
	}
}

func TestDeployBadInputNamesTheFlagAndDeploysNothing(t *testing.T) {
	fake := fakedeploy.New(t)
	for flag, args := range map[string][]string{
		"--management-group": {"deploy", "--management-group", "bad/mg", "--subscription", sub, "--resource-group", "rg", "--image", "contoso.azurecr.io/avdgen:1", "--apply", "--location", "westeurope"},
		"--subscription":     {"deploy", "--subscription", "not-a-guid", "--resource-group", "rg", "--image", "contoso.azurecr.io/avdgen:1", "--apply", "--location", "westeurope"},
		"--location":         deployArgs("--apply"),
		"--image":            {"deploy", "--management-group", "mg-avd", "--subscription", sub, "--resource-group", "rg", "--image", "contoso.azurecr.io/avdgen", "--apply", "--location", "westeurope"},
		"--out":              deployArgs(),
		"--schedule":         deployArgs("--apply", "--location", "westeurope", "--schedule", "hourly"),
	} {
		f, _, _ := cmdtest.Factory(t)
		staticCred(f)
		cmd := NewCmdSweep(f, nil)
		cmd.SetArgs(append(args, "--arm-endpoint", fake.URL))
		cmd.SilenceErrors, cmd.SilenceUsage = true, true
		err := cmd.Execute()
		if !cmdutil.IsUsage(err) || !strings.Contains(err.Error(), flag) {
			t.Errorf("%s: %v", flag, err)
		}
	}
	if fake.Writes() != 0 || len(fake.Deployments()) != 0 {
		t.Errorf("bad input deployed: %d writes", fake.Writes())
	}
}
