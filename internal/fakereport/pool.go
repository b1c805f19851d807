package fakereport

import (
	"fmt"
	"testing"
	"time"

	"github.com/avdgen/avdgen/internal/fakepool"
)

// NewBusyPool starts fakes of a personal pool of n session hosts spread
// over groups resource groups, each VM used every day of the window: the
// AVD service starts it at 08:00 + (i mod 60) minutes, its own identity
// deallocates it at 17:00 + (i mod 60) minutes (three events each:
// Started, Accepted, Succeeded), plus one VM write per VM and day as noise.
// Half the VMs are D4s v5, half D2s v5, all in westeurope, Windows_Client.
// The request budget benchmarks read it.
func NewBusyPool(t testing.TB, n, groups int, from time.Time, days int, now time.Time) *Week {
	vms := make([]*fakepool.VM, n)
	for i := range vms {
		size := "Standard_D4s_v5"
		if i%2 == 1 {
			size = "Standard_D2s_v5"
		}
		vms[i] = &fakepool.VM{ResourceGroup: fmt.Sprintf("rg-hosts-%02d", i%groups), Name: fmt.Sprintf("avd-%05d", i), Power: "deallocated",
			SystemPrincipal: fmt.Sprintf("33333333-cccc-4000-8000-%012d", i), Size: size, LicenseType: "Windows_Client"}
	}
	w := &Week{ARM: fakepool.New(t, WeekSubscription, "rg-avd", "hp1", vms)}
	w.Log = NewActivityLog(t, w.ARM, now)
	avd := AVDService()
	for i, v := range vms {
		id := w.ARM.VMID(v)
		me := ManagedIdentity(v.SystemPrincipal)
		for d := 0; d < days; d++ {
			day := from.AddDate(0, 0, d)
			w.Log.Op(id, Start, day.Add(8*time.Hour+time.Duration(i%60)*time.Minute), "Succeeded", "", avd)
			w.Log.Noise(id, Write, day.Add(12*time.Hour), me)
			w.Log.Op(id, Deallocate, day.Add(17*time.Hour+time.Duration(i%60)*time.Minute), "Succeeded", "", me)
		}
	}
	var rows []map[string]any
	rows = append(rows, VMRows("Standard_D4s_v5", "Dsv5", "westeurope", 0.2, 0.384)...)
	rows = append(rows, VMRows("Standard_D2s_v5", "Dsv5", "westeurope", 0.1, 0.19)...)
	w.Prices = NewPrices(t, rows)
	return w
}
