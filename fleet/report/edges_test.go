package report

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/avdgen/avdgen/fleet/pool"
	"github.com/avdgen/avdgen/internal/armtest"
	"github.com/avdgen/avdgen/internal/fakereport"
)

func TestParseRange(t *testing.T) {
	now := time.Date(2026, 12, 7, 7, 30, 0, 0, time.UTC)
	f, to, err := ParseRange("2026-11-01", "2026-11-08", now)
	if err != nil || !f.Equal(weekFrom) || !to.Equal(weekTo) {
		t.Fatalf("%v %v %v", f, to, err)
	}
	if _, _, err := ParseRange("2026-12-06", "2026-12-07", now); err != nil {
		t.Errorf("yesterday (to = today): %v", err)
	}
	for _, c := range []struct{ from, to, want string }{
		{"2026-11-08", "2026-11-01", "--from 2026-11-08 --to 2026-11-01: the range is reversed or empty"},
		{"2026-11-01", "2026-11-01", "reversed or empty"},
		{"2026-12-07", "2026-12-08", "--to 2026-12-08: in the future"},
		{"2026-09-01", "2026-09-08", "--from 2026-09-01: older than the Activity Log keeps events (90 days); the earliest allowed now is 2026-09-09"},
		{"11/01/2026", "2026-11-08", `--from "11/01/2026": not a date`},
		{"2026-11-01", "", `--to "": not a date`},
	} {
		if _, _, err := ParseRange(c.from, c.to, now); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s..%s: %v, want %q", c.from, c.to, err, c.want)
		}
	}
	// The earliest day the message names is accepted.
	if _, _, err := ParseRange("2026-09-09", "2026-09-10", now); err != nil {
		t.Errorf("2026-09-09: %v", err)
	}
}

// TestPickOnTheRecordedRows: Microsoft Learn's sample rows are a Windows
// Spot row typed DevTestConsumption, a 1-year reservation and a EUR Spot
// row: none is a pay-as-you-go rate, so nothing is picked from them.
func TestPickOnTheRecordedRows(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "reference", "retail-prices", "learn-azure-retail-prices-examples.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rows []PriceRow
	if err := json.Unmarshal(b, &rows); err != nil {
		t.Fatal(err)
	}
	for _, c := range [][2]string{{"Standard_F16s", "westeurope"}, {"Standard_E64_v4", "southcentralus"}} {
		if r := Pick(rows, c[0], c[1], weekNow()); r.Base != nil || r.Windows != nil {
			t.Errorf("%s: picked %+v %+v from Spot, Dev/Test, reservation or EUR rows", c[0], r.Base, r.Windows)
		}
	}
	// The same rows made pay-as-you-go are picked, by productName suffix.
	rows[2].CurrencyCode, rows[2].SkuName, rows[2].MeterName = "USD", "F16s", "F16s"
	if r := Pick(rows, "standard_f16s", "westeurope", weekNow()); r.Windows == nil || r.Windows.USD != 0.6176 || r.Base != nil {
		t.Errorf("picked %+v %+v", r.Base, r.Windows)
	}
}

func weekNow() time.Time { return fakereport.WeekNow }

func TestPickPrefersThePrimaryRegionAndTheLatestPrice(t *testing.T) {
	row := func(price float64, primary bool, eff string) PriceRow {
		return PriceRow{CurrencyCode: "USD", RetailPrice: price, ArmRegionName: "westeurope", ArmSkuName: "Standard_D4s_v5", Type: "Consumption",
			UnitOfMeasure: "1 Hour", ProductName: "Virtual Machines Dsv5 Series", SkuName: "D4s v5", MeterName: "D4s v5", IsPrimaryMeterRegion: primary, EffectiveStartDate: eff}
	}
	rows := []PriceRow{row(0.3, false, "2026-01-01T00:00:00Z"), row(0.21, true, "2025-01-01T00:00:00Z"), row(0.22, true, "2026-06-01T00:00:00Z"), row(0.99, true, "2027-01-01T00:00:00Z")}
	if r := Pick(rows, "Standard_D4s_v5", "westeurope", weekNow()); r.Base == nil || r.Base.USD != 0.22 {
		t.Errorf("picked %+v, want 0.22 (primary, latest in effect)", r.Base)
	}
}

func TestAttribute(t *testing.T) {
	own := []string{"AAAA-1"}
	for want, e := range map[string]Event{
		ByAgent + " caller":  {Caller: "aaaa-1"},
		ByAgent + " oid":     {Caller: "someone", ObjectID: "AAAA-1"},
		ByAutoscale + " app": {Caller: "5e1c2f3a", AppID: AVDServiceAppID},
		ByAutoscale + " id":  {Caller: strings.ToUpper(AVDServiceAppID)},
		ByOther + " user":    {Caller: "alice@contoso.example", ObjectID: "bbbb", AppID: "c44b4083"},
		ByOther + " empty":   {},
	} {
		if got := Attribute(e, own); got != strings.Fields(want)[0] {
			t.Errorf("%s: %s", want, got)
		}
	}
}

// TestRetriesThrottledPages: a 429 with Retry-After on the Activity Log,
// the VM list and Retail Prices is waited out and retried; the figures do
// not change.
func TestRetriesThrottledPages(t *testing.T) {
	w := fakereport.NewWeek(t)
	w.ARM.Throttle("activityLog", 1)
	w.ARM.Throttle("listVMs", 1)
	w.Prices.Throttle(1)
	start := time.Now()
	rep, err := Run(context.Background(), armtest.Client(t, w.ARM.URL), weekOptions(t, w))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Total != (Total{Saved: 104.92, Leaked: 4.80, LicenseOverpay: 12.70}) {
		t.Errorf("total after retries %+v", rep.Total)
	}
	if time.Since(start) < 2*time.Second {
		t.Errorf("three Retry-After: 1 answers took only %s", time.Since(start))
	}
}

func TestUnknownAndPooledHostPoolsAreInputErrors(t *testing.T) {
	w := fakereport.NewWeek(t)
	o := weekOptions(t, w)
	o.Pool.HostPool = "hp-typo"
	_, err := Run(context.Background(), armtest.Client(t, w.ARM.URL), o)
	var ie *InputError
	if !errors.As(err, &ie) || !strings.Contains(err.Error(), `--host-pool "hp-typo": no such host pool in resource group "rg-avd"`) {
		t.Errorf("unknown pool: %v", err)
	}
	w.ARM.HostPoolType = "Pooled"
	_, err = Run(context.Background(), armtest.Client(t, w.ARM.URL), weekOptions(t, w))
	if !errors.As(err, &ie) || !strings.Contains(err.Error(), `--host-pool "hp1": a Pooled host pool; avdgen report covers personal host pools only`) {
		t.Errorf("pooled: %v", err)
	}
	if w.ARM.Count("sessionHosts")+w.ARM.Count("activityLog")+w.Prices.Requests() != 0 {
		t.Errorf("read on after the pool was refused")
	}
}

// TestIncompleteInsteadOfGuessing: a VM with no event and an unknown power
// state, and a cloud without Retail Prices, leave the figures out and say
// which VM lacks what.
func TestIncompleteInsteadOfGuessing(t *testing.T) {
	w := fakereport.NewWeek(t)
	w.ARM.Find("vm-idle").Power = "unknown"
	o := weekOptions(t, w)
	o.Prices = nil
	o.Rates = map[string]float64{"standard_d4s_v5": 0.19}
	rep, err := Run(context.Background(), armtest.Client(t, w.ARM.URL), o)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, g := range rep.Incomplete {
		got[g.VM] = g.Reason
	}
	if !strings.Contains(got["vm-idle"], "current power state is unknown") || !strings.Contains(got["vm-stopped"], "pass --rate Standard_D2s_v5=USD_PER_HOUR") ||
		!strings.Contains(got["vm-noprice"], "--rate Standard_E2s_v5") || len(got) != 3 {
		t.Errorf("incomplete: %v", got)
	}
	if v := byName(rep, "vm-stopped"); v.Saved != nil || v.Complete {
		t.Errorf("vm-stopped priced without a rate: %+v", v)
	}
	// --rate prices D4s v5: vm-agent saves 148.5 h x 0.19 = 28.215 -> 28.22.
	if v := byName(rep, "vm-agent"); val(v.Saved) != 28.22 || !strings.HasPrefix(v.RateSource, "--rate Standard_D4s_v5=0.19") {
		t.Errorf("vm-agent with --rate: %v %s", val(v.Saved), v.RateSource)
	}
	if w.Prices.Requests() != 0 {
		t.Errorf("%d Retail Prices requests without a prices client", w.Prices.Requests())
	}
}

func TestPricesRefusesANextPageElsewhere(t *testing.T) {
	p := NewPrices("http://127.0.0.1:1", nil, DefaultTestRetry)
	if err := p.sameOrigin("https://prices.azure.com:443/api/retail/prices?$skip=100"); err == nil {
		t.Error("a next page on another host was accepted")
	}
	if err := p.sameOrigin("http://127.0.0.1:1/api/retail/prices?$skip=100"); err != nil {
		t.Error(err)
	}
	real := NewPrices(PricesEndpoint, nil, DefaultTestRetry)
	if err := real.sameOrigin("https://prices.azure.com:443/api/retail/prices?$skip=100"); err != nil {
		t.Errorf("the real API's own NextPageLink (with :443) refused: %v", err)
	}
}

// TestCSV: one row per VM, the header, CRLF, figures as in the JSON.
func TestCSV(t *testing.T) {
	_, rep := runWeek(t)
	b := rep.CSV()
	if !bytes.Contains(b, []byte("\r\n")) {
		t.Error("not CRLF")
	}
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 7 || rows[0][0] != "vm" || rows[0][14] != "savedUSD" || rows[0][15] != "leakedUSD" {
		t.Fatalf("rows %d, header %v", len(rows), rows[0])
	}
	for _, r := range rows[1:] {
		if r[0] == "vm-stopped" && (r[14] != "3.6" || r[15] != "4.8" || r[11] != "0" || r[13] != "36" || !strings.Contains(r[17], "stopped-billed")) {
			t.Errorf("vm-stopped row %v", r)
		}
		if r[0] == "vm-noprice" && (r[7] != "" || r[14] != "") {
			t.Errorf("vm-noprice priced: %v", r)
		}
	}
}

// TestTableNamesEverything: the terminal table has every VM, the totals,
// the findings, the incomplete VM and the formula.
func TestTableNamesEverything(t *testing.T) {
	_, rep := runWeek(t)
	var b bytes.Buffer
	rep.WriteTable(&b)
	for _, want := range []string{"vm-agent", "vm-stopped", "TOTAL", "104.92", "4.80", "[failed-deallocation]", "vm-noprice: the Retail Prices API has no", "Formula: saved = deallocated hours"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}

// TestForbiddenActivityLogAsksForReader: a 403 names the missing read
// permission and the Reader role, not the agent's deallocate role.
func TestForbiddenActivityLogAsksForReader(t *testing.T) {
	w := fakereport.NewWeek(t)
	w.Log.Forbidden = true
	_, err := Run(context.Background(), armtest.Client(t, w.ARM.URL), weekOptions(t, w))
	if err == nil || !strings.Contains(err.Error(), "needs Microsoft.Insights/eventtypes/values/read, e.g. the Reader role") || strings.Contains(err.Error(), "rbac apply") {
		t.Errorf("err = %v", err)
	}
}

// A Windows VM with Azure Hybrid Benefit is billed at the non-Windows rate:
// licenseType Windows_Client (Windows 10/11) and Windows_Server alike. Only
// a Windows VM without either pays the Windows meter.
func TestHybridBenefitIsPricedOnTheBaseMeter(t *testing.T) {
	o := Options{From: weekFrom, To: weekTo, Prices: &Prices{}} // rates below; nothing is asked
	rates := map[sizeRegion]SizeRates{{"standard_d4s_v5", "westeurope"}: {
		Base:    &Rate{USD: 0.2, MeterID: "base"},
		Windows: &Rate{USD: 0.384, MeterID: "win"},
	}}
	for licence, want := range map[string]float64{"Windows_Client": 0.2, "Windows_Server": 0.2, "windows_server": 0.2, "": 0.384} {
		vm := pool.VM{ID: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm", Name: "vm",
			Size: "Standard_D4s_v5", Location: "westeurope", OSType: "Windows", LicenseType: licence, PowerState: "PowerState/running"}
		got, gap := compute(o, pool.SessionHost{Name: "vm.contoso.local"}, vm, nil, rates)
		if gap != "" || got.HourlyRate == nil || *got.HourlyRate != want {
			t.Errorf("licenseType %q: rate %v (gap %q), want %v", licence, got.HourlyRate, gap, want)
		}
	}
}
