// Package fakereport holds loopback fakes of the two services `avdgen
// report` reads besides the host pool's ARM resources: the Azure Activity
// Log (Microsoft.Insights eventtypes/management/values, mounted on a
// fakepool server because it lives on the same ARM endpoint) and the Azure
// Retail Prices API (a server of its own). Their records copy the shapes of
// real samples in testdata/reference/activity-log and
// testdata/reference/retail-prices (see testdata/PROVENANCE.md), and they
// refuse what the services refuse. Test and benchmark support only.
package fakereport

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/avdgen/avdgen/internal/fakeapi"
	"github.com/avdgen/avdgen/internal/fakepool"
)

// Retention is how far back the Activity Log answers.
const Retention = 90 * 24 * time.Hour

// AVDAppID is the Azure Virtual Desktop service's application id.
const AVDAppID = "9cdead84-a844-4324-93f2-b2e6bb768d07"

// TenantID is the fake tenant.
const TenantID = "72f988bf-0000-0000-0000-000000000000"

// ActivityLog is the fake Activity Log of one subscription.
type ActivityLog struct {
	t    testing.TB
	pool *fakepool.Server
	// Now bounds the retention check (events older than Now-90 days are
	// refused, as the service does).
	Now time.Time
	// PageSize is the number of events per page (default 200).
	PageSize int
	// Forbidden makes every request answer 403 AuthorizationFailed (an
	// identity without read access to the Activity Log).
	Forbidden bool
	mu        sync.Mutex
	events    []event
	seq       int
	filters   []string
	// answers caches each filter's matching events, newest first (a
	// 1,000-VM month is 210,000 events and 900 pages).
	answers map[string][]map[string]any
}

type event struct {
	at     time.Time
	rg, id string
	body   map[string]any
}

// NewActivityLog mounts the fake on pool (request class "activityLog").
func NewActivityLog(t testing.TB, pool *fakepool.Server, now time.Time) *ActivityLog {
	a := &ActivityLog{t: t, pool: pool, Now: now.UTC(), PageSize: 200}
	pool.Route("activityLog", func(r *http.Request) bool {
		return r.Method == http.MethodGet && strings.HasSuffix(strings.ToLower(r.URL.Path), "/providers/microsoft.insights/eventtypes/management/values")
	}, a.serve)
	return a
}

// Caller is who acted, as the Activity Log records it.
type Caller struct {
	// Caller is the event's caller: a UPN for a user, the principal's
	// object id for a service principal or managed identity.
	Caller string
	// ObjectID and AppID are the token's claims.
	ObjectID, AppID string
	// UPN marks a user (claims get the user's name).
	UPN string
}

// User is a person in the portal.
func User(upn, oid string) Caller {
	return Caller{Caller: upn, ObjectID: oid, AppID: "c44b4083-3bb0-49c1-b47d-974e53cbdf3c", UPN: upn}
}

// ManagedIdentity is a VM's identity (the agent): the caller is the
// principal's object id; appid is the identity's client id.
func ManagedIdentity(principal string) Caller {
	return Caller{Caller: principal, ObjectID: principal, AppID: "a1b2c3d4-0000-4000-8000-" + principal[len(principal)-12:]}
}

// AVDService is the Azure Virtual Desktop service principal (Start VM on
// Connect, scaling plans): caller is its object id in the tenant, appid the
// well-known application id.
func AVDService() Caller {
	return Caller{Caller: "5e1c2f3a-6b7d-4e8f-9a0b-1c2d3e4f5a6b", ObjectID: "5e1c2f3a-6b7d-4e8f-9a0b-1c2d3e4f5a6b", AppID: AVDAppID}
}

// Operation names.
const (
	Start      = "Microsoft.Compute/virtualMachines/start/action"
	Deallocate = "Microsoft.Compute/virtualMachines/deallocate/action"
	PowerOff   = "Microsoft.Compute/virtualMachines/powerOff/action"
	Restart    = "Microsoft.Compute/virtualMachines/restart/action"
	Write      = "Microsoft.Compute/virtualMachines/write"
)

var localized = map[string]string{
	Start: "Start Virtual Machine", Deallocate: "Deallocate Virtual Machine", PowerOff: "Power Off Virtual Machine",
	Restart: "Restart Virtual Machine", Write: "Create or Update Virtual Machine",
}

// Op records one operation on the VM with resource id vmID as the service
// logs it: a Started (BeginRequest) event 20 seconds before at, then for
// "Succeeded" an Accepted event 2 seconds after Started and the Succeeded
// (EndRequest) event at at; for "Failed" a Failed event at at with
// subStatus (e.g. "Forbidden" for a missing role assignment).
func (a *ActivityLog) Op(vmID, op string, at time.Time, status, subStatus string, who Caller) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.seq++
	corr := fmt.Sprintf("%08x-0000-4000-8000-%012d", a.seq, a.seq)
	started := at.Add(-20 * time.Second)
	a.add(vmID, op, started, "Started", "", "BeginRequest", corr, who)
	switch status {
	case "Succeeded":
		a.add(vmID, op, started.Add(2*time.Second), "Accepted", "Accepted", "EndRequest", corr, who)
		a.add(vmID, op, at, "Succeeded", "", "EndRequest", corr, who)
	default:
		a.add(vmID, op, at, status, subStatus, "EndRequest", corr, who)
	}
}

// Noise records one event the report must ignore (another operation, or
// another resource in the group).
func (a *ActivityLog) Noise(resourceID, op string, at time.Time, who Caller) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.seq++
	a.add(resourceID, op, at, "Succeeded", "OK", "EndRequest", fmt.Sprintf("%08x-0000-4000-8000-%012d", a.seq, a.seq), who)
}

var subStatusText = map[string]string{
	"Accepted": "Accepted (HTTP Status Code: 202)", "OK": "OK (HTTP Status Code: 200)", "Forbidden": "Forbidden (HTTP Status Code: 403)",
	"Conflict": "Conflict (HTTP Status Code: 409)", "InternalServerError": "Internal Server Error (HTTP Status Code: 500)",
}

func (a *ActivityLog) add(resourceID, op string, at time.Time, status, subStatus, eventName, corr string, who Caller) {
	at = at.UTC()
	id := fmt.Sprintf("%08x-1111-4000-8000-%012d", len(a.events)+1, len(a.events)+1)
	p := strings.Split(strings.Trim(resourceID, "/"), "/")
	rg := ""
	if len(p) > 3 {
		rg = p[3]
	}
	claims := map[string]any{
		"aud": "https://management.core.windows.net/", "iss": "https://sts.windows.net/" + TenantID + "/",
		"iat": strconv.FormatInt(at.Add(-time.Hour).Unix(), 10), "nbf": strconv.FormatInt(at.Add(-time.Hour).Unix(), 10),
		"exp": strconv.FormatInt(at.Add(23*time.Hour).Unix(), 10), "ver": "1.0",
		"http://schemas.microsoft.com/identity/claims/tenantid":         TenantID,
		"http://schemas.microsoft.com/identity/claims/objectidentifier": who.ObjectID,
		"appid": who.AppID, "appidacr": "2",
	}
	if who.UPN != "" {
		claims["http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"] = who.UPN
		claims["http://schemas.microsoft.com/claims/authnmethodsreferences"] = "pwd"
		claims["appidacr"] = "0"
	} else {
		claims["idtyp"] = "app"
	}
	e := map[string]any{
		"authorization":  map[string]any{"action": op, "scope": resourceID},
		"caller":         who.Caller,
		"channels":       "Operation",
		"claims":         claims,
		"correlationId":  corr,
		"description":    "",
		"eventDataId":    id,
		"eventName":      map[string]any{"value": eventName, "localizedValue": map[string]string{"BeginRequest": "Begin request", "EndRequest": "End request"}[eventName]},
		"category":       map[string]any{"value": "Administrative", "localizedValue": "Administrative"},
		"eventTimestamp": at.Format("2006-01-02T15:04:05.0000000Z"),
		// The service answers resource ids in upper case.
		"id":                   strings.ToUpper(resourceID) + "/events/" + id + "/ticks/" + strconv.FormatInt(at.UnixNano()/100+621355968000000000, 10),
		"level":                "Informational",
		"operationId":          corr,
		"operationName":        map[string]any{"value": op, "localizedValue": orDefault(localized[op], op)},
		"resourceGroupName":    strings.ToUpper(rg),
		"resourceProviderName": map[string]any{"value": "Microsoft.Compute", "localizedValue": "Microsoft.Compute"},
		"resourceType":         map[string]any{"value": "Microsoft.Compute/virtualMachines", "localizedValue": "Microsoft.Compute/virtualMachines"},
		"resourceId":           strings.ToUpper(resourceID),
		"status":               map[string]any{"value": status, "localizedValue": status},
		"subStatus":            map[string]any{"value": subStatus, "localizedValue": orDefault(subStatusText[subStatus], subStatus)},
		"submissionTimestamp":  at.Add(90 * time.Second).Format("2006-01-02T15:04:05Z"),
		"subscriptionId":       a.pool.Subscription,
		"tenantId":             TenantID,
		"properties":           map[string]any{"statusCode": subStatus, "eventCategory": "Administrative", "entity": resourceID, "message": op},
		"relatedEvents":        []any{},
	}
	if status == "Failed" {
		e["level"] = "Error"
	}
	a.events = append(a.events, event{at: at, rg: rg, id: resourceID, body: e})
	a.answers = nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Events returns a copy of every recorded event (for shape checks).
func (a *ActivityLog) Events() []map[string]any {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]map[string]any, len(a.events))
	for i, e := range a.events {
		out[i] = e.body
	}
	return out
}

// Filters returns every $filter received.
func (a *ActivityLog) Filters() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.filters...)
}

var filterRe = regexp.MustCompile(`^eventTimestamp ge '([^']+)' and eventTimestamp le '([^']+)'(?: and (resourceGroupName|resourceUri|resourceProvider|status|correlationId|caller) eq '([^']+)')?$`)

func (a *ActivityLog) serve(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if !fakeapi.ARMVersionOK(w, r, fakeapi.ActivityLog) {
		return
	}
	if a.Forbidden {
		fakeapi.ARMError(w, 403, "AuthorizationFailed", "The client '00000000-0000-0000-0000-000000000000' does not have authorization to perform action 'Microsoft.Insights/eventtypes/values/read' over scope '/subscriptions/"+a.pool.Subscription+"'.")
		return
	}
	filter := q.Get("$filter")
	a.mu.Lock()
	a.filters = append(a.filters, filter)
	a.mu.Unlock()
	m := filterRe.FindStringSubmatch(filter)
	if m == nil {
		fakeapi.ARMError(w, 400, "BadRequest", "The $filter query parameter value is invalid: it must contain eventTimestamp ge and eventTimestamp le, optionally with one of resourceGroupName, resourceUri, resourceProvider, status, correlationId or caller.")
		return
	}
	ge, err1 := time.Parse(time.RFC3339Nano, m[1])
	le, err2 := time.Parse(time.RFC3339Nano, m[2])
	switch {
	case err1 != nil || err2 != nil:
		fakeapi.ARMError(w, 400, "BadRequest", "eventTimestamp values must be ISO 8601 date-times")
		return
	case !le.After(ge):
		fakeapi.ARMError(w, 400, "BadRequest", "The end time must be after the start time.")
		return
	case ge.Before(a.Now.Add(-Retention)):
		fakeapi.ARMError(w, 400, "BadRequest", fmt.Sprintf("The start time %s is outside the retention period of 90 days.", m[1]))
		return
	}
	var sel []string
	if s := q.Get("$select"); s != "" {
		sel = strings.Split(s, ",")
	}
	a.mu.Lock()
	items, ok := a.answers[filter]
	if !ok {
		var match []event
		for _, e := range a.events {
			if e.at.Before(ge) || e.at.After(le) {
				continue
			}
			if m[3] == "resourceGroupName" && !strings.EqualFold(e.rg, m[4]) {
				continue
			}
			if m[3] == "resourceUri" && !strings.EqualFold(e.id, m[4]) {
				continue
			}
			match = append(match, e)
		}
		// Newest first, as the service answers.
		sort.SliceStable(match, func(i, j int) bool { return match[i].at.After(match[j].at) })
		for _, e := range match {
			items = append(items, e.body)
		}
		if a.answers == nil {
			a.answers = map[string][]map[string]any{}
		}
		a.answers[filter] = items
	}
	a.mu.Unlock()
	skip, _ := strconv.Atoi(q.Get("$skipToken"))
	end := min(skip+a.PageSize, len(items))
	page := make([]map[string]any, 0, end-min(skip, end))
	for _, e := range items[min(skip, end):end] {
		if sel == nil {
			page = append(page, e)
			continue
		}
		out := map[string]any{}
		for _, k := range sel {
			if v, ok := e[strings.TrimSpace(k)]; ok {
				out[strings.TrimSpace(k)] = v
			}
		}
		page = append(page, out)
	}
	body := map[string]any{"value": page}
	if end < len(items) {
		q.Set("$skipToken", strconv.Itoa(end))
		body["nextLink"] = a.pool.URL + r.URL.Path + "?" + q.Encode()
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(body)
}
