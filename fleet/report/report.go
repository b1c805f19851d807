// Package report is `avdgen report`: for one personal host pool and a window
// of whole UTC days, how many hours each session host's VM ran, sat
// deallocated or sat stopped (still billed), who deallocated it, and what
// that saved or leaked at the Azure Retail Prices pay-as-you-go rate.
//
// Evidence comes from list calls only: the host pool and its session hosts
// and VMs (ARM), the Activity Log of each VM resource group, and one Retail
// Prices query per VM size and region. A VM the evidence does not cover is
// listed as incomplete instead of being guessed.
package report

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/avdgen/avdgen/agent/armclient"
	"github.com/avdgen/avdgen/fleet/pool"
)

// AVDServiceAppID is the application id of the Azure Virtual Desktop
// service principal, which personal-pool autoscale (Start VM on Connect,
// scaling plans) acts as.
const AVDServiceAppID = "9cdead84-a844-4324-93f2-b2e6bb768d07"

// ActivityLogRetention is how far back the Activity Log keeps events.
const ActivityLogRetention = 90 * 24 * time.Hour

// Options of one report.
type Options struct {
	Pool pool.Ref
	// From and To are UTC midnights; To is exclusive.
	From, To time.Time
	// Rates overrides the hourly USD rate per VM size (keys compared
	// case-insensitively): negotiated prices.
	Rates map[string]float64
	// Prices looks up retail rates; nil means none (a cloud the Retail
	// Prices API does not cover): every size then needs a --rate.
	Prices *Prices
	// Progress, when not nil, is told what has been read (a terminal).
	Progress func(format string, args ...any)
}

// InputError is bad input that only ARM could reveal (an unknown or a
// pooled host pool): the command exits 2 with it.
type InputError struct{ Msg string }

func (e *InputError) Error() string { return e.Msg }

// States of a VM.
const (
	Running     = "running"
	Deallocated = "deallocated"
	Stopped     = "stopped"
)

// Who deallocated.
const (
	ByAgent     = "agent"
	ByAutoscale = "autoscale"
	ByOther     = "other"
)

// Hours a VM spent in each state.
type Hours struct {
	Running     float64 `json:"running"`
	Deallocated float64 `json:"deallocated"`
	Stopped     float64 `json:"stopped"`
}

// By splits deallocated hours by who deallocated.
type By struct {
	Agent     float64 `json:"agent"`
	Autoscale float64 `json:"autoscale"`
	Other     float64 `json:"other"`
}

// Finding is something an admin should look at.
type Finding struct {
	Kind    string `json:"kind"`
	Message string `json:"message"`
}

// Finding kinds.
const (
	NeverDeallocated   = "never-deallocated"
	FailedDeallocation = "failed-deallocation"
	StoppedBilled      = "stopped-billed"
	WrongMeter         = "wrong-meter"
)

// VM is one session host's VM in the report.
type VM struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	SessionHost string `json:"sessionHost"`
	Size        string `json:"size"`
	Region      string `json:"region"`
	LicenseType string `json:"licenseType"`
	// Meter is "windows" or "base" (the non-Windows meter).
	Meter string `json:"meter"`
	// HourlyRate is nil when no rate is known (the VM is then in Incomplete).
	HourlyRate         *float64  `json:"hourlyRate"`
	RateSource         string    `json:"rateSource"`
	Hours              Hours     `json:"hours"`
	DeallocatedHoursBy By        `json:"deallocatedHoursBy"`
	Saved              *float64  `json:"saved"`
	Leaked             *float64  `json:"leaked"`
	LicenseOverpay     *float64  `json:"licenseOverpay"`
	Findings           []Finding `json:"findings"`
	Complete           bool      `json:"complete"`
	// per-day hours, for the pool chart
	days []Hours
}

// Day is the pool's hours on one UTC day.
type Day struct {
	Date string `json:"date"`
	Hours
}

// Total sums the VMs with complete figures.
type Total struct {
	Saved          float64 `json:"saved"`
	Leaked         float64 `json:"leaked"`
	LicenseOverpay float64 `json:"licenseOverpay"`
}

// Gap names a VM the report could not cover and why.
type Gap struct {
	VM     string `json:"vm"`
	Reason string `json:"reason"`
}

// Report is the whole result; --json prints it.
type Report struct {
	From       string `json:"from"`
	To         string `json:"to"`
	HostPool   string `json:"hostPool"`
	Currency   string `json:"currency"`
	Formula    string `json:"formula"`
	VMs        []VM   `json:"vms"`
	Total      Total  `json:"total"`
	Days       []Day  `json:"days"`
	Incomplete []Gap  `json:"incomplete"`
	// Pages counts the Activity Log and Retail Prices pages read.
	Pages PageCounts `json:"pages"`
}

// PageCounts are the pages read per source.
type PageCounts struct {
	ActivityLog int `json:"activityLog"`
	Prices      int `json:"prices"`
}

// Formula is printed with the figures.
const Formula = "saved = deallocated hours × hourly rate; leaked = stopped (not deallocated) hours × hourly rate; " +
	"hourly rate = Azure Retail Prices pay-as-you-go (priceType Consumption, USD) for the VM's size and region, " +
	"on the non-Windows meter when licenseType is Windows_Client or Windows_Server (Azure Hybrid Benefit) and on the Windows meter otherwise, unless --rate SIZE=USD_PER_HOUR gives it; " +
	"licenseOverpay = (running + stopped hours) × (Windows meter − non-Windows meter) for a Windows 10/11 image without licenseType Windows_Client. " +
	"Hours come from the Activity Log's Succeeded start, deallocate and powerOff events; compute only, disks not included."

// ParseRange checks --from and --to (YYYY-MM-DD, UTC; --to exclusive)
// against now and the Activity Log's retention.
func ParseRange(from, to string, now time.Time) (time.Time, time.Time, error) {
	f, err := time.Parse(time.DateOnly, strings.TrimSpace(from))
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("--from %q: not a date; give YYYY-MM-DD (UTC), e.g. 2026-11-01", from)
	}
	t, err := time.Parse(time.DateOnly, strings.TrimSpace(to))
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("--to %q: not a date; give YYYY-MM-DD (UTC, exclusive), e.g. 2026-11-08", to)
	}
	now = now.UTC()
	switch {
	case !t.After(f):
		return time.Time{}, time.Time{}, fmt.Errorf("--from %s --to %s: the range is reversed or empty; --to is exclusive and must be after --from (one day: --from 2026-11-01 --to 2026-11-02)", from, to)
	case t.After(now):
		return time.Time{}, time.Time{}, fmt.Errorf("--to %s: in the future (now is %s UTC); --to is exclusive, so the latest allowed is today, %s", to, now.Format("2006-01-02 15:04"), now.Format(time.DateOnly))
	case f.Before(now.Add(-ActivityLogRetention)):
		return time.Time{}, time.Time{}, fmt.Errorf("--from %s: older than the Activity Log keeps events (90 days); the earliest allowed now is %s", from, now.Add(-ActivityLogRetention).Add(24*time.Hour-time.Nanosecond).Format(time.DateOnly))
	}
	return f, t, nil
}

// Run gathers the evidence and computes the report.
func Run(ctx context.Context, c *armclient.Client, o Options) (*Report, error) {
	progress := o.Progress
	if progress == nil {
		progress = func(string, ...any) {}
	}
	rep := &Report{From: o.From.UTC().Format(time.RFC3339), To: o.To.UTC().Format(time.RFC3339), HostPool: o.Pool.HostPool,
		Currency: "USD", Formula: Formula, VMs: []VM{}, Incomplete: []Gap{}}
	if err := checkPersonal(ctx, c, o.Pool); err != nil {
		return nil, err
	}
	hosts, err := pool.SessionHosts(ctx, c, o.Pool)
	if err != nil {
		return nil, readerHint(err, "Microsoft.DesktopVirtualization/hostpools/sessionhosts/read")
	}
	progress("session hosts: %d", len(hosts))
	groups := pool.Groups(hosts)
	// The model (size, region, licence, identity) from one paged list per
	// resource group. Not $expand=instanceView: Compute accepts that on a
	// resource-group list only together with a scale-set $filter.
	vms, err := pool.ListVMsWithIdentity(ctx, c, o.Pool.Subscription, groups)
	if err != nil {
		return nil, readerHint(err, "Microsoft.Compute/virtualMachines/read")
	}
	progress("VMs read: %d", len(vms))
	events, n, err := readActivityLog(ctx, c, o, groups, progress)
	rep.Pages.ActivityLog = n
	if err != nil {
		return nil, err
	}
	// The current power state matters only for a VM without a Succeeded
	// power event in the window: read those VMs' instance views, one GET each.
	for _, h := range hosts {
		k := pool.Key(h.ResourceID)
		vm, ok := vms[k]
		if !ok || hasChange(events[k]) {
			continue
		}
		if vm.PowerState, err = powerState(ctx, c, vm.ID); err != nil {
			return nil, err
		}
		vms[k] = vm
	}
	rates, n, err := lookUpRates(ctx, o, hosts, vms, progress)
	rep.Pages.Prices = n
	if err != nil {
		return nil, err
	}
	days := dayCount(o.From, o.To)
	rep.Days = make([]Day, days)
	for i := range rep.Days {
		rep.Days[i].Date = o.From.AddDate(0, 0, i).Format(time.DateOnly)
	}
	for _, h := range hosts {
		vm, ok := vms[pool.Key(h.ResourceID)]
		if !ok {
			rep.Incomplete = append(rep.Incomplete, Gap{VM: vmName(h.ResourceID), Reason: "the session host's VM is not in the VM list (deleted, or in a resource group this identity cannot read)"})
			continue
		}
		r, gap := compute(o, h, vm, events[pool.Key(vm.ID)], rates)
		if gap != "" {
			rep.Incomplete = append(rep.Incomplete, Gap{VM: vm.Name, Reason: gap})
		}
		if r.Complete {
			rep.Total.Saved += *r.Saved
			rep.Total.Leaked += *r.Leaked
			if r.LicenseOverpay != nil {
				rep.Total.LicenseOverpay += *r.LicenseOverpay
			}
		}
		for i, d := range r.days {
			rep.Days[i].Running += d.Running
			rep.Days[i].Deallocated += d.Deallocated
			rep.Days[i].Stopped += d.Stopped
		}
		rep.VMs = append(rep.VMs, r)
	}
	for i := range rep.Days {
		rep.Days[i].Hours = roundHours(rep.Days[i].Hours)
	}
	rep.Total = Total{Saved: cents(rep.Total.Saved), Leaked: cents(rep.Total.Leaked), LicenseOverpay: cents(rep.Total.LicenseOverpay)}
	sort.Slice(rep.VMs, func(i, j int) bool { return strings.ToLower(rep.VMs[i].Name) < strings.ToLower(rep.VMs[j].Name) })
	sort.Slice(rep.Incomplete, func(i, j int) bool { return rep.Incomplete[i].VM < rep.Incomplete[j].VM })
	return rep, nil
}

func hasChange(events []Event) bool {
	for _, e := range events {
		if strings.EqualFold(e.Status, "Succeeded") {
			return true
		}
	}
	return false
}

// powerState reads one VM's instance view (PowerState/..., "" if absent).
func powerState(ctx context.Context, c *armclient.Client, id string) (string, error) {
	var iv struct {
		Statuses []struct {
			Code string `json:"code"`
		} `json:"statuses"`
	}
	if _, err := c.Do(ctx, http.MethodGet, c.URL(id+"/instanceView", "api-version="+pool.ComputeAPIVersion), nil, &iv); err != nil {
		return "", fmt.Errorf("reading the power state of %s: %w", vmName(id), readerHint(err, "Microsoft.Compute/virtualMachines/instanceView/read"))
	}
	for _, s := range iv.Statuses {
		if strings.HasPrefix(s.Code, "PowerState/") {
			return s.Code, nil
		}
	}
	return "", nil
}

func checkPersonal(ctx context.Context, c *armclient.Client, r pool.Ref) error {
	path := fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.DesktopVirtualization/hostPools/%s", r.Subscription, r.ResourceGroup, r.HostPool)
	var hp struct {
		Properties struct {
			HostPoolType string `json:"hostPoolType"`
		} `json:"properties"`
	}
	_, err := c.Do(ctx, http.MethodGet, c.URL(path, "api-version="+pool.DesktopVirtualizationAPIVersion), nil, &hp)
	var se *armclient.StatusError
	if errors.As(err, &se) && se.StatusCode == http.StatusNotFound {
		return &InputError{Msg: fmt.Sprintf("--host-pool %q: no such host pool in resource group %q of subscription %s (ARM answered 404 %s); check the name with `az desktopvirtualization hostpool list -g %s`",
			r.HostPool, r.ResourceGroup, r.Subscription, se.Code, r.ResourceGroup)}
	}
	if err != nil {
		return fmt.Errorf("reading host pool %s: %w", r.HostPool, readerHint(err, "Microsoft.DesktopVirtualization/hostpools/read"))
	}
	if !strings.EqualFold(hp.Properties.HostPoolType, "Personal") {
		return &InputError{Msg: fmt.Sprintf("--host-pool %q: a %s host pool; avdgen report covers personal host pools only (hostPoolType Personal)", r.HostPool, orUnknown(hp.Properties.HostPoolType))}
	}
	return nil
}

func orUnknown(s string) string {
	if s == "" {
		return "host pool without hostPoolType"
	}
	return s
}

func vmName(id string) string {
	if _, _, name, ok := pool.ParseVMID(id); ok {
		return name
	}
	return id
}

func dayCount(from, to time.Time) int { return int(to.Sub(from) / (24 * time.Hour)) }

func cents(x float64) float64 { return math.Round(x*100) / 100 }

func hours(d time.Duration) float64 { return math.Round(d.Hours()*1e4) / 1e4 }

func roundHours(h Hours) Hours {
	return Hours{Running: math.Round(h.Running*1e4) / 1e4, Deallocated: math.Round(h.Deallocated*1e4) / 1e4, Stopped: math.Round(h.Stopped*1e4) / 1e4}
}

func ptr(x float64) *float64 { return &x }

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
