// Package fakegraph is an in-process loopback stand-in for the parts of
// Microsoft Graph (beta) and Azure blob storage that `avdgen intune publish`
// uses. It behaves like the service where that matters: collections are
// paged with @odata.nextLink over a tenant that already holds other
// policies, apps and groups; a content file's uploadState moves only after
// it has been polled; the committed blob is decrypted with the keys of the
// fileEncryptionInfo and checked like Intune does; it can throttle (429 with
// Retry-After), answer 503, fail a commit, and issue expired or revoked SAS
// URLs. Every request body is checked against Graph's CSDL, and any request
// it does not expect fails the test. It is as strict as Graph where a test
// can tell: unknown ids answer 404, bodies lacking what a create requires or
// carrying read-only members answer 400, assign bodies are decoded strictly;
// and as generous: a GET of a Win32 app carries the members Intune fills in
// itself, taken from a recorded real GET (testdata/win32LobApp.get.json,
// provenance in testdata/PROVENANCE.md at the repository root). Test support only.
package fakegraph

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/avdgen/avdgen/generator/intune/csdl"
)

// Options shape the fake's behaviour.
type Options struct {
	// PageSize is the page length of every collection (default 3).
	PageSize int
	// Polls is how many GETs of a content file it takes for a pending
	// uploadState to move on (default 2).
	Polls int
	// Now is the service clock (SAS expiry); default a fixed time.
	Now func() time.Time
	// SASLifetime of an issued upload URL (default 1h).
	SASLifetime time.Duration
	// ExpireFirstSAS issues the first upload URL already expired (and says so).
	ExpireFirstSAS bool
	// RevokeFirstSAS makes storage refuse the first upload URL (403)
	// although its expiry says it is valid.
	RevokeFirstSAS bool
	// FailRenewal ends every renewUpload in azureStorageUriRenewalFailed.
	FailRenewal bool
	// FailCommit ends the first commit in commitFileFailed.
	FailCommit bool
	// Throttle answers the first n requests of a route ("GET policies",
	// "POST apps", … see route names in the code) with 429.
	Throttle map[string]int
	// RetryAfter is the Retry-After value of a 429 (default "3").
	RetryAfter string
	// ServerErrors answers the first n requests of a route with 503
	// ("PUT block" is storage's Put Block).
	ServerErrors map[string]int
}

// Fake is a running fake; URL is its base (Graph and blob share it).
type Fake struct {
	URL string
	t   testing.TB
	o   Options
	srv *httptest.Server
	cs  *csdl.Schema

	mu           sync.Mutex
	nextID       int
	policies     []*Object
	apps         []*Object
	scripts      []*Object
	groups       []map[string]any
	groupMembers map[string][]map[string]any
	files        map[string]*contentFile // by file id
	blocks       map[string]map[string][]byte
	blobs        map[string][]byte
	sasCount     int
	commits      int
	// statusOnce answers the next request of a route with this status.
	statusOnce map[string]int
	// failNextCommit ends the next commit in commitFileFailed.
	failNextCommit bool

	requests, writes, blobWrites int
	throttled                    int
	// Committed maps an app id to the plain content of its last committed file.
	Committed map[string][]byte
	// Log lists every request, "METHOD path".
	Log []string
}

// Object is a stored policy, app or script.
type Object struct {
	ID          string
	Body        map[string]any
	Settings    []map[string]any
	Assignments []map[string]any
	Versions    int
	// Deleted content versions; Patches are the PATCH bodies, in order.
	Deleted map[string]bool
	Patches []map[string]any
}

type contentFile struct {
	id, app, version string
	body             map[string]any
	state            string
	polls            int
	sig              string
	expiry           time.Time
	blob             string
	revoked          bool
}

// New starts the fake with a tenant that already holds other objects.
func New(t testing.TB, o Options) *Fake {
	t.Helper()
	if o.PageSize <= 0 {
		o.PageSize = 3
	}
	if o.Polls <= 0 {
		o.Polls = 2
	}
	if o.Now == nil {
		fixed := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
		o.Now = func() time.Time { return fixed }
	}
	if o.SASLifetime == 0 {
		o.SASLifetime = time.Hour
	}
	if o.RetryAfter == "" {
		o.RetryAfter = "3"
	}
	f := &Fake{t: t, o: o, cs: csdl.Beta(), files: map[string]*contentFile{}, blocks: map[string]map[string][]byte{},
		blobs: map[string][]byte{}, Committed: map[string][]byte{}}
	f.seed()
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	f.URL = f.srv.URL
	return f
}

// Seeded groups: GroupID is "AVD session hosts"; OtherGroupID is someone
// else's, already assigned to the tenant's other objects.
const (
	GroupID      = "5b0e7c1a-3d2f-4c6b-9a8e-1f2d3c4b5a69"
	OtherGroupID = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
	// MixedGroupID ("avd session hosts (test)") holds a device and a user.
	MixedGroupID = "0d9c8b7a-6f5e-4d3c-2b1a-0f9e8d7c6b5a"
)

func (f *Fake) seed() {
	for i, name := range []string{"Windows baseline", "Edge settings", "avdgen - other-pool - session time limits", "OneDrive KFM",
		"Defender AV", "BitLocker", "Windows Update rings", "LAPS"} {
		o := f.add(&f.policies, map[string]any{"name": name, "description": "someone else's", "platforms": "windows10", "technologies": "mdm", "roleScopeTagIds": []any{"0"}})
		o.Assignments = []map[string]any{{"id": fmt.Sprintf("other-assignment-%d", i), "source": "direct",
			"target": map[string]any{"@odata.type": "#microsoft.graph.groupAssignmentTarget", "groupId": OtherGroupID}}}
	}
	for _, a := range [][2]string{{"#microsoft.graph.win32LobApp", "7-Zip"}, {"#microsoft.graph.webApp", "Intranet"},
		{"#microsoft.graph.win32LobApp", "Notepad++"}, {"#microsoft.graph.officeSuiteApp", "Microsoft 365 Apps"}, {"#microsoft.graph.win32LobApp", "FSLogix"}} {
		o := f.add(&f.apps, map[string]any{"@odata.type": a[0], "displayName": a[1], "publisher": "someone else"})
		o.Assignments = []map[string]any{{"id": o.ID + "_0", "intent": "available", "source": "direct",
			"target": map[string]any{"@odata.type": "#microsoft.graph.groupAssignmentTarget", "groupId": OtherGroupID}}}
	}
	f.groups = []map[string]any{
		{"id": GroupID, "displayName": "AVD session hosts"},
		{"id": MixedGroupID, "displayName": "avd session hosts (test)"},
		{"id": OtherGroupID, "displayName": "All AVD admins"},
	}
	device := func(id string) map[string]any {
		return map[string]any{"@odata.type": "#microsoft.graph.device", "id": id}
	}
	user := func(id string) map[string]any {
		return map[string]any{"@odata.type": "#microsoft.graph.user", "id": id}
	}
	f.groupMembers = map[string][]map[string]any{
		GroupID:      {device("d0000000-0000-4000-8000-000000000001"), device("d0000000-0000-4000-8000-000000000002")},
		MixedGroupID: {device("d0000000-0000-4000-8000-000000000003"), user("a0000000-0000-4000-8000-000000000001")},
		OtherGroupID: {user("a0000000-0000-4000-8000-000000000002"), user("a0000000-0000-4000-8000-000000000003")},
	}
}

func (f *Fake) add(list *[]*Object, body map[string]any) *Object {
	f.nextID++
	id := fmt.Sprintf("00000000-0000-4000-8000-%012d", f.nextID)
	body["id"] = id
	o := &Object{ID: id, Body: body, Assignments: []map[string]any{}}
	*list = append(*list, o)
	return o
}

// AddPolicy and AddApp put more objects into the tenant (near-miss names).
func (f *Fake) AddPolicy(name string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.add(&f.policies, map[string]any{"name": name, "platforms": "windows10", "technologies": "mdm"}).ID
}

// AddApp adds an app of the given @odata.type.
func (f *Fake) AddApp(odataType, name string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.add(&f.apps, map[string]any{"@odata.type": odataType, "displayName": name}).ID
}

// FailNextCommit ends the next content commit in commitFileFailed.
func (f *Fake) FailNextCommit() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failNextCommit = true
}

// ContentVersions lists an app's content versions that were not deleted.
func (f *Fake) ContentVersions(appID string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	o := find(f.apps, appID)
	var out []string
	for i := 1; o != nil && i <= o.Versions; i++ {
		if !o.Deleted[strconv.Itoa(i)] {
			out = append(out, strconv.Itoa(i))
		}
	}
	return out
}

// SetStatusOnce makes the next request of route fail with status.
func (f *Fake) SetStatusOnce(route string, status int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.statusOnce == nil {
		f.statusOnce = map[string]int{}
	}
	f.statusOnce[route] = status
}

// Counts are the requests seen since the last ResetCounts.
type Counts struct{ Requests, Writes, BlobWrites, Throttled int }

// Counts returns the request counters.
func (f *Fake) Counts() Counts {
	f.mu.Lock()
	defer f.mu.Unlock()
	return Counts{f.requests, f.writes, f.blobWrites, f.throttled}
}

// ResetCounts zeroes the counters and the log.
func (f *Fake) ResetCounts() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests, f.writes, f.blobWrites, f.throttled, f.Log = 0, 0, 0, 0, nil
}

// Policy returns the stored policy named name (nil if none) with its settings.
func (f *Fake) Policy(name string) *Object {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, o := range f.policies {
		if o.Body["name"] == name {
			return o
		}
	}
	return nil
}

// App returns the stored app with that display name (nil if none).
func (f *Fake) App(name string) *Object {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, o := range f.apps {
		if o.Body["displayName"] == name && o.Body["@odata.type"] == "#microsoft.graph.win32LobApp" {
			return o
		}
	}
	return nil
}

// Script returns the stored remediation script pair (nil if none).
func (f *Fake) Script(name string) *Object {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, o := range f.scripts {
		if o.Body["displayName"] == name {
			return o
		}
	}
	return nil
}

// Policies, Apps and Scripts count the objects in the tenant.
func (f *Fake) Policies() int { f.mu.Lock(); defer f.mu.Unlock(); return len(f.policies) }

// Apps counts apps.
func (f *Fake) Apps() int { f.mu.Lock(); defer f.mu.Unlock(); return len(f.apps) }

func (f *Fake) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	f.Log = append(f.Log, r.Method+" "+r.URL.Path)
	if strings.HasPrefix(r.URL.Path, "/blob/") {
		f.serveBlob(w, r, body)
		return
	}
	f.requests++
	if r.Method != http.MethodGet {
		f.writes++
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
		f.fail(w, http.StatusUnauthorized, "InvalidAuthenticationToken", "no bearer token")
		return
	}
	route, args, ok := f.route(r.Method, r.URL.Path)
	if !ok {
		f.t.Errorf("fakegraph: unexpected request %s %s", r.Method, r.URL.RequestURI())
		f.fail(w, http.StatusNotImplemented, "NotImplemented", "the fake does not serve "+r.Method+" "+r.URL.Path)
		return
	}
	if n := f.o.Throttle[route]; n > 0 {
		f.o.Throttle[route] = n - 1
		f.throttled++
		w.Header().Set("Retry-After", f.o.RetryAfter)
		f.fail(w, http.StatusTooManyRequests, "TooManyRequests", "throttled")
		return
	}
	if n := f.o.ServerErrors[route]; n > 0 {
		f.o.ServerErrors[route] = n - 1
		f.fail(w, http.StatusServiceUnavailable, "ServiceUnavailable", "try again")
		return
	}
	if st, ok := f.statusOnce[route]; ok {
		delete(f.statusOnce, route)
		f.fail(w, st, "InternalServerError", "injected")
		return
	}
	f.handle(w, r, route, args, body)
}

// routes: name → method and path pattern ({} is one segment).
var routes = []struct{ name, method, pattern string }{
	{"GET groups", "GET", "/v1.0/groups"},
	{"GET group members", "GET", "/v1.0/groups/{}/members"},
	{"GET policies", "GET", "/beta/deviceManagement/configurationPolicies"},
	{"POST policies", "POST", "/beta/deviceManagement/configurationPolicies"},
	{"GET policy", "GET", "/beta/deviceManagement/configurationPolicies/{}"},
	{"PUT policy", "PUT", "/beta/deviceManagement/configurationPolicies/{}"},
	{"GET policy settings", "GET", "/beta/deviceManagement/configurationPolicies/{}/settings"},
	{"GET policy assignments", "GET", "/beta/deviceManagement/configurationPolicies/{}/assignments"},
	{"POST policy assign", "POST", "/beta/deviceManagement/configurationPolicies/{}/assign"},
	{"GET apps", "GET", "/beta/deviceAppManagement/mobileApps"},
	{"POST apps", "POST", "/beta/deviceAppManagement/mobileApps"},
	{"GET app", "GET", "/beta/deviceAppManagement/mobileApps/{}"},
	{"PATCH app", "PATCH", "/beta/deviceAppManagement/mobileApps/{}"},
	{"GET app assignments", "GET", "/beta/deviceAppManagement/mobileApps/{}/assignments"},
	{"POST app assign", "POST", "/beta/deviceAppManagement/mobileApps/{}/assign"},
	{"GET content versions", "GET", "/beta/deviceAppManagement/mobileApps/{}/microsoft.graph.win32LobApp/contentVersions"},
	{"POST content versions", "POST", "/beta/deviceAppManagement/mobileApps/{}/microsoft.graph.win32LobApp/contentVersions"},
	{"DELETE content version", "DELETE", "/beta/deviceAppManagement/mobileApps/{}/microsoft.graph.win32LobApp/contentVersions/{}"},
	{"POST files", "POST", "/beta/deviceAppManagement/mobileApps/{}/microsoft.graph.win32LobApp/contentVersions/{}/files"},
	{"GET file", "GET", "/beta/deviceAppManagement/mobileApps/{}/microsoft.graph.win32LobApp/contentVersions/{}/files/{}"},
	{"POST commit", "POST", "/beta/deviceAppManagement/mobileApps/{}/microsoft.graph.win32LobApp/contentVersions/{}/files/{}/commit"},
	{"POST renew", "POST", "/beta/deviceAppManagement/mobileApps/{}/microsoft.graph.win32LobApp/contentVersions/{}/files/{}/renewUpload"},
	{"GET scripts", "GET", "/beta/deviceManagement/deviceHealthScripts"},
	{"POST scripts", "POST", "/beta/deviceManagement/deviceHealthScripts"},
	{"GET script", "GET", "/beta/deviceManagement/deviceHealthScripts/{}"},
	{"PATCH script", "PATCH", "/beta/deviceManagement/deviceHealthScripts/{}"},
	{"GET script assignments", "GET", "/beta/deviceManagement/deviceHealthScripts/{}/assignments"},
	{"POST script assign", "POST", "/beta/deviceManagement/deviceHealthScripts/{}/assign"},
}

func (f *Fake) route(method, path string) (string, []string, bool) {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	for _, rt := range routes {
		p := strings.Split(strings.Trim(rt.pattern, "/"), "/")
		if rt.method != method || len(p) != len(segs) {
			continue
		}
		var args []string
		ok := true
		for i := range p {
			if p[i] == "{}" {
				args = append(args, segs[i])
			} else if p[i] != segs[i] {
				ok = false
				break
			}
		}
		if ok {
			return rt.name, args, true
		}
	}
	return "", nil, false
}

func (f *Fake) fail(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": code, "message": msg}})
}

func (f *Fake) reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if v != nil {
		json.NewEncoder(w).Encode(v)
	}
}

// check validates a body against Graph's CSDL; a mismatch is a bug in the
// publisher, so it fails the test and answers 400 like Graph.
func (f *Fake) check(w http.ResponseWriter, body []byte, typ string) (map[string]any, bool) {
	if err := f.cs.Validate(body, typ); err != nil {
		f.t.Errorf("fakegraph: request body refused: %v\n%s", err, body)
		f.fail(w, http.StatusBadRequest, "BadRequest", err.Error())
		return nil, false
	}
	var m map[string]any
	json.Unmarshal(body, &m)
	return m, true
}

// page serves items in pages of PageSize with @odata.nextLink ($skiptoken).
func (f *Fake) page(w http.ResponseWriter, r *http.Request, items []map[string]any) {
	q := r.URL.Query()
	for k := range q {
		switch k {
		case "$select", "$top", "$skiptoken", "$filter":
		default:
			f.t.Errorf("fakegraph: unexpected query parameter %s in %s", k, r.URL.RequestURI())
		}
	}
	start, _ := strconv.Atoi(q.Get("$skiptoken"))
	end := min(start+f.o.PageSize, len(items))
	out := map[string]any{"value": items[start:end]}
	if end < len(items) {
		q.Set("$skiptoken", strconv.Itoa(end))
		out["@odata.nextLink"] = f.URL + r.URL.Path + "?" + q.Encode()
	}
	f.reply(w, http.StatusOK, out)
}

func find(list []*Object, id string) *Object {
	for _, o := range list {
		if o.ID == id {
			return o
		}
	}
	return nil
}

func copyMap(m map[string]any) map[string]any {
	b, _ := json.Marshal(m)
	var out map[string]any
	json.Unmarshal(b, &out)
	return out
}

func (f *Fake) handle(w http.ResponseWriter, r *http.Request, route string, args []string, body []byte) {
	now := f.o.Now().UTC().Format(time.RFC3339)
	switch route {
	case "GET groups":
		// Graph's eq on displayName ignores case: the caller must compare exactly.
		want := ""
		if fl := r.URL.Query().Get("$filter"); strings.HasPrefix(fl, "displayName eq '") {
			want = strings.ReplaceAll(strings.TrimSuffix(strings.TrimPrefix(fl, "displayName eq '"), "'"), "''", "'")
		}
		var items []map[string]any
		for _, g := range f.groups {
			if want == "" || strings.EqualFold(g["displayName"].(string), want) {
				items = append(items, g)
			}
		}
		f.page(w, r, items)
	case "GET group members":
		list, ok := f.groupMembers[args[0]]
		if !ok {
			f.fail(w, http.StatusNotFound, "Request_ResourceNotFound", "no group "+args[0])
			return
		}
		f.page(w, r, list)
	case "GET policies":
		items := []map[string]any{}
		for _, o := range f.policies {
			items = append(items, map[string]any{"id": o.ID, "name": o.Body["name"], "description": o.Body["description"]})
		}
		f.page(w, r, items)
	case "POST policies":
		m, ok := f.check(w, body, "deviceManagementConfigurationPolicy")
		if !ok || !f.members(w, m, "policy", true) {
			return
		}
		settings := m["settings"]
		delete(m, "settings")
		m["createdDateTime"], m["lastModifiedDateTime"] = now, now
		o := f.add(&f.policies, m)
		o.Settings = stored(settings)
		f.reply(w, http.StatusCreated, o.Body)
	case "GET policy", "GET policy settings", "GET policy assignments":
		o := find(f.policies, args[0])
		if o == nil {
			f.fail(w, http.StatusNotFound, "NotFound", "no policy "+args[0])
			return
		}
		switch route {
		case "GET policy":
			out := copyMap(o.Body)
			out["settingCount"] = len(o.Settings)
			out["templateReference"] = nil
			f.reply(w, http.StatusOK, out)
		case "GET policy settings":
			f.page(w, r, o.Settings)
		default:
			f.page(w, r, o.Assignments)
		}
	case "PUT policy":
		o := find(f.policies, args[0])
		if o == nil {
			f.fail(w, http.StatusNotFound, "NotFound", "no policy "+args[0])
			return
		}
		m, ok := f.check(w, body, "deviceManagementConfigurationPolicy")
		if !ok || !f.members(w, m, "policy", true) {
			return
		}
		o.Settings = stored(m["settings"])
		delete(m, "settings")
		m["id"], m["createdDateTime"], m["lastModifiedDateTime"] = o.ID, o.Body["createdDateTime"], now
		o.Body = m
		f.reply(w, http.StatusNoContent, nil)
	case "POST policy assign":
		o := find(f.policies, args[0])
		if o == nil {
			f.fail(w, http.StatusNotFound, "NotFound", "no policy "+args[0])
			return
		}
		list, ok := f.assignBody(w, body, "assignments")
		if !ok {
			return
		}
		o.Assignments = policySetOnes(o.Assignments)
		for i, a := range list {
			if !f.direct(w, a) {
				return
			}
			b, _ := json.Marshal(a)
			if _, ok := f.check(w, b, "deviceManagementConfigurationPolicyAssignment"); !ok {
				return
			}
			a["id"] = fmt.Sprintf("%s_%d", o.ID, i)
			if _, ok := a["source"]; !ok {
				a["source"] = "direct"
			}
			o.Assignments = append(o.Assignments, a)
		}
		f.reply(w, http.StatusOK, map[string]any{"value": o.Assignments})
	case "GET apps":
		items := []map[string]any{}
		for _, o := range f.apps {
			items = append(items, map[string]any{"@odata.type": o.Body["@odata.type"], "id": o.ID, "displayName": o.Body["displayName"], "notes": o.Body["notes"]})
		}
		f.page(w, r, items)
	case "POST apps":
		m, ok := f.check(w, body, "mobileApp")
		if !ok || !f.members(w, m, "app", true) {
			return
		}
		m["createdDateTime"], m["lastModifiedDateTime"] = now, now
		m["committedContentVersion"], m["uploadState"], m["publishingState"] = nil, 0, "notPublished"
		if _, ok := m["notes"]; !ok {
			m["notes"] = nil
		}
		f.reply(w, http.StatusCreated, f.add(&f.apps, m).Body)
	case "GET app", "GET app assignments":
		o := find(f.apps, args[0])
		if o == nil {
			f.fail(w, http.StatusNotFound, "NotFound", "no app "+args[0])
			return
		}
		if route == "GET app" {
			f.reply(w, http.StatusOK, f.appView(o))
		} else {
			f.page(w, r, o.Assignments)
		}
	case "PATCH app":
		o := find(f.apps, args[0])
		if o == nil {
			f.fail(w, http.StatusNotFound, "NotFound", "no app "+args[0])
			return
		}
		m, ok := f.check(w, body, "mobileApp")
		if !ok || !f.members(w, m, "app", false) {
			return
		}
		o.Patches = append(o.Patches, copyMap(m))
		if v, ok := m["committedContentVersion"].(string); ok {
			if fl := f.committedFile(o.ID, v); fl == nil {
				f.t.Errorf("fakegraph: committedContentVersion %s has no committed file", v)
				f.fail(w, http.StatusBadRequest, "BadRequest", "content version "+v+" is not committed")
				return
			}
		}
		for k, v := range m {
			o.Body[k] = v
		}
		o.Body["lastModifiedDateTime"] = now
		f.reply(w, http.StatusNoContent, nil)
	case "POST app assign":
		o := find(f.apps, args[0])
		if o == nil {
			f.fail(w, http.StatusNotFound, "NotFound", "no app "+args[0])
			return
		}
		list, ok := f.assignBody(w, body, "mobileAppAssignments")
		if !ok {
			return
		}
		o.Assignments = policySetOnes(o.Assignments)
		for i, a := range list {
			if !f.direct(w, a) {
				return
			}
			b, _ := json.Marshal(a)
			if _, ok := f.check(w, b, "mobileAppAssignment"); !ok {
				return
			}
			a["id"] = fmt.Sprintf("%s_%d", o.ID, i)
			if _, ok := a["source"]; !ok {
				a["source"] = "direct"
			}
			o.Assignments = append(o.Assignments, a)
		}
		f.reply(w, http.StatusNoContent, nil)
	case "GET content versions", "POST content versions", "DELETE content version":
		o := find(f.apps, args[0])
		if o == nil {
			f.fail(w, http.StatusNotFound, "NotFound", "no app "+args[0])
			return
		}
		switch route {
		case "GET content versions":
			items := []map[string]any{}
			for i := 1; i <= o.Versions; i++ {
				if !o.Deleted[strconv.Itoa(i)] {
					items = append(items, map[string]any{"id": strconv.Itoa(i)})
				}
			}
			f.page(w, r, items)
		case "POST content versions":
			if _, ok := f.check(w, body, "mobileAppContent"); !ok {
				return
			}
			o.Versions++
			f.reply(w, http.StatusCreated, map[string]any{"@odata.type": "#microsoft.graph.mobileAppContent", "id": strconv.Itoa(o.Versions)})
		default:
			n, err := strconv.Atoi(args[1])
			if err != nil || n < 1 || n > o.Versions || o.Deleted[args[1]] {
				f.fail(w, http.StatusNotFound, "NotFound", "no content version "+args[1])
				return
			}
			if o.Body["committedContentVersion"] == args[1] {
				f.t.Errorf("fakegraph: DELETE of the committed content version %s", args[1])
				f.fail(w, http.StatusBadRequest, "BadRequest", "content version "+args[1]+" is committed")
				return
			}
			if o.Deleted == nil {
				o.Deleted = map[string]bool{}
			}
			o.Deleted[args[1]] = true
			f.reply(w, http.StatusNoContent, nil)
		}
	case "POST files":
		o := find(f.apps, args[0])
		if n, err := strconv.Atoi(args[1]); o == nil || err != nil || n < 1 || n > o.Versions || o.Deleted[args[1]] {
			f.fail(w, http.StatusNotFound, "NotFound", "no content version "+args[1])
			return
		}
		m, ok := f.check(w, body, "mobileAppContentFile")
		if !ok || !f.members(w, m, "file", true) {
			return
		}
		f.nextID++
		cf := &contentFile{id: fmt.Sprintf("file-%d", f.nextID), app: args[0], version: args[1], body: m, state: "azureStorageUriRequestPending"}
		f.files[cf.id] = cf
		f.reply(w, http.StatusCreated, f.fileJSON(cf))
	case "GET file", "POST commit", "POST renew":
		cf := f.files[args[2]]
		if cf == nil || cf.app != args[0] || cf.version != args[1] {
			f.t.Errorf("fakegraph: %s for unknown file %v", route, args)
			f.fail(w, http.StatusNotFound, "NotFound", "no such file")
			return
		}
		switch route {
		case "GET file":
			f.poll(cf)
			f.reply(w, http.StatusOK, f.fileJSON(cf))
		case "POST commit":
			var req struct {
				FileEncryptionInfo json.RawMessage `json:"fileEncryptionInfo"`
			}
			json.Unmarshal(body, &req)
			if _, ok := f.check(w, req.FileEncryptionInfo, "fileEncryptionInfo"); !ok {
				return
			}
			if !strings.HasSuffix(cf.state, "Success") || cf.state == "commitFileSuccess" {
				f.t.Errorf("fakegraph: commit in uploadState %s", cf.state)
			}
			cf.body["fileEncryptionInfo"] = json.RawMessage(req.FileEncryptionInfo)
			cf.state, cf.polls = "commitFilePending", 0
			f.reply(w, http.StatusOK, nil)
		case "POST renew":
			cf.state, cf.polls = "azureStorageUriRenewalPending", 0
			f.reply(w, http.StatusOK, nil)
		}
	case "GET scripts":
		items := []map[string]any{}
		for _, o := range f.scripts {
			items = append(items, map[string]any{"id": o.ID, "displayName": o.Body["displayName"], "description": o.Body["description"]})
		}
		f.page(w, r, items)
	case "POST scripts":
		m, ok := f.check(w, body, "deviceHealthScript")
		if !ok || !f.members(w, m, "script", true) {
			return
		}
		m["createdDateTime"], m["lastModifiedDateTime"], m["version"] = now, now, "1"
		f.reply(w, http.StatusCreated, f.add(&f.scripts, m).Body)
	case "GET script", "GET script assignments":
		o := find(f.scripts, args[0])
		if o == nil {
			f.fail(w, http.StatusNotFound, "NotFound", "no script "+args[0])
			return
		}
		if route == "GET script" {
			f.reply(w, http.StatusOK, o.Body)
		} else {
			f.page(w, r, o.Assignments)
		}
	case "PATCH script":
		o := find(f.scripts, args[0])
		if o == nil {
			f.fail(w, http.StatusNotFound, "NotFound", "no script "+args[0])
			return
		}
		m, ok := f.check(w, body, "deviceHealthScript")
		if !ok || !f.members(w, m, "script", false) {
			return
		}
		for k, v := range m {
			o.Body[k] = v
		}
		f.reply(w, http.StatusNoContent, nil)
	case "POST script assign":
		o := find(f.scripts, args[0])
		if o == nil {
			f.fail(w, http.StatusNotFound, "NotFound", "no script "+args[0])
			return
		}
		list, ok := f.assignBody(w, body, "deviceHealthScriptAssignments")
		if !ok {
			return
		}
		o.Assignments = policySetOnes(o.Assignments)
		for i, a := range list {
			if !f.direct(w, a) {
				return
			}
			b, _ := json.Marshal(a)
			if _, ok := f.check(w, b, "deviceHealthScriptAssignment"); !ok {
				return
			}
			a["id"] = fmt.Sprintf("%s_%d", o.ID, i)
			if _, ok := a["source"]; !ok {
				a["source"] = "direct"
			}
			o.Assignments = append(o.Assignments, a)
		}
		f.reply(w, http.StatusNoContent, nil)
	default:
		f.t.Errorf("fakegraph: route %s has no handler", route)
		f.fail(w, http.StatusNotImplemented, "NotImplemented", route)
	}
}

// stored is how Graph returns settings: each with an id and null template
// references the caller did not send.
func stored(v any) []map[string]any {
	list, _ := v.([]any)
	out := []map[string]any{}
	for i, s := range list {
		m, _ := s.(map[string]any)
		m = copyMap(m)
		m["id"] = strconv.Itoa(i)
		if inst, ok := m["settingInstance"].(map[string]any); ok {
			inst["settingInstanceTemplateReference"] = nil
			if cv, ok := inst["choiceSettingValue"].(map[string]any); ok {
				cv["settingValueTemplateReference"] = nil
			}
		}
		out = append(out, m)
	}
	return out
}

func (f *Fake) committedFile(app, version string) *contentFile {
	for _, cf := range f.files {
		if cf.app == app && cf.version == version && cf.state == "commitFileSuccess" {
			return cf
		}
	}
	return nil
}

// poll moves a pending state on once it has been polled o.Polls times.
func (f *Fake) poll(cf *contentFile) {
	if !strings.HasSuffix(cf.state, "Pending") {
		return
	}
	if cf.polls++; cf.polls < f.o.Polls {
		return
	}
	cf.polls = 0
	switch cf.state {
	case "azureStorageUriRequestPending":
		cf.blob = "/blob/content/" + cf.app + "-" + cf.version + "-" + cf.id + ".intunewin.bin"
		f.issueSAS(cf)
		cf.state = "azureStorageUriRequestSuccess"
	case "azureStorageUriRenewalPending":
		if f.o.FailRenewal {
			cf.state = "azureStorageUriRenewalFailed"
			return
		}
		f.issueSAS(cf)
		cf.state = "azureStorageUriRenewalSuccess"
	case "commitFilePending":
		f.commits++
		if f.o.FailCommit && f.commits == 1 || f.failNextCommit {
			f.failNextCommit = false
			cf.state = "commitFileFailed"
			return
		}
		plain, err := f.verify(cf)
		if err != nil {
			f.t.Errorf("fakegraph: committed blob does not decrypt: %v", err)
			cf.state = "commitFileFailed"
			return
		}
		f.Committed[cf.app] = plain
		cf.state = "commitFileSuccess"
	}
}

func (f *Fake) issueSAS(cf *contentFile) {
	f.sasCount++
	cf.sig = fmt.Sprintf("fakesig%d", f.sasCount)
	cf.expiry = f.o.Now().Add(f.o.SASLifetime).UTC()
	cf.revoked = false
	if f.sasCount == 1 && f.o.ExpireFirstSAS {
		cf.expiry = f.o.Now().Add(-time.Minute).UTC()
	}
	if f.sasCount == 1 && f.o.RevokeFirstSAS {
		cf.revoked = true
	}
}

func (f *Fake) fileJSON(cf *contentFile) map[string]any {
	out := map[string]any{"@odata.type": "#microsoft.graph.mobileAppContentFile", "id": cf.id, "name": cf.body["name"],
		"size": cf.body["size"], "sizeEncrypted": cf.body["sizeEncrypted"], "isCommitted": cf.state == "commitFileSuccess",
		"isDependency": false, "uploadState": cf.state, "azureStorageUri": nil, "azureStorageUriExpirationDateTime": nil}
	if cf.sig != "" {
		q := url.Values{"sv": {"2019-02-02"}, "sr": {"b"}, "sp": {"rcw"}, "se": {cf.expiry.Format(time.RFC3339)}, "sig": {cf.sig}}
		out["azureStorageUri"] = f.URL + cf.blob + "?" + q.Encode()
		out["azureStorageUriExpirationDateTime"] = cf.expiry.Format(time.RFC3339)
	}
	return out
}

// serveBlob is Put Block and Put Block List with SAS checks.
func (f *Fake) serveBlob(w http.ResponseWriter, r *http.Request, body []byte) {
	f.blobWrites++
	var cf *contentFile
	for _, c := range f.files {
		if c.blob == r.URL.Path {
			cf = c
		}
	}
	q := r.URL.Query()
	storageErr := func(status int, code string) {
		w.Header().Set("x-ms-error-code", code)
		w.WriteHeader(status)
		fmt.Fprintf(w, `<?xml version="1.0" encoding="utf-8"?><Error><Code>%s</Code><Message>fake</Message></Error>`, code)
	}
	if cf == nil || r.Method != http.MethodPut {
		f.t.Errorf("fakegraph: unexpected blob request %s %s", r.Method, r.URL.Path)
		storageErr(http.StatusNotFound, "BlobNotFound")
		return
	}
	if n := f.o.ServerErrors["PUT block"]; n > 0 && q.Get("comp") == "block" {
		f.o.ServerErrors["PUT block"] = n - 1
		storageErr(http.StatusServiceUnavailable, "ServerBusy")
		return
	}
	se, _ := time.Parse(time.RFC3339, q.Get("se"))
	if q.Get("sig") != cf.sig || cf.revoked || !f.o.Now().Before(se) {
		storageErr(http.StatusForbidden, "AuthenticationFailed")
		return
	}
	switch q.Get("comp") {
	case "block":
		id := q.Get("blockid")
		if f.blocks[cf.id] == nil {
			f.blocks[cf.id] = map[string][]byte{}
		}
		if int64(len(body)) > 100<<20 {
			storageErr(http.StatusRequestEntityTooLarge, "RequestBodyTooLarge")
			return
		}
		f.blocks[cf.id][id] = body
		w.WriteHeader(http.StatusCreated)
	case "blocklist":
		var list struct {
			Latest []string `xml:"Latest"`
		}
		if err := xml.Unmarshal(body, &list); err != nil {
			storageErr(http.StatusBadRequest, "InvalidXmlDocument")
			return
		}
		var blob bytes.Buffer
		for _, id := range list.Latest {
			b, ok := f.blocks[cf.id][id]
			if !ok {
				storageErr(http.StatusBadRequest, "InvalidBlockList")
				return
			}
			blob.Write(b)
		}
		f.blobs[cf.id] = blob.Bytes()
		w.WriteHeader(http.StatusCreated)
	default:
		f.t.Errorf("fakegraph: unexpected blob operation %q", r.URL.RawQuery)
		storageErr(http.StatusBadRequest, "InvalidQueryParameterValue")
	}
}

// verify does what Intune does with a commit: HMAC, IV, decryption, size
// and digest, with the keys from the fileEncryptionInfo.
func (f *Fake) verify(cf *contentFile) ([]byte, error) {
	blob, ok := f.blobs[cf.id]
	if !ok {
		return nil, fmt.Errorf("no blob was committed (Put Block List missing)")
	}
	var info map[string]string
	raw, _ := json.Marshal(cf.body["fileEncryptionInfo"])
	json.Unmarshal(raw, &info)
	dec := func(k string) []byte { b, _ := base64.StdEncoding.DecodeString(info[k]); return b }
	if n, _ := cf.body["sizeEncrypted"].(float64); int(n) != len(blob) {
		return nil, fmt.Errorf("sizeEncrypted %v, blob has %d bytes", n, len(blob))
	}
	if len(blob) < 48+aes.BlockSize || (len(blob)-48)%aes.BlockSize != 0 {
		return nil, fmt.Errorf("blob of %d bytes is not MAC+IV+AES-CBC", len(blob))
	}
	m := hmac.New(sha256.New, dec("macKey"))
	m.Write(blob[32:])
	if mac := m.Sum(nil); !hmac.Equal(mac, blob[:32]) || !bytes.Equal(mac, dec("mac")) {
		return nil, fmt.Errorf("HMAC does not match")
	}
	if !bytes.Equal(blob[32:48], dec("initializationVector")) {
		return nil, fmt.Errorf("IV does not match")
	}
	block, err := aes.NewCipher(dec("encryptionKey"))
	if err != nil {
		return nil, err
	}
	plain := make([]byte, len(blob)-48)
	cipher.NewCBCDecrypter(block, blob[32:48]).CryptBlocks(plain, blob[48:])
	pad := int(plain[len(plain)-1])
	if pad < 1 || pad > aes.BlockSize {
		return nil, fmt.Errorf("bad padding")
	}
	plain = plain[:len(plain)-pad]
	if n, _ := cf.body["size"].(float64); int(n) != len(plain) {
		return nil, fmt.Errorf("size %v, content has %d bytes", n, len(plain))
	}
	if sum := sha256.Sum256(plain); !bytes.Equal(sum[:], dec("fileDigest")) {
		return nil, fmt.Errorf("fileDigest does not match")
	}
	return plain, nil
}

// Assignments returns a stored Object's assignment targets' group ids and
// intents, sorted, for assertions ("group:intent").
func Assignments(o *Object) []string {
	var out []string
	for _, a := range o.Assignments {
		t, _ := a["target"].(map[string]any)
		s := fmt.Sprint(t["@odata.type"])
		if g, ok := t["groupId"]; ok {
			s = fmt.Sprint(g)
		}
		if in, ok := a["intent"]; ok {
			s += ":" + fmt.Sprint(in)
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// required are the members a create must carry (what the Intune admin
// center asks for before it creates the object); readOnly are the members
// Graph's documentation marks read-only, which a body must not carry.
var (
	required = map[string][]string{
		"app":    {"displayName", "publisher", "fileName", "setupFilePath", "installCommandLine", "uninstallCommandLine", "installExperience", "rules"},
		"policy": {"name", "platforms", "technologies", "settings"},
		"script": {"displayName", "publisher", "detectionScriptContent"},
		"file":   {"name", "size", "sizeEncrypted"},
	}
	readOnly = map[string][]string{
		"app": {"createdDateTime", "lastModifiedDateTime", "uploadState", "publishingState", "isAssigned", "dependentAppCount",
			"supersedingAppCount", "supersededAppCount", "size", "detectionRules", "requirementRules"},
		"policy": {"createdDateTime", "lastModifiedDateTime", "settingCount", "isAssigned", "creationSource"},
		"script": {"createdDateTime", "lastModifiedDateTime", "isGlobalScript", "highestAvailableVersion"},
		"file":   {"isCommitted", "uploadState", "azureStorageUri", "azureStorageUriExpirationDateTime", "createdDateTime"},
	}
)

// members refuses a body that lacks what a create requires or sets a
// read-only member (400, like Graph), and fails the test.
func (f *Fake) members(w http.ResponseWriter, m map[string]any, kind string, create bool) bool {
	var errs []string
	if create {
		for _, k := range required[kind] {
			if v, ok := m[k]; !ok || v == nil {
				errs = append(errs, k+" is required")
			}
		}
		if kind == "app" {
			if rules, _ := m["rules"].([]any); !hasDetection(rules) {
				errs = append(errs, "rules needs at least one detection rule")
			}
			if m["applicableArchitectures"] == nil && m["allowedArchitectures"] == nil {
				errs = append(errs, "applicableArchitectures or allowedArchitectures is required")
			}
		}
	}
	for _, k := range readOnly[kind] {
		if _, ok := m[k]; ok {
			errs = append(errs, k+" is read-only")
		}
	}
	if len(errs) == 0 {
		return true
	}
	f.t.Errorf("fakegraph: %s body refused: %s", kind, strings.Join(errs, "; "))
	f.fail(w, http.StatusBadRequest, "BadRequest", strings.Join(errs, "; "))
	return false
}

func hasDetection(rules []any) bool {
	for _, r := range rules {
		if m, _ := r.(map[string]any); m["ruleType"] == "detection" {
			return true
		}
	}
	return false
}

// assignBody decodes an assign action's body strictly: exactly the one
// member the action declares, spelled as declared, holding an array.
func (f *Fake) assignBody(w http.ResponseWriter, body []byte, member string) ([]map[string]any, bool) {
	var raw map[string]json.RawMessage
	err := json.Unmarshal(body, &raw)
	var list []map[string]any
	if err == nil {
		for k := range raw {
			if k != member {
				err = fmt.Errorf("unexpected member %q (the action takes %q)", k, member)
			}
		}
		if v, ok := raw[member]; !ok && err == nil {
			err = fmt.Errorf("no %q member", member)
		} else if ok {
			dec := json.NewDecoder(bytes.NewReader(v))
			if derr := dec.Decode(&list); derr != nil && err == nil {
				err = derr
			}
		}
	}
	if err != nil {
		f.t.Errorf("fakegraph: assign body refused: %v\n%s", err, body)
		f.fail(w, http.StatusBadRequest, "BadRequest", err.Error())
		return nil, false
	}
	return list, true
}

//go:embed testdata/win32LobApp.get.json
var recordedWin32App []byte

// serviceFilled are the members of the recorded GET that Intune fills in
// whatever the body said; appView adds the recorded values of those a body
// did not set.
var serviceFilled = []string{"largeIcon", "isFeatured", "privacyInformationUrl", "informationUrl", "owner", "developer", "notes",
	"roleScopeTagIds", "dependentAppCount", "supersedingAppCount", "supersededAppCount", "minimumFreeDiskSpaceInMB", "minimumMemoryInMB",
	"minimumNumberOfProcessors", "minimumCpuSpeedInMHz", "msiInformation", "displayVersion", "allowAvailableUninstall",
	"minimumSupportedOperatingSystem", "requirementRules"}

// appView is a Win32 app as a GET returns it: what was stored, plus what
// Intune fills in (recorded values), installExperience completed with the
// recorded members it lacks (maxRunTimeInMinutes: 60), return codes
// without @odata.type (as recorded), isAssigned and the content size.
func (f *Fake) appView(o *Object) map[string]any {
	out := copyMap(o.Body)
	if out["@odata.type"] != "#microsoft.graph.win32LobApp" {
		return out
	}
	var rec map[string]any
	if err := json.Unmarshal(recordedWin32App, &rec); err != nil {
		f.t.Fatalf("fakegraph: recorded GET: %v", err)
	}
	for _, k := range serviceFilled {
		if _, set := out[k]; !set {
			out[k] = rec[k]
		}
	}
	out["isAssigned"] = len(o.Assignments) > 0
	if ie, ok := out["installExperience"].(map[string]any); ok {
		for k, v := range rec["installExperience"].(map[string]any) {
			if _, set := ie[k]; !set {
				ie[k] = v
			}
		}
		delete(ie, "@odata.type")
	}
	if codes, ok := out["returnCodes"].([]any); ok {
		for _, c := range codes {
			if m, ok := c.(map[string]any); ok {
				delete(m, "@odata.type")
			}
		}
	}
	out["size"] = 0
	if v, ok := out["committedContentVersion"].(string); ok {
		if cf := f.committedFile(o.ID, v); cf != nil {
			out["size"] = cf.body["size"]
		}
	}
	return out
}

// policySetOnes are the assignments a Policy Set made: the assign action
// replaces an object's direct assignments and leaves these to their set
// (how the fake models it; only a tenant can confirm).
func policySetOnes(list []map[string]any) []map[string]any {
	out := []map[string]any{}
	for _, a := range list {
		if a["source"] == "policySets" {
			out = append(out, a)
		}
	}
	return out
}

// direct refuses an assignment sent as a Policy Set's: a set's
// assignments are the set's to make.
func (f *Fake) direct(w http.ResponseWriter, a map[string]any) bool {
	if a["source"] == "policySets" || a["sourceId"] != nil {
		f.t.Errorf("fakegraph: an assign body re-sends a Policy Set's assignment: %v", a)
		f.fail(w, http.StatusBadRequest, "BadRequest", "assignments of a policy set cannot be assigned directly")
		return false
	}
	return true
}
