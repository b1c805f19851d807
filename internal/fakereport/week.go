package fakereport

import (
	"testing"
	"time"

	"github.com/avdgen/avdgen/internal/fakepool"
)

// The fixed week of the report's golden file and hand-computed figures
// (fleet/report TestWeekFiguresComputedByHand): subscription, pool, window.
const (
	WeekSubscription = "00000000-1111-2222-3333-444444444444"
	WeekFrom         = "2026-11-01"
	WeekTo           = "2026-11-08"
)

// WeekNow is the clock of the fixed week's tests (the window is 36 days old).
var WeekNow = time.Date(2026, 12, 7, 7, 30, 0, 0, time.UTC)

// Principals of the week's VMs' system-assigned identities.
const (
	PrincipalAgent     = "11111111-aaaa-4000-8000-000000000001"
	PrincipalAutoscale = "11111111-aaaa-4000-8000-000000000002"
	PrincipalStopped   = "11111111-aaaa-4000-8000-000000000003"
	PrincipalNever     = "11111111-aaaa-4000-8000-000000000004"
	PrincipalIdle      = "11111111-aaaa-4000-8000-000000000005"
	PrincipalNoPrice   = "11111111-aaaa-4000-8000-000000000006"
)

// Week is the fakes of the fixed week: host pool hp1 in rg-avd with six
// session hosts whose VMs live in rg-hosts, an Activity Log paged 5 events
// at a time, and Retail Prices paged 3 rows at a time.
type Week struct {
	ARM    *fakepool.Server
	Log    *ActivityLog
	Prices *PricesServer
}

func nov(day, hour, minute int) time.Time {
	return time.Date(2026, 11, day, hour, minute, 0, 0, time.UTC)
}

// NewWeek starts the fixed week's fakes. What happened (all UTC):
//   - vm-agent (D4s v5, westeurope, Windows_Client): started Nov 1 08:00 by
//     the AVD service, deallocated 17:00 by its own identity; started Nov 2
//     08:00 by a user, restarted 12:00, deallocated 18:30 by its identity.
//   - vm-autoscale (D4s v5, no licenseType, Windows 11 image): deallocated
//     Nov 3 09:00, started Nov 5 07:00 and deallocated 19:00, all by the AVD
//     service.
//   - vm-stopped (D2s v5, northeurope, Windows_Client): powered off Nov 4
//     12:00 and deallocated Nov 6 12:00 by a user.
//   - vm-never (D4s v5, Windows_Client, running now): its identity's
//     deallocate on Nov 7 17:00 Failed (Forbidden); nothing else.
//   - vm-idle (D4s v5, Windows_Client, deallocated now): started Oct 31 and
//     Nov 8, outside the window; a VM write on Nov 3 (noise).
//   - vm-noprice (E2s v5, which has no price rows, running now): nothing.
//
// Noise: an extension write, a deallocate of a VM outside the pool, and the
// Started/Accepted events of every operation.
func NewWeek(t testing.TB) *Week {
	vms := []*fakepool.VM{
		{ResourceGroup: "rg-hosts", Name: "vm-agent", Power: "deallocated", SystemPrincipal: PrincipalAgent, Size: "Standard_D4s_v5", LicenseType: "Windows_Client"},
		{ResourceGroup: "rg-hosts", Name: "vm-autoscale", Power: "deallocated", SystemPrincipal: PrincipalAutoscale, Size: "Standard_D4s_v5"},
		{ResourceGroup: "rg-hosts", Name: "vm-stopped", Power: "deallocated", SystemPrincipal: PrincipalStopped, Size: "Standard_D2s_v5", Location: "northeurope", LicenseType: "Windows_Client"},
		{ResourceGroup: "rg-hosts", Name: "vm-never", Power: "running", SystemPrincipal: PrincipalNever, Size: "Standard_D4s_v5", LicenseType: "Windows_Client"},
		{ResourceGroup: "rg-hosts", Name: "vm-idle", Power: "deallocated", SystemPrincipal: PrincipalIdle, Size: "Standard_D4s_v5", LicenseType: "Windows_Client"},
		{ResourceGroup: "rg-hosts", Name: "vm-noprice", Power: "running", SystemPrincipal: PrincipalNoPrice, Size: "Standard_E2s_v5", LicenseType: "Windows_Client"},
	}
	w := &Week{ARM: fakepool.New(t, WeekSubscription, "rg-avd", "hp1", vms)}
	w.ARM.PageSize = 4
	w.Log = NewActivityLog(t, w.ARM, WeekNow)
	w.Log.PageSize = 5
	id := func(name string) string { return w.ARM.VMID(w.ARM.Find(name)) }
	user := User("alice@contoso.example", "22222222-bbbb-4000-8000-000000000001")
	avd := AVDService()
	ok := "Succeeded"
	w.Log.Op(id("vm-agent"), Start, nov(1, 8, 0), ok, "", avd)
	w.Log.Op(id("vm-agent"), Deallocate, nov(1, 17, 0), ok, "", ManagedIdentity(PrincipalAgent))
	w.Log.Op(id("vm-agent"), Start, nov(2, 8, 0), ok, "", user)
	w.Log.Op(id("vm-agent"), Restart, nov(2, 12, 0), ok, "", user)
	w.Log.Op(id("vm-agent"), Deallocate, nov(2, 18, 30), ok, "", ManagedIdentity(PrincipalAgent))
	w.Log.Op(id("vm-autoscale"), Deallocate, nov(3, 9, 0), ok, "", avd)
	w.Log.Op(id("vm-autoscale"), Start, nov(5, 7, 0), ok, "", avd)
	w.Log.Op(id("vm-autoscale"), Deallocate, nov(5, 19, 0), ok, "", avd)
	w.Log.Op(id("vm-stopped"), PowerOff, nov(4, 12, 0), ok, "", user)
	w.Log.Op(id("vm-stopped"), Deallocate, nov(6, 12, 0), ok, "", user)
	w.Log.Op(id("vm-never"), Deallocate, nov(7, 17, 0), "Failed", "Forbidden", ManagedIdentity(PrincipalNever))
	w.Log.Noise(id("vm-idle"), Write, nov(3, 10, 0), user)
	w.Log.Noise("/subscriptions/"+WeekSubscription+"/resourceGroups/rg-hosts/providers/Microsoft.Compute/virtualMachines/not-in-pool", Deallocate, nov(4, 9, 0), user)
	w.Log.Noise(id("vm-never")+"/extensions/AADLoginForWindows", "Microsoft.Compute/virtualMachines/extensions/write", nov(1, 3, 0), user)
	w.Log.Op(id("vm-idle"), Start, time.Date(2026, 10, 31, 23, 0, 0, 0, time.UTC), ok, "", user)
	w.Log.Op(id("vm-idle"), Start, nov(8, 9, 0), ok, "", user)

	var rows []map[string]any
	rows = append(rows, VMRows("Standard_D4s_v5", "Dsv5", "westeurope", 0.2, 0.384)...)
	rows = append(rows, VMRows("Standard_D2s_v5", "Dsv5", "northeurope", 0.1, 0.19)...)
	rows = append(rows, VMRows("Standard_D4s_v5", "Dsv5", "eastus", 0.192, 0.376)...) // another region
	w.Prices = NewPrices(t, rows)
	w.Prices.PageSize = 3
	return w
}
