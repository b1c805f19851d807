package sweep_test

import (
	"testing"
	"time"
)

// BenchmarkTenantSweep20000 sweeps 20,000 session hosts in 8 subscriptions
// under one management group (pools of 50, one in five pooled, 10 % stopped
// in Resource Graph's view, 1 % of those stale, 5 % excluded) against the
// loopback fake with Resource Graph's quota (15 queries / 5 s) and ARM's
// token buckets on a virtual clock (docs/performance.md).
func BenchmarkTenantSweep20000(b *testing.B) {
	for i := 0; i < b.N; i++ {
		start := time.Now()
		rep, fake, _ := sweepTenant(b, 20000, 8)
		wall := time.Since(start)
		checkTenant(b, rep, fake)
		dealloc := float64(len(fake.Deallocations()))
		b.ReportMetric(float64(fake.Count("arg")), "ARG-requests")
		b.ReportMetric(float64(fake.Count("getVM")+fake.Count("deallocate")), "ARM-requests")
		b.ReportMetric(dealloc, "deallocated")
		b.ReportMetric(float64(fake.Count("getVM")+fake.Count("deallocate"))/dealloc, "ARM-requests/deallocated")
		b.ReportMetric(float64(fake.ARMThrottled()), "ARM-429s")
		b.ReportMetric(wall.Seconds(), "wall-s")
	}
}
