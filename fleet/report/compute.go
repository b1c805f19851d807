package report

import (
	"fmt"
	"strings"
	"time"

	"github.com/avdgen/avdgen/fleet/pool"
)

// after is the state a Succeeded operation leaves the VM in.
func after(op string) string {
	switch op {
	case OpStart:
		return Running
	case OpDeallocate:
		return Deallocated
	default: // powerOff: stopped, still billed
		return Stopped
	}
}

// before is the state a VM was in before its first event in the window:
// the opposite of what that event does.
func before(op string) string {
	if op == OpStart {
		return Deallocated
	}
	return Running
}

// fromPowerState maps the current instance view to a state for a VM with
// no event in the window ("" when unknown).
func fromPowerState(ps string) string {
	switch strings.ToLower(strings.TrimPrefix(ps, "PowerState/")) {
	case "running", "starting":
		return Running
	case "deallocated", "deallocating":
		return Deallocated
	case "stopped", "stopping":
		return Stopped
	}
	return ""
}

// principals are the VM's own identities: the system-assigned principal
// and every user-assigned one the VM list shows.
func principals(vm pool.VM) []string {
	var out []string
	if vm.Identity == nil {
		return out
	}
	if vm.Identity.PrincipalID != "" {
		out = append(out, vm.Identity.PrincipalID)
	}
	for _, raw := range vm.Identity.UserAssignedIdentities {
		var ua struct {
			PrincipalID string `json:"principalId"`
		}
		if jsonUnmarshal(raw, &ua) == nil && ua.PrincipalID != "" {
			out = append(out, ua.PrincipalID)
		}
	}
	return out
}

// Attribute says who did e: the VM's own identity (the agent), the Azure
// Virtual Desktop service (autoscale), or anybody else.
func Attribute(e Event, own []string) string {
	for _, p := range own {
		if strings.EqualFold(e.Caller, p) || strings.EqualFold(e.ObjectID, p) {
			return ByAgent
		}
	}
	if strings.EqualFold(e.Caller, AVDServiceAppID) || strings.EqualFold(e.AppID, AVDServiceAppID) {
		return ByAutoscale
	}
	return ByOther
}

// isClientImage reports a Windows 10/11 (client) marketplace image, whose
// licence is covered by the users' Windows Enterprise rights when
// licenseType is Windows_Client.
func isClientImage(vm pool.VM) bool {
	offer := strings.ToLower(vm.ImageOffer)
	return strings.EqualFold(vm.ImagePublisher, "MicrosoftWindowsDesktop") || strings.HasPrefix(offer, "windows-10") || strings.HasPrefix(offer, "windows-11")
}

func compute(o Options, h pool.SessionHost, vm pool.VM, events []Event, rates map[sizeRegion]SizeRates) (VM, string) {
	r := VM{ID: vm.ID, Name: vm.Name, SessionHost: h.Name, Size: vm.Size, Region: strings.ToLower(vm.Location), LicenseType: vm.LicenseType,
		Findings: []Finding{}}
	windows := strings.EqualFold(vm.OSType, "Windows")
	// Azure Hybrid Benefit: Windows_Client (Windows 10/11 with the users'
	// Enterprise rights) and Windows_Server (Windows Server licences the
	// customer brings) are both billed at the non-Windows compute rate.
	clientLicence := strings.EqualFold(vm.LicenseType, "Windows_Client")
	hybridBenefit := clientLicence || strings.EqualFold(vm.LicenseType, "Windows_Server")
	r.Meter = "base"
	if windows && !hybridBenefit {
		r.Meter = "windows"
	}
	days := dayCount(o.From, o.To)
	r.days = make([]Hours, days)
	own := principals(vm)

	// The timeline: the state before the first Succeeded event is the
	// opposite of what it does; without any, the current power state holds.
	var changes []Event
	var failed []Event
	for _, e := range events {
		switch {
		case strings.EqualFold(e.Status, "Succeeded"):
			changes = append(changes, e)
		case strings.EqualFold(e.Status, "Failed") && e.Op == OpDeallocate:
			failed = append(failed, e)
		}
	}
	state, by := "", ByOther
	if len(changes) > 0 {
		state = before(changes[0].Op)
	} else {
		state = fromPowerState(vm.PowerState)
		if state == "" {
			return r, fmt.Sprintf("no power event in the window and the current power state is unknown (%q); not guessing", vm.PowerState)
		}
	}
	var dur struct{ run, deal, stop, agent, autoscale, other time.Duration }
	add := func(from, to time.Time, state, by string) {
		if !to.After(from) {
			return
		}
		d := to.Sub(from)
		switch state {
		case Running:
			dur.run += d
		case Stopped:
			dur.stop += d
		case Deallocated:
			dur.deal += d
			switch by {
			case ByAgent:
				dur.agent += d
			case ByAutoscale:
				dur.autoscale += d
			default:
				dur.other += d
			}
		}
		// split over UTC days for the pool chart
		for t := from; t.Before(to); {
			day := int(t.Sub(o.From) / (24 * time.Hour))
			end := o.From.AddDate(0, 0, day+1)
			if end.After(to) {
				end = to
			}
			part := end.Sub(t).Hours()
			switch state {
			case Running:
				r.days[day].Running += part
			case Stopped:
				r.days[day].Stopped += part
			case Deallocated:
				r.days[day].Deallocated += part
			}
			t = end
		}
	}
	t := o.From
	deallocations := 0
	for _, e := range changes {
		add(t, e.Time, state, by)
		state, by, t = after(e.Op), ByOther, e.Time
		if e.Op == OpDeallocate {
			by = Attribute(e, own)
			deallocations++
		}
	}
	add(t, o.To, state, by)

	r.Hours = Hours{Running: hours(dur.run), Deallocated: hours(dur.deal), Stopped: hours(dur.stop)}
	r.DeallocatedHoursBy = By{Agent: hours(dur.agent), Autoscale: hours(dur.autoscale), Other: hours(dur.other)}

	// Findings that need no price.
	if dur.run > 0 && deallocations == 0 {
		r.Findings = append(r.Findings, Finding{Kind: NeverDeallocated, Message: fmt.Sprintf(
			"running %s h and never deallocated in the window: check that the avd-agent runs at sign-out (avd-agent check) and that the VM's identity holds the deallocate role (avdgen rbac apply)", num(r.Hours.Running))})
	}
	for _, e := range failed {
		r.Findings = append(r.Findings, Finding{Kind: FailedDeallocation, Message: fmt.Sprintf(
			"deallocation failed at %s by %s (%s): %s", e.Time.Format("2006-01-02 15:04 UTC"), Attribute(e, own), callerName(e), orNone(e.SubStatus))})
	}

	// The rate.
	size := strings.ToLower(vm.Size)
	sr, known := rates[sizeRegion{size, r.Region}]
	var rate, baseRate, winRate *float64
	if sr.Base != nil {
		baseRate = ptr(sr.Base.USD)
	}
	if sr.Windows != nil {
		winRate = ptr(sr.Windows.USD)
	}
	gap := ""
	if v, ok := rateFor(o.Rates, vm.Size); ok {
		rate, r.RateSource = ptr(v), "--rate "+vm.Size+"="+num(v)
	} else {
		m := sr.Base
		if r.Meter == "windows" {
			m = sr.Windows
		}
		switch {
		case vm.Size == "" || vm.Location == "":
			gap = "the VM list shows no size or region; cannot price it"
		case o.Prices == nil:
			gap = fmt.Sprintf("no rate for %s: this cloud has no Retail Prices API; pass --rate %s=USD_PER_HOUR", vm.Size, vm.Size)
		case !known || m == nil:
			gap = fmt.Sprintf("the Retail Prices API has no pay-as-you-go %s meter for %s in %s; pass --rate %s=USD_PER_HOUR", meterName(r.Meter), vm.Size, r.Region, vm.Size)
		default:
			rate, r.RateSource = ptr(m.USD), "Retail Prices meter "+m.MeterID+" ("+m.ProductName+", "+m.SkuName+")"
		}
	}
	if dur.stop > 0 {
		msg := fmt.Sprintf("stopped but still billed for %s h", num(r.Hours.Stopped))
		if rate != nil {
			msg += fmt.Sprintf(" ($%.2f)", cents(dur.stop.Hours()**rate))
		}
		r.Findings = append(r.Findings, Finding{Kind: StoppedBilled, Message: msg + ": a shutdown from inside Windows or a Stop without deallocate; schedule avdgen sweep"})
	}
	if windows && isClientImage(vm) && !clientLicence {
		lt := "without licenseType"
		if vm.LicenseType != "" {
			lt = "with licenseType " + vm.LicenseType
		}
		msg := fmt.Sprintf("a Windows 10/11 image %s pays the Windows meter", lt)
		if baseRate != nil && winRate != nil {
			over := cents((dur.run + dur.stop).Hours() * (*winRate - *baseRate))
			r.LicenseOverpay = ptr(over)
			msg += fmt.Sprintf(" ($%s/h instead of $%s/h, $%.2f over the billed hours)", num(*winRate), num(*baseRate), over)
		}
		r.Findings = append(r.Findings, Finding{Kind: WrongMeter, Message: msg + ": set licenseType Windows_Client if the users hold Windows Enterprise E3/E5 or A3/A5 rights (az vm update --license-type Windows_Client)"})
	}
	if rate == nil {
		return r, gap
	}
	r.HourlyRate = rate
	r.Saved = ptr(cents(dur.deal.Hours() * *rate))
	r.Leaked = ptr(cents(dur.stop.Hours() * *rate))
	r.Complete = true
	return r, ""
}

func meterName(m string) string {
	if m == "windows" {
		return "Windows"
	}
	return "non-Windows"
}

func callerName(e Event) string {
	if e.Caller != "" {
		return "caller " + e.Caller
	}
	return "caller unknown"
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// num prints a figure without trailing zeros.
func num(x float64) string {
	s := fmt.Sprintf("%.4f", x)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s
}
