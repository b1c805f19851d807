package report

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"

	"github.com/avdgen/avdgen/fleet/pool"
)

// PricesEndpoint is the Azure Retail Prices API (public cloud only,
// unauthenticated).
const PricesEndpoint = "https://prices.azure.com"

// PricesAPIVersion is the version whose filter values are case-sensitive
// and which returns every meter.
const PricesAPIVersion = "2023-01-01-preview"

// Prices reads the Retail Prices API. It sends no credentials: the API
// is public, and a bearer token has no business there.
type Prices struct {
	base     string
	pipeline runtime.Pipeline
}

// NewPrices builds a client for base (PricesEndpoint, or a validated
// loopback override) sending through hc with retry (azcore's policy:
// 408/429/5xx retried, Retry-After honoured), the same rules as ARM.
func NewPrices(base string, hc *http.Client, retry policy.RetryOptions) *Prices {
	opts := &policy.ClientOptions{Retry: retry, Telemetry: policy.TelemetryOptions{ApplicationID: "avdgen"}}
	if hc != nil {
		opts.Transport = hc
	}
	return &Prices{base: strings.TrimRight(base, "/"), pipeline: runtime.NewPipeline("avdgen.report", "v1.0.0", runtime.PipelineOptions{}, opts)}
}

// Rate is one meter's pay-as-you-go hourly price.
type Rate struct {
	USD         float64
	MeterID     string
	ProductName string
	SkuName     string
}

// SizeRates are a size's two meters in one region; either may be missing.
type SizeRates struct {
	Base, Windows *Rate
}

// PriceRow is one item of a Retail Prices page (the fields avdgen reads).
type PriceRow struct {
	CurrencyCode         string  `json:"currencyCode"`
	RetailPrice          float64 `json:"retailPrice"`
	ArmRegionName        string  `json:"armRegionName"`
	EffectiveStartDate   string  `json:"effectiveStartDate"`
	MeterID              string  `json:"meterId"`
	MeterName            string  `json:"meterName"`
	ProductName          string  `json:"productName"`
	SkuName              string  `json:"skuName"`
	ServiceName          string  `json:"serviceName"`
	UnitOfMeasure        string  `json:"unitOfMeasure"`
	Type                 string  `json:"type"`
	ReservationTerm      string  `json:"reservationTerm"`
	IsPrimaryMeterRegion bool    `json:"isPrimaryMeterRegion"`
	ArmSkuName           string  `json:"armSkuName"`
}

// Lookup reads every page of the VM meters of size in region and picks the
// pay-as-you-go Windows and non-Windows rates. It returns the pages read.
func (p *Prices) Lookup(ctx context.Context, size, region string, now time.Time) (SizeRates, int, error) {
	filter := fmt.Sprintf("serviceName eq 'Virtual Machines' and armSkuName eq '%s' and armRegionName eq '%s' and priceType eq 'Consumption'", size, region)
	q := url.Values{}
	q.Set("api-version", PricesAPIVersion)
	q.Set("$filter", filter)
	next := p.base + "/api/retail/prices?" + q.Encode()
	var rows []PriceRow
	n := 0
	for next != "" {
		if err := p.sameOrigin(next); err != nil {
			return SizeRates{}, n, err
		}
		var page struct {
			BillingCurrency string     `json:"BillingCurrency"`
			Items           []PriceRow `json:"Items"`
			NextPageLink    *string    `json:"NextPageLink"`
		}
		if err := p.get(ctx, next, &page); err != nil {
			return SizeRates{}, n, fmt.Errorf("Retail Prices for %s in %s: %w", size, region, err)
		}
		n++
		rows = append(rows, page.Items...)
		next = ""
		if page.NextPageLink != nil {
			next = *page.NextPageLink
		}
	}
	return Pick(rows, size, region, now), n, nil
}

// sameOrigin keeps NextPageLink on the endpoint the user chose (a page
// pointing elsewhere is refused, not followed).
func (p *Prices) sameOrigin(link string) error {
	b, _ := url.Parse(p.base)
	u, err := url.Parse(link)
	if err != nil || !strings.EqualFold(u.Scheme, b.Scheme) || !strings.EqualFold(hostOnly(u), hostOnly(b)) {
		return fmt.Errorf("Retail Prices: next page %q is not on %s; refusing to follow it", link, p.base)
	}
	return nil
}

// hostOnly drops a default port (the real API's NextPageLink says :443).
func hostOnly(u *url.URL) string {
	h := u.Host
	if (u.Scheme == "https" && strings.HasSuffix(h, ":443")) || (u.Scheme == "http" && strings.HasSuffix(h, ":80")) {
		h = h[:strings.LastIndex(h, ":")]
	}
	return h
}

func (p *Prices) get(ctx context.Context, u string, out any) error {
	req, err := runtime.NewRequest(ctx, http.MethodGet, u)
	if err != nil {
		return err
	}
	resp, err := p.pipeline.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the API answered %d: %s", resp.StatusCode, strings.TrimSpace(string(b[:min(len(b), 300)])))
	}
	return json.Unmarshal(b, out)
}

// Pick chooses the pay-as-you-go hourly rows of size in region: type
// Consumption, per hour, no reservation term, not Spot or Low Priority, not
// Cloud Services; Dev/Test rows are type DevTestConsumption and never
// match. "Windows" is a productName ending in " Windows". Among several
// rows for one meter the primary meter region and then the latest
// effectiveStartDate not after now win.
func Pick(rows []PriceRow, size, region string, now time.Time) SizeRates {
	var base, win []PriceRow
	for _, r := range rows {
		name := r.SkuName + " " + r.MeterName
		switch {
		case r.Type != "Consumption", r.ReservationTerm != "", r.UnitOfMeasure != "1 Hour",
			!strings.EqualFold(r.CurrencyCode, "USD"),
			!strings.EqualFold(r.ArmSkuName, size), !strings.EqualFold(r.ArmRegionName, region),
			strings.Contains(name, "Spot"), strings.Contains(name, "Low Priority"),
			strings.Contains(strings.ReplaceAll(r.ProductName, " ", ""), "CloudServices"):
			continue
		}
		if eff, err := time.Parse(time.RFC3339, r.EffectiveStartDate); err == nil && eff.After(now) {
			continue
		}
		if strings.HasSuffix(r.ProductName, " Windows") {
			win = append(win, r)
		} else {
			base = append(base, r)
		}
	}
	return SizeRates{Base: best(base), Windows: best(win)}
}

func best(rows []PriceRow) *Rate {
	if len(rows) == 0 {
		return nil
	}
	sort.SliceStable(rows, func(i, j int) bool {
		if rows[i].IsPrimaryMeterRegion != rows[j].IsPrimaryMeterRegion {
			return rows[i].IsPrimaryMeterRegion
		}
		if rows[i].EffectiveStartDate != rows[j].EffectiveStartDate {
			return rows[i].EffectiveStartDate > rows[j].EffectiveStartDate
		}
		return rows[i].MeterID < rows[j].MeterID
	})
	r := rows[0]
	return &Rate{USD: r.RetailPrice, MeterID: r.MeterID, ProductName: r.ProductName, SkuName: r.SkuName}
}

type sizeRegion struct{ size, region string }

// lookUpRates queries each distinct size and region once, except sizes
// --rate covers.
func lookUpRates(ctx context.Context, o Options, hosts []pool.SessionHost, vms map[string]pool.VM, progress func(string, ...any)) (map[sizeRegion]SizeRates, int, error) {
	out := map[sizeRegion]SizeRates{}
	if o.Prices == nil {
		return out, 0, nil
	}
	var keys []sizeRegion
	seen := map[sizeRegion]bool{}
	for _, h := range hosts {
		v, ok := vms[pool.Key(h.ResourceID)]
		if !ok || v.Size == "" || v.Location == "" {
			continue
		}
		if _, ok := rateFor(o.Rates, v.Size); ok {
			continue
		}
		k := sizeRegion{strings.ToLower(v.Size), strings.ToLower(v.Location)}
		if !seen[k] {
			seen[k] = true
			keys = append(keys, sizeRegion{v.Size, strings.ToLower(v.Location)})
		}
	}
	n := 0
	for _, k := range keys {
		r, pages, err := o.Prices.Lookup(ctx, k.size, k.region, o.To)
		n += pages
		progress("Retail Prices pages fetched: %d", n)
		if err != nil {
			return nil, n, err
		}
		out[sizeRegion{strings.ToLower(k.size), k.region}] = r
	}
	return out, n, nil
}

func rateFor(rates map[string]float64, size string) (float64, bool) {
	for k, v := range rates {
		if strings.EqualFold(k, size) {
			return v, true
		}
	}
	return 0, false
}
