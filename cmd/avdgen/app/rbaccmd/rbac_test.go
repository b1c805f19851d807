package rbaccmd

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/avdgen/avdgen/cmd/avdgen/app/cmdutil"
	"github.com/avdgen/avdgen/internal/aztest"
	"github.com/avdgen/avdgen/internal/cmdtest"
	"github.com/avdgen/avdgen/internal/fakepool"
)

const sub = "00000000-1111-2222-3333-444444444444"

func TestRolePrintsCLIDefinition(t *testing.T) {
	f, out, _ := cmdtest.Factory(t)
	cmd := New(f)
	cmd.SetArgs([]string{"role", "--subscription", sub})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	var def struct {
		Actions          []string
		AssignableScopes []string
	}
	if err := json.Unmarshal(out.Bytes(), &def); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(def.Actions) != 1 || def.Actions[0] != "Microsoft.Compute/virtualMachines/deallocate/action" || def.AssignableScopes[0] != "/subscriptions/"+sub {
		t.Errorf("role %+v", def)
	}
	f, out, _ = cmdtest.Factory(t)
	cmd = New(f)
	cmd.SetArgs([]string{"role", "--scope", "/subscriptions/" + sub + "/resourceGroups/rg-avd", "--sweeper"})
	if err := cmd.Execute(); err != nil || !strings.Contains(out.String(), "Microsoft.DesktopVirtualization/hostpools/sessionhosts/read") {
		t.Errorf("sweeper role: %v %s", err, out)
	}
	f, _, _ = cmdtest.Factory(t)
	cmd = New(f)
	cmd.SetArgs([]string{"role", "--scope", "/subscriptions/nope"})
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	if err := cmd.Execute(); !cmdutil.IsUsage(err) {
		t.Errorf("bad scope: %v", err)
	}
}

func TestApplyTwiceWithAzureCLICredential(t *testing.T) {
	aztest.StandInAz(t, sub)
	fake := fakepool.New(t, sub, "rg-avd", "hp1", fakepool.Pool(12, 2))
	args := []string{"apply", "--subscription", sub, "--resource-group", "rg-avd", "--host-pool", "hp1", "--auth", "cli", "--arm-endpoint", fake.URL}
	f, out, _ := cmdtest.Factory(t)
	cmd := New(f)
	cmd.SetArgs(args)
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "12 VMs: 12 changed, 0 unchanged, 0 failed") || !strings.Contains(out.String(), ": created") {
		t.Errorf("first run:\n%s", out)
	}
	fake.ResetCounts()
	f, out, _ = cmdtest.Factory(t)
	cmd = New(f)
	cmd.SetArgs(append(args, "--json"))
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if fake.Writes() != 0 || !strings.Contains(out.String(), `"roleDefinition": "unchanged"`) {
		t.Errorf("second run: %d writes\n%s", fake.Writes(), out)
	}
}

func TestApplyExitsNonZeroWhenAVMFails(t *testing.T) {
	aztest.StandInAz(t, sub)
	fake := fakepool.New(t, sub, "rg-avd", "hp1", fakepool.Pool(4, 1))
	fake.FailPatch("avd-00002")
	f, out, errOut := cmdtest.Factory(t)
	f.IO.IsTerminal = true
	cmd := New(f)
	cmd.SetArgs([]string{"apply", "--subscription", sub, "--resource-group", "rg-avd", "--host-pool", "hp1", "--auth", "cli", "--arm-endpoint", fake.URL})
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	err := cmd.Execute()
	if !errors.Is(err, cmdutil.SilentError) || !strings.Contains(errOut.String(), "1 VM(s) failed") || !strings.Contains(out.String(), "3 changed") ||
		!strings.Contains(errOut.String(), "\r4/4 VMs") {
		t.Errorf("err %v\n%s\n%s", err, out, errOut)
	}
}
