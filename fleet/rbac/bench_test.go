package rbac

import (
	"context"
	"testing"
	"time"

	"github.com/avdgen/avdgen/internal/armtest"
	"github.com/avdgen/avdgen/internal/fakepool"
)

// BenchmarkApply5000 runs rbac apply twice on 5,000 VMs in 20 resource
// groups against the loopback fake (100 items per page).
func BenchmarkApply5000(b *testing.B) {
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		fake := fakepool.New(b, sub, "rg-avd", "hp1", fakepool.Pool(5000, 20))
		c := armtest.Client(b, fake.URL)
		b.StartTimer()
		start := time.Now()
		rep, err := Apply(context.Background(), c, Options{Pool: ref(), Concurrency: 8})
		if err != nil || rep.Failed != 0 {
			b.Fatalf("%v, %d failed", err, rep.Failed)
		}
		first, firstWall := fake.Total(), time.Since(start)
		fake.ResetCounts()
		start = time.Now()
		if _, err := Apply(context.Background(), c, Options{Pool: ref(), Concurrency: 8}); err != nil {
			b.Fatal(err)
		}
		secondWall := time.Since(start)
		// Pages: 50 session hosts + 20 groups × (3 VM pages + 3 assignment pages) + 1 role GET.
		b.ReportMetric(float64(first)/5000, "first-run-requests/VM")
		b.ReportMetric(firstWall.Seconds(), "first-run-wall-s")
		b.ReportMetric(float64(fake.Total()), "second-run-requests")
		b.ReportMetric(float64(fake.Writes()), "second-run-writes")
		b.ReportMetric(float64(50+20*3+20*3+1), "second-run-list-pages")
		b.ReportMetric(secondWall.Seconds(), "second-run-wall-s")
	}
}
