package agentcmd

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/managedidentity"

	"github.com/avdgen/avdgen/agent/fakeazure"
	"github.com/avdgen/avdgen/agent/host"
	"github.com/avdgen/avdgen/agent/identity"
	"github.com/avdgen/avdgen/agent/testnet"
)

// fakeProbe is the Windows machine as the test wants it.
type fakeProbe struct {
	sessions     []host.Session
	shuttingDown bool
	recent1074   bool
}

func (p *fakeProbe) Sessions() ([]host.Session, error) { return p.sessions, nil }
func (p *fakeProbe) ShuttingDown() bool                { return p.shuttingDown }
func (p *fakeProbe) LastShutdownInitiated(time.Duration) (time.Time, bool, error) {
	return time.Time{}, p.recent1074, nil
}

type fakeReadiness struct {
	values map[string]uint32
	task   bool
}

func (r fakeReadiness) PolicyValues() (map[string]uint32, error) { return r.values, nil }
func (r fakeReadiness) TaskRegistered(string) (bool, error)      { return r.task, nil }

// router sends every request to the fake, remembering the host it was
// meant for, so a test can check the cloud's real ARM host was chosen
// without anything leaving loopback.
type router struct {
	mu    sync.Mutex
	to    *url.URL
	hosts []string
	base  http.RoundTripper
}

func (r *router) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.hosts = append(r.hosts, req.URL.Host)
	r.mu.Unlock()
	req = req.Clone(req.Context())
	req.URL.Scheme, req.URL.Host, req.Host = r.to.Scheme, r.to.Host, r.to.Host
	return r.base.RoundTrip(req)
}

type harness struct {
	fake   *fakeazure.Server
	env    *Env
	out    bytes.Buffer
	errOut bytes.Buffer
	probe  *fakeProbe
	logDir string
}

func newHarness(t *testing.T, vm fakeazure.VM) *harness {
	t.Helper()
	testnet.GuardDefault(t)
	h := &harness{fake: fakeazure.New(t, vm), probe: &fakeProbe{}, logDir: t.TempDir()}
	h.env = &Env{
		Out: &h.out, ErrOut: &h.errOut,
		Getenv:    func(string) string { return "" },
		Now:       func() time.Time { return time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC) },
		Sleep:     func(context.Context, time.Duration) error { return nil },
		Transport: testnet.Guard(t, nil),
		Probe:     h.probe,
		Readiness: fakeReadiness{values: map[string]uint32{"MaxDisconnectionTime": 900000, "MaxIdleTime": 7200000}, task: true},
		Identity:  identity.Options{Source: func() (managedidentity.Source, error) { return managedidentity.DefaultToIMDS, nil }},
		Retry:     policy.RetryOptions{MaxRetries: 3, RetryDelay: 10 * time.Millisecond, MaxRetryDelay: 3 * time.Second},
	}
	return h
}

func (h *harness) run(args ...string) int {
	base := []string{"--imds-endpoint", h.fake.URL, "--arm-endpoint", h.fake.URL, "--log-file", filepath.Join(h.logDir, "agent.log")}
	if len(args) > 0 && (args[0] == "logoff" || args[0] == "check") {
		args = append(append([]string{args[0]}, base...), args[1:]...)
	}
	return Main(args, h.env)
}

func TestLogoffHappyPathEachCloud(t *testing.T) {
	for _, c := range []struct{ env, host, audience string }{
		{"AzurePublicCloud", "management.azure.com", "https://management.azure.com"},
		{"AzureUSGovernmentCloud", "management.usgovcloudapi.net", "https://management.usgovcloudapi.net"},
		{"azurechinacloud", "management.chinacloudapi.cn", "https://management.chinacloudapi.cn"},
	} {
		t.Run(c.env, func(t *testing.T) {
			vm := fakeazure.DefaultVM()
			vm.Environment = c.env
			h := newHarness(t, vm)
			h.fake.WantAudience = c.audience
			to, _ := url.Parse(h.fake.URL)
			r := &router{to: to, base: testnet.Guard(t, nil)}
			h.env.Transport = r
			// As on Windows, without --arm-endpoint: the cloud IMDS names picks
			// the ARM host; the router keeps the request on loopback.
			h.env.IsWindows = true
			code := Main([]string{"logoff", "--imds-endpoint", h.fake.URL, "--grace", "0s", "--log-file", filepath.Join(h.logDir, "a.log")}, h.env)
			if code != ExitOK {
				t.Fatalf("exit %d; stdout %q stderr %q", code, h.out.String(), h.errOut.String())
			}
			if got := h.fake.Count("POST", vm.ID()+"/deallocate"); got != 1 {
				t.Fatalf("deallocate POSTs = %d, want 1", got)
			}
			var sawARM bool
			for _, hst := range r.hosts {
				sawARM = sawARM || hst == c.host
			}
			if !sawARM {
				t.Errorf("ARM host %s never requested; hosts %v", c.host, r.hosts)
			}
			if !strings.HasPrefix(h.out.String(), "deallocated:") {
				t.Errorf("stdout %q", h.out.String())
			}
		})
	}
}

func TestLogoffCloudEndpointFromIMDS(t *testing.T) {
	// On Windows (no override needed) the ARM endpoint comes from azEnvironment.
	vm := fakeazure.DefaultVM()
	vm.Environment = "AzureUSGovernmentCloud"
	h := newHarness(t, vm)
	h.env.IsWindows = true
	to, _ := url.Parse(h.fake.URL)
	r := &router{to: to, base: testnet.Guard(t, nil)}
	h.env.Transport = r
	code := Main([]string{"logoff", "--imds-endpoint", h.fake.URL, "--grace", "0s", "--log-file", filepath.Join(h.logDir, "a.log")}, h.env)
	if code != ExitOK {
		t.Fatalf("exit %d: %s %s", code, h.out.String(), h.errOut.String())
	}
	var hosts []string
	for _, hst := range r.hosts {
		if !strings.HasPrefix(hst, "127.0.0.1") {
			hosts = append(hosts, hst)
		}
	}
	if len(hosts) != 1 || hosts[0] != "management.usgovcloudapi.net" {
		t.Errorf("non-IMDS hosts requested: %v, want exactly management.usgovcloudapi.net", hosts)
	}
}

func TestLogoffUserAssignedIdentity(t *testing.T) {
	h := newHarness(t, fakeazure.DefaultVM())
	if code := h.run("logoff", "--grace", "0s", "--identity-client-id", "11111111-2222-3333-4444-555555555555"); code != ExitOK {
		t.Fatalf("exit %d: %s", code, h.errOut.String())
	}
	var found bool
	for _, r := range h.fake.Requests() {
		if strings.HasSuffix(r.Path, "/oauth2/token") {
			found = true
			if r.Query["client_id"] != "11111111-2222-3333-4444-555555555555" {
				t.Errorf("token query %v lacks client_id", r.Query)
			}
		}
	}
	if !found {
		t.Fatal("no token request")
	}

	h2 := newHarness(t, fakeazure.DefaultVM())
	res := "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/avd"
	if code := h2.run("logoff", "--grace", "0s", "--identity-resource-id", res); code != ExitOK {
		t.Fatalf("exit %d: %s", code, h2.errOut.String())
	}
	for _, r := range h2.fake.Requests() {
		if strings.HasSuffix(r.Path, "/oauth2/token") && r.Query["msi_res_id"] != res && r.Query["mi_res_id"] != res {
			t.Errorf("token query %v lacks the resource id", r.Query)
		}
	}
}

func TestLogoffIMDS500ThenSuccess(t *testing.T) {
	h := newHarness(t, fakeazure.DefaultVM())
	h.fake.IMDSReplies = []fakeazure.Reply{{Status: 500, Body: "busy"}, {Status: 503}}
	if code := h.run("logoff", "--grace", "0s"); code != ExitOK {
		t.Fatalf("exit %d: %s", code, h.errOut.String())
	}
	if n := h.fake.Count("GET", "/metadata/instance"); n != 3 {
		t.Errorf("IMDS requests = %d, want 3", n)
	}
	if n := h.fake.Count("POST", "/deallocate"); n != 1 {
		t.Errorf("deallocate POSTs = %d, want 1", n)
	}
}

func TestLogoffARM429RetryAfterThen202(t *testing.T) {
	h := newHarness(t, fakeazure.DefaultVM())
	h.fake.DeallocateReplies = []fakeazure.Reply{{Status: 429, Header: map[string]string{"Retry-After": "1"}, Body: `{"error":{"code":"TooManyRequests","message":"slow down"}}`}}
	start := time.Now()
	if code := h.run("logoff", "--grace", "0s"); code != ExitOK {
		t.Fatalf("exit %d: %s", code, h.errOut.String())
	}
	if n := h.fake.Count("POST", "/deallocate"); n != 2 {
		t.Fatalf("deallocate POSTs = %d, want 2 (429 then 202)", n)
	}
	// Retry-After: 1 must be honoured, not the 10 ms retry delay configured.
	if waited := time.Since(start); waited < time.Second {
		t.Errorf("retried after %s, before Retry-After's 1 s", waited)
	}
}

func TestLogoffHibernateFallsBackOn409(t *testing.T) {
	vm := fakeazure.DefaultVM()
	vm.HibernationEnabled = true
	h := newHarness(t, vm)
	h.fake.DeallocateReplies = []fakeazure.Reply{{Status: 409, Body: `{"error":{"code":"OperationNotAllowed","message":"Hibernation is not supported"}}`}}
	if code := h.run("logoff", "--grace", "0s", "--action", "hibernate"); code != ExitOK {
		t.Fatalf("exit %d: %s", code, h.errOut.String())
	}
	var queries []string
	for _, r := range h.fake.Requests() {
		if r.Method == "POST" {
			queries = append(queries, r.Query["hibernate"])
		}
	}
	if len(queries) != 2 || queries[0] != "true" || queries[1] != "" {
		t.Errorf("hibernate params of the POSTs = %q, want [true, <none>]", queries)
	}
	if !strings.Contains(h.errOut.String(), "1300") {
		t.Errorf("no fallback warning (event 1300) in %q", h.errOut.String())
	}
}

func TestLogoffHibernateOnlyWhenEnabled(t *testing.T) {
	h := newHarness(t, fakeazure.DefaultVM()) // hibernation not enabled
	if code := h.run("logoff", "--grace", "0s", "--action", "hibernate"); code != ExitOK {
		t.Fatalf("exit %d", code)
	}
	for _, r := range h.fake.Requests() {
		if r.Method == "POST" && r.Query["hibernate"] != "" {
			t.Errorf("hibernate=true sent although IMDS says hibernation is disabled")
		}
	}
}

func TestLogoff403SaysWhatIsMissing(t *testing.T) {
	h := newHarness(t, fakeazure.DefaultVM())
	h.fake.DeallocateReplies = []fakeazure.Reply{{Status: 403, Body: `{"error":{"code":"AuthorizationFailed","message":"The client does not have authorization to perform action"}}`}}
	code := h.run("logoff", "--grace", "0s")
	if code != ExitNotAuthorized {
		t.Fatalf("exit %d, want %d", code, ExitNotAuthorized)
	}
	for _, want := range []string{"Microsoft.Compute/virtualMachines/deallocate/action", "avdgen rbac apply", "az role assignment create", fakeazure.DefaultVM().ID()} {
		if !strings.Contains(h.out.String(), want) {
			t.Errorf("403 output lacks %q:\n%s", want, h.out.String())
		}
	}
	if n := h.fake.Count("POST", "/deallocate"); n != 1 {
		t.Errorf("403 retried: %d POSTs", n)
	}
}

func TestLogoffBadMetadataNeverDeallocates(t *testing.T) {
	vm := fakeazure.DefaultVM()
	for name, body := range map[string]string{
		"malformed":  `{"compute": {`,
		"incomplete": `{"compute":{"name":"avd-personal-7","azEnvironment":"AzurePublicCloud"}}`,
		"mismatched resourceId": `{"compute":{"azEnvironment":"AzurePublicCloud","name":"avd-personal-7","resourceGroupName":"rg-avd-personal","subscriptionId":"` + vm.SubscriptionID +
			`","resourceId":"/subscriptions/` + vm.SubscriptionID + `/resourceGroups/rg-other/providers/Microsoft.Compute/virtualMachines/someone-else"}}`,
		"retired cloud": strings.Replace(fakeazure.New(t, vm).InstanceJSON(), "AzurePublicCloud", "AzureGermanCloud", 1),
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, vm)
			h.fake.IMDSBody = body
			if code := h.run("logoff", "--grace", "0s"); code != ExitFailure {
				t.Errorf("exit %d, want %d", code, ExitFailure)
			}
			if n := h.fake.Count("POST", "/deallocate"); n != 0 {
				t.Errorf("deallocate sent %d times on bad metadata", n)
			}
			if n := h.fake.Count("GET", "/oauth2/token"); n != 0 {
				t.Errorf("token requested on bad metadata")
			}
		})
	}
}

func TestLogoffSkipsWithoutTouchingAzure(t *testing.T) {
	cases := map[string]func(*fakeProbe){
		"user back": func(p *fakeProbe) { p.sessions = []host.Session{{ID: 2, User: `CONTOSO\ann`, State: host.StateActive}} },
		"other user disc": func(p *fakeProbe) {
			p.sessions = []host.Session{{ID: 3, User: `CONTOSO\bob`, State: host.StateDisconnected}}
		},
		"shutting down": func(p *fakeProbe) { p.shuttingDown = true },
		"restart 1074":  func(p *fakeProbe) { p.recent1074 = true },
	}
	for name, set := range cases {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, fakeazure.DefaultVM())
			set(h.probe)
			if code := h.run("logoff", "--grace", "0s"); code != ExitOK {
				t.Fatalf("exit %d, want 0 (a skip is not a failure)", code)
			}
			if !strings.HasPrefix(h.out.String(), "skipped:") {
				t.Errorf("stdout %q", h.out.String())
			}
			if n := len(h.fake.Requests()); n != 0 {
				t.Errorf("%d requests sent for a skip", n)
			}
		})
	}
}

func TestLogoffExclusionTag(t *testing.T) {
	vm := fakeazure.DefaultVM()
	vm.Tags = map[string]string{"avdgen-exclude": "true"}
	h := newHarness(t, vm)
	if code := h.run("logoff", "--grace", "0s"); code != ExitOK {
		t.Fatal(code)
	}
	if h.fake.Count("POST", "/deallocate") != 0 || !strings.Contains(h.out.String(), "exclusion tag") {
		t.Errorf("excluded VM: %q", h.out.String())
	}
	// A custom tag is honoured too, and the default one then no longer is.
	h2 := newHarness(t, vm)
	if code := h2.run("logoff", "--grace", "0s", "--exclude-tag", "keep=yes"); code != ExitOK {
		t.Fatal(code)
	}
	if h2.fake.Count("POST", "/deallocate") != 1 {
		t.Errorf("custom exclude tag: VM not deallocated")
	}
}

func TestLogoffDryRunPostsNothing(t *testing.T) {
	h := newHarness(t, fakeazure.DefaultVM())
	if code := h.run("logoff", "--grace", "0s", "--dry-run"); code != ExitOK {
		t.Fatal(code)
	}
	if h.fake.Count("POST", "/deallocate") != 0 || !strings.HasPrefix(h.out.String(), "dry-run:") {
		t.Errorf("dry run: %q, POSTs %d", h.out.String(), h.fake.Count("POST", "/deallocate"))
	}
	b, err := os.ReadFile(filepath.Join(h.logDir, "agent.log"))
	if err != nil || !strings.Contains(string(b), " 1002 ") {
		t.Errorf("log file lacks the dry-run event 1002: %q %v", b, err)
	}
}

func TestLogoffGraceIsWaited(t *testing.T) {
	h := newHarness(t, fakeazure.DefaultVM())
	var waited []time.Duration
	h.env.Sleep = func(_ context.Context, d time.Duration) error {
		waited = append(waited, d)
		// The user signs back in during the grace period.
		h.probe.sessions = []host.Session{{ID: 2, User: `CONTOSO\ann`, State: host.StateActive}}
		return nil
	}
	if code := h.run("logoff", "--grace", "90s"); code != ExitOK {
		t.Fatal(code)
	}
	if len(waited) == 0 || waited[0] != 90*time.Second {
		t.Errorf("waited %v, want 90s first", waited)
	}
	if h.fake.Count("POST", "/deallocate") != 0 {
		t.Error("deallocated although the user came back during the grace period")
	}
}

func TestRefusesNonIMDSIdentitySource(t *testing.T) {
	h := newHarness(t, fakeazure.DefaultVM())
	h.env.Identity.Source = func() (managedidentity.Source, error) { return managedidentity.AzureArc, nil }
	if code := h.run("logoff", "--grace", "0s"); code != ExitFailure {
		t.Fatalf("exit %d", code)
	}
	if h.fake.Count("POST", "/deallocate") != 0 || !strings.Contains(h.out.String(), "Arc") {
		t.Errorf("out %q", h.out.String())
	}
	h2 := newHarness(t, fakeazure.DefaultVM())
	h2.env.Getenv = func(k string) string {
		if k == "IDENTITY_ENDPOINT" {
			return "http://localhost:40342/metadata/identity/oauth2/token"
		}
		return ""
	}
	if code := h2.run("logoff", "--grace", "0s"); code != ExitFailure || h2.fake.Count("POST", "/deallocate") != 0 {
		t.Errorf("IDENTITY_ENDPOINT set: exit %d", code)
	}
}

func TestBadInputExits2WithOneLineAndNoRequest(t *testing.T) {
	cases := map[string][]string{
		"unknown action":  {"logoff", "--action", "shutdown"},
		"negative grace":  {"logoff", "--grace", "-5s"},
		"bad grace":       {"logoff", "--grace", "soon"},
		"unknown flag":    {"logoff", "--force"},
		"bad tag":         {"logoff", "--exclude-tag", "=x"},
		"both identities": {"logoff", "--identity-client-id", "a", "--identity-resource-id", "b"},
		"unknown command": {"shutdown"},
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, fakeazure.DefaultVM())
			if code := h.run(args...); code != ExitUsage {
				t.Errorf("exit %d, want 2", code)
			}
			if lines := strings.Count(strings.TrimSpace(h.errOut.String()), "\n"); lines != 0 || h.errOut.Len() == 0 {
				t.Errorf("stderr is not one line: %q", h.errOut.String())
			}
			if n := len(h.fake.Requests()); n != 0 {
				t.Errorf("%d requests sent on bad input", n)
			}
		})
	}
	overrides := map[string][]string{
		"public imds override":   {"logoff", "--imds-endpoint", "http://169.254.169.254", "--arm-endpoint", "http://127.0.0.1:1"},
		"remote arm over http":   {"logoff", "--imds-endpoint", "http://127.0.0.1:1", "--arm-endpoint", "http://management.azure.com"},
		"imds https":             {"logoff", "--imds-endpoint", "https://127.0.0.1:1", "--arm-endpoint", "http://127.0.0.1:1"},
		"linux without override": {"logoff", "--imds-endpoint", "http://127.0.0.1:1"},
		"arm with path":          {"check", "--imds-endpoint", "http://127.0.0.1:1", "--arm-endpoint", "http://127.0.0.1:1/x"},
	}
	for name, args := range overrides {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, fakeazure.DefaultVM())
			if code := Main(args, h.env); code != ExitUsage {
				t.Errorf("exit %d, want 2; stderr %q", code, h.errOut.String())
			}
			if strings.Count(strings.TrimSpace(h.errOut.String()), "\n") != 0 {
				t.Errorf("stderr is not one line: %q", h.errOut.String())
			}
		})
	}
}

func TestCheckReport(t *testing.T) {
	h := newHarness(t, fakeazure.DefaultVM())
	if code := h.run("check"); code != ExitOK {
		t.Fatalf("exit %d:\n%s", code, h.out.String())
	}
	for _, want := range []string{"OK    imds", "OK    token", "OK    permission", "OK    policy", "MaxDisconnectionTime=900000", "OK    task"} {
		if !strings.Contains(h.out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, h.out.String())
		}
	}
	if h.fake.Count("POST", "/deallocate") != 0 {
		t.Error("check deallocated the VM")
	}
}

func TestCheckFindsMissingPermissionAndPolicy(t *testing.T) {
	h := newHarness(t, fakeazure.DefaultVM())
	h.fake.Permissions = []map[string][]string{{"actions": {"*"}, "notActions": {"Microsoft.Compute/virtualMachines/deallocate/action"}}}
	h.env.Readiness = fakeReadiness{values: map[string]uint32{}, task: false}
	if code := h.run("check"); code != ExitFailure {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"FAIL  permission", "AuthorizationFailed", "FAIL  policy", "FAIL  task"} {
		if !strings.Contains(h.out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, h.out.String())
		}
	}
}

func TestVersion(t *testing.T) {
	h := newHarness(t, fakeazure.DefaultVM())
	if code := Main([]string{"version"}, h.env); code != 0 || !strings.HasPrefix(h.out.String(), "avd-agent ") {
		t.Errorf("version: %d %q", code, h.out.String())
	}
}

func TestCheckPermissionsUnreadableIsAWarning(t *testing.T) {
	h := newHarness(t, fakeazure.DefaultVM())
	h.fake.PermissionsStatus = 403
	if code := h.run("check"); code != ExitOK {
		t.Fatalf("exit %d:\n%s", code, h.out.String())
	}
	if !strings.Contains(h.out.String(), "WARN  permission") {
		t.Errorf("report:\n%s", h.out.String())
	}
}

func TestCheckWithoutIMDS(t *testing.T) {
	h := newHarness(t, fakeazure.DefaultVM())
	h.fake.IMDSReplies = []fakeazure.Reply{{Status: 404, Body: "no"}}
	if code := h.run("check"); code != ExitFailure {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"FAIL  imds", "FAIL  token", "FAIL  permission"} {
		if !strings.Contains(h.out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, h.out.String())
		}
	}
}
