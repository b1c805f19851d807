package report

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/avdgen/avdgen/fleet/pool"
	"github.com/avdgen/avdgen/internal/armtest"
	"github.com/avdgen/avdgen/internal/fakereport"
	"github.com/avdgen/avdgen/internal/testnet"
)

var update = flag.Bool("update", false, "rewrite testdata/week.golden.json")

const sub = fakereport.WeekSubscription

var (
	weekFrom = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	weekTo   = time.Date(2026, 11, 8, 0, 0, 0, 0, time.UTC)
)

func weekOptions(t testing.TB, w *fakereport.Week) Options {
	return Options{Pool: pool.Ref{Subscription: sub, ResourceGroup: "rg-avd", HostPool: "hp1"}, From: weekFrom, To: weekTo,
		Prices: NewPrices(w.Prices.URL, &http.Client{Transport: testnet.Guard(t, nil)}, policy.RetryOptions{MaxRetries: 3, RetryDelay: 10 * time.Millisecond, MaxRetryDelay: 2 * time.Second})}
}

func runWeek(t *testing.T) (*fakereport.Week, *Report) {
	t.Helper()
	w := fakereport.NewWeek(t)
	rep, err := Run(context.Background(), armtest.Client(t, w.ARM.URL), weekOptions(t, w))
	if err != nil {
		t.Fatal(err)
	}
	return w, rep
}

func byName(rep *Report, name string) VM {
	for _, v := range rep.VMs {
		if v.Name == name {
			return v
		}
	}
	return VM{}
}

func val(p *float64) float64 {
	if p == nil {
		return -1
	}
	return *p
}

// TestWeekFiguresComputedByHand checks every figure of the fixed week
// (fakereport.NewWeek tells what happened) against arithmetic done here by
// hand, not by the code under test.
func TestWeekFiguresComputedByHand(t *testing.T) {
	w, rep := runWeek(t)
	type want struct {
		run, deal, stop, agent, autoscale, other float64
		rate, saved, leaked, overpay             float64
		kinds                                    []string
	}
	wants := map[string]want{
		// Deallocated (before the first event, a start) 00:00-08:00 = 8 h other; running 08:00-17:00 = 9 h;
		// deallocated by the agent Nov 1 17:00 - Nov 2 08:00 = 15 h; running 08:00-18:30 = 10.5 h (the restart
		// changes nothing); deallocated by the agent Nov 2 18:30 - Nov 8 00:00 = 5 d 5.5 h = 125.5 h.
		// Windows_Client: non-Windows meter 0.20. saved = (8+15+125.5) x 0.20 = 148.5 x 0.2 = 29.70.
		"vm-agent": {run: 19.5, deal: 148.5, agent: 140.5, other: 8, rate: 0.2, saved: 29.70, overpay: -1},
		// Running (before the first event, a deallocate) Nov 1 00:00 - Nov 3 09:00 = 57 h; deallocated by autoscale
		// Nov 3 09:00 - Nov 5 07:00 = 46 h; running 07:00-19:00 = 12 h; deallocated by autoscale Nov 5 19:00 - Nov 8 = 53 h.
		// No licenseType on a Windows 11 image: Windows meter 0.384. saved = 99 x 0.384 = 38.016 -> 38.02;
		// licence overpay = 69 h x (0.384 - 0.20) = 12.696 -> 12.70.
		"vm-autoscale": {run: 69, deal: 99, autoscale: 99, rate: 0.384, saved: 38.02, overpay: 12.70, kinds: []string{WrongMeter}},
		// Running Nov 1 00:00 - Nov 4 12:00 = 84 h; stopped Nov 4 12:00 - Nov 6 12:00 = 48 h; deallocated by a
		// user Nov 6 12:00 - Nov 8 = 36 h. D2s v5 in northeurope, non-Windows meter 0.10:
		// saved = 36 x 0.1 = 3.60, leaked = 48 x 0.1 = 4.80.
		"vm-stopped": {run: 84, stop: 48, deal: 36, other: 36, rate: 0.1, saved: 3.60, leaked: 4.80, overpay: -1, kinds: []string{StoppedBilled}},
		// Only a Failed deallocate (changes nothing): the current state, running, all 168 h.
		"vm-never": {run: 168, rate: 0.2, overpay: -1, kinds: []string{NeverDeallocated, FailedDeallocation}},
		// No event in the window (its starts are before and after): deallocated now, so 168 h, by nobody known.
		// saved = 168 x 0.2 = 33.60.
		"vm-idle": {deal: 168, other: 168, rate: 0.2, saved: 33.60, overpay: -1},
		// No price for E2s v5 anywhere: hours, but no money.
		"vm-noprice": {run: 168, rate: -1, saved: -1, leaked: -1, overpay: -1, kinds: []string{NeverDeallocated}},
	}
	if len(rep.VMs) != len(wants) {
		t.Fatalf("%d VMs, want %d", len(rep.VMs), len(wants))
	}
	for name, w := range wants {
		v := byName(rep, name)
		got := []float64{v.Hours.Running, v.Hours.Deallocated, v.Hours.Stopped, v.DeallocatedHoursBy.Agent, v.DeallocatedHoursBy.Autoscale, v.DeallocatedHoursBy.Other,
			val(v.HourlyRate), val(v.Saved), val(v.Leaked), val(v.LicenseOverpay)}
		exp := []float64{w.run, w.deal, w.stop, w.agent, w.autoscale, w.other, w.rate, w.saved, w.leaked, w.overpay}
		for i := range got {
			if got[i] != exp[i] {
				t.Errorf("%s: figures %v, want %v", name, got, exp)
				break
			}
		}
		var kinds []string
		for _, f := range v.Findings {
			kinds = append(kinds, f.Kind)
		}
		if strings.Join(kinds, ",") != strings.Join(w.kinds, ",") {
			t.Errorf("%s: findings %v, want %v", name, v.Findings, w.kinds)
		}
	}
	// Totals: 29.70 + 38.02 + 3.60 + 0 + 33.60 = 104.92 saved; 4.80 leaked; 12.70 licence.
	if rep.Total != (Total{Saved: 104.92, Leaked: 4.80, LicenseOverpay: 12.70}) {
		t.Errorf("total %+v", rep.Total)
	}
	// Nov 1: vm-agent ran 9 h and was deallocated 8 + 7 h; vm-autoscale, vm-stopped, vm-never and
	// vm-noprice ran 24 h each; vm-idle was deallocated 24 h: running 105, deallocated 39.
	if d := rep.Days[0]; d.Date != "2026-11-01" || d.Running != 105 || d.Deallocated != 39 || d.Stopped != 0 {
		t.Errorf("day 1: %+v", d)
	}
	// Nov 5: vm-stopped stopped 24 h; vm-autoscale ran 07:00-19:00 = 12 h and was deallocated 12 h.
	if d := rep.Days[4]; d.Stopped != 24 || d.Running != 12+24+24 || d.Deallocated != 12+24+24 {
		t.Errorf("day 5: %+v", d)
	}
	if len(rep.Incomplete) != 1 || rep.Incomplete[0].VM != "vm-noprice" || !strings.Contains(rep.Incomplete[0].Reason, "--rate Standard_E2s_v5=") {
		t.Errorf("incomplete: %+v", rep.Incomplete)
	}
	// Only the three VMs without a Succeeded power event need their current
	// state: one instance view GET each, and no VM list with instance views.
	if n := w.ARM.Count("instanceView"); n != 3 {
		t.Errorf("%d instance view reads, want 3 (vm-never, vm-idle, vm-noprice)", n)
	}
	never := byName(rep, "vm-never")
	if !strings.Contains(never.Findings[1].Message, "Forbidden") || !strings.Contains(never.Findings[1].Message, "by agent") {
		t.Errorf("failed deallocation finding: %q", never.Findings[1].Message)
	}
}

// TestWeekGolden pins the --json bytes of the fixed week.
func TestWeekGolden(t *testing.T) {
	_, rep := runWeek(t)
	got := rep.JSON()
	path := filepath.Join("testdata", "week.golden.json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("--json differs from %s (go test ./fleet/report -run TestWeekGolden -update rewrites it):\n%s", path, got)
	}
	// The shape the issue promises, read back generically.
	var doc map[string]any
	if err := json.Unmarshal(got, &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"from", "to", "currency", "vms", "total"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("no %q", k)
		}
	}
	vm := doc["vms"].([]any)[0].(map[string]any)
	for _, k := range []string{"id", "name", "size", "hourlyRate", "hours", "deallocatedHoursBy", "saved", "leaked", "findings"} {
		if _, ok := vm[k]; !ok {
			t.Errorf("vms[0] has no %q", k)
		}
	}
	if !strings.HasPrefix(vm["id"].(string), "/subscriptions/"+sub+"/resourceGroups/rg-hosts/providers/Microsoft.Compute/virtualMachines/") {
		t.Errorf("id %v is not the VM's resource id", vm["id"])
	}
}

// DefaultTestRetry retries fast against the fakes.
var DefaultTestRetry = policy.RetryOptions{MaxRetries: 3, RetryDelay: 10 * time.Millisecond, MaxRetryDelay: 2 * time.Second}
