package fakegraph

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// recorder keeps the fake's test failures instead of failing this test:
// here a refusal is what is being tested.
type recorder struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recorder) Errorf(format string, a ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, a...))
}

func send(t *testing.T, f *Fake, method, path, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, f.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer x")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

const (
	appsPath = "/beta/deviceAppManagement/mobileApps"
	app      = `{"@odata.type":"#microsoft.graph.win32LobApp","displayName":"a","publisher":"p","fileName":"a.intunewin","setupFilePath":"i.ps1","installCommandLine":"i","uninstallCommandLine":"u","allowedArchitectures":"x64","installExperience":{"runAsAccount":"system"},"rules":[{"@odata.type":"#microsoft.graph.win32LobAppRegistryRule","ruleType":"detection","keyPath":"HKEY_LOCAL_MACHINE\\SOFTWARE\\x","valueName":"v","operationType":"string","operator":"equal","comparisonValue":"1"}]}`
)

// Issue 15 finding 7: the fake answers like Graph, not kinder.
func TestFakeIsAsStrictAsGraph(t *testing.T) {
	rec := &recorder{TB: t}
	f := New(rec, Options{})
	unknown := "00000000-0000-4000-8000-999999999999"
	for _, c := range []struct{ method, path, body string }{
		{"PATCH", appsPath + "/" + unknown, `{"@odata.type":"#microsoft.graph.win32LobApp","displayName":"x"}`},
		{"PUT", "/beta/deviceManagement/configurationPolicies/" + unknown, `{"name":"n","platforms":"windows10","technologies":"mdm","settings":[]}`},
		{"PATCH", "/beta/deviceManagement/deviceHealthScripts/" + unknown, `{"@odata.type":"#microsoft.graph.deviceHealthScript","displayName":"x"}`},
		{"POST", appsPath + "/" + unknown + "/assign", `{"mobileAppAssignments":[]}`},
		{"POST", "/beta/deviceManagement/configurationPolicies/" + unknown + "/assign", `{"assignments":[]}`},
		{"POST", "/beta/deviceManagement/deviceHealthScripts/" + unknown + "/assign", `{"deviceHealthScriptAssignments":[]}`},
		{"POST", appsPath + "/" + unknown + "/microsoft.graph.win32LobApp/contentVersions", `{}`},
	} {
		if st, body := send(t, f, c.method, c.path, c.body); st != http.StatusNotFound {
			t.Errorf("%s %s: HTTP %d %s, want 404", c.method, c.path, st, body)
		}
	}
	if len(rec.errs) != 0 {
		t.Errorf("a 404 is an answer, not a test failure: %v", rec.errs)
	}

	refused := func(what, method, path, body, want string) {
		t.Helper()
		rec.errs = nil
		st, answer := send(t, f, method, path, body)
		if st != http.StatusBadRequest || !strings.Contains(answer, want) || len(rec.errs) == 0 {
			t.Errorf("%s: HTTP %d %s (fake errors %v), want 400 naming %q", what, st, answer, rec.errs, want)
		}
	}
	noRules := strings.Replace(app, `"rules":[`, `"returnCodes":[],"x":[`, 1)
	noRules = noRules[:strings.Index(noRules, `,"x":[`)] + "}"
	refused("create without rules", "POST", appsPath, noRules, "rules is required")
	refused("create without publisher", "POST", appsPath, strings.Replace(app, `"publisher":"p",`, "", 1), "publisher is required")
	refused("create with a read-only member", "POST", appsPath, strings.Replace(app, `"displayName":"a",`, `"displayName":"a","uploadState":1,`, 1), "uploadState is read-only")
	refused("policy without settings", "POST", "/beta/deviceManagement/configurationPolicies", `{"name":"n","platforms":"windows10","technologies":"mdm"}`, "settings is required")

	rec.errs = nil
	st, body := send(t, f, "POST", appsPath, app)
	if st != http.StatusCreated || len(rec.errs) != 0 {
		t.Fatalf("valid create: HTTP %d %s %v", st, body, rec.errs)
	}
	id := f.App("a").ID
	refused("patch of a read-only member", "PATCH", appsPath+"/"+id, `{"@odata.type":"#microsoft.graph.win32LobApp","createdDateTime":"2026-01-01T00:00:00Z"}`, "createdDateTime is read-only")
	refused("assign body in another case", "POST", appsPath+"/"+id+"/assign", `{"MobileAppAssignments":[]}`, "MobileAppAssignments")
	refused("assign body with an extra member", "POST", appsPath+"/"+id+"/assign", `{"mobileAppAssignments":[],"x":1}`, "unexpected member")
	refused("assign body not an array", "POST", appsPath+"/"+id+"/assign", `{"mobileAppAssignments":{}}`, "cannot unmarshal")
	refused("assign body not JSON", "POST", appsPath+"/"+id+"/assign", `{`, "unexpected end")
}

// Issue 15 finding 4: a GET of a Win32 app carries what Intune fills in,
// as recorded from a real tenant.
func TestGetCarriesServiceFilledMembers(t *testing.T) {
	f := New(t, Options{})
	if st, body := send(t, f, "POST", appsPath, app); st != http.StatusCreated {
		t.Fatalf("create: %d %s", st, body)
	}
	_, body := send(t, f, "GET", appsPath+"/"+f.App("a").ID, "")
	for _, want := range []string{`"maxRunTimeInMinutes":60`, `"isFeatured":false`, `"requirementRules":[]`, `"minimumSupportedOperatingSystem":{`, `"roleScopeTagIds":[]`, `"isAssigned":false`} {
		if !strings.Contains(body, want) {
			t.Errorf("GET lacks %s: %s", want, body)
		}
	}
}
