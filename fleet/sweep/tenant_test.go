package sweep_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/avdgen/avdgen/fleet/sweep"
	"github.com/avdgen/avdgen/internal/armtest"
	"github.com/avdgen/avdgen/internal/fakearg"
)

const (
	subA = "0000000a-0000-4000-8000-00000000000a"
	subB = "0000000b-0000-4000-8000-00000000000b"
)

func tenantOpts(clk *fakearg.Clock, scope sweep.Scope) sweep.TenantOptions {
	return sweep.TenantOptions{Scope: scope, ConfirmDelay: time.Minute, Concurrency: 4, ExcludeName: "avdgen-exclude", ExcludeValue: "true",
		Sleep: clk.Sleep, Now: clk.Now}
}

// A small tenant with one of each case the sweep must get right.
func smallTenant() []*fakearg.VM {
	personalA := &fakearg.HostPool{Subscription: subA, ResourceGroup: "rg-pools", Name: "hp-personal", Type: "Personal"}
	pooledA := &fakearg.HostPool{Subscription: subA, ResourceGroup: "rg-pools", Name: "hp-pooled", Type: "Pooled"}
	scaled := &fakearg.HostPool{Subscription: subB, ResourceGroup: "rg-pools", Name: "hp-scaled", Type: "Personal", ScalingPlanExclusionTag: "ScalingExclude"}
	vm := func(p *fakearg.HostPool, name, power string) *fakearg.VM {
		return &fakearg.VM{Subscription: p.Subscription, ResourceGroup: "rg-vms", Name: name, Pool: p, Power: power}
	}
	stale := vm(personalA, "stale", "running")
	stale.ARGPower = "stopped" // Resource Graph has not seen it start
	missed := vm(personalA, "stopped-now", "stopped")
	missed.ARGPower = "running" // stopped since the snapshot: next run's
	updating := vm(personalA, "updating", "stopped")
	updating.Provisioning = "updating"
	excluded := vm(personalA, "excluded", "stopped")
	excluded.Tags = map[string]string{"AvdGen-Exclude": " TRUE "}
	taggedSince := vm(personalA, "tagged-since", "stopped")
	taggedSince.Tags = map[string]string{"avdgen-exclude": "true"}
	taggedSince.ARGTags = map[string]string{} // Resource Graph has not seen the tag yet
	planExcluded := vm(scaled, "plan-excluded", "stopped")
	planExcluded.Tags = map[string]string{"scalingexclude": ""}
	return []*fakearg.VM{
		vm(personalA, "stopped-1", "stopped"), vm(personalA, "running", "running"), vm(personalA, "deallocated", "deallocated"),
		stale, missed, updating, excluded, taggedSince,
		vm(pooledA, "pooled-stopped", "stopped"), vm(pooledA, "pooled-running", "running"),
		vm(scaled, "stopped-2", "stopped"), planExcluded,
	}
}

func TestTenantSweepDeallocatesOnlyConfirmedStoppedPersonalVMs(t *testing.T) {
	clk := fakearg.NewClock()
	fake := fakearg.New(t, smallTenant(), map[string][]string{"mg-avd": {subA, subB}})
	fake.Now = clk.Now
	rep, err := sweep.RunTenant(context.Background(), armtest.Client(t, fake.URL), tenantOpts(clk, sweep.Scope{ManagementGroups: []string{"mg-avd"}}))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range fake.Deallocations() {
		got = append(got, d.VM.Name)
		if d.PowerWas != "stopped" || d.VM.Pool.Type != "Personal" {
			t.Errorf("wrong deallocation: %s was %s in a %s pool", d.VM.Name, d.PowerWas, d.VM.Pool.Type)
		}
	}
	if strings.Join(got, ",") != "stopped-1,stopped-2" && strings.Join(got, ",") != "stopped-2,stopped-1" {
		t.Errorf("deallocated %v, want stopped-1 and stopped-2", got)
	}
	actions := map[string]sweep.TenantResult{}
	for _, p := range rep.Pools {
		for _, r := range p.Results {
			actions[r.VM[strings.LastIndex(r.VM, "/")+1:]] = r
			if r.Reason == "" {
				t.Errorf("%s: no reason", r.VM)
			}
		}
	}
	for name, want := range map[string]string{
		"stopped-1": "deallocated", "stopped-2": "deallocated", "stale": "Resource Graph is stale", "updating": "provisioning not succeeded",
		"excluded": "exclusion tag avdgen-exclude=true", "plan-excluded": "scaling plan exclusion tag ScalingExclude",
		"tagged-since": "set after Resource Graph's snapshot",
	} {
		r, ok := actions[name]
		if !ok || (!strings.Contains(r.Reason, want) && string(r.Action) != want) {
			t.Errorf("%s: %+v, want %q", name, r, want)
		}
	}
	for _, name := range []string{"running", "deallocated", "stopped-now", "pooled-stopped", "pooled-running"} {
		if _, ok := actions[name]; ok {
			t.Errorf("%s is listed: only VMs Resource Graph saw stopped in personal pools are", name)
		}
	}
	if len(rep.Pools) != 3 {
		t.Fatalf("%d pool reports, want 3", len(rep.Pools))
	}
	byName := map[string]sweep.PoolReport{}
	for _, p := range rep.Pools {
		byName[p.HostPoolID[strings.LastIndex(p.HostPoolID, "/")+1:]] = p
	}
	if p := byName["hp-pooled"]; p.SessionHosts != 2 || p.Skipped != 2 || !strings.Contains(p.Note, "Pooled host pool") || len(p.Results) != 0 {
		t.Errorf("pooled pool: %+v", p)
	}
	if p := byName["hp-personal"]; p.SessionHosts != 8 || p.Deallocated != 1 || p.NotStopped != 3 || p.Skipped != 4 || p.Failed != 0 {
		t.Errorf("personal pool: %+v", p.Counts)
	}
	want := sweep.Counts{SessionHosts: 12, NotStopped: 3, Deallocated: 2, Skipped: 7}
	if rep.Total != want {
		t.Errorf("total %+v, want %+v", rep.Total, want)
	}
	// Excluded VMs cost no Compute read: the tag is in Resource Graph's row.
	if fake.Count("getVM") != 5 || fake.Count("deallocate") != 2 || fake.Count("arg") != 1 {
		t.Errorf("requests: arg %d, getVM %d, deallocate %d", fake.Count("arg"), fake.Count("getVM"), fake.Count("deallocate"))
	}
	if rep.ARGRequests != 1 || rep.ARMReads != 5 || rep.ARMWrites != 2 {
		t.Errorf("reported requests %+v", rep)
	}
	if clk.Slept < time.Minute {
		t.Errorf("confirm delay not waited (slept %s)", clk.Slept)
	}
	// A rerun: Resource Graph still says stopped (stale), Compute says
	// deallocated: nothing is written.
	rep2, err := sweep.RunTenant(context.Background(), armtest.Client(t, fake.URL), tenantOpts(clk, sweep.Scope{Subscriptions: []string{subA, subB}}))
	if err != nil {
		t.Fatal(err)
	}
	if fake.Count("deallocate") != 2 || rep2.Total.Deallocated != 0 {
		t.Errorf("rerun deallocated again: %+v", rep2.Total)
	}
}

func TestTenantSweepDryRunWritesNothing(t *testing.T) {
	clk := fakearg.NewClock()
	fake := fakearg.New(t, smallTenant(), nil)
	fake.Now = clk.Now
	o := tenantOpts(clk, sweep.Scope{Subscriptions: []string{subA, subB}})
	o.DryRun = true
	rep, err := sweep.RunTenant(context.Background(), armtest.Client(t, fake.URL), o)
	if err != nil {
		t.Fatal(err)
	}
	if fake.Count("deallocate") != 0 || rep.Total.WouldDeallocate != 2 {
		t.Errorf("dry run: %d deallocations, total %+v", fake.Count("deallocate"), rep.Total)
	}
}

// A VM whose instance view cannot be read is not deallocated (fail closed);
// one deleted since Resource Graph's snapshot is skipped.
func TestTenantSweepFailsClosedWithoutInstanceView(t *testing.T) {
	clk := fakearg.NewClock()
	vms := smallTenant()
	fake := fakearg.New(t, vms, nil)
	fake.Now = clk.Now
	fake.Find("stopped-1").FailGet = true
	fake.Find("stopped-2").Deleted = true
	rep, err := sweep.RunTenant(context.Background(), armtest.Client(t, fake.URL), tenantOpts(clk, sweep.Scope{Subscriptions: []string{subA, subB}}))
	if err != nil {
		t.Fatal(err)
	}
	if fake.Count("deallocate") != 0 || rep.Total.Failed != 1 || rep.Total.Deallocated != 0 {
		t.Errorf("deallocations %d, total %+v", fake.Count("deallocate"), rep.Total)
	}
	for _, p := range rep.Pools {
		for _, r := range p.Results {
			if strings.HasSuffix(r.VM, "/stopped-1") && (r.Action != sweep.Failed || !strings.Contains(r.Reason, "instance view")) ||
				strings.HasSuffix(r.VM, "/stopped-2") && (r.Action != sweep.Skipped || !strings.Contains(r.Reason, "not found")) {
				t.Errorf("%+v", r)
			}
		}
	}
}

// 2,500 session hosts: three pages of 1,000 through $skipToken; Resource
// Graph's quota (here 2 queries per 5 s) is waited out from its headers,
// without provoking a 429.
func TestDiscoveryPagesAndKeepsToTheQuota(t *testing.T) {
	clk := fakearg.NewClock()
	vms, mgs := fakearg.Tenant(2500, 2)
	fake := fakearg.New(t, vms, mgs)
	fake.Now, fake.Quota = clk.Now, 2
	d, err := sweep.Discover(context.Background(), armtest.Client(t, fake.URL), sweep.Scope{ManagementGroups: []string{"mg-avd"}}, clk.Sleep)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Rows) != 2500 || d.Requests != 3 || fake.Count("arg") != 3 || d.Throttled != 0 {
		t.Errorf("rows %d, requests %d (fake %d), throttled %d", len(d.Rows), d.Requests, fake.Count("arg"), d.Throttled)
	}
	if clk.Slept < 5*time.Second {
		t.Errorf("waited %s for the quota to reset, want ≥ 5s", clk.Slept)
	}
	seen := map[string]bool{}
	for _, r := range d.Rows {
		if seen[r.ID] || r.HostPoolID == "" || r.HostPoolType == "" || !strings.HasPrefix(r.PowerState, "PowerState/") {
			t.Fatalf("bad or repeated row %+v", r)
		}
		seen[r.ID] = true
	}
}

// 429 with x-ms-user-quota-resets-after: wait what it says, then go on.
func TestDiscoveryWaitsOutThrottling(t *testing.T) {
	clk := fakearg.NewClock()
	vms, mgs := fakearg.Tenant(1500, 1)
	fake := fakearg.New(t, vms, mgs)
	fake.Now = clk.Now
	fake.Throttle(2)
	d, err := sweep.Discover(context.Background(), armtest.Client(t, fake.URL), sweep.Scope{ManagementGroups: []string{"mg-avd"}}, clk.Sleep)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Rows) != 1500 || d.Throttled != 2 || d.Requests != 4 || clk.Slept != 4*time.Second {
		t.Errorf("rows %d, throttled %d, requests %d, slept %s (want 2 × the 2 s the header names)", len(d.Rows), d.Throttled, d.Requests, clk.Slept)
	}
	fake.Throttle(100)
	_, err = sweep.Discover(context.Background(), armtest.Client(t, fake.URL), sweep.Scope{ManagementGroups: []string{"mg-avd"}}, clk.Sleep)
	if err == nil || !strings.Contains(err.Error(), "still throttles") {
		t.Errorf("endless throttling: %v", err)
	}
}

// 2,500 subscriptions go out in batches of at most 1,000 (the fake, like
// Resource Graph, refuses more).
func TestDiscoveryBatchesSubscriptions(t *testing.T) {
	clk := fakearg.NewClock()
	vms, _ := fakearg.Tenant(10, 10)
	fake := fakearg.New(t, vms, nil)
	fake.Now = clk.Now
	var subs []string
	for i := 0; i < 2500; i++ {
		subs = append(subs, fmt.Sprintf("%08x-0000-4000-8000-%012x", i+1, i+1))
	}
	d, err := sweep.Discover(context.Background(), armtest.Client(t, fake.URL), sweep.Scope{Subscriptions: subs}, clk.Sleep)
	if err != nil {
		t.Fatal(err)
	}
	if d.Requests != 3 || len(d.Rows) != 10 {
		t.Errorf("requests %d, rows %d", d.Requests, len(d.Rows))
	}
}

// A management group over Resource Graph's subscription limit: the sweep
// asks for partial scopes, says the result is partial, and sweeps what it got.
func TestDiscoveryReportsPartialScope(t *testing.T) {
	clk := fakearg.NewClock()
	vms, mgs := fakearg.Tenant(300, 3)
	fake := fakearg.New(t, vms, mgs)
	fake.Now, fake.SubscriptionLimit = clk.Now, 2
	rep, err := sweep.RunTenant(context.Background(), armtest.Client(t, fake.URL), tenantOpts(clk, sweep.Scope{ManagementGroups: []string{"mg-avd"}}))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Partial) != 1 || !strings.Contains(rep.Partial[0], "x-ms-tenant-subscription-limit-hit") || rep.Total.SessionHosts != 200 {
		t.Errorf("partial %q, session hosts %d (want the 200 of the first two subscriptions)", rep.Partial, rep.Total.SessionHosts)
	}
}

// What the real Resource Graph refuses, the fake refuses.
func TestFakeRefusesWhatResourceGraphRefuses(t *testing.T) {
	vms, mgs := fakearg.Tenant(300, 3)
	fake := fakearg.New(t, vms, mgs)
	fake.SubscriptionLimit = 2
	post := func(query string, body map[string]any) int {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", fake.URL+"/providers/Microsoft.ResourceGraph/resources"+query, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer x")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	ok := func(opts map[string]any) map[string]any {
		return map[string]any{"subscriptions": []string{subA}, "query": sweep.DiscoveryQuery, "options": opts}
	}
	var many []string
	for i := 0; i < 1001; i++ {
		many = append(many, fmt.Sprintf("%08x-0000-4000-8000-%012x", i+1, i+1))
	}
	for name, c := range map[string]struct {
		query string
		body  map[string]any
		want  int
	}{
		"no api-version":     {"", ok(nil), 400},
		"old api-version":    {"?api-version=2018-09-01-preview", ok(nil), 400},
		"$top 1001":          {"?api-version=2022-10-01", ok(map[string]any{"$top": 1001}), 400},
		"unknown skipToken":  {"?api-version=2022-10-01", ok(map[string]any{"$skipToken": "bm9wZQ=="}), 400},
		"resultFormat":       {"?api-version=2022-10-01", ok(map[string]any{"resultFormat": "csv"}), 400},
		"1001 subscriptions": {"?api-version=2022-10-01", map[string]any{"subscriptions": many, "query": sweep.DiscoveryQuery}, 400},
		"no query":           {"?api-version=2022-10-01", map[string]any{"subscriptions": []string{subA}}, 400},
		"bad subscription":   {"?api-version=2022-10-01", map[string]any{"subscriptions": []string{"x"}, "query": sweep.DiscoveryQuery}, 400},
		"mg over the limit":  {"?api-version=2022-10-01", map[string]any{"managementGroups": []string{"mg-avd"}, "query": sweep.DiscoveryQuery}, 400},
		"unknown mg":         {"?api-version=2022-10-01", map[string]any{"managementGroups": []string{"mg-other"}, "query": sweep.DiscoveryQuery}, 403},
		"good":               {"?api-version=2022-10-01", ok(map[string]any{"$top": 1000, "resultFormat": "objectArray"}), 200},
	} {
		if got := post(c.query, c.body); got != c.want {
			t.Errorf("%s: %d, want %d", name, got, c.want)
		}
	}
}

// The fake's Compute side refuses an api-version Compute does not document,
// as ARM does, and answers a documented one.
func TestFakeComputeRefusesUnknownAPIVersions(t *testing.T) {
	vms, mgs := fakearg.Tenant(10, 1)
	fake := fakearg.New(t, vms, mgs)
	for version, want := range map[string]int{"": 400, "1999-01-01": 400, "2024-07-01": 200} {
		req, _ := http.NewRequest("GET", fake.URL+vms[0].ID()+"?api-version="+version, nil)
		req.Header.Set("Authorization", "Bearer x")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("api-version %q: %d, want %d", version, resp.StatusCode, want)
		}
	}
}

// The scale: 20,000 session hosts over 8 subscriptions, swept with
// at most 30 Resource Graph requests, at most two ARM requests per
// deallocated VM plus the stale rows (one instance-view read each), no 429
// from ARM (the token buckets hold), and no wrong deallocation. Request
// counts, not time: the figures are BenchmarkTenantSweep20000's.
func TestTwentyThousandVMTenant(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	rep, fake, _ := sweepTenant(t, 20000, 8)
	checkTenant(t, rep, fake)
}

func sweepTenant(tb testing.TB, n, subs int) (sweep.TenantReport, *fakearg.Server, *fakearg.Clock) {
	clk := fakearg.NewClock()
	vms, mgs := fakearg.Tenant(n, subs)
	fake := fakearg.New(tb, vms, mgs)
	fake.Now = clk.Now
	o := tenantOpts(clk, sweep.Scope{ManagementGroups: []string{"mg-avd"}})
	o.Concurrency = 8
	rep, err := sweep.RunTenant(context.Background(), armtest.Client(tb, fake.URL), o)
	if err != nil {
		tb.Fatal(err)
	}
	return rep, fake, clk
}

func checkTenant(tb testing.TB, rep sweep.TenantReport, fake *fakearg.Server) {
	wrong, stale := 0, 0
	for _, d := range fake.Deallocations() {
		if d.PowerWas != "stopped" || d.VM.Pool.Type != "Personal" || len(d.VM.Tags) > 0 {
			wrong++
		}
	}
	want := 0
	for _, v := range fake.VMs() {
		if v.ARGPower == "stopped" && v.Pool.Type == "Personal" && len(v.Tags) == 0 {
			if v.Power == "running" {
				stale++
			} else {
				want++
			}
		}
	}
	arg, arm := fake.Count("arg"), fake.Count("getVM")+fake.Count("deallocate")
	if wrong != 0 || len(fake.Deallocations()) != want || rep.Total.Deallocated != want || rep.Total.Failed != 0 {
		tb.Errorf("deallocated %d (want %d), wrong %d, failed %d", len(fake.Deallocations()), want, wrong, rep.Total.Failed)
	}
	if arg > 30 || arm > 2*want+stale || fake.ARMThrottled() != 0 {
		tb.Errorf("Resource Graph requests %d (≤ 30), ARM requests %d (≤ 2 × %d + %d stale), ARM 429s %d", arg, arm, want, stale, fake.ARMThrottled())
	}
}
