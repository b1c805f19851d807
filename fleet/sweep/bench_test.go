package sweep

import (
	"context"
	"testing"
	"time"

	"github.com/avdgen/avdgen/internal/armtest"
	"github.com/avdgen/avdgen/internal/fakepool"
)

// BenchmarkSweep5000 sweeps a pool of 5,000 VMs in 20 resource groups with
// 10 % stopped against the loopback fake (100 items per page), beside the
// request count a per-VM approach would need (docs/performance.md).
func BenchmarkSweep5000(b *testing.B) {
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		fake := fakepool.New(b, sub, "rg-avd", "hp1", fakepool.Pool(5000, 20))
		c := armtest.Client(b, fake.URL)
		b.StartTimer()
		start := time.Now()
		rep, err := Run(context.Background(), c, Options{Pool: ref(), ConfirmDelay: 0, Concurrency: 8, Sleep: func(context.Context, time.Duration) error { return nil }})
		if err != nil {
			b.Fatal(err)
		}
		wall := time.Since(start)
		if fake.Count("deallocate") != 500 || rep.Failed != 0 {
			b.Fatalf("deallocated %d, failed %d", fake.Count("deallocate"), rep.Failed)
		}
		b.ReportMetric(float64(fake.Total()), "requests")
		// Per VM: a GET for the session host list pages aside, one instance
		// view GET per VM, a second for each candidate, and the deallocations.
		b.ReportMetric(float64(50+5000+500+500), "per-VM-requests")
		b.ReportMetric(wall.Seconds(), "wall-s")
	}
}
