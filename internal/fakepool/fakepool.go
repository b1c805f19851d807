// Package fakepool is an in-process loopback fake of the ARM APIs `avdgen
// rbac` and `avdgen sweep` use: DesktopVirtualization session hosts,
// Compute VMs (paged lists, identity PATCH, deallocate) and Authorization
// (role definitions and assignments). It pages every list, can throttle
// and fail on demand, counts requests, and fails the test on any request
// it does not know. Test and benchmark support only.
package fakepool

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/avdgen/avdgen/internal/fakeapi"
)

// VM is one fake session host VM.
type VM struct {
	ResourceGroup, Name string
	Power               string // running, stopped, deallocated, starting
	Provisioning        string // succeeded (default), updating, failed
	Tags                map[string]string
	Sessions            int
	// SystemPrincipal is the system-assigned identity's principal id; empty
	// means the VM has none.
	SystemPrincipal string
	UserAssigned    []string
	// Size is hardwareProfile.vmSize (default Standard_D4s_v5), Location the
	// region (default westeurope), LicenseType the licenseType property
	// (empty: none). Image is the marketplace offer (default
	// windows-11 from MicrosoftWindowsDesktop); OSType defaults to Windows.
	Size, Location, LicenseType string
	ImagePublisher, Image       string
	OSType                      string
}

// Assignment is a role assignment.
type Assignment struct{ Principal, RoleDefinition, Scope string }

// Server is the fake.
type Server struct {
	*httptest.Server
	t                     testing.TB
	Subscription, PoolRG  string
	HostPool              string
	PageSize              int
	mu                    sync.Mutex
	vms                   []*VM
	roleDefs              map[string]json.RawMessage
	assignments           []Assignment
	throttle              map[string]int
	failPatch, failAssign map[string]bool
	counts                map[string]int
	nextPrincipal         int
	// HostPoolType is what GET on the host pool answers (default Personal).
	HostPoolType string
	extra        []route
}

type route struct {
	class string
	match func(*http.Request) bool
	h     http.HandlerFunc
}

// Route adds a request class the fake answers with h (another ARM provider
// on the same endpoint, such as the Activity Log). Extra routes are
// counted, throttled and checked for api-version and a bearer token like
// the fake's own, and take precedence over them.
func (s *Server) Route(class string, match func(*http.Request) bool, h http.HandlerFunc) {
	s.mu.Lock()
	s.extra = append(s.extra, route{class, match, h})
	s.mu.Unlock()
}

// New starts a fake for sub/poolRG/hostPool with vms.
func New(t testing.TB, sub, poolRG, hostPool string, vms []*VM) *Server {
	s := &Server{t: t, Subscription: sub, PoolRG: poolRG, HostPool: hostPool, PageSize: 100, vms: vms, HostPoolType: "Personal",
		roleDefs: map[string]json.RawMessage{}, throttle: map[string]int{}, failPatch: map[string]bool{}, failAssign: map[string]bool{}, counts: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// Throttle makes the next n requests of a class answer 429 Retry-After: 1.
// Classes: hostPool, sessionHosts, listVMs, instanceView, patchVM, deallocate, roleDefinition, listAssignments, putAssignment.
func (s *Server) Throttle(class string, n int) { s.mu.Lock(); s.throttle[class] = n; s.mu.Unlock() }

// FailPatch makes the identity PATCH of the named VM fail with 400.
func (s *Server) FailPatch(vm string) {
	s.mu.Lock()
	s.failPatch[strings.ToLower(vm)] = true
	s.mu.Unlock()
}

// FailAssign makes the role assignment PUT on the named VM fail with 400.
func (s *Server) FailAssign(vm string) {
	s.mu.Lock()
	s.failAssign[strings.ToLower(vm)] = true
	s.mu.Unlock()
}

// Count returns how many requests of a class arrived (429s included).
func (s *Server) Count(class string) int { s.mu.Lock(); defer s.mu.Unlock(); return s.counts[class] }

// Total counts every request.
func (s *Server) Total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.counts {
		n += c
	}
	return n
}

// Writes counts PUT, PATCH and POST requests.
func (s *Server) Writes() int {
	return s.Count("patchVM") + s.Count("deallocate") + s.Count("putRoleDefinition") + s.Count("putAssignment")
}

// ResetCounts zeroes the counters (between two runs).
func (s *Server) ResetCounts() { s.mu.Lock(); s.counts = map[string]int{}; s.mu.Unlock() }

// Assignments returns the role assignments.
func (s *Server) Assignments() []Assignment {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Assignment(nil), s.assignments...)
}

// VMID is a VM's resource id.
func (s *Server) VMID(v *VM) string {
	return fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/virtualMachines/%s", s.Subscription, v.ResourceGroup, v.Name)
}

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

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	class, handler := s.route(r)
	s.mu.Lock()
	s.counts[class]++
	throttled := s.throttle[class] > 0
	if throttled {
		s.throttle[class]--
	}
	s.mu.Unlock()
	if handler == nil {
		s.t.Errorf("fakepool: unexpected request %s %s", r.Method, r.URL)
		fakeapi.ARMError(w, 404, "NotFound", "unexpected request")
		return
	}
	if throttled {
		w.Header().Set("Retry-After", "1")
		fakeapi.ARMError(w, 429, "TooManyRequests", "throttled by the fake")
		return
	}
	// ARM refuses every request without an api-version, before routing.
	if r.URL.Query().Get("api-version") == "" {
		fakeapi.ARMError(w, 400, "MissingApiVersionParameter", "The api-version query parameter (?api-version=) is required for all requests.")
		return
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
		s.t.Errorf("fakepool: %s %s without a bearer token", r.Method, r.URL.Path)
	}
	// A class added with Route checks its own provider's api-versions.
	if versions, builtIn := apiVersions[class]; builtIn && !fakeapi.ARMVersionOK(w, r, versions) {
		return
	}
	handler(w, r)
}

// apiVersions are the api-versions Azure documents for each class of
// request (fakeapi): anything else gets ARM's 400.
var apiVersions = map[string][]string{
	"hostPool": fakeapi.DesktopVirtualization, "sessionHosts": fakeapi.DesktopVirtualization,
	"instanceView": fakeapi.Compute, "listVMs": fakeapi.Compute, "patchVM": fakeapi.Compute, "deallocate": fakeapi.Compute,
	"roleDefinition": fakeapi.Authorization, "putRoleDefinition": fakeapi.Authorization,
	"listAssignments": fakeapi.Authorization, "putAssignment": fakeapi.Authorization,
}

func (s *Server) route(r *http.Request) (string, http.HandlerFunc) {
	p := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	low := strings.ToLower(r.URL.Path)
	s.mu.Lock()
	extra := append([]route(nil), s.extra...)
	s.mu.Unlock()
	for _, e := range extra {
		if e.match(r) {
			return e.class, e.h
		}
	}
	switch {
	case r.Method == "GET" && len(p) == 8 && strings.EqualFold(p[5], "Microsoft.DesktopVirtualization") && strings.EqualFold(p[6], "hostPools"):
		return "hostPool", func(w http.ResponseWriter, r *http.Request) { s.hostPool(w, p[3], p[7]) }
	case r.Method == "GET" && strings.HasSuffix(low, "/providers/microsoft.desktopvirtualization/hostpools/"+strings.ToLower(s.HostPool)+"/sessionhosts"):
		return "sessionHosts", s.sessionHosts
	case r.Method == "GET" && len(p) == 5 && strings.HasSuffix(low, "/providers/microsoft.compute/virtualmachines"):
		return "listVMs", func(w http.ResponseWriter, r *http.Request) { s.listVMs(w, r, "") }
	case r.Method == "GET" && len(p) == 7 && strings.HasSuffix(low, "/providers/microsoft.compute/virtualmachines"):
		return "listVMs", func(w http.ResponseWriter, r *http.Request) { s.listVMs(w, r, p[3]) }
	case r.Method == "PATCH" && len(p) == 8 && strings.EqualFold(p[6], "virtualMachines"):
		return "patchVM", func(w http.ResponseWriter, r *http.Request) { s.patchVM(w, r, p[3], p[7]) }
	case r.Method == "GET" && len(p) == 9 && strings.EqualFold(p[6], "virtualMachines") && p[8] == "instanceView":
		return "instanceView", func(w http.ResponseWriter, r *http.Request) { s.instanceView(w, p[3], p[7]) }
	case r.Method == "POST" && len(p) == 9 && p[8] == "deallocate":
		return "deallocate", func(w http.ResponseWriter, r *http.Request) { s.deallocate(w, p[3], p[7]) }
	case strings.Contains(low, "/providers/microsoft.authorization/roledefinitions/"):
		if r.Method == "PUT" {
			return "putRoleDefinition", s.roleDefinition
		}
		return "roleDefinition", s.roleDefinition
	case r.Method == "GET" && len(p) == 7 && strings.HasSuffix(low, "/providers/microsoft.authorization/roleassignments"):
		return "listAssignments", func(w http.ResponseWriter, r *http.Request) { s.listAssignments(w, r, p[3]) }
	case r.Method == "PUT" && strings.Contains(low, "/providers/microsoft.authorization/roleassignments/"):
		return "putAssignment", s.putAssignment
	}
	return "unexpected", nil
}

// page slices items by $skiptoken and adds nextLink.
func (s *Server) page(w http.ResponseWriter, r *http.Request, items []any) {
	skip, _ := strconv.Atoi(r.URL.Query().Get("$skiptoken"))
	end := min(skip+s.PageSize, len(items))
	body := map[string]any{"value": items[min(skip, len(items)):end]}
	if end < len(items) {
		q := r.URL.Query()
		q.Set("$skiptoken", strconv.Itoa(end))
		body["nextLink"] = s.URL + r.URL.Path + "?" + q.Encode()
	}
	fakeapi.WriteJSON(w, 200, body)
}

func (s *Server) hostPool(w http.ResponseWriter, rg, name string) {
	if !strings.EqualFold(rg, s.PoolRG) || !strings.EqualFold(name, s.HostPool) {
		fakeapi.ARMError(w, 404, "ResourceNotFound", fmt.Sprintf("The Resource 'Microsoft.DesktopVirtualization/hostPools/%s' under resource group '%s' was not found.", name, rg))
		return
	}
	fakeapi.WriteJSON(w, 200, map[string]any{
		"id":       fmt.Sprintf("/subscriptions/%s/resourcegroups/%s/providers/Microsoft.DesktopVirtualization/hostpools/%s", s.Subscription, s.PoolRG, s.HostPool),
		"name":     s.HostPool,
		"type":     "Microsoft.DesktopVirtualization/hostpools",
		"location": "westeurope",
		"properties": map[string]any{"hostPoolType": s.HostPoolType, "loadBalancerType": "Persistent",
			"personalDesktopAssignmentType": "Automatic", "preferredAppGroupType": "Desktop"},
	})
}

func (s *Server) sessionHosts(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	var items []any
	for _, v := range s.vms {
		items = append(items, map[string]any{
			"name":       s.HostPool + "/" + v.Name + ".contoso.local",
			"properties": map[string]any{"resourceId": s.VMID(v), "sessions": v.Sessions, "status": "Available"},
		})
	}
	s.mu.Unlock()
	s.page(w, r, items)
}

func (s *Server) vmJSON(v *VM, status bool) map[string]any {
	props := map[string]any{"provisioningState": "Succeeded",
		"hardwareProfile": map[string]any{"vmSize": or(v.Size, "Standard_D4s_v5")},
		"storageProfile": map[string]any{
			"imageReference": map[string]any{"publisher": or(v.ImagePublisher, "MicrosoftWindowsDesktop"), "offer": or(v.Image, "windows-11"), "sku": "win11-24h2-ent", "version": "latest"},
			"osDisk":         map[string]any{"osType": or(v.OSType, "Windows"), "createOption": "FromImage"},
		}}
	if v.LicenseType != "" {
		props["licenseType"] = v.LicenseType
	}
	if status {
		prov := v.Provisioning
		if prov == "" {
			prov = "succeeded"
		}
		props["instanceView"] = map[string]any{"statuses": []map[string]string{
			{"code": "ProvisioningState/" + prov}, {"code": "PowerState/" + v.Power},
		}}
	}
	out := map[string]any{"id": s.VMID(v), "name": v.Name, "location": or(v.Location, "westeurope"), "tags": v.Tags, "properties": props}
	var types []string
	ident := map[string]any{}
	if v.SystemPrincipal != "" {
		types = append(types, "SystemAssigned")
		ident["principalId"] = v.SystemPrincipal
		ident["tenantId"] = "72f988bf-0000-0000-0000-000000000000"
	}
	if len(v.UserAssigned) > 0 {
		types = append(types, "UserAssigned")
		ua := map[string]any{}
		for _, id := range v.UserAssigned {
			ua[id] = map[string]string{"principalId": "ua-" + id[len(id)-4:], "clientId": "c"}
		}
		ident["userAssignedIdentities"] = ua
	}
	if len(types) > 0 {
		ident["type"] = strings.Join(types, ", ")
		out["identity"] = ident
	}
	return out
}

func (s *Server) listVMs(w http.ResponseWriter, r *http.Request, rg string) {
	q := r.URL.Query()
	// Compute documents $expand=instanceView on a VM list as valid only
	// with a scale-set $filter (REST reference, VirtualMachines_List and
	// _ListAll); statusOnly=true only on the subscription-wide list. The
	// fake refuses both misuses (the error body is ours: no recorded one).
	if q.Get("$expand") != "" && q.Get("$filter") == "" {
		fakeapi.ARMError(w, 400, "InvalidParameter", "$expand=instanceView can only be specified with a valid $filter option.")
		return
	}
	if rg != "" && q.Has("statusOnly") {
		fakeapi.ARMError(w, 400, "InvalidParameter", "statusOnly is a parameter of the subscription-wide list only.")
		return
	}
	status := q.Get("statusOnly") == "true"
	if rg == "" && !status {
		s.t.Errorf("fakepool: subscription-wide VM list without statusOnly=true")
	}
	s.mu.Lock()
	var items []any
	for _, v := range s.vms {
		if rg == "" || strings.EqualFold(v.ResourceGroup, rg) {
			items = append(items, s.vmJSON(v, status))
		}
	}
	s.mu.Unlock()
	s.page(w, r, items)
}

func (s *Server) vm(rg, name string) *VM {
	for _, v := range s.vms {
		if strings.EqualFold(v.ResourceGroup, rg) && strings.EqualFold(v.Name, name) {
			return v
		}
	}
	return nil
}

func (s *Server) patchVM(w http.ResponseWriter, r *http.Request, rg, name string) {
	var body struct {
		Identity struct {
			Type string                     `json:"type"`
			UA   map[string]json.RawMessage `json:"userAssignedIdentities"`
		} `json:"identity"`
	}
	b, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(b, &body); err != nil {
		fakeapi.ARMError(w, 400, "InvalidRequestContent", err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.vm(rg, name)
	switch {
	case v == nil:
		fakeapi.ARMError(w, 404, "ResourceNotFound", name)
		return
	case s.failPatch[strings.ToLower(name)]:
		fakeapi.ARMError(w, 400, "OperationNotAllowed", "injected failure")
		return
	}
	// ARM replaces the identity block: user-assigned identities not sent are dropped.
	var kept []string
	for id := range body.Identity.UA {
		kept = append(kept, id)
	}
	sort.Strings(kept)
	if !strings.Contains(body.Identity.Type, "UserAssigned") {
		kept = nil
	}
	v.UserAssigned = kept
	if strings.Contains(body.Identity.Type, "SystemAssigned") && v.SystemPrincipal == "" {
		s.nextPrincipal++
		v.SystemPrincipal = fmt.Sprintf("00000000-0000-4000-8000-%012d", s.nextPrincipal)
	}
	fakeapi.WriteJSON(w, 200, s.vmJSON(v, false))
}

func (s *Server) instanceView(w http.ResponseWriter, rg, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.vm(rg, name)
	if v == nil {
		fakeapi.ARMError(w, 404, "ResourceNotFound", name)
		return
	}
	prov := v.Provisioning
	if prov == "" {
		prov = "succeeded"
	}
	fakeapi.WriteJSON(w, 200, map[string]any{"computerName": v.Name, "osName": "Windows 11 Enterprise", "statuses": []map[string]string{
		{"code": "ProvisioningState/" + prov, "level": "Info"}, {"code": "PowerState/" + v.Power, "level": "Info"}}})
}

func (s *Server) deallocate(w http.ResponseWriter, rg, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.vm(rg, name)
	if v == nil {
		fakeapi.ARMError(w, 404, "ResourceNotFound", name)
		return
	}
	v.Power = "deallocated"
	w.WriteHeader(202)
}

func (s *Server) roleDefinition(w http.ResponseWriter, r *http.Request) {
	key := strings.ToLower(r.URL.Path)
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Method == "PUT" {
		b, _ := io.ReadAll(r.Body)
		s.roleDefs[key] = b
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(201)
		w.Write(b)
		return
	}
	b, ok := s.roleDefs[key]
	if !ok {
		fakeapi.ARMError(w, 404, "RoleDefinitionDoesNotExist", "no such role")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

func (s *Server) listAssignments(w http.ResponseWriter, r *http.Request, rg string) {
	prefix := strings.ToLower(fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/", s.Subscription, rg))
	s.mu.Lock()
	var items []any
	for i, a := range s.assignments {
		if strings.HasPrefix(strings.ToLower(a.Scope)+"/", prefix) {
			items = append(items, map[string]any{"name": fmt.Sprint(i), "properties": map[string]string{
				"principalId": a.Principal, "roleDefinitionId": a.RoleDefinition, "scope": a.Scope}})
		}
	}
	s.mu.Unlock()
	s.page(w, r, items)
}

func (s *Server) putAssignment(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Properties struct {
			RoleDefinitionID string `json:"roleDefinitionId"`
			PrincipalID      string `json:"principalId"`
			PrincipalType    string `json:"principalType"`
		} `json:"properties"`
	}
	b, _ := io.ReadAll(r.Body)
	json.Unmarshal(b, &body)
	scope := r.URL.Path[:strings.Index(strings.ToLower(r.URL.Path), "/providers/microsoft.authorization/")]
	if body.Properties.PrincipalType != "ServicePrincipal" {
		s.t.Errorf("fakepool: role assignment without principalType ServicePrincipal (a new identity may not have replicated yet)")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	name := scope[strings.LastIndex(scope, "/")+1:]
	if s.failAssign[strings.ToLower(name)] {
		fakeapi.ARMError(w, 400, "InvalidRoleAssignment", "injected failure")
		return
	}
	for _, a := range s.assignments {
		if strings.EqualFold(a.Principal, body.Properties.PrincipalID) && strings.EqualFold(a.RoleDefinition, body.Properties.RoleDefinitionID) && strings.EqualFold(a.Scope, scope) {
			fakeapi.ARMError(w, 409, "RoleAssignmentExists", "The role assignment already exists.")
			return
		}
	}
	s.assignments = append(s.assignments, Assignment{Principal: body.Properties.PrincipalID, RoleDefinition: body.Properties.RoleDefinitionID, Scope: scope})
	fakeapi.WriteJSON(w, 201, map[string]any{"properties": body.Properties})
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// Pool builds n VMs spread over groups resource groups, every tenth stopped.
func Pool(n, groups int) []*VM {
	vms := make([]*VM, n)
	for i := range vms {
		power := "running"
		if i%10 == 3 {
			power = "stopped"
		}
		vms[i] = &VM{ResourceGroup: fmt.Sprintf("rg-avd-%02d", i%groups), Name: fmt.Sprintf("avd-%05d", i), Power: power}
	}
	return vms
}
