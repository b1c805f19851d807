package agentcmd

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/avdgen/avdgen/agent/contract"
	"github.com/avdgen/avdgen/agent/host"
	"github.com/avdgen/avdgen/internal/fakeazure"
	"github.com/avdgen/avdgen/internal/testnet"
)

// fakeProbe is the Windows machine as the test wants it; every probe can be
// made to fail.
type fakeProbe struct {
	mu           sync.Mutex
	sessions     []host.Session
	sessionsErr  error
	shuttingDown bool
	recent1074   bool
	eventLogErr  error
	installing   string
	reboot       string
	servicingErr error
	notHost      bool
	hostErr      error
	arc          []string
	uptime       time.Duration
	calls        map[string]int
	// before runs before every probe answers (a test changes the machine).
	before func(probe string)
}

func (p *fakeProbe) call(name string) {
	p.mu.Lock()
	if p.calls == nil {
		p.calls = map[string]int{}
	}
	p.calls[name]++
	before := p.before
	p.mu.Unlock()
	if before != nil {
		before(name)
	}
}

func (p *fakeProbe) Sessions() ([]host.Session, error) {
	p.call("sessions")
	return p.sessions, p.sessionsErr
}
func (p *fakeProbe) ShuttingDown() bool { p.call("shutdown"); return p.shuttingDown }
func (p *fakeProbe) LastShutdownInitiated(time.Duration) (time.Time, bool, error) {
	p.call("eventlog")
	return time.Time{}, p.recent1074, p.eventLogErr
}
func (p *fakeProbe) Servicing() (string, string, error) {
	p.call("servicing")
	return p.installing, p.reboot, p.servicingErr
}
func (p *fakeProbe) SessionHost() (bool, error)     { p.call("host"); return !p.notHost, p.hostErr }
func (p *fakeProbe) Uptime() (time.Duration, error) { return p.uptime, nil }
func (p *fakeProbe) Awake() (time.Duration, error)  { return p.uptime, nil }
func (p *fakeProbe) LogonTime(uint32) (time.Time, error) {
	return time.Time{}, host.ErrSessionGone
}
func (p *fakeProbe) ArcSignals() ([]string, error) { return p.arc, nil }

type fakeReadiness struct {
	values map[string]uint32
	task   bool
	tasks  map[string]string // path -> XML, overrides task
	real   map[string]string // expanded folder -> its real path
}

const taskXML = `<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.3" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task"><Settings><Enabled>true</Enabled></Settings>
<Actions Context="Author"><Exec><Command>%ProgramFiles%\avdgen\avd-agent.exe</Command><Arguments>ARGS</Arguments></Exec></Actions></Task>`

func utf16File(s string) []byte {
	out := []byte{0xFF, 0xFE}
	for _, c := range utf16.Encode([]rune(s)) {
		out = append(out, byte(c), byte(c>>8))
	}
	return out
}

func (r fakeReadiness) PolicyValues() (map[string]uint32, error) { return r.values, nil }

// ResolveInstallDir expands with the standard values; real maps an expanded
// folder to where it really leads (a junction).
func (r fakeReadiness) ResolveInstallDir(dir string) (string, string, error) {
	expanded, err := contract.ExpandWindowsVars(dir, contract.StandardLookup)
	if err != nil {
		return "", "", err
	}
	if real, ok := r.real[expanded]; ok {
		return expanded, real, nil
	}
	return expanded, expanded, nil
}
func (r fakeReadiness) TaskDefinition(path string) ([]byte, error) {
	if x, ok := r.tasks[path]; ok {
		return utf16File(x), nil
	}
	if !r.task {
		return nil, fs.ErrNotExist
	}
	args := "logoff --session $(SessionId) --user &quot;$(User)&quot; --grace 1m30s"
	if strings.HasSuffix(path, "idle") {
		args = "idle --idle-after 30m"
	}
	return utf16File(strings.Replace(taskXML, "ARGS", args, 1)), nil
}

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

func newHarness(t *testing.T, vms ...fakeazure.VM) *harness {
	vm := fakeazure.DefaultVM()
	if len(vms) > 0 {
		vm = vms[0]
	}
	t.Helper()
	testnet.GuardDefault(t)
	h := &harness{fake: fakeazure.New(t, vm), probe: &fakeProbe{uptime: time.Hour}, logDir: t.TempDir()}
	h.env = &Env{
		Out: &h.out, ErrOut: &h.errOut,
		Getenv:    func(string) string { return "" },
		Now:       func() time.Time { return time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC) },
		Sleep:     func(context.Context, time.Duration) error { return nil },
		Transport: testnet.Guard(t, nil),
		Probe:     h.probe,
		Readiness: fakeReadiness{values: map[string]uint32{"MaxDisconnectionTime": 900000, "MaxIdleTime": 7200000}, task: true},
		Retry:     policy.RetryOptions{MaxRetries: 3, RetryDelay: 10 * time.Millisecond, MaxRetryDelay: 3 * time.Second},
	}
	return h
}

func (h *harness) run(args ...string) int {
	base := []string{"--imds-endpoint", h.fake.URL, "--arm-endpoint", h.fake.URL, "--log-file", filepath.Join(h.logDir, "agent.log")}
	if len(args) > 0 && (args[0] == "logoff" || args[0] == "check" || args[0] == "idle") {
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
	if !strings.Contains(h.errOut.String(), " 400 ") {
		t.Errorf("no fallback warning (event 400) in %q", h.errOut.String())
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
	if err != nil || !strings.Contains(string(b), " 102 ") {
		t.Errorf("log file lacks the dry-run event 102: %q %v", b, err)
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

func TestRefusesOnArcSignals(t *testing.T) {
	h := newHarness(t, fakeazure.DefaultVM())
	h.probe.arc = []string{"service himds (Azure Connected Machine agent) is registered"}
	if code := h.run("logoff", "--grace", "0s"); code != ExitFailure {
		t.Fatalf("exit %d", code)
	}
	if h.fake.Count("POST", "/deallocate") != 0 || !strings.Contains(h.out.String(), "Arc") {
		t.Errorf("out %q", h.out.String())
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

// Defect 12: global flags before the command.
func TestGlobalFlagsBeforeTheCommand(t *testing.T) {
	h := newHarness(t)
	log := filepath.Join(h.logDir, "agent.log")
	code := Main([]string{"--imds-endpoint", h.fake.URL, "--arm-endpoint=" + h.fake.URL, "--verbose", "--log-file", log, "logoff", "--grace", "0s"}, h.env)
	if code != ExitOK || h.fake.Count("POST", "/deallocate") != 1 {
		t.Fatalf("exit %d: %s %s", code, h.out.String(), h.errOut.String())
	}
	for _, args := range [][]string{{"--grace", "0s", "logoff"}, {"--imds-endpoint"}, {"--verbose"}} {
		h := newHarness(t)
		if code := Main(args, h.env); code != ExitUsage {
			t.Errorf("%q: exit %d", args, code)
		}
	}
	h2 := newHarness(t)
	if code := Main([]string{"--verbose", "version"}, h2.env); code != ExitOK || !strings.HasPrefix(h2.out.String(), "avd-agent ") {
		t.Errorf("version after a global flag: %d %q", code, h2.out.String())
	}
}

// Defect 6: a usage error reaches the log file (and the event log), not
// only the stderr nobody reads.
func TestUsageErrorReachesLogFileAndEventLog(t *testing.T) {
	h := newHarness(t)
	ev := &recordingEvents{}
	h.env.OpenEventLog = func() (host.EventLog, error) { return ev, nil }
	if code := h.run("logoff", "--exclude-tag", "keep", "me"); code != ExitUsage {
		t.Fatalf("exit %d", code)
	}
	b, _ := os.ReadFile(filepath.Join(h.logDir, "agent.log"))
	if !strings.Contains(string(b), " 305 ") || !strings.Contains(string(b), `unexpected argument "me"`) {
		t.Errorf("log file:\n%s", b)
	}
	if len(ev.ids) != 1 || ev.ids[0] != 305 {
		t.Errorf("events %v", ev.ids)
	}
	if strings.Count(strings.TrimSpace(h.errOut.String()), "\n") != 0 {
		t.Errorf("stderr is not one line: %q", h.errOut.String())
	}
}

type recordingEvents struct{ ids []uint32 }

func (r *recordingEvents) Info(id uint32, _ string) error    { r.ids = append(r.ids, id); return nil }
func (r *recordingEvents) Warning(id uint32, _ string) error { r.ids = append(r.ids, id); return nil }
func (r *recordingEvents) Error(id uint32, _ string) error   { r.ids = append(r.ids, id); return nil }
func (r *recordingEvents) Close() error                      { return nil }

type panicProbe struct{ fakeProbe }

func (*panicProbe) Sessions() ([]host.Session, error) { panic("boom") }

// Defect 11: a panic is logged and exits 1, not 2.
func TestPanicIsLoggedAndExits1(t *testing.T) {
	h := newHarness(t)
	h.env.Probe = &panicProbe{}
	code := h.run("logoff", "--grace", "0s")
	if code != ExitFailure {
		t.Fatalf("exit %d, want 1", code)
	}
	b, _ := os.ReadFile(filepath.Join(h.logDir, "agent.log"))
	if !strings.Contains(string(b), " 306 ") || !strings.Contains(string(b), "boom") {
		t.Errorf("log file:\n%s", b)
	}
	if h.fake.Count("POST", "/deallocate") != 0 {
		t.Error("posted")
	}
}

// Defect 2: the run's context is the one cancelled on SIGTERM / console
// control events; a cancelled run never posts.
func TestCancelledContextNeverPosts(t *testing.T) {
	h := newHarness(t)
	ctx, cancel := context.WithCancel(context.Background())
	h.env.Context = ctx
	h.env.Sleep = func(ctx context.Context, d time.Duration) error {
		cancel()
		<-ctx.Done()
		return ctx.Err()
	}
	if code := h.run("logoff", "--grace", "90s"); code != ExitOK {
		t.Fatalf("exit %d", code)
	}
	if n := len(h.fake.Requests()); n != 0 || !strings.Contains(h.out.String(), "interrupted") {
		t.Errorf("%d requests; out %q", n, h.out.String())
	}
}

func TestIdleCommand(t *testing.T) {
	h := newHarness(t)
	h.probe.uptime = time.Hour
	// First run starts the idle clock.
	if code := h.run("idle", "--idle-after", "30m"); code != ExitOK || !strings.Contains(h.out.String(), "clock starts now") {
		t.Fatalf("exit %d: %q", code, h.out.String())
	}
	h.env.Now = func() time.Time { return time.Date(2026, 11, 22, 12, 31, 0, 0, time.UTC) }
	h.probe.uptime += 31 * time.Minute // awake all along
	h.out.Reset()
	if code := h.run("idle"); code != ExitOK || h.fake.Count("POST", "/deallocate") != 1 {
		t.Fatalf("exit %d: %q", code, h.out.String())
	}
	h.out.Reset()
	if code := h.run("idle", "--idle-after", "never"); code != ExitOK || !strings.Contains(h.out.String(), "switched off") {
		t.Errorf("never: %d %q", code, h.out.String())
	}
	for _, bad := range []string{"1m", "soon", "200h"} {
		h := newHarness(t)
		if code := h.run("idle", "--idle-after", bad); code != ExitUsage {
			t.Errorf("--idle-after %s: exit %d", bad, code)
		}
	}
}

func TestOneDecisionPerLogoffAcrossProcesses(t *testing.T) {
	h := newHarness(t)
	for i := 0; i < 2; i++ {
		if code := h.run("logoff", "--grace", "0s", "--session", "4"); code != ExitOK {
			t.Fatalf("run %d: exit %d", i, code)
		}
	}
	if n := h.fake.Count("POST", "/deallocate"); n != 1 {
		t.Errorf("deallocate POSTs = %d, want 1", n)
	}
	if !strings.Contains(h.out.String(), "already decided") {
		t.Errorf("out %q", h.out.String())
	}
}

// Defect 11: check runs every local probe, reads the tasks' real arguments
// and enabled state, the folder's owner and DACL, and names the identity.
func TestCheckRunsEveryLocalProbe(t *testing.T) {
	h := newHarness(t)
	h.probe.sessions = []host.Session{{ID: 3, State: host.StateConnected}}
	if code := h.run("check", "--identity-client-id", "11111111-2222-3333-4444-555555555555"); code != ExitOK {
		t.Fatalf("exit %d:\n%s", code, h.out.String())
	}
	for _, want := range []string{"OK    sessionhost", "OK    sessions", "(logon in progress) (session 3, Connected)", "OK    shutdown", "OK    eventlog",
		"OK    servicing", "OK    folder", "OK    task", `--user "$(User)"`, "OK    idle task", "idle --idle-after 30m",
		"user-assigned managed identity (client id 11111111-2222-3333-4444-555555555555)"} {
		if !strings.Contains(h.out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, h.out.String())
		}
	}
	for _, probe := range []string{"sessions", "shutdown", "eventlog", "servicing", "host"} {
		if h.probe.calls[probe] == 0 {
			t.Errorf("probe %s never asked", probe)
		}
	}
}

func TestCheckReportsEveryFailingProbe(t *testing.T) {
	h := newHarness(t)
	h.probe.sessionsErr = errors.New("RPC down")
	h.probe.eventLogErr = errors.New("log down")
	h.probe.servicingErr = errors.New("SCM down")
	h.probe.notHost = true
	h.probe.shuttingDown = true
	h.env.Readiness = fakeReadiness{values: map[string]uint32{"MaxDisconnectionTime": 1}, tasks: map[string]string{
		`\avdgen\avd-agent logoff`: strings.Replace(strings.Replace(taskXML, "ARGS", "logoff --session 3", 1), "<Enabled>true", "<Enabled>false", 1),
	}}
	os.Chmod(h.logDir, 0o777)
	if code := h.run("check"); code != ExitFailure {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"FAIL  sessions", "RPC down", "FAIL  eventlog", "log down", "FAIL  servicing", "SCM down", "FAIL  sessionhost",
		"WARN  shutdown", "FAIL  task", "is disabled", "WARN  idle task", "not registered", "FAIL  folder", "writable by"} {
		if !strings.Contains(h.out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, h.out.String())
		}
	}
}

// check judges the session limits as avdgen does (issue 8 item 5): nothing
// applied fails; limits that end sessions only at the idle or active limit,
// or that never log anyone off (avdgen writes those only with
// --allow-no-logoff), warn and say why; a finite disconnected limit is OK.
func TestCheckJudgesLimitsLikeAvdgen(t *testing.T) {
	for _, c := range []struct {
		name   string
		values map[string]uint32
		want   string
		code   int
	}{
		{"not applied", map[string]uint32{}, "FAIL  policy", ExitFailure},
		{"disconnected 15m", map[string]uint32{"MaxDisconnectionTime": 900000}, "OK    policy", ExitOK},
		{"end-session at idle", map[string]uint32{"MaxIdleTime": 7200000, "fResetBroken": 1}, "WARN  policy", ExitOK},
		{"end-session at active", map[string]uint32{"MaxConnectionTime": 28800000, "fResetBroken": 1, "MaxDisconnectionTime": 0}, "WARN  policy", ExitOK},
		{"no logoff", map[string]uint32{"MaxIdleTime": 7200000, "fResetBroken": 0}, "WARN  policy", ExitOK},
	} {
		h := newHarness(t, fakeazure.DefaultVM())
		h.env.Readiness = fakeReadiness{values: c.values, task: true}
		code := h.run("check")
		out := h.out.String()
		if !strings.Contains(out, c.want) {
			t.Errorf("%s: report lacks %q:\n%s", c.name, c.want, out)
		}
		if c.code == ExitOK && strings.Contains(out, "FAIL  policy") || c.code != ExitOK && code != c.code {
			t.Errorf("%s: exit %d:\n%s", c.name, code, out)
		}
		if c.want == "WARN  policy" && !strings.Contains(out, "disconnect") && !strings.Contains(out, "--allow-no-logoff") {
			t.Errorf("%s: the warning does not say why:\n%s", c.name, out)
		}
	}
}

// Issue 20 item 1: check shows every session with its station and why it
// holds the VM or not; the console at the logon screen holds nothing.
func TestCheckExplainsEverySession(t *testing.T) {
	h := newHarness(t)
	h.probe.sessions = []host.Session{
		{ID: 1, Station: "Console", State: host.StateConnected},
		{ID: 2, Station: "rdp-sxs240705700#0", User: `CONTOSO\ann`, State: host.StateActive},
		{ID: 65536, Station: "RDP-Tcp", State: host.StateListen},
		{ID: 65537, Station: "rdp-sxs240705700", State: host.StateListen},
	}
	if code := h.run("check"); code != ExitOK {
		t.Fatalf("exit %d:\n%s", code, h.out.String())
	}
	for _, want := range []string{
		`OK    sessions     listed 4; holding the VM: CONTOSO\ann (session 2, Active)`,
		"session 1 Console (no user) Connected: does not hold the VM, the console at the logon screen",
		`session 2 rdp-sxs240705700#0 CONTOSO\ann Active: holds the VM, a user is signed in (Active)`,
		"session 65536 RDP-Tcp (no user) Listen: does not hold the VM, a listener",
		"session 65537 rdp-sxs240705700 (no user) Listen: does not hold the VM, a listener",
	} {
		if !strings.Contains(h.out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, h.out.String())
		}
	}
}

// Issue 20 (5): --log-file is judged before anything is created or
// changed. A rejected command line creates no folder for it; a folder the
// agent did not create (here one others may write, as C:\ProgramData is) is
// refused for the log, never re-permissioned, and the decision goes on.
func TestLogFileNeverChangesAFolderItDidNotCreate(t *testing.T) {
	h := newHarness(t)
	missing := filepath.Join(h.logDir, "new", "agent.log")
	if code := Main([]string{"logoff", "--imds-endpoint", h.fake.URL, "--arm-endpoint", h.fake.URL, "--log-file", missing, "--action", "explode"}, h.env); code != ExitUsage {
		t.Fatalf("exit %d", code)
	}
	if _, err := os.Lstat(filepath.Dir(missing)); err == nil {
		t.Errorf("a rejected command line created %s", filepath.Dir(missing))
	}
	shared := filepath.Join(h.logDir, "shared")
	os.Mkdir(shared, 0o777)
	os.Chmod(shared, 0o777)
	for _, args := range [][]string{
		{"logoff", "--grace", "0s", "--action", "explode"}, // rejected
		{"logoff", "--grace", "0s"},                        // accepted
	} {
		h.out.Reset()
		code := Main(append(args, "--imds-endpoint", h.fake.URL, "--arm-endpoint", h.fake.URL, "--log-file", filepath.Join(shared, "avd.log")), h.env)
		if fi, _ := os.Stat(shared); fi.Mode().Perm() != 0o777 {
			t.Errorf("%v (exit %d): %s re-permissioned to %v", args, code, shared, fi.Mode().Perm())
		}
		if entries, _ := os.ReadDir(shared); len(entries) != 0 {
			t.Errorf("%v: wrote into a folder others may write: %v", args, entries)
		}
	}
	if h.fake.Count("POST", "/deallocate") != 1 || !strings.Contains(h.errOut.String(), " 401 ") {
		t.Errorf("the accepted run did not decide with the log refused: POSTs %d, stderr %q", h.fake.Count("POST", "/deallocate"), h.errOut.String())
	}
}

func TestValidateLogFile(t *testing.T) {
	for path, ok := range map[string]bool{
		`C:\Windows\System32\config\systemprofile\AppData\Local\avdgen\avd-agent.log`: true,
		`D:\logs\avdgen\agent.log`: true,
		`avd.log`:                  false,
		`C:avd.log`:                false,
		`C:\avd.log`:               false, // a drive root
		`\\server\share\avd.log`:   false,
		`\\?\C:\logs\avd.log`:      false,
		`\\.\pipe\x`:               false,
		`C:\logs\..\avd.log`:       false,
		`C:\logs\.\avd.log`:        false,
		`C:\logs\\avd.log`:         false,
		`C:\logs\avd.log.`:         false,
		`C:\logs\`:                 false,
		`C:/logs/avd.log`:          false,
		`C:\logs\*.log`:            false,
		`C:\logs\avd.log:stream`:   false,
	} {
		if err := ValidateLogFile(path, true); (err == nil) != ok {
			t.Errorf("Windows %q: %v", path, err)
		} else if err != nil && !strings.Contains(err.Error(), "--log-file") {
			t.Errorf("error does not name the flag: %v", err)
		}
	}
	for path, ok := range map[string]bool{"/var/log/avd.log": true, "avd.log": false, "/var/log/../avd.log": false, "/": false, "/var/log/": false} {
		if err := ValidateLogFile(path, false); (err == nil) != ok {
			t.Errorf("POSIX %q: %v", path, err)
		}
	}
}

// Issue 20 item 7: check warns that a user-assigned identity, usually shared
// by many VMs, lets any local user deallocate all of them, and says what to
// do; with the system-assigned identity it does not.
func TestCheckWarnsOfASharedIdentity(t *testing.T) {
	h := newHarness(t)
	if code := h.run("check", "--identity-client-id", "11111111-2222-3333-4444-555555555555"); code != ExitOK {
		t.Fatalf("exit %d:\n%s", code, h.out.String())
	}
	for _, want := range []string{"WARN  identity", "any user signed in to this VM can take its token from IMDS and deallocate every one of them", "system-assigned identity"} {
		if !strings.Contains(h.out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, h.out.String())
		}
	}
	h = newHarness(t)
	if code := h.run("check"); code != ExitOK || strings.Contains(h.out.String(), "WARN  identity") {
		t.Errorf("system-assigned identity: exit %d\n%s", code, h.out.String())
	}
}

// Issue 20 (6): check judges the folder each task runs the agent from after
// the host expanded it and resolved its real path, as avdgen judges
// agent.installDir: %SystemRoot%\Temp is refused like C:\Windows\Temp, and so
// is an accepted folder that is a junction into one.
func TestCheckJudgesTheInstallFolderAfterExpansion(t *testing.T) {
	logoff := func(command string) string {
		return strings.Replace(strings.Replace(taskXML, `%ProgramFiles%\avdgen\avd-agent.exe`, command, 1), "ARGS", "logoff --session $(SessionId)", 1)
	}
	for name, c := range map[string]struct {
		command string
		real    map[string]string
		want    string
	}{
		"systemroot temp": {`%SystemRoot%\Temp\avdgen\avd-agent.exe`, nil, "users can write there"},
		"windir tasks":    {`"%windir%\Tasks\avd-agent.exe"`, nil, "users can write there"},
		"junction":        {`%ProgramFiles%\avdgen\avd-agent.exe`, map[string]string{`C:\Program Files\avdgen`: `C:\Users\Public\x`}, `resolves to C:\Users\Public\x`},
		"unknown":         {`%AGENTHOME%\avd-agent.exe`, nil, "cannot be judged"},
		"bare":            {`avd-agent.exe`, nil, "not a program in an install folder"},
	} {
		h := newHarness(t)
		h.env.Readiness = fakeReadiness{values: map[string]uint32{"MaxDisconnectionTime": 900000}, task: true, real: c.real,
			tasks: map[string]string{`\avdgen\avd-agent logoff`: logoff(c.command)}}
		if code := h.run("check"); code != ExitFailure || !strings.Contains(h.out.String(), "FAIL  task") || !strings.Contains(h.out.String(), c.want) {
			t.Errorf("%s: exit %d, want FAIL task with %q:\n%s", name, code, c.want, h.out.String())
		}
	}
	h := newHarness(t)
	h.env.Readiness = fakeReadiness{values: map[string]uint32{"MaxDisconnectionTime": 900000}, task: true,
		tasks: map[string]string{`\avdgen\avd-agent logoff`: logoff(`"C:\Program Files\avdgen\avd-agent.exe"`)}}
	if h.run("check"); !strings.Contains(h.out.String(), "OK    task") {
		t.Errorf("an accepted folder failed:\n%s", h.out.String())
	}
}
