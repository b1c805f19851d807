package sweep

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/avdgen/avdgen/fleet/pool"
	"github.com/avdgen/avdgen/internal/armtest"
	"github.com/avdgen/avdgen/internal/fakepool"
)

const sub = "00000000-1111-2222-3333-444444444444"

func ref() pool.Ref { return pool.Ref{Subscription: sub, ResourceGroup: "rg-avd", HostPool: "hp1"} }

func opts(dry bool) Options {
	return Options{Pool: ref(), DryRun: dry, ConfirmDelay: time.Minute, Concurrency: 4, ExcludeName: "avdgen-exclude", ExcludeValue: "true",
		Sleep: func(context.Context, time.Duration) error { return nil }}
}

func TestSweepDeallocatesExactlyTheStoppedCandidates(t *testing.T) {
	vms := []*fakepool.VM{
		{ResourceGroup: "rg-a", Name: "stopped-1", Power: "stopped"},
		{ResourceGroup: "rg-b", Name: "stopped-2", Power: "stopped"},
		{ResourceGroup: "rg-a", Name: "running", Power: "running"},
		{ResourceGroup: "rg-a", Name: "deallocated", Power: "deallocated"},
		{ResourceGroup: "rg-a", Name: "excluded", Power: "stopped", Tags: map[string]string{"avdgen-exclude": "true"}},
		{ResourceGroup: "rg-b", Name: "busy", Power: "stopped", Sessions: 1},
		{ResourceGroup: "rg-b", Name: "updating", Power: "stopped", Provisioning: "updating"},
	}
	fake := fakepool.New(t, sub, "rg-avd", "hp1", vms)
	fake.PageSize = 2 // exercise paging
	var slept time.Duration
	o := opts(false)
	o.Sleep = func(_ context.Context, d time.Duration) error { slept = d; return nil }
	rep, err := Run(context.Background(), armtest.Client(t, fake.URL), o)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Action{}
	for _, r := range rep.Results {
		got[r.VM[strings.LastIndex(r.VM, "/")+1:]] = r.Action
		if r.Reason == "" {
			t.Errorf("%s: no reason", r.VM)
		}
	}
	want := map[string]Action{"stopped-1": Deallocated, "stopped-2": Deallocated, "running": Skipped, "deallocated": Skipped,
		"excluded": Skipped, "busy": Skipped, "updating": Skipped}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s, want %s", k, got[k], v)
		}
	}
	if fake.Count("deallocate") != 2 || rep.Failed != 0 {
		t.Errorf("deallocate requests %d, failed %d", fake.Count("deallocate"), rep.Failed)
	}
	if slept != time.Minute {
		t.Errorf("confirm delay %s not waited", slept)
	}
	if fake.Find("running").Power != "running" || fake.Find("deallocated").Power != "deallocated" {
		t.Error("a running or deallocated VM was touched")
	}
}

func TestSweepConfirmsBeforeActing(t *testing.T) {
	vms := []*fakepool.VM{{ResourceGroup: "rg-a", Name: "starting", Power: "stopped"}}
	fake := fakepool.New(t, sub, "rg-avd", "hp1", vms)
	o := opts(false)
	o.Sleep = func(context.Context, time.Duration) error {
		fake.Find("starting").Power = "running" // it was only starting
		return nil
	}
	rep, err := Run(context.Background(), armtest.Client(t, fake.URL), o)
	if err != nil {
		t.Fatal(err)
	}
	if fake.Count("deallocate") != 0 || rep.Results[0].Action != Skipped || !strings.Contains(rep.Results[0].Reason, "no longer stopped") {
		t.Errorf("result %+v, deallocations %d", rep.Results[0], fake.Count("deallocate"))
	}
}

func TestSweepDryRunWritesNothing(t *testing.T) {
	fake := fakepool.New(t, sub, "rg-avd", "hp1", fakepool.Pool(30, 3))
	rep, err := Run(context.Background(), armtest.Client(t, fake.URL), opts(true))
	if err != nil {
		t.Fatal(err)
	}
	would := 0
	for _, r := range rep.Results {
		if r.Action == WouldDeallocate {
			would++
		}
	}
	if would != 3 || fake.Writes() != 0 {
		t.Errorf("would deallocate %d (want 3), writes %d", would, fake.Writes())
	}
}

func TestSweepHonoursRetryAfter(t *testing.T) {
	fake := fakepool.New(t, sub, "rg-avd", "hp1", fakepool.Pool(20, 2))
	fake.Throttle("listVMs", 1)
	fake.Throttle("deallocate", 1)
	start := time.Now()
	rep, err := Run(context.Background(), armtest.Client(t, fake.URL), opts(false))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failed != 0 || fake.Count("deallocate") != 3 { // 2 stopped VMs + one throttled try
		t.Errorf("failed %d, deallocate requests %d", rep.Failed, fake.Count("deallocate"))
	}
	if time.Since(start) < 2*time.Second {
		t.Errorf("two Retry-After: 1 answers took only %s", time.Since(start))
	}
}

func TestSweepUsesListsNotGetsPerVM(t *testing.T) {
	fake := fakepool.New(t, sub, "rg-avd", "hp1", fakepool.Pool(1000, 20))
	if _, err := Run(context.Background(), armtest.Client(t, fake.URL), opts(true)); err != nil {
		t.Fatal(err)
	}
	// 10 session-host pages; one subscription-wide list (statusOnly) of
	// 10 pages, twice (find, confirm).
	if got := fake.Total(); got != 10+2*10 {
		t.Errorf("%d requests for 1000 VMs, want 30", got)
	}
}
