package report

import (
	"bytes"
	_ "embed"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"strings"
	"text/tabwriter"
)

// JSON is the --json output: indented, one trailing newline.
func (r *Report) JSON() []byte {
	b, _ := json.MarshalIndent(r, "", "  ")
	return append(b, '\n')
}

func money(p *float64) string {
	if p == nil {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", *p)
}

func dollars(p *float64) string {
	if p == nil {
		return "n/a"
	}
	return "$" + money(p)
}

func money4(p *float64) string {
	if p == nil {
		return "n/a"
	}
	return num(*p)
}

// WriteTable writes what a person reads in a terminal.
func (r *Report) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "Host pool %s, %s to %s (UTC, end exclusive), %s\n\n", r.HostPool, r.From, r.To, r.Currency)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "VM\tSIZE\tRATE/h\tRUNNING h\tDEALLOC h\tby agent\tautoscale\tother\tSTOPPED h\tSAVED\tLEAKED\t")
	for _, v := range r.VMs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", v.Name, v.Size, money4(v.HourlyRate), num(v.Hours.Running), num(v.Hours.Deallocated),
			num(v.DeallocatedHoursBy.Agent), num(v.DeallocatedHoursBy.Autoscale), num(v.DeallocatedHoursBy.Other), num(v.Hours.Stopped), money(v.Saved), money(v.Leaked))
	}
	fmt.Fprintf(tw, "TOTAL\t\t\t\t\t\t\t\t\t%.2f\t%.2f\t\n", r.Total.Saved, r.Total.Leaked)
	tw.Flush()
	if r.Total.LicenseOverpay > 0 {
		fmt.Fprintf(w, "\nLicence: $%.2f paid on the Windows meter by Windows 10/11 hosts without licenseType Windows_Client.\n", r.Total.LicenseOverpay)
	}
	var findings []string
	for _, v := range r.VMs {
		for _, f := range v.Findings {
			findings = append(findings, fmt.Sprintf("  %s [%s] %s", v.Name, f.Kind, f.Message))
		}
	}
	if len(findings) > 0 {
		fmt.Fprintf(w, "\nFindings:\n%s\n", strings.Join(findings, "\n"))
	}
	if len(r.Incomplete) > 0 {
		fmt.Fprintln(w, "\nIncomplete (no figures rather than a guess):")
		for _, g := range r.Incomplete {
			fmt.Fprintf(w, "  %s: %s\n", g.VM, g.Reason)
		}
	}
	fmt.Fprintf(w, "\nFormula: %s\n", r.Formula)
}

// CSV is the --csv output: one row per VM (RFC 4180, CRLF).
func (r *Report) CSV() []byte {
	var b bytes.Buffer
	cw := csv.NewWriter(&b)
	cw.UseCRLF = true
	cw.Write([]string{"vm", "id", "sessionHost", "size", "region", "licenseType", "meter", "hourlyRateUSD", "runningHours", "deallocatedHours", "stoppedHours",
		"deallocatedByAgent", "deallocatedByAutoscale", "deallocatedByOther", "savedUSD", "leakedUSD", "licenseOverpayUSD", "findings"})
	opt := func(p *float64) string {
		if p == nil {
			return ""
		}
		return num(*p)
	}
	for _, v := range r.VMs {
		var f []string
		for _, x := range v.Findings {
			f = append(f, x.Kind+": "+x.Message)
		}
		cw.Write([]string{v.Name, v.ID, v.SessionHost, v.Size, v.Region, v.LicenseType, v.Meter, opt(v.HourlyRate),
			num(v.Hours.Running), num(v.Hours.Deallocated), num(v.Hours.Stopped),
			num(v.DeallocatedHoursBy.Agent), num(v.DeallocatedHoursBy.Autoscale), num(v.DeallocatedHoursBy.Other),
			opt(v.Saved), opt(v.Leaked), opt(v.LicenseOverpay), strings.Join(f, " | ")})
	}
	cw.Flush()
	return b.Bytes()
}

//go:embed report.html.tmpl
var pageTemplate string

var page = template.Must(template.New("report").Parse(pageTemplate))

// Colours of the charts (the browser test looks for them in the screenshot).
const (
	ColourRunning     = "#3182ce"
	ColourDeallocated = "#38a169"
	ColourStopped     = "#e53e3e"
	ColourSaved       = "#276749"
	ColourLeaked      = "#9b2c2c"
)

type barRect struct {
	Class, Colour, Title string
	X, Y, W, H           float64
	Value                string
}

type dayBar struct {
	Date, Label string
	X, LabelY   float64
	Rects       []barRect
}

type vmBar struct {
	Name, Label   string
	Y, TextY      float64
	Saved, Leak   barRect
	SavedT, LeakT string
}

type finding struct{ VM, Kind, Message string }

type tableRow struct {
	Name  string
	Cells []string
}

type pageData struct {
	R                    *Report
	Colours              map[string]string
	DayW, DayH, ChartTop float64
	Days                 []dayBar
	MaxDayHours          string
	VMW, VMH             float64
	VMBars               []vmBar
	Findings             []finding
	Rows                 []tableRow
	FromDay, ToDay       string
}

// HTML is the --html page: one self-contained file, inline CSS and SVG,
// no scripts, no external resources.
func (r *Report) HTML() []byte {
	d := pageData{R: r, FromDay: r.From[:min(10, len(r.From))], ToDay: r.To[:min(10, len(r.To))], Colours: map[string]string{"running": ColourRunning, "deallocated": ColourDeallocated, "stopped": ColourStopped,
		"saved": ColourSaved, "leaked": ColourLeaked}}
	// Daily stacked bars: each day's full height is the pool's 24 h × VMs.
	const chartH, top, left = 220.0, 20.0, 50.0
	maxH := 24.0 * float64(len(r.VMs))
	if maxH == 0 {
		maxH = 24
	}
	d.MaxDayHours = num(maxH)
	barW := 720.0 / float64(max(len(r.Days), 1))
	d.DayW, d.DayH, d.ChartTop = left+720+20, top+chartH+40, top
	for i, day := range r.Days {
		x := left + float64(i)*barW
		y := top + chartH
		db := dayBar{Date: day.Date, Label: day.Date[5:], X: x + barW*0.1, LabelY: top + chartH + 16}
		for _, s := range []struct {
			class string
			h     float64
		}{{"running", day.Running}, {"deallocated", day.Deallocated}, {"stopped", day.Stopped}} {
			hh := s.h / maxH * chartH
			y -= hh
			db.Rects = append(db.Rects, barRect{Class: s.class, Colour: d.Colours[s.class], X: x + barW*0.1, Y: y, W: barW * 0.8, H: hh,
				Value: num(s.h), Title: fmt.Sprintf("%s: %s h %s", day.Date, num(s.h), s.class)})
		}
		d.Days = append(d.Days, db)
	}
	// Per-VM saved and leaked bars on one money scale.
	maxUSD := 0.0
	for _, v := range r.VMs {
		for _, p := range []*float64{v.Saved, v.Leaked} {
			if p != nil && *p > maxUSD {
				maxUSD = *p
			}
		}
	}
	if maxUSD == 0 {
		maxUSD = 1
	}
	const nameW, barMax, rowH = 160.0, 560.0, 34.0
	d.VMW, d.VMH = nameW+barMax+120, float64(len(r.VMs))*rowH+10
	for i, v := range r.VMs {
		y := 5 + float64(i)*rowH
		vb := vmBar{Name: v.Name, Label: v.Name, Y: y, TextY: y + 18}
		val := func(p *float64) float64 {
			if p == nil {
				return 0
			}
			return *p
		}
		vb.Saved = barRect{Class: "saved", Colour: ColourSaved, X: nameW, Y: y, W: val(v.Saved) / maxUSD * barMax, H: 13, Value: money(v.Saved),
			Title: v.Name + " saved $" + money(v.Saved)}
		vb.Leak = barRect{Class: "leaked", Colour: ColourLeaked, X: nameW, Y: y + 15, W: val(v.Leaked) / maxUSD * barMax, H: 13, Value: money(v.Leaked),
			Title: v.Name + " leaked $" + money(v.Leaked)}
		vb.SavedT, vb.LeakT = dollars(v.Saved), dollars(v.Leaked)
		d.Rows = append(d.Rows, tableRow{Name: v.Name, Cells: []string{v.Name, v.Size, money4(v.HourlyRate), num(v.Hours.Running), num(v.Hours.Deallocated),
			num(v.DeallocatedHoursBy.Agent), num(v.DeallocatedHoursBy.Autoscale), num(v.DeallocatedHoursBy.Other), num(v.Hours.Stopped), money(v.Saved), money(v.Leaked)}})
		d.VMBars = append(d.VMBars, vb)
		for _, f := range v.Findings {
			d.Findings = append(d.Findings, finding{VM: v.Name, Kind: f.Kind, Message: f.Message})
		}
	}
	var b bytes.Buffer
	if err := page.Execute(&b, d); err != nil {
		panic(err) // the template and its data are ours: a failure is a bug
	}
	return b.Bytes()
}
