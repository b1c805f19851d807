package sweepcmd

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/avdgen/avdgen/agent/azure"
	"github.com/avdgen/avdgen/agent/identity"
	"github.com/avdgen/avdgen/cmd/avdgen/app/cmdutil"
	"github.com/avdgen/avdgen/fleet/sweep"
	"github.com/avdgen/avdgen/internal/cmdtest"
	"github.com/avdgen/avdgen/internal/fakearg"
)

func tenantFake(t *testing.T) (*fakearg.Server, *fakearg.Clock) {
	clk := fakearg.NewClock()
	vms, mgs := fakearg.Tenant(600, 2)
	fake := fakearg.New(t, vms, mgs)
	fake.Now = clk.Now
	return fake, clk
}

func staticCred(f *cmdutil.Factory) {
	f.Credential = func(string, azure.Cloud) (azcore.TokenCredential, error) {
		return identity.StaticCredential{Token: azcore.AccessToken{Token: "fake", ExpiresOn: time.Now().Add(time.Hour)}}, nil
	}
}

func TestTenantSweepCommandJSON(t *testing.T) {
	fake, clk := tenantFake(t)
	f, out, errOut := cmdtest.Factory(t)
	staticCred(f)
	f.Sleep, f.Now = clk.Sleep, clk.Now
	cmd := NewCmdSweep(f, nil)
	cmd.SetArgs([]string{"--management-group", "mg-avd", "--arm-endpoint", fake.URL, "--json"})
	if err := cmd.Execute(); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	var rep sweep.TenantReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if rep.Total.SessionHosts != 600 || rep.Total.Deallocated != len(fake.Deallocations()) || rep.Total.Deallocated == 0 || len(rep.Pools) != 12 {
		t.Errorf("total %+v, %d pools, fake deallocations %d", rep.Total, len(rep.Pools), len(fake.Deallocations()))
	}
	if clk.Slept < 60*time.Second {
		t.Errorf("default --confirm-delay not waited: %s", clk.Slept)
	}
}

func TestTenantSweepCommandTable(t *testing.T) {
	fake, clk := tenantFake(t)
	f, out, errOut := cmdtest.Factory(t)
	staticCred(f)
	f.Sleep, f.Now = clk.Sleep, clk.Now
	cmd := NewCmdSweep(f, nil)
	cmd.SetArgs([]string{"--subscription", "00000001-0000-4000-8000-000000000001", "--subscription", "00000002-0000-4000-8000-000000000002",
		"--arm-endpoint", fake.URL, "--dry-run", "--confirm-delay", "0s"})
	if err := cmd.Execute(); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	s := out.String()
	for _, want := range []string{"HOST POOL", "Pooled", "would-deallocate", "12 host pools, 600 session hosts: 0 deallocated, ", "1 Resource Graph requests"} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	if fake.Count("deallocate") != 0 {
		t.Error("--dry-run deallocated")
	}
}

func TestTenantSweepBadInputNamesTheFlag(t *testing.T) {
	fake, _ := tenantFake(t)
	for flag, args := range map[string][]string{
		"--subscription":       {"--subscription", "not-a-guid"},
		"--management-group":   {"--management-group", "mg/../x"},
		"--resource-group":     {"--management-group", "mg-avd", "--resource-group", "rg", "--host-pool", "hp"},
		"--identity-client-id": {"--management-group", "mg-avd", "--identity-client-id", "abc"},
		"--confirm-delay":      {"--management-group", "mg-avd", "--confirm-delay", "2h"},
		"--concurrency":        {"--management-group", "mg-avd", "--concurrency", "0"},
		"--exclude-tag":        {"--management-group", "mg-avd", "--exclude-tag", "nope"},
	} {
		f, _, _ := cmdtest.Factory(t)
		staticCred(f)
		cmd := NewCmdSweep(f, nil)
		cmd.SetArgs(append(args, "--arm-endpoint", fake.URL))
		cmd.SilenceErrors, cmd.SilenceUsage = true, true
		err := cmd.Execute()
		if !cmdutil.IsUsage(err) || !strings.Contains(err.Error(), flag) {
			t.Errorf("%s: err = %v, want a usage error naming %s", flag, err, flag)
		}
	}
	if n := fake.Count("arg") + fake.Count("getVM") + fake.Count("deallocate"); n != 0 {
		t.Errorf("%d requests on bad input", n)
	}
}

// A partial scope is reported and the exit code says so.
func TestTenantSweepPartialScopeFails(t *testing.T) {
	fake, clk := tenantFake(t)
	fake.SubscriptionLimit = 1
	f, _, errOut := cmdtest.Factory(t)
	staticCred(f)
	f.Sleep, f.Now = clk.Sleep, clk.Now
	cmd := NewCmdSweep(f, nil)
	cmd.SetArgs([]string{"--management-group", "mg-avd", "--arm-endpoint", fake.URL})
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	if err := cmd.Execute(); err != cmdutil.SilentError || !strings.Contains(errOut.String(), "partial scope") {
		t.Errorf("err %v, stderr %q", err, errOut.String())
	}
}
