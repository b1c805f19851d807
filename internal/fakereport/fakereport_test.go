package fakereport

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

func get(t *testing.T, u string, header map[string]string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	json.Unmarshal(b, &out)
	return resp.StatusCode, out
}

func logURL(w *Week, q url.Values) string {
	return w.ARM.URL + "/subscriptions/" + WeekSubscription + "/providers/Microsoft.Insights/eventtypes/management/values?" + q.Encode()
}

var bearer = map[string]string{"Authorization": "Bearer fake"}

// TestActivityLogRefusesWhatTheServiceRefuses: no api-version, another
// api-version, no time filter, a reversed range, a start older than the
// 90-day retention and an unknown filter field are all 400s.
func TestActivityLogRefusesWhatTheServiceRefuses(t *testing.T) {
	w := NewWeek(t)
	good := "eventTimestamp ge '2026-11-01T00:00:00Z' and eventTimestamp le '2026-11-08T00:00:00Z' and resourceGroupName eq 'rg-hosts'"
	for name, q := range map[string]url.Values{
		"no api-version":    {"$filter": {good}},
		"other api-version": {"api-version": {"2017-03-01-preview"}, "$filter": {good}},
		"no filter":         {"api-version": {"2015-04-01"}},
		"no time filter":    {"api-version": {"2015-04-01"}, "$filter": {"resourceGroupName eq 'rg-hosts'"}},
		"no upper bound":    {"api-version": {"2015-04-01"}, "$filter": {"eventTimestamp ge '2026-11-01T00:00:00Z' and resourceGroupName eq 'rg-hosts'"}},
		"reversed":          {"api-version": {"2015-04-01"}, "$filter": {"eventTimestamp ge '2026-11-08T00:00:00Z' and eventTimestamp le '2026-11-01T00:00:00Z'"}},
		"beyond 90 days":    {"api-version": {"2015-04-01"}, "$filter": {"eventTimestamp ge '2026-09-01T00:00:00Z' and eventTimestamp le '2026-09-08T00:00:00Z'"}},
		"unknown field":     {"api-version": {"2015-04-01"}, "$filter": {good + " and operationName eq 'x'"}},
	} {
		if code, body := get(t, logURL(w, q), bearer); code != 400 || body["error"] == nil {
			t.Errorf("%s: %d %v, want 400 with an ARM error", name, code, body)
		}
	}
	// ARM names a missing api-version apart from an unknown one.
	if _, body := get(t, logURL(w, url.Values{"$filter": {good}}), bearer); !strings.Contains(fmt.Sprint(body["error"]), "MissingApiVersionParameter") {
		t.Errorf("no api-version: %v, want MissingApiVersionParameter", body)
	}
	if code, _ := get(t, logURL(w, url.Values{"api-version": {"2015-04-01"}, "$filter": {good}}), bearer); code != 200 {
		t.Errorf("a good request: %d", code)
	}
}

// TestActivityLogPagesNewestFirst: every page is newest first, ids are
// upper case, nextLink pages through everything, $select keeps only the
// named fields.
func TestActivityLogPagesNewestFirst(t *testing.T) {
	w := NewWeek(t)
	q := url.Values{"api-version": {"2015-04-01"}, "$filter": {"eventTimestamp ge '2026-11-01T00:00:00Z' and eventTimestamp le '2026-11-08T00:00:00Z' and resourceGroupName eq 'RG-HOSTS'"}}
	next := logURL(w, q)
	var stamps []string
	pages := 0
	for next != "" {
		code, body := get(t, next, bearer)
		if code != 200 {
			t.Fatalf("page %d: %d", pages, code)
		}
		pages++
		for _, e := range body["value"].([]any) {
			ev := e.(map[string]any)
			stamps = append(stamps, ev["eventTimestamp"].(string))
			if id := ev["resourceId"].(string); id != strings.ToUpper(id) {
				t.Errorf("resourceId %s not upper case", id)
			}
		}
		next, _ = body["nextLink"].(string)
	}
	// 10 succeeded operations x 3 events, 1 failed x 2, 3 noise events; the
	// Oct 31 and Nov 8 operations fall outside.
	if len(stamps) != 35 || pages != 7 {
		t.Errorf("%d events in %d pages, want 35 in 7", len(stamps), pages)
	}
	if !sort.SliceIsSorted(stamps, func(i, j int) bool { return stamps[i] > stamps[j] }) {
		t.Errorf("not newest first: %v", stamps)
	}
	q.Set("$select", "eventTimestamp,status")
	_, body := get(t, logURL(w, q), bearer)
	if e := body["value"].([]any)[0].(map[string]any); len(e) != 2 {
		t.Errorf("$select eventTimestamp,status gave %v", e)
	}
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func readJSON(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "reference", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

// TestEventsHaveTheRecordedShape: every field of the recorded Activity Log
// event (Azure REST API specs example) is in the fake's events with the
// same JSON type, and so are its claims' objectidentifier and appid.
func TestEventsHaveTheRecordedShape(t *testing.T) {
	var sample struct {
		Responses struct {
			OK struct {
				Body struct {
					Value    []map[string]any `json:"value"`
					NextLink string           `json:"nextLink"`
				} `json:"body"`
			} `json:"200"`
		} `json:"responses"`
	}
	readJSON(t, "activity-log/GetActivityLogsFiltered.json", &sample)
	rec := sample.Responses.OK.Body.Value[0]
	w := NewWeek(t)
	for _, e := range w.Log.Events() {
		for _, k := range keys(rec) {
			if k == "httpRequest" { // only for requests with a client IP: the portal's, not a managed identity's
				continue
			}
			v, ok := e[k]
			if !ok {
				t.Fatalf("fake event has no %q (recorded keys %v)", k, keys(rec))
			}
			if jsonType(v) != jsonType(rec[k]) {
				t.Errorf("%q: fake %T, recorded %T", k, v, rec[k])
			}
		}
		for _, k := range []string{"http://schemas.microsoft.com/identity/claims/objectidentifier", "appid", "aud", "iss", "ver"} {
			if _, ok := e["claims"].(map[string]any)[k]; !ok {
				t.Errorf("claims without %q", k)
			}
		}
	}
}

func jsonType(v any) string {
	b, _ := json.Marshal(v)
	var x any
	json.Unmarshal(b, &x)
	switch x.(type) {
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "bool"
	}
	return "null"
}

// TestPriceRowsHaveTheRecordedShape: the fake's rows carry exactly the
// fields of Microsoft Learn's sample rows (plus reservationTerm on
// reservations, as there), and the page envelope the recorded one's.
func TestPriceRowsHaveTheRecordedShape(t *testing.T) {
	var samples []map[string]any
	readJSON(t, "retail-prices/learn-azure-retail-prices-examples.json", &samples)
	var envelope map[string]any
	readJSON(t, "retail-prices/page-envelope.json", &envelope)
	base := strings.Join(keys(samples[0]), ",")
	for _, r := range VMRows("Standard_D4s_v5", "Dsv5", "westeurope", 0.2, 0.384) {
		want := base
		if r["type"] == "Reservation" {
			want = strings.Join(keys(samples[1]), ",")
		}
		if got := strings.Join(keys(r), ","); got != want {
			t.Errorf("row keys\n %s\nwant\n %s", got, want)
		}
		for k, v := range samples[0] {
			if jsonType(r[k]) != jsonType(v) {
				t.Errorf("%s: %T, recorded %T", k, r[k], v)
			}
		}
	}
	p := NewPrices(t, VMRows("Standard_D4s_v5", "Dsv5", "westeurope", 0.2, 0.384))
	_, body := get(t, p.URL+"/api/retail/prices?$filter="+url.QueryEscape("armSkuName eq 'Standard_D4s_v5'"), nil)
	if strings.Join(keys(body), ",") != strings.Join(keys(envelope), ",") {
		t.Errorf("envelope %v, recorded %v", keys(body), keys(envelope))
	}
}

// TestPricesFiltersAndPages: values are case-sensitive from
// 2023-01-01-preview on (not before), priceType filters "type", an unknown
// field is a 400, and NextPageLink pages through every row.
func TestPricesFiltersAndPages(t *testing.T) {
	rows := append(VMRows("Standard_D4s_v5", "Dsv5", "westeurope", 0.2, 0.384), VMRows("Standard_D4s_v5", "Dsv5", "eastus", 0.192, 0.376)...)
	p := NewPrices(t, rows)
	p.PageSize = 3
	count := func(apiVersion, filter string) (int, int) {
		q := url.Values{"$filter": {filter}}
		if apiVersion != "" {
			q.Set("api-version", apiVersion)
		}
		next, n, pages := p.URL+"/api/retail/prices?"+q.Encode(), 0, 0
		for next != "" {
			code, body := get(t, next, nil)
			if code != 200 {
				return -code, pages
			}
			pages++
			n += len(body["Items"].([]any))
			next, _ = body["NextPageLink"].(string)
		}
		return n, pages
	}
	f := "serviceName eq 'Virtual Machines' and armSkuName eq 'Standard_D4s_v5' and armRegionName eq 'westeurope' and priceType eq 'Consumption'"
	if n, pages := count("2023-01-01-preview", f); n != 7 || pages != 3 {
		t.Errorf("consumption rows %d in %d pages, want 7 in 3 (Dev/Test and reservations filtered out)", n, pages)
	}
	if n, _ := count("2023-01-01-preview", strings.Replace(f, "westeurope", "WestEurope", 1)); n != 0 {
		t.Errorf("case-sensitive values matched %d rows", n)
	}
	if n, _ := count("", strings.Replace(f, "westeurope", "WestEurope", 1)); n != 7 {
		t.Errorf("without api-version values are case-insensitive: %d rows", n)
	}
	if n, _ := count("2023-01-01-preview", "vmSize eq 'x'"); n != -400 {
		t.Errorf("unknown field: %d", n)
	}
}

// TestPricesFailsOnCredentialsAndNoFilter proves the fake notices a token
// sent to the public API and an unfiltered request.
func TestPricesFailsOnCredentialsAndNoFilter(t *testing.T) {
	for name, h := range map[string]map[string]string{"token": {"Authorization": "Bearer x"}, "no filter": nil} {
		ft := &fakeT{TB: t}
		p := NewPrices(ft, nil)
		u := p.URL + "/api/retail/prices"
		if name == "token" {
			u += "?$filter=" + url.QueryEscape("armSkuName eq 'x'")
		}
		get(t, u, h)
		if !ft.failed {
			t.Errorf("%s: the fake did not fail the test", name)
		}
	}
}

type fakeT struct {
	testing.TB
	failed bool
}

func (f *fakeT) Errorf(string, ...any) { f.failed = true }
