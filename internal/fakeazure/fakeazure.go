// Package fakeazure is an in-process loopback fake of what the agent talks
// to: IMDS instance metadata, the IMDS managed-identity token endpoint and
// ARM's deallocate and permissions APIs. It records every request and fails
// the test on any request it was not told to expect. Test support only.
package fakeazure

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/avdgen/avdgen/internal/fakeapi"
)

// VM is the VM the fake IMDS describes.
type VM struct {
	SubscriptionID, ResourceGroup, Name string
	// ResourceID defaults to the one built from the three fields above.
	ResourceID         string
	Environment        string // default AzurePublicCloud
	Tags               map[string]string
	HibernationEnabled bool
}

// DefaultVM is a plausible personal host.
func DefaultVM() VM {
	return VM{SubscriptionID: "00000000-1111-2222-3333-444444444444", ResourceGroup: "rg-avd-personal", Name: "avd-personal-7", Environment: "AzurePublicCloud"}
}

// ID is the VM's resource id.
func (v VM) ID() string {
	if v.ResourceID != "" {
		return v.ResourceID
	}
	return "/subscriptions/" + v.SubscriptionID + "/resourceGroups/" + v.ResourceGroup + "/providers/Microsoft.Compute/virtualMachines/" + v.Name
}

// Reply is a scripted answer: status, headers, body.
type Reply struct {
	Status int
	Header map[string]string
	Body   string
}

// Request is a recorded request.
type Request struct {
	Method, Path string
	Query        map[string]string
	Header       http.Header
}

// Server is the fake. Set the script fields before the agent runs.
type Server struct {
	*httptest.Server
	t  testing.TB
	VM VM
	// IMDSReplies, TokenReplies, DeallocateReplies are served in order before
	// the default answer (200 metadata, a token, 202 accepted).
	IMDSReplies       []Reply
	TokenReplies      []Reply
	DeallocateReplies []Reply
	// IMDSBody replaces the metadata document entirely (malformed JSON tests).
	IMDSBody string
	// Permissions served by the permissions API (default: deallocate allowed).
	Permissions []map[string][]string
	// WantAudience, when set, is the token resource the fake insists on.
	WantAudience string
	// PermissionsStatus, when set, is the permissions API's status (e.g. 403).
	PermissionsStatus int

	mu       sync.Mutex
	requests []Request
}

// New starts the fake on 127.0.0.1 and closes it at test end.
func New(t testing.TB, vm VM) *Server {
	s := &Server{t: t, VM: vm}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// Requests returns a copy of what the fake received.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Count counts requests whose method and path match (path compared
// case-insensitively, suffix match when suffix is true).
func (s *Server) Count(method, pathSuffix string) int {
	n := 0
	for _, r := range s.Requests() {
		if r.Method == method && strings.HasSuffix(strings.ToLower(r.Path), strings.ToLower(pathSuffix)) {
			n++
		}
	}
	return n
}

func (s *Server) pop(list *[]Reply) (Reply, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(*list) == 0 {
		return Reply{}, false
	}
	r := (*list)[0]
	*list = (*list)[1:]
	return r, true
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	q := map[string]string{}
	for k, v := range r.URL.Query() {
		q[k] = strings.Join(v, ",")
	}
	s.mu.Lock()
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Query: q, Header: r.Header.Clone()})
	s.mu.Unlock()

	// Every route first refuses an api-version the service refuses, with
	// the service's own answer (fakeapi).
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/metadata/instance":
		if fakeapi.IMDSVersionOK(w, r, fakeapi.IMDSInstance) {
			s.instance(w, r)
		}
	case r.Method == http.MethodGet && r.URL.Path == "/metadata/identity/oauth2/token":
		if fakeapi.IMDSVersionOK(w, r, fakeapi.IMDSToken) {
			s.token(w, r, q)
		}
	case r.Method == http.MethodPost && strings.EqualFold(r.URL.Path, s.VM.ID()+"/deallocate"):
		if fakeapi.ARMVersionOK(w, r, fakeapi.Compute) {
			s.deallocate(w, r)
		}
	case r.Method == http.MethodGet && strings.EqualFold(r.URL.Path, s.VM.ID()+"/providers/Microsoft.Authorization/permissions"):
		if fakeapi.ARMVersionOK(w, r, fakeapi.Authorization) {
			s.permissions(w, r)
		}
	default:
		s.t.Errorf("fakeazure: unexpected request %s %s", r.Method, r.URL)
		http.Error(w, `{"error":{"code":"NotFound","message":"unexpected request"}}`, http.StatusNotFound)
	}
}

func write(w http.ResponseWriter, rep Reply) {
	for k, v := range rep.Header {
		w.Header().Set(k, v)
	}
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(rep.Status)
	fmt.Fprint(w, rep.Body)
}

func (s *Server) instance(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Metadata") != "true" {
		s.t.Errorf("fakeazure: IMDS request without Metadata: true")
		write(w, Reply{Status: 400, Body: `{"error":"Bad request. Required metadata header not specified"}`})
		return
	}
	if rep, ok := s.pop(&s.IMDSReplies); ok {
		write(w, rep)
		return
	}
	if s.IMDSBody != "" {
		write(w, Reply{Status: 200, Body: s.IMDSBody})
		return
	}
	write(w, Reply{Status: 200, Body: s.InstanceJSON()})
}

// InstanceJSON renders the VM as IMDS would (the fields the agent reads).
func (s *Server) InstanceJSON() string {
	type tag struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	}
	var tags []tag
	var tagPairs []string
	for k, v := range s.VM.Tags {
		tags = append(tags, tag{k, v})
		tagPairs = append(tagPairs, k+":"+v)
	}
	env := s.VM.Environment
	if env == "" {
		env = "AzurePublicCloud"
	}
	doc := map[string]any{"compute": map[string]any{
		"azEnvironment": env, "location": "westeurope", "name": s.VM.Name, "osType": "Windows",
		"resourceGroupName": s.VM.ResourceGroup, "resourceId": s.VM.ID(), "subscriptionId": s.VM.SubscriptionID,
		"tags": strings.Join(tagPairs, ";"), "tagsList": tags, "vmId": "9f1c3c1e-0000-4000-8000-000000000007",
		"additionalCapabilities": map[string]string{"hibernationEnabled": fmt.Sprint(s.VM.HibernationEnabled)},
	}}
	b, _ := json.Marshal(doc)
	return string(b)
}

func (s *Server) token(w http.ResponseWriter, r *http.Request, q map[string]string) {
	if r.Header.Get("Metadata") != "true" {
		s.t.Errorf("fakeazure: token request without Metadata: true")
	}
	if rep, ok := s.pop(&s.TokenReplies); ok {
		write(w, rep)
		return
	}
	if s.WantAudience != "" && q["resource"] != s.WantAudience {
		s.t.Errorf("fakeazure: token requested for resource %q, want %q", q["resource"], s.WantAudience)
	}
	write(w, Reply{Status: 200, Body: fmt.Sprintf(`{"access_token":"fake-token-for-%s","client_id":"c0ffee00-0000-0000-0000-000000000000","expires_in":"3599","expires_on":"4102444800","ext_expires_in":"3599","not_before":"1700000000","resource":%q,"token_type":"Bearer"}`,
		strings.NewReplacer("/", "_", ":", "_").Replace(q["resource"]), q["resource"])})
}

func (s *Server) deallocate(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer fake-token-for-") {
		s.t.Errorf("fakeazure: deallocate without the fake bearer token (Authorization %q)", r.Header.Get("Authorization"))
	}
	if rep, ok := s.pop(&s.DeallocateReplies); ok {
		write(w, rep)
		return
	}
	write(w, Reply{Status: 202, Header: map[string]string{"Location": s.URL + s.VM.ID() + "/operations/1", "Retry-After": "10"}})
}

func (s *Server) permissions(w http.ResponseWriter, r *http.Request) {
	if s.PermissionsStatus != 0 {
		write(w, Reply{Status: s.PermissionsStatus, Body: `{"error":{"code":"AuthorizationFailed","message":"no access"}}`})
		return
	}
	perms := s.Permissions
	if perms == nil {
		perms = []map[string][]string{{"actions": {"Microsoft.Compute/virtualMachines/deallocate/action"}, "notActions": {}}}
	}
	b, _ := json.Marshal(map[string]any{"value": perms})
	write(w, Reply{Status: 200, Body: string(b)})
}

// TokenHeader returns the Authorization header that reached deallocate.
func (s *Server) TokenHeader() string {
	for _, r := range s.Requests() {
		if strings.HasSuffix(r.Path, "/deallocate") {
			return r.Header.Get("Authorization")
		}
	}
	return ""
}
