package fakereport

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// PricesServer is a fake of the Azure Retail Prices API
// (GET /api/retail/prices): $filter on the documented fields, values
// case-sensitive from api-version 2023-01-01-preview on, 100 items per page
// with an absolute NextPageLink ($skip), the page envelope the service
// answers. It fails the test on a request without $filter (the service
// would page through the whole price list), on any credential (the API is
// public: a bearer token sent there is a leak) and on unknown paths.
type PricesServer struct {
	*httptest.Server
	t        testing.TB
	PageSize int
	mu       sync.Mutex
	rows     []map[string]any
	requests int
	throttle int
	filters  []string
}

// NewPrices starts the fake with rows.
func NewPrices(t testing.TB, rows []map[string]any) *PricesServer {
	p := &PricesServer{t: t, PageSize: 100, rows: rows}
	p.Server = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.Close)
	return p
}

// Requests counts requests (429s included).
func (p *PricesServer) Requests() int { p.mu.Lock(); defer p.mu.Unlock(); return p.requests }

// Throttle makes the next n requests answer 429 with Retry-After: 1.
func (p *PricesServer) Throttle(n int) { p.mu.Lock(); p.throttle = n; p.mu.Unlock() }

// Filters returns every $filter received.
func (p *PricesServer) Filters() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.filters...)
}

// filterFields are the fields the API documents as filterable; priceType
// filters the rows' "type".
var filterFields = map[string]string{
	"armRegionName": "armRegionName", "location": "location", "meterId": "meterId", "meterName": "meterName", "productId": "productId",
	"skuId": "skuId", "productName": "productName", "skuName": "skuName", "serviceName": "serviceName", "serviceId": "serviceId",
	"serviceFamily": "serviceFamily", "priceType": "type", "armSkuName": "armSkuName",
}

func (p *PricesServer) serve(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.requests++
	throttled := p.throttle > 0
	if throttled {
		p.throttle--
	}
	p.mu.Unlock()
	if r.Method != http.MethodGet || r.URL.Path != "/api/retail/prices" {
		p.t.Errorf("fake prices: unexpected request %s %s", r.Method, r.URL)
		http.Error(w, "not found", 404)
		return
	}
	if r.Header.Get("Authorization") != "" {
		p.t.Errorf("fake prices: a credential was sent to the public Retail Prices API (Authorization: %.12s...)", r.Header.Get("Authorization"))
	}
	if throttled {
		w.Header().Set("Retry-After", "1")
		http.Error(w, `{"Error":{"Code":"TooManyRequests","Message":"Too many requests"}}`, 429)
		return
	}
	q := r.URL.Query()
	caseSensitive := false
	switch v := q.Get("api-version"); v {
	case "", "2021-10-01":
	case "2023-01-01-preview":
		caseSensitive = true
	default:
		http.Error(w, fmt.Sprintf(`{"Error":{"Code":"InvalidApiVersion","Message":"api-version %q is not supported"}}`, v), 400)
		return
	}
	filter := q.Get("$filter")
	p.mu.Lock()
	p.filters = append(p.filters, filter)
	p.mu.Unlock()
	if filter == "" {
		p.t.Errorf("fake prices: a request without $filter would read the whole price list")
		http.Error(w, "filter required by the fake", 400)
		return
	}
	conds := map[string]string{}
	for _, part := range strings.Split(filter, " and ") {
		f := strings.SplitN(strings.TrimSpace(part), " eq ", 2)
		if len(f) != 2 || len(f[1]) < 2 || f[1][0] != '\'' || f[1][len(f[1])-1] != '\'' {
			http.Error(w, fmt.Sprintf(`{"Error":{"Code":"InvalidFilter","Message":"Invalid OData filter near %q"}}`, part), 400)
			return
		}
		field, ok := filterFields[f[0]]
		if !ok {
			http.Error(w, fmt.Sprintf(`{"Error":{"Code":"InvalidFilter","Message":"Could not find a property named '%s'"}}`, f[0]), 400)
			return
		}
		conds[field] = f[1][1 : len(f[1])-1]
	}
	var items []map[string]any
	p.mu.Lock()
	for _, row := range p.rows {
		ok := true
		for field, want := range conds {
			got, _ := row[field].(string)
			if caseSensitive && got != want || !caseSensitive && !strings.EqualFold(got, want) {
				ok = false
				break
			}
		}
		if ok {
			items = append(items, row)
		}
	}
	p.mu.Unlock()
	skip, _ := strconv.Atoi(q.Get("$skip"))
	end := min(skip+p.PageSize, len(items))
	page := items[min(skip, end):end]
	if page == nil {
		page = []map[string]any{}
	}
	body := map[string]any{"BillingCurrency": "USD", "CustomerEntityId": "Default", "CustomerEntityType": "Retail",
		"Items": page, "NextPageLink": nil, "Count": len(page)}
	if end < len(items) {
		q.Set("$skip", strconv.Itoa(end))
		body["NextPageLink"] = p.URL + r.URL.Path + "?" + q.Encode()
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(body)
}

// VMRows builds the rows the real API holds for one VM size in one region,
// with the recorded samples' fields: pay-as-you-go non-Windows (base) and
// Windows meters, Spot and Low Priority for both, Dev/Test
// (type DevTestConsumption) Windows, 1- and 3-year reservations and a
// Cloud Services row. series is the product's series ("Dsv5"); meter names
// follow the size ("Standard_D4s_v5" is meter "D4s v5").
func VMRows(size, series, region string, base, windows float64) []map[string]any {
	meter := strings.ReplaceAll(strings.TrimPrefix(size, "Standard_"), "_", " ")
	n := 0
	row := func(product, sku, typ string, price float64, extra ...string) map[string]any {
		n++
		r := map[string]any{
			"currencyCode": "USD", "tierMinimumUnits": 0.0, "retailPrice": price, "unitPrice": price,
			"armRegionName": region, "location": locations[region], "effectiveStartDate": "2024-05-01T00:00:00Z",
			"meterId":   fmt.Sprintf("%08x-%04x-5000-8000-%012x", hash(size+region), n, hash(product+sku+typ)),
			"meterName": sku, "productId": "DZH318Z0" + strings.ToUpper(series)[:min(4, len(series))], "skuId": "DZH318Z0/" + strconv.Itoa(n),
			"productName": product, "skuName": sku, "serviceName": "Virtual Machines", "serviceId": "DZH313Z7MMC8",
			"serviceFamily": "Compute", "unitOfMeasure": "1 Hour", "type": typ, "isPrimaryMeterRegion": true, "armSkuName": size,
		}
		for i := 0; i+1 < len(extra); i += 2 {
			r[extra[i]] = extra[i+1]
		}
		return r
	}
	lin, win := "Virtual Machines "+series+" Series", "Virtual Machines "+series+" Series Windows"
	return []map[string]any{
		row(lin, meter, "Consumption", base),
		row(win, meter, "Consumption", windows),
		row(lin, meter+" Spot", "Consumption", round4(base*0.2)),
		row(win, meter+" Spot", "Consumption", round4(windows*0.45)),
		row(lin, meter+" Low Priority", "Consumption", round4(base*0.2)),
		row(win, meter+" Low Priority", "Consumption", round4(windows*0.45)),
		row(win, meter, "DevTestConsumption", base),
		row(lin, meter, "Reservation", round4(base*8760*0.62), "reservationTerm", "1 Year"),
		row(lin, meter, "Reservation", round4(base*26280*0.4), "reservationTerm", "3 Years"),
		row(series+" Series Cloud Services", meter, "Consumption", round4(windows*1.1)),
	}
}

var locations = map[string]string{"westeurope": "EU West", "northeurope": "EU North", "eastus": "US East", "swedencentral": "SE Central"}

func round4(x float64) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'f', 4, 64), 64)
	return v
}

func hash(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint32(s[i])) * 16777619
	}
	return h
}
