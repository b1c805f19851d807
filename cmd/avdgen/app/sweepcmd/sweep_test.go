package sweepcmd

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/avdgen/avdgen/cmd/avdgen/app/cmdutil"
	"github.com/avdgen/avdgen/internal/aztest"
	"github.com/avdgen/avdgen/internal/cmdtest"
	"github.com/avdgen/avdgen/internal/fakepool"
)

const sub = "00000000-1111-2222-3333-444444444444"

func TestSweepCommandWithAzureCLICredential(t *testing.T) {
	azLog := aztest.StandInAz(t, sub)
	fake := fakepool.New(t, sub, "rg-avd", "hp1", fakepool.Pool(40, 2))
	f, out, _ := cmdtest.Factory(t)
	var slept time.Duration
	f.Sleep = func(_ context.Context, d time.Duration) error { slept = d; return nil }
	cmd := NewCmdSweep(f, nil)
	cmd.SetArgs([]string{"--subscription", sub, "--resource-group", "rg-avd", "--host-pool", "hp1", "--auth", "cli", "--arm-endpoint", fake.URL, "--confirm-delay", "30s"})
	if err := cmd.Execute(); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "40 session hosts: 4 deallocated, 0 would be deallocated, 36 skipped, 0 failed") {
		t.Errorf("summary:\n%s", out.String())
	}
	if fake.Count("deallocate") != 4 || slept != 30*time.Second {
		t.Errorf("deallocations %d, confirm delay %s", fake.Count("deallocate"), slept)
	}
	args, _ := os.ReadFile(azLog)
	if !strings.Contains(string(args), "account get-access-token") || !strings.Contains(string(args), "https://management.azure.com") {
		t.Errorf("stand-in az called with %q", args)
	}
}

func TestBadInputSendsNothing(t *testing.T) {
	fake := fakepool.New(t, sub, "rg-avd", "hp1", fakepool.Pool(3, 1))
	for name, args := range map[string][]string{
		"bad subscription": {"--subscription", "not-a-guid", "--resource-group", "rg", "--host-pool", "hp1"},
		"empty group":      {"--subscription", sub, "--resource-group", "", "--host-pool", "hp1"},
		"empty pool":       {"--subscription", sub, "--resource-group", "rg", "--host-pool", ""},
		"concurrency":      {"--subscription", sub, "--resource-group", "rg", "--host-pool", "hp1", "--concurrency", "0"},
		"remote http":      {"--subscription", sub, "--resource-group", "rg", "--host-pool", "hp1", "--arm-endpoint", "http://management.azure.com"},
		"auth":             {"--subscription", sub, "--resource-group", "rg", "--host-pool", "hp1", "--auth", "password"},
		"cloud":            {"--subscription", sub, "--resource-group", "rg", "--host-pool", "hp1", "--cloud", "germany"},
		"tag":              {"--subscription", sub, "--resource-group", "rg", "--host-pool", "hp1", "--exclude-tag", "nope"},
	} {
		f, _, _ := cmdtest.Factory(t)
		cmd := NewCmdSweep(f, nil)
		cmd.SetArgs(append(args, "--arm-endpoint", fake.URL))
		if name == "remote http" {
			cmd.SetArgs(args)
		}
		cmd.SilenceErrors, cmd.SilenceUsage = true, true
		err := cmd.Execute()
		if !cmdutil.IsUsage(err) {
			t.Errorf("%s: err = %v, want a usage error (exit 2)", name, err)
		}
	}
	if fake.Total() != 0 {
		t.Errorf("%d requests sent on bad input", fake.Total())
	}
}
