package report

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/avdgen/avdgen/fleet/pool"
	"github.com/avdgen/avdgen/internal/armtest"
	"github.com/avdgen/avdgen/internal/fakereport"
	"github.com/avdgen/avdgen/internal/testnet"
)

func busyRun(tb testing.TB, n, groups, days int) (*fakereport.Week, *Report) {
	from := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	w := fakereport.NewBusyPool(tb, n, groups, from, days, fakereport.WeekNow)
	o := Options{Pool: pool.Ref{Subscription: fakereport.WeekSubscription, ResourceGroup: "rg-avd", HostPool: "hp1"}, From: from, To: from.AddDate(0, 0, days),
		Prices: NewPrices(w.Prices.URL, &http.Client{Transport: testnet.Guard(tb, nil)}, DefaultTestRetry)}
	rep, err := Run(context.Background(), armtest.Client(tb, w.ARM.URL), o)
	if err != nil {
		tb.Fatal(err)
	}
	return w, rep
}

func requests(w *fakereport.Week) int { return w.ARM.Total() + w.Prices.Requests() }

// TestRequestBudget12VMs7Days: a 12-host pool over a week, every host
// started and deallocated daily, costs fewer than 80 requests: host pool,
// session hosts, VM list, Activity Log pages (200 events each) and one
// Retail Prices query per size; no per-VM read (every VM has events).
func TestRequestBudget12VMs7Days(t *testing.T) {
	w, rep := busyRun(t, 12, 1, 7)
	// 12 VMs x 7 days: started 08:00+i min, deallocated 17:00+i min: 9 h running a day.
	if v := rep.VMs[0]; v.Hours.Running != 63 || v.DeallocatedHoursBy.Agent != 168-63-8 || v.DeallocatedHoursBy.Other != 8 {
		t.Errorf("avd-00000: %+v %+v", v.Hours, v.DeallocatedHoursBy)
	}
	if n := w.ARM.Count("instanceView"); n != 0 {
		t.Errorf("%d instance view reads for VMs that all have power events", n)
	}
	if n := requests(w); n >= 80 {
		t.Errorf("%d requests for 12 VMs over 7 days, budget < 80", n)
	} else {
		t.Logf("12 VMs x 7 days: %d requests (ARM %d: activity log %d; prices %d)", n, w.ARM.Total(), w.ARM.Count("activityLog"), w.Prices.Requests())
	}
}

// BenchmarkReport12VMs7Days and BenchmarkReport1000VMs30Days report the
// requests (and pages) a report costs against the loopback fakes
// (docs/performance.md).
func BenchmarkReport12VMs7Days(b *testing.B) { benchReport(b, 12, 1, 7) }

func BenchmarkReport1000VMs30Days(b *testing.B) { benchReport(b, 1000, 20, 30) }

func benchReport(b *testing.B, n, groups, days int) {
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		from := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
		w := fakereport.NewBusyPool(b, n, groups, from, days, time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC))
		o := Options{Pool: pool.Ref{Subscription: fakereport.WeekSubscription, ResourceGroup: "rg-avd", HostPool: "hp1"}, From: from, To: from.AddDate(0, 0, days),
			Prices: NewPrices(w.Prices.URL, &http.Client{Transport: testnet.Guard(b, nil)}, DefaultTestRetry)}
		c := armtest.Client(b, w.ARM.URL)
		b.StartTimer()
		start := time.Now()
		rep, err := Run(context.Background(), c, o)
		if err != nil {
			b.Fatal(err)
		}
		wall := time.Since(start)
		if len(rep.VMs) != n || len(rep.Incomplete) != 0 {
			b.Fatalf("%d VMs, %d incomplete", len(rep.VMs), len(rep.Incomplete))
		}
		b.ReportMetric(float64(requests(w)), "requests")
		b.ReportMetric(float64(w.ARM.Count("activityLog")), "activity-log-pages")
		b.ReportMetric(float64(w.Prices.Requests()), "price-pages")
		b.ReportMetric(wall.Seconds(), "wall-s")
	}
}
