// Package fakearg is a loopback fake of what the tenant-wide `avdgen sweep`
// calls: Azure Resource Graph (POST /providers/Microsoft.ResourceGraph/resources)
// and Compute (the VM GET with $expand=instanceView, deallocate). Resource
// Graph's view of each VM's power state is kept apart from Compute's, so it
// can be stale the way the real one is (minutes to hours). It refuses what
// the real services refuse (missing or unknown api-version, $top above 1,000,
// more than 1,000 subscriptions, an unknown $skipToken, an unknown resultFormat,
// a management group over the subscription limit without allowPartialScopes),
// throttles like them (Resource Graph: a query quota per window with
// x-ms-user-quota-remaining / x-ms-user-quota-resets-after and 429; ARM: the
// per-subscription token buckets with Retry-After), counts requests, records
// every deallocation with the state the VM had, and fails the test on any
// request it does not know. Test and benchmark support only.
package fakearg

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/avdgen/avdgen/fleet/sweep"
	"github.com/avdgen/avdgen/internal/fakeapi"
)

// HostPool is one fake host pool.
type HostPool struct {
	Subscription, ResourceGroup, Name string
	Type                              string // Personal or Pooled
	// ScalingPlanExclusionTag is the exclusion tag of a scaling plan enabled
	// on the pool ("" when none).
	ScalingPlanExclusionTag string
}

// ID is the pool's resource id.
func (p *HostPool) ID() string {
	return fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.DesktopVirtualization/hostPools/%s", p.Subscription, p.ResourceGroup, p.Name)
}

// VM is one session host VM.
type VM struct {
	Subscription, ResourceGroup, Name string
	Pool                              *HostPool
	// Power is Compute's truth now: running, stopped, deallocated, starting.
	Power string
	// ARGPower is what Resource Graph says (its snapshot); New copies Power
	// into it when empty. Deallocations do not change it: Resource Graph
	// catches up later, as the real one does.
	ARGPower     string
	Provisioning string // succeeded (default), updating, failed
	Tags         map[string]string
	// ARGTags are the tags in Resource Graph's snapshot when set (nil: Tags).
	ARGTags map[string]string
	// Deleted VMs are gone from Compute (404) but still in Resource Graph.
	Deleted bool
	// FailGet makes Compute answer 500 to the VM's GET.
	FailGet bool
}

// ID is the VM's resource id.
func (v *VM) ID() string {
	return fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/virtualMachines/%s", v.Subscription, v.ResourceGroup, v.Name)
}

// Deallocation is one deallocate the fake received, with what the VM was.
type Deallocation struct {
	VM       *VM
	PowerWas string
}

// Clock is a virtual clock: Sleep advances it at once. Tests and the
// benchmark give the same clock to the fake and to the sweep.
type Clock struct {
	mu  sync.Mutex
	now time.Time
	// Slept is the total of every Sleep.
	Slept time.Duration
}

// NewClock starts at a fixed time.
func NewClock() *Clock { return &Clock{now: time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)} }

// Now reads the clock.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

// Sleep advances the clock by d.
func (c *Clock) Sleep(_ context.Context, d time.Duration) error {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.Slept += d
	c.mu.Unlock()
	return nil
}

// Server is the fake.
type Server struct {
	*httptest.Server
	t testing.TB
	// Now is the fake's clock (quota windows and token buckets).
	Now func() time.Time
	// Quota and QuotaWindow are Resource Graph's per-user query quota
	// (the documented example: 15 queries per 5 seconds).
	Quota       int
	QuotaWindow time.Duration
	// SubscriptionLimit is how many subscriptions a management group query
	// covers (Resource Graph: 10,000).
	SubscriptionLimit int

	mu               sync.Mutex
	vms              []*VM
	pools            []*HostPool
	managementGroups map[string][]string
	counts           map[string]int
	throttle         int
	quotaUsed        int
	quotaStart       time.Time
	buckets          map[string]*bucket
	deallocations    []Deallocation
	tokens           map[string]tokenState
	armThrottled     int
	byPath           map[string]*VM
}

type tokenState struct {
	key    string
	offset int
}

// New starts the fake with the pools' VMs; managementGroups maps a group id
// to the subscriptions under it.
func New(t testing.TB, vms []*VM, managementGroups map[string][]string) *Server {
	s := &Server{t: t, Now: time.Now, Quota: 15, QuotaWindow: 5 * time.Second, SubscriptionLimit: 10000,
		vms: vms, managementGroups: managementGroups, counts: map[string]int{}, buckets: map[string]*bucket{}, tokens: map[string]tokenState{}}
	seen := map[*HostPool]bool{}
	for _, v := range vms {
		if v.ARGPower == "" {
			v.ARGPower = v.Power
		}
		if v.Pool != nil && !seen[v.Pool] {
			seen[v.Pool] = true
			s.pools = append(s.pools, v.Pool)
		}
	}
	// Resource Graph pages "in stable sorted fashion" by id.
	s.vms = append([]*VM(nil), vms...)
	keys := make(map[*VM]string, len(vms))
	for _, v := range s.vms {
		keys[v] = strings.ToLower(v.ID())
	}
	sort.SliceStable(s.vms, func(i, j int) bool { return keys[s.vms[i]] < keys[s.vms[j]] })
	s.byPath = make(map[string]*VM, len(vms))
	for _, v := range s.vms {
		s.byPath[keys[v]] = v
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// Throttle makes the next n Resource Graph requests answer 429.
func (s *Server) Throttle(n int) { s.mu.Lock(); s.throttle = n; s.mu.Unlock() }

// Count returns the requests of a class: arg, getVM, deallocate.
func (s *Server) Count(class string) int { s.mu.Lock(); defer s.mu.Unlock(); return s.counts[class] }

// ARMThrottled counts ARM 429s (the sweep left its token bucket).
func (s *Server) ARMThrottled() int { s.mu.Lock(); defer s.mu.Unlock(); return s.armThrottled }

// Deallocations lists every deallocate received.
func (s *Server) Deallocations() []Deallocation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Deallocation(nil), s.deallocations...)
}

// VMs returns every VM of the fake.
func (s *Server) VMs() []*VM { s.mu.Lock(); defer s.mu.Unlock(); return append([]*VM(nil), s.vms...) }

// Find returns the VM named name.
func (s *Server) Find(name string) *VM {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range s.vms {
		if strings.EqualFold(v.Name, name) {
			return v
		}
	}
	return nil
}

// SetPower changes Compute's truth for a VM (Resource Graph keeps its view).
func (s *Server) SetPower(name, power string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range s.vms {
		if strings.EqualFold(v.Name, name) {
			v.Power = power
		}
	}
}

var vmPath = regexp.MustCompile(`(?i)^/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers/Microsoft\.Compute/virtualMachines/([^/]+)(/deallocate)?$`)

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
		s.t.Errorf("fakearg: %s %s without a bearer token", r.Method, r.URL.Path)
		fakeapi.ARMError(w, 401, "AuthenticationFailed", "no bearer token")
		return
	}
	switch m := vmPath.FindStringSubmatch(r.URL.Path); {
	case strings.EqualFold(r.URL.Path, "/providers/Microsoft.ResourceGraph/resources") && r.Method == http.MethodPost:
		s.count("arg")
		s.resources(w, r)
	case m != nil && m[4] == "" && r.Method == http.MethodGet:
		s.count("getVM")
		s.getVM(w, r, m[1], m[2], m[3])
	case m != nil && m[4] != "" && r.Method == http.MethodPost:
		s.count("deallocate")
		s.deallocate(w, r, m[1], m[2], m[3])
	default:
		s.count("unexpected")
		s.t.Errorf("fakearg: unexpected request %s %s", r.Method, r.URL)
		fakeapi.ARMError(w, 404, "NotFound", "unexpected request")
	}
}

func (s *Server) count(class string) { s.mu.Lock(); s.counts[class]++; s.mu.Unlock() }

type argRequest struct {
	Subscriptions    []string `json:"subscriptions"`
	ManagementGroups []string `json:"managementGroups"`
	Query            string   `json:"query"`
	Options          struct {
		Top                *int   `json:"$top"`
		Skip               *int   `json:"$skip"`
		SkipToken          string `json:"$skipToken"`
		ResultFormat       string `json:"resultFormat"`
		AllowPartialScopes bool   `json:"allowPartialScopes"`
	} `json:"options"`
}

var guidRe = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func (s *Server) resources(w http.ResponseWriter, r *http.Request) {
	if !fakeapi.ARMVersionOK(w, r, fakeapi.ResourceGraph) {
		return
	}
	if !s.admitQuery(w) {
		return
	}
	var req argRequest
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(&req); err != nil {
		fakeapi.ARMError(w, 400, "InvalidRequestContent", "The request content was invalid and could not be deserialized: "+err.Error())
		return
	}
	o := req.Options
	switch {
	case strings.TrimSpace(req.Query) == "":
		fakeapi.ARMError(w, 400, "BadRequest", "Please provide below info when asking for support: query is required.")
		return
	case o.Top != nil && (*o.Top < 1 || *o.Top > 1000):
		fakeapi.ARMError(w, 400, "BadRequest", fmt.Sprintf("Invalid $top value %d: must be between 1 and 1000.", *o.Top))
		return
	case o.ResultFormat != "" && o.ResultFormat != "objectArray" && o.ResultFormat != "table":
		fakeapi.ARMError(w, 400, "BadRequest", "Invalid resultFormat "+o.ResultFormat)
		return
	case len(req.Subscriptions) > 1000:
		fakeapi.ARMError(w, 400, "BadRequest", fmt.Sprintf("The number of subscriptions (%d) exceeds the limit of 1000.", len(req.Subscriptions)))
		return
	}
	if req.Query != sweep.DiscoveryQuery {
		s.t.Errorf("fakearg: a query the fake cannot answer:\n%s", req.Query)
		fakeapi.ARMError(w, 400, "BadRequest", "the fake answers only sweep.DiscoveryQuery")
		return
	}
	if o.ResultFormat == "table" {
		s.t.Errorf("fakearg: resultFormat table: the sweep reads objectArray rows")
	}
	for _, sub := range req.Subscriptions {
		if !guidRe.MatchString(sub) {
			fakeapi.ARMError(w, 400, "BadRequest", fmt.Sprintf("Invalid subscription id '%s'.", sub))
			return
		}
	}
	// The subscriptions in scope.
	inScope := map[string]bool{}
	for _, sub := range req.Subscriptions {
		inScope[strings.ToLower(sub)] = true
	}
	limitHit := false
	for _, mg := range req.ManagementGroups {
		subs, ok := s.managementGroups[mg]
		if !ok {
			fakeapi.ARMError(w, 403, "AuthorizationFailed", fmt.Sprintf("The client does not have authorization to perform action 'Microsoft.Management/managementGroups/read' over scope '/providers/Microsoft.Management/managementGroups/%s' or the scope is invalid.", mg))
			return
		}
		sorted := append([]string(nil), subs...)
		sort.Strings(sorted)
		if len(sorted) > s.SubscriptionLimit {
			if !o.AllowPartialScopes {
				fakeapi.ARMError(w, 400, "BadRequest", fmt.Sprintf("The query scope contains more than %d subscriptions; set options.allowPartialScopes to get a partial result.", s.SubscriptionLimit))
				return
			}
			sorted = sorted[:s.SubscriptionLimit]
			limitHit = true
		}
		for _, sub := range sorted {
			inScope[strings.ToLower(sub)] = true
		}
	}
	if len(req.Subscriptions) == 0 && len(req.ManagementGroups) == 0 {
		s.t.Errorf("fakearg: tenant-scope query: the sweep must name its scope")
	}
	key := scopeKey(req)
	offset := 0
	if o.SkipToken != "" {
		s.mu.Lock()
		st, ok := s.tokens[o.SkipToken]
		s.mu.Unlock()
		if !ok || st.key != key {
			fakeapi.ARMError(w, 400, "BadRequest", "Invalid $skipToken.")
			return
		}
		offset = st.offset
	} else if o.Skip != nil {
		offset = *o.Skip
	}
	top := 100 // Resource Graph's default page
	if o.Top != nil {
		top = *o.Top
	}
	rows := s.rows(inScope)
	end := min(offset+top, len(rows))
	data := rows[min(offset, len(rows)):end]
	body := map[string]any{"totalRecords": len(rows), "count": len(data), "resultTruncated": "false", "facets": []any{}, "data": data}
	if end < len(rows) {
		tok := base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf(`{"scope":%q,"offset":%d}`, key, end)))
		s.mu.Lock()
		s.tokens[tok] = tokenState{key: key, offset: end}
		s.mu.Unlock()
		body["$skipToken"] = tok
	}
	if limitHit {
		w.Header().Set("x-ms-tenant-subscription-limit-hit", "true")
	}
	fakeapi.WriteJSON(w, 200, body)
}

func scopeKey(req argRequest) string {
	subs := append([]string(nil), req.Subscriptions...)
	mgs := append([]string(nil), req.ManagementGroups...)
	sort.Strings(subs)
	sort.Strings(mgs)
	return strings.ToLower(strings.Join(subs, ",") + "|" + strings.Join(mgs, ",") + "|" + req.Query)
}

// admitQuery applies the per-user quota: every answer carries the quota
// headers; beyond the quota the answer is 429.
func (s *Server) admitQuery(w http.ResponseWriter) bool {
	s.mu.Lock()
	now := s.Now()
	if s.quotaStart.IsZero() || now.Sub(s.quotaStart) >= s.QuotaWindow {
		s.quotaStart, s.quotaUsed = now, 0
	}
	resets := s.QuotaWindow - now.Sub(s.quotaStart)
	forced := s.throttle > 0
	if forced {
		s.throttle--
		resets = 2 * time.Second
	}
	over := forced || s.quotaUsed >= s.Quota
	if !over {
		s.quotaUsed++
	}
	remaining := s.Quota - s.quotaUsed
	s.mu.Unlock()
	if over {
		remaining = 0
	}
	w.Header().Set("x-ms-user-quota-remaining", strconv.Itoa(remaining))
	w.Header().Set("x-ms-user-quota-resets-after", hms(resets))
	if over {
		fakeapi.ARMError(w, 429, "RateLimiting", "Please provide below info when asking for support: timestamp, correlationId. Details: Client application has been throttled and should not attempt to repeat the request until an amount of time has elapsed.")
		return false
	}
	return true
}

func hms(d time.Duration) string {
	secs := int(math.Ceil(d.Seconds()))
	return fmt.Sprintf("%02d:%02d:%02d", secs/3600, secs/60%60, secs%60)
}

// rows answers DiscoveryQuery for the subscriptions in scope, ordered by id
// (s.vms is kept sorted).
func (s *Server) rows(inScope map[string]bool) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, v := range s.vms {
		if v.Pool == nil || !inScope[strings.ToLower(v.Subscription)] || !inScope[strings.ToLower(v.Pool.Subscription)] {
			continue
		}
		row := map[string]any{
			"id": v.ID(), "powerState": "PowerState/" + v.ARGPower,
			"hostPoolId": strings.ToLower(v.Pool.ID()), "hostPoolType": v.Pool.Type,
			"tags": v.Tags, "scalingPlanExclusionTag": v.Pool.ScalingPlanExclusionTag,
		}
		if v.ARGTags != nil {
			row["tags"] = v.ARGTags
		}
		if row["tags"] == nil || len(row["tags"].(map[string]string)) == 0 {
			row["tags"] = map[string]string{}
		}
		out = append(out, row)
	}
	return out
}

func (s *Server) vm(sub, rg, name string) *VM {
	v := s.byPath[strings.ToLower((&VM{Subscription: sub, ResourceGroup: rg, Name: name}).ID())]
	if v == nil || v.Deleted {
		return nil
	}
	return v
}

// armAdmit checks Compute's documented api-versions and the subscription's token bucket.
func (s *Server) armAdmit(w http.ResponseWriter, r *http.Request, sub string, write bool) bool {
	if !fakeapi.ARMVersionOK(w, r, fakeapi.Compute) {
		return false
	}
	kind, capacity, refill := "read", float64(sweep.ARMReadBucket), float64(sweep.ARMReadRefill)
	if write {
		kind, capacity, refill = "write", sweep.ARMWriteBucket, sweep.ARMWriteRefill
	}
	s.mu.Lock()
	b := s.buckets[kind+strings.ToLower(sub)]
	now := s.Now()
	if b == nil {
		b = &bucket{tokens: capacity, last: now}
		s.buckets[kind+strings.ToLower(sub)] = b
	}
	b.tokens = min(capacity, b.tokens+now.Sub(b.last).Seconds()*refill)
	b.last = now
	ok := b.tokens >= 1
	if ok {
		b.tokens--
	} else {
		s.armThrottled++
	}
	wait := int(math.Ceil((1 - b.tokens) / refill))
	s.mu.Unlock()
	if !ok {
		w.Header().Set("Retry-After", strconv.Itoa(max(wait, 1)))
		fakeapi.ARMError(w, 429, "TooManyRequests", "Number of "+kind+" requests for subscription '"+sub+"' exceeded the limit")
	}
	return ok
}

type bucket struct {
	tokens float64
	last   time.Time
}

func (s *Server) getVM(w http.ResponseWriter, r *http.Request, sub, rg, name string) {
	if !s.armAdmit(w, r, sub, false) {
		return
	}
	s.mu.Lock()
	v := s.vm(sub, rg, name)
	if v != nil && v.FailGet {
		s.mu.Unlock()
		fakeapi.ARMError(w, 500, "InternalServerError", "injected failure")
		return
	}
	if v == nil {
		s.mu.Unlock()
		fakeapi.ARMError(w, 404, "ResourceNotFound", fmt.Sprintf("The Resource 'Microsoft.Compute/virtualMachines/%s' under resource group '%s' was not found.", name, rg))
		return
	}
	prov := v.Provisioning
	if prov == "" {
		prov = "succeeded"
	}
	props := map[string]any{"provisioningState": "Succeeded", "vmId": "00000000-0000-0000-0000-000000000000"}
	if r.URL.Query().Get("$expand") == "instanceView" {
		props["instanceView"] = map[string]any{"statuses": []map[string]string{
			{"code": "ProvisioningState/" + prov, "level": "Info"}, {"code": "PowerState/" + v.Power, "level": "Info"},
		}}
	}
	tags := v.Tags
	body := map[string]any{"id": v.ID(), "name": v.Name, "type": "Microsoft.Compute/virtualMachines", "location": "westeurope", "tags": tags, "properties": props}
	s.mu.Unlock()
	fakeapi.WriteJSON(w, 200, body)
}

func (s *Server) deallocate(w http.ResponseWriter, r *http.Request, sub, rg, name string) {
	if !s.armAdmit(w, r, sub, true) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.vm(sub, rg, name)
	if v == nil {
		fakeapi.ARMError(w, 404, "ResourceNotFound", name)
		return
	}
	s.deallocations = append(s.deallocations, Deallocation{VM: v, PowerWas: v.Power})
	v.Power = "deallocated"
	w.WriteHeader(202)
}

// Tenant builds n VMs over subs subscriptions: pools of 50 session hosts,
// every fifth pool pooled, every tenth VM stopped in Resource Graph's view,
// of which one in a hundred is running by now (a stale row: a user
// reconnected and Start VM on Connect started it) and one in twenty carries
// avdgen's exclusion tag; all subscriptions under management group mg-avd.
func Tenant(n, subs int) ([]*VM, map[string][]string) {
	mgs := map[string][]string{"mg-avd": nil}
	subIDs := make([]string, subs)
	for i := range subIDs {
		subIDs[i] = fmt.Sprintf("%08x-0000-4000-8000-%012x", i+1, i+1)
		mgs["mg-avd"] = append(mgs["mg-avd"], subIDs[i])
	}
	vms := make([]*VM, n)
	for i := range vms {
		vms[i] = &VM{Subscription: subIDs[i%subs], ResourceGroup: fmt.Sprintf("rg-avd-%02d", (i/subs)%20), Name: fmt.Sprintf("avd-%05d", i), Power: "running"}
	}
	var pool *HostPool
	// Pools: per subscription, consecutive groups of 50 of its VMs.
	perSub := map[string][]*VM{}
	for _, v := range vms {
		perSub[v.Subscription] = append(perSub[v.Subscription], v)
	}
	for si, sub := range subIDs {
		for j, v := range perSub[sub] {
			if j%50 == 0 {
				kind := "Personal"
				if (j/50)%5 == 4 {
					kind = "Pooled"
				}
				pool = &HostPool{Subscription: sub, ResourceGroup: "rg-avd-pools", Name: fmt.Sprintf("hp-%d-%03d", si, j/50), Type: kind}
			}
			v.Pool = pool
		}
	}
	for i, v := range vms {
		if i%10 == 3 {
			v.Power, v.ARGPower = "stopped", "stopped"
			if i%1000 == 13 {
				v.Power = "running" // started since Resource Graph's snapshot
			}
			if i%200 == 23 {
				v.Tags = map[string]string{"AVDGEN-EXCLUDE": "True"}
			}
		}
	}
	return vms, mgs
}
