// Package fakedeploy is a loopback fake of the Resource Manager calls
// `avdgen sweep deploy --apply` makes: resource groups (GET, PUT) and
// template deployments (GET, PUT) at resource group, subscription and
// management group scope. Like ARM it refuses a missing api-version, a
// template whose $schema does not fit the scope, a deployment at
// subscription or management group scope without a location, a deployment
// into a missing resource group, and parameters the template does not
// declare or required ones left out; a deployment is Accepted, then Running,
// then Succeeded over the following reads (eventual, as the real one). It
// counts writes and fails the test on any request it does not know. Test
// support only.
package fakedeploy

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/avdgen/avdgen/internal/fakeapi"
)

// Deployment is one deployment the fake holds.
type Deployment struct {
	Scope, Name string
	Location    string
	Tags        map[string]string
	Template    map[string]any
	Parameters  map[string]any
	state       int // reads since the PUT
	Puts        int
}

// Server is the fake.
type Server struct {
	*httptest.Server
	t           testing.TB
	mu          sync.Mutex
	groups      map[string]string // lower path -> location
	deployments map[string]*Deployment
	writes      int
	// FailNext makes the next deployment end Failed with this message.
	FailNext string
	// PrincipalID is what a deployment's principalId output evaluates to.
	PrincipalID string
}

// New starts the fake.
func New(t testing.TB) *Server {
	s := &Server{t: t, groups: map[string]string{}, deployments: map[string]*Deployment{}, PrincipalID: "11111111-2222-4333-8444-555555555555"}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// Writes counts PUTs.
func (s *Server) Writes() int { s.mu.Lock(); defer s.mu.Unlock(); return s.writes }

// Deployments returns the deployments by lowercase path.
func (s *Server) Deployments() map[string]*Deployment {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]*Deployment{}
	for k, v := range s.deployments {
		out[k] = v
	}
	return out
}

var (
	rgPath  = regexp.MustCompile(`(?i)^/subscriptions/[0-9a-f-]{36}/resourcegroups/[^/]+$`)
	depPath = regexp.MustCompile(`(?i)^(/subscriptions/[0-9a-f-]{36}(/resourcegroups/[^/]+)?|/providers/Microsoft\.Management/managementGroups/[^/]+)/providers/Microsoft\.Resources/deployments/([^/]+)$`)
)

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
		s.t.Errorf("fakedeploy: %s %s without a bearer token", r.Method, r.URL.Path)
	}
	if r.URL.Query().Get("api-version") == "" {
		fakeapi.ARMError(w, 400, "MissingApiVersionParameter", "The api-version query parameter (?api-version=) is required for all requests.")
		return
	}
	path := r.URL.Path
	switch {
	case rgPath.MatchString(path) && r.Method == http.MethodGet:
		s.mu.Lock()
		loc, ok := s.groups[strings.ToLower(path)]
		s.mu.Unlock()
		if !ok {
			fakeapi.ARMError(w, 404, "ResourceGroupNotFound", "Resource group '"+path[strings.LastIndex(path, "/")+1:]+"' could not be found.")
			return
		}
		fakeapi.WriteJSON(w, 200, map[string]any{"id": path, "location": loc, "properties": map[string]string{"provisioningState": "Succeeded"}})
	case rgPath.MatchString(path) && r.Method == http.MethodPut:
		var body struct{ Location string }
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Location == "" {
			fakeapi.ARMError(w, 400, "LocationRequired", "The location property is required for this definition.")
			return
		}
		s.mu.Lock()
		s.groups[strings.ToLower(path)] = body.Location
		s.writes++
		s.mu.Unlock()
		fakeapi.WriteJSON(w, 201, map[string]any{"id": path, "location": body.Location, "properties": map[string]string{"provisioningState": "Succeeded"}})
	case depPath.MatchString(path) && r.Method == http.MethodGet:
		s.getDeployment(w, path)
	case depPath.MatchString(path) && r.Method == http.MethodPut:
		s.putDeployment(w, r, path)
	default:
		s.t.Errorf("fakedeploy: unexpected request %s %s", r.Method, r.URL)
		fakeapi.ARMError(w, 404, "NotFound", "unexpected request")
	}
}

var schemaForScope = map[string]string{
	"resourceGroup":   "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
	"subscription":    "https://schema.management.azure.com/schemas/2018-05-01/subscriptionDeploymentTemplate.json#",
	"managementGroup": "https://schema.management.azure.com/schemas/2019-08-01/managementGroupDeploymentTemplate.json#",
}

func (s *Server) putDeployment(w http.ResponseWriter, r *http.Request, path string) {
	m := depPath.FindStringSubmatch(path)
	scope := "managementGroup"
	switch {
	case m[2] != "":
		scope = "resourceGroup"
	case strings.HasPrefix(strings.ToLower(path), "/subscriptions/"):
		scope = "subscription"
	}
	var body struct {
		Location   string            `json:"location"`
		Tags       map[string]string `json:"tags"`
		Properties struct {
			Mode       string         `json:"mode"`
			Template   map[string]any `json:"template"`
			Parameters map[string]any `json:"parameters"`
		} `json:"properties"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		fakeapi.ARMError(w, 400, "InvalidRequestContent", err.Error())
		return
	}
	p := body.Properties
	switch {
	case p.Mode != "Incremental" && p.Mode != "Complete":
		fakeapi.ARMError(w, 400, "InvalidDeploymentMode", fmt.Sprintf("The deployment mode '%s' is not supported.", p.Mode))
		return
	case p.Template == nil:
		fakeapi.ARMError(w, 400, "InvalidTemplate", "The request content must contain 'template' or 'templateLink'.")
		return
	case p.Template["$schema"] != schemaForScope[scope]:
		fakeapi.ARMError(w, 400, "InvalidSchema", fmt.Sprintf("The template schema '%v' is not supported for a %s deployment.", p.Template["$schema"], scope))
		return
	case scope != "resourceGroup" && body.Location == "":
		fakeapi.ARMError(w, 400, "InvalidDeploymentLocation", "The 'location' property must be specified for a deployment at "+scope+" scope.")
		return
	}
	if scope == "resourceGroup" {
		s.mu.Lock()
		_, ok := s.groups[strings.ToLower(m[1])]
		s.mu.Unlock()
		if !ok {
			fakeapi.ARMError(w, 404, "ResourceGroupNotFound", "Resource group could not be found.")
			return
		}
	}
	declared, _ := p.Template["parameters"].(map[string]any)
	for name := range p.Parameters {
		if _, ok := declared[name]; !ok {
			fakeapi.ARMError(w, 400, "InvalidTemplate", fmt.Sprintf("Deployment template validation failed: 'The template parameters '%s' in the parameters file are not valid; they are not present in the original template and can therefore not be provided at deployment time.'", name))
			return
		}
	}
	for name, decl := range declared {
		d, _ := decl.(map[string]any)
		if _, has := d["defaultValue"]; has {
			continue
		}
		v, _ := p.Parameters[name].(map[string]any)
		if _, ok := v["value"]; !ok {
			fakeapi.ARMError(w, 400, "InvalidTemplate", fmt.Sprintf("Deployment template validation failed: 'The value for the template parameter '%s' is not provided.'", name))
			return
		}
	}
	s.mu.Lock()
	key := strings.ToLower(path)
	d := s.deployments[key]
	if d == nil {
		d = &Deployment{Scope: m[1], Name: m[3]}
		s.deployments[key] = d
	}
	d.Location, d.Tags, d.Template, d.Parameters, d.state = body.Location, body.Tags, p.Template, p.Parameters, 0
	d.Puts++
	s.writes++
	resp := s.deploymentJSON(path, d, "Accepted")
	s.mu.Unlock()
	fakeapi.WriteJSON(w, 201, resp)
}

func (s *Server) getDeployment(w http.ResponseWriter, path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.deployments[strings.ToLower(path)]
	if d == nil {
		fakeapi.ARMError(w, 404, "DeploymentNotFound", "Deployment '"+path[strings.LastIndex(path, "/")+1:]+"' could not be found.")
		return
	}
	d.state++
	state := "Running"
	if d.state >= 2 {
		state = "Succeeded"
		if s.FailNext != "" {
			state = "Failed"
		}
	}
	fakeapi.WriteJSON(w, 200, s.deploymentJSON(path, d, state))
}

func (s *Server) deploymentJSON(path string, d *Deployment, state string) map[string]any {
	props := map[string]any{"provisioningState": state, "mode": "Incremental", "parameters": d.Parameters}
	if state == "Succeeded" {
		outs := map[string]any{}
		declared, _ := d.Template["outputs"].(map[string]any)
		for name := range declared {
			switch name {
			case "principalId":
				outs[name] = map[string]any{"type": "String", "value": s.PrincipalID}
			default:
				outs[name] = map[string]any{"type": "String", "value": "00000000-0000-4000-8000-0000000000c1"}
			}
		}
		props["outputs"] = outs
	}
	if state == "Failed" {
		props["error"] = map[string]string{"code": "DeploymentFailed", "message": s.FailNext}
	}
	return map[string]any{"id": path, "name": d.Name, "location": d.Location, "tags": d.Tags, "properties": props}
}
