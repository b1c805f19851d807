package logoff

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/avdgen/avdgen/agent/agentlog"
	"github.com/avdgen/avdgen/agent/decide"
	"github.com/avdgen/avdgen/agent/fakeazure"
	"github.com/avdgen/avdgen/agent/host"
	"github.com/avdgen/avdgen/agent/testnet"
)

// probe is the Windows machine as a test wants it: every probe can fail,
// block, or change between calls (hook).
type probe struct {
	mu           sync.Mutex
	sessions     []host.Session
	sessionsErr  []error // served in order, then nil
	shuttingDown bool
	recent1074   bool
	eventLogErr  []error
	blockEvent   bool
	installing   string
	reboot       string
	servicingErr []error
	notHost      bool
	hostErr      []error
	arc          []string
	arcErr       error
	uptime       time.Duration
	uptimeErr    error
	calls        map[string]int
	hook         func(probe string, call int)
}

func (p *probe) call(name string) {
	p.mu.Lock()
	if p.calls == nil {
		p.calls = map[string]int{}
	}
	p.calls[name]++
	n, hook := p.calls[name], p.hook
	p.mu.Unlock()
	if hook != nil {
		hook(name, n)
	}
}

func (p *probe) count(name string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[name]
}

func pop(errs *[]error) error {
	if len(*errs) == 0 {
		return nil
	}
	err := (*errs)[0]
	*errs = (*errs)[1:]
	return err
}

func (p *probe) Sessions() ([]host.Session, error) {
	p.call("sessions")
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := pop(&p.sessionsErr); err != nil {
		return nil, err
	}
	return p.sessions, nil
}

func (p *probe) ShuttingDown() bool {
	p.call("shutdown")
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.shuttingDown
}

func (p *probe) LastShutdownInitiated(time.Duration) (time.Time, bool, error) {
	p.call("eventlog")
	p.mu.Lock()
	block := p.blockEvent
	p.mu.Unlock()
	if block {
		time.Sleep(time.Second) // longer than the tests' probe timeout
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return time.Time{}, p.recent1074, pop(&p.eventLogErr)
}

func (p *probe) Servicing() (string, string, error) {
	p.call("servicing")
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.installing, p.reboot, pop(&p.servicingErr)
}

func (p *probe) SessionHost() (bool, error) {
	p.call("host")
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.notHost, pop(&p.hostErr)
}

func (p *probe) Uptime() (time.Duration, error) { return p.uptime, p.uptimeErr }
func (p *probe) ArcSignals() ([]string, error)  { return p.arc, p.arcErr }

func (p *probe) set(f func(*probe)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f(p)
}

var (
	t0     = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	ann    = host.Session{ID: 2, User: `CONTOSO\ann`, State: host.StateActive}
	errBad = errors.New("RPC server unavailable")
)

type harness struct {
	t     *testing.T
	fake  *fakeazure.Server
	probe *probe
	cfg   Config
	deps  Deps
	dir   string
	mu    sync.Mutex
	now   time.Time
	slept []time.Duration
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t, fake: fakeazure.New(t, fakeazure.DefaultVM()), probe: &probe{uptime: 5 * time.Hour}, dir: t.TempDir(), now: t0}
	h.cfg = Config{Session: "2", User: `CONTOSO\ann`, ExcludeName: "avdgen-exclude", ExcludeValue: "true",
		IMDSBase: h.fake.URL, ARMEndpoint: h.fake.URL, IdleAfter: 30 * time.Minute}
	h.deps = Deps{
		Probe: h.probe,
		HTTP:  &http.Client{Transport: testnet.Guard(t, nil)},
		Sleep: func(ctx context.Context, d time.Duration) error {
			h.mu.Lock()
			h.slept = append(h.slept, d)
			h.mu.Unlock()
			return ctx.Err()
		},
		Now:          h.clock,
		Log:          agentlog.New(filepath.Join(h.dir, "agent.log"), nil, nil, false, h.clock),
		State:        &State{Path: filepath.Join(h.dir, StateFile)},
		Retry:        policy.RetryOptions{MaxRetries: 2, RetryDelay: time.Millisecond, MaxRetryDelay: 5 * time.Millisecond},
		ProbeTimeout: 200 * time.Millisecond,
	}
	return h
}

func (h *harness) clock() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.now
}

func (h *harness) advance(d time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.now = h.now.Add(d)
}

func (h *harness) logoff() Result { return Run(context.Background(), h.cfg, h.deps) }
func (h *harness) idle() Result   { return RunIdle(context.Background(), h.cfg, h.deps) }

func (h *harness) posts() int { return h.fake.Count("POST", "/deallocate") }

func (h *harness) want(res Result, o decide.Outcome, posts int) {
	h.t.Helper()
	if res.Decision.Outcome != o {
		h.t.Errorf("outcome %d (%s), want %d", res.Decision.Outcome, res.Decision.Reason, o)
	}
	if got := h.posts(); got != posts {
		h.t.Errorf("deallocate POSTs = %d, want %d", got, posts)
	}
}

func (h *harness) logText() string {
	b, _ := os.ReadFile(filepath.Join(h.dir, "agent.log"))
	return string(b)
}

func TestLogoffDeallocatesWhenAllIsClear(t *testing.T) {
	h := newHarness(t)
	h.cfg.Grace = 90 * time.Second
	res := h.logoff()
	h.want(res, decide.Deallocate, 1)
	if res.Err != nil || !strings.Contains(res.Decision.Reason, "ARM answered 202") {
		t.Errorf("result %+v", res)
	}
	if len(h.slept) == 0 || h.slept[0] != 90*time.Second {
		t.Errorf("slept %v, want the 90s grace first", h.slept)
	}
	// Sessions: after the grace and at the last moment before the POST.
	if n := h.probe.count("sessions"); n != 2 {
		t.Errorf("sessions listed %d times, want 2", n)
	}
	if !strings.Contains(h.logText(), " 100 ") {
		t.Errorf("log lacks event 100:\n%s", h.logText())
	}
	if tok := h.fake.Requests(); len(tok) != 3 {
		t.Errorf("requests %d, want IMDS, token, POST", len(tok))
	}
}

// Defect 1: an unreadable or slow System log was "no restart".
func TestEventLogUnreadableSkips(t *testing.T) {
	h := newHarness(t)
	h.probe.eventLogErr = []error{errBad, errBad}
	res := h.logoff()
	h.want(res, decide.SkipEventLogUnknown, 0)
	if n := h.probe.count("eventlog"); n != 2 {
		t.Errorf("event log asked %d times, want 2 (one retry)", n)
	}
	if n := len(h.fake.Requests()); n != 0 {
		t.Errorf("%d requests sent", n)
	}
	if !strings.Contains(res.Decision.Reason, "RPC server unavailable") || !strings.Contains(h.logText(), " 404 ") {
		t.Errorf("reason %q; log:\n%s", res.Decision.Reason, h.logText())
	}
}

func TestEventLogTimeoutSkips(t *testing.T) {
	h := newHarness(t)
	h.probe.blockEvent = true
	res := h.logoff()
	h.want(res, decide.SkipEventLogUnknown, 0)
	if !strings.Contains(res.Decision.Reason, "no answer within 200ms") {
		t.Errorf("reason %q", res.Decision.Reason)
	}
}

func TestProbeFailingOnceIsAskedAgain(t *testing.T) {
	for name, set := range map[string]func(*probe){
		"event log": func(p *probe) { p.eventLogErr = []error{errBad} },
		"sessions":  func(p *probe) { p.sessionsErr = []error{errBad} },
		"servicing": func(p *probe) { p.servicingErr = []error{errBad} },
		"host":      func(p *probe) { p.hostErr = []error{errBad} },
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			set(h.probe)
			h.deps.ProbeRetryDelay = 3 * time.Second
			h.want(h.logoff(), decide.Deallocate, 1)
			var retried bool
			for _, d := range h.slept {
				retried = retried || d == 3*time.Second
			}
			if !retried {
				t.Errorf("no retry delay in %v", h.slept)
			}
		})
	}
}

// Defect 7 (and the fail-closed rule): a session list that cannot be read
// twice means skip.
func TestEveryProbeFailingTwiceSkips(t *testing.T) {
	for name, c := range map[string]struct {
		set  func(*probe)
		want decide.Outcome
	}{
		"sessions":     {func(p *probe) { p.sessionsErr = []error{errBad, errBad} }, decide.SkipSessionsUnknown},
		"servicing":    {func(p *probe) { p.servicingErr = []error{errBad, errBad} }, decide.SkipServicingUnknown},
		"host":         {func(p *probe) { p.hostErr = []error{errBad, errBad} }, decide.SkipSessionHostUnknown},
		"shutdown":     {func(p *probe) { p.shuttingDown = true }, decide.SkipShutdown},
		"installing":   {func(p *probe) { p.installing = "TrustedInstaller is running" }, decide.SkipServicing},
		"not AVD host": {func(p *probe) { p.notHost = true }, decide.SkipNotSessionHost},
		"recent 1074":  {func(p *probe) { p.recent1074 = true }, decide.SkipRecentShutdown},
		"user":         {func(p *probe) { p.sessions = []host.Session{ann} }, decide.SkipUserSession},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			c.set(h.probe)
			h.want(h.logoff(), c.want, 0)
		})
	}
}

func TestAllowUnregisteredHost(t *testing.T) {
	h := newHarness(t)
	h.probe.notHost = true
	h.cfg.AllowUnregistered = true
	h.want(h.logoff(), decide.Deallocate, 1)
}

func TestRebootPendingDoesNotBlockLogoff(t *testing.T) {
	h := newHarness(t)
	h.probe.reboot = "RebootRequired"
	h.want(h.logoff(), decide.Deallocate, 1)
}

// Defect 2: a user who comes back while IMDS, the token and ARM are asked is
// seen right before the POST.
func TestUserBackBeforePOSTIsSeen(t *testing.T) {
	h := newHarness(t)
	h.probe.hook = func(name string, n int) {
		if name == "sessions" && n == 2 {
			h.probe.sessions = []host.Session{ann} // hook runs unlocked
		}
	}
	res := h.logoff()
	h.want(res, decide.SkipUserSession, 0)
	if h.fake.Count("GET", "/metadata/identity/oauth2/token") != 1 {
		t.Error("the token was never asked for: the last-moment check must follow it")
	}
}

func TestEveryRetryIsRechecked(t *testing.T) {
	h := newHarness(t)
	h.fake.DeallocateReplies = []fakeazure.Reply{{Status: 503, Body: `{"error":{"code":"ServerBusy","message":"later"}}`}}
	h.probe.hook = func(name string, n int) {
		if name == "shutdown" && n == 4 { // start, after grace, first POST, retry
			h.probe.shuttingDown = true
		}
	}
	h.want(h.logoff(), decide.SkipShutdown, 1)
	if n := h.probe.count("sessions"); n != 3 {
		t.Errorf("sessions listed %d times, want 3 (after grace, before each POST)", n)
	}
}

func TestHibernateFallbackIsRecheckedToo(t *testing.T) {
	vm := fakeazure.DefaultVM()
	vm.HibernationEnabled = true
	h := newHarness(t)
	h.fake.VM = vm
	h.cfg.Hibernate = true
	h.fake.DeallocateReplies = []fakeazure.Reply{{Status: 409, Body: `{"error":{"code":"OperationNotAllowed","message":"Hibernation is not supported for this VM size"}}`}}
	res := h.logoff()
	h.want(res, decide.Deallocate, 2)
	if !strings.Contains(h.logText(), " 400 ") || !strings.Contains(res.Decision.Reason, "plain deallocate") {
		t.Errorf("fallback not reported: %s\n%s", res.Decision.Reason, h.logText())
	}
	if n := h.probe.count("sessions"); n != 3 {
		t.Errorf("sessions listed %d times, want 3", n)
	}
}

func TestConflictIsNotAHibernationFallback(t *testing.T) {
	vm := fakeazure.DefaultVM()
	vm.HibernationEnabled = true
	h := newHarness(t)
	h.fake.VM = vm
	h.cfg.Hibernate = true
	h.fake.DeallocateReplies = []fakeazure.Reply{{Status: 409, Body: `{"error":{"code":"OperationNotAllowed","message":"Operation 'deallocate' is not allowed since another operation is in progress on the VM"}}`}}
	res := h.logoff()
	h.want(res, decide.FailARM, 1)
}

func TestHibernatesWhenEnabled(t *testing.T) {
	vm := fakeazure.DefaultVM()
	vm.HibernationEnabled = true
	h := newHarness(t)
	h.fake.VM = vm
	h.cfg.Hibernate = true
	h.want(h.logoff(), decide.Hibernate, 1)
	for _, r := range h.fake.Requests() {
		if r.Method == "POST" && r.Query["hibernate"] != "true" {
			t.Errorf("POST without hibernate=true: %v", r.Query)
		}
	}
}

func TestStaleCheckIsNotActedOn(t *testing.T) {
	h := newHarness(t)
	h.probe.hook = func(name string, n int) {
		if name == "sessions" && n == 2 {
			h.advance(MaxCheckAge + time.Second)
		}
	}
	h.want(h.logoff(), decide.SkipStale, 0)
}

func TestCancelledDuringGraceNeverPosts(t *testing.T) {
	h := newHarness(t)
	h.cfg.Grace = time.Minute
	ctx, cancel := context.WithCancel(context.Background())
	h.deps.Sleep = func(ctx context.Context, d time.Duration) error {
		cancel()
		return ctx.Err()
	}
	res := Run(ctx, h.cfg, h.deps)
	h.want(res, decide.SkipInterrupted, 0)
	if n := len(h.fake.Requests()); n != 0 {
		t.Errorf("%d requests after cancellation", n)
	}
}

func TestCancelledBeforePOSTNeverPosts(t *testing.T) {
	h := newHarness(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h.probe.hook = func(name string, n int) {
		if name == "sessions" && n == 2 {
			cancel()
		}
	}
	res := Run(ctx, h.cfg, h.deps)
	if res.Decision.Act() || h.posts() != 0 {
		t.Errorf("posted after cancellation: %+v", res.Decision)
	}
}

// Defect 3: a session whose user is not known yet is a logon in progress.
func TestLogonInProgressIsBusy(t *testing.T) {
	h := newHarness(t)
	h.probe.sessions = []host.Session{{ID: 65536, State: host.StateListen}, {ID: 3, State: host.StateConnected}}
	res := h.logoff()
	h.want(res, decide.SkipUserSession, 0)
	if !strings.Contains(res.Decision.Reason, "logon in progress") {
		t.Errorf("reason %q", res.Decision.Reason)
	}
}

// Defect 4: the exclusion tag's value compares case-insensitively.
func TestExclusionTagIgnoresCase(t *testing.T) {
	for _, v := range []string{"true", "True", "TRUE", " true "} {
		h := newHarness(t)
		h.fake.VM.Tags = map[string]string{"AVDGEN-Exclude": v}
		h.want(h.logoff(), decide.SkipExcluded, 0)
	}
	h := newHarness(t)
	h.fake.VM.Tags = map[string]string{"avdgen-exclude": "false"}
	h.want(h.logoff(), decide.Deallocate, 1)
}

// Defect 5: Arc is decided from the host's unforgeable signals only, and the
// token comes from IMDS.
func TestArcSignalsRefuse(t *testing.T) {
	h := newHarness(t)
	h.probe.arc = []string{"service himds is registered"}
	res := h.logoff()
	h.want(res, decide.FailConfig, 0)
	if n := len(h.fake.Requests()); n != 0 {
		t.Errorf("%d requests on an Arc machine", n)
	}
	h2 := newHarness(t)
	h2.probe.arcErr = errBad
	h2.want(h2.logoff(), decide.FailConfig, 0)
}

func TestUserAssignedIdentityToken(t *testing.T) {
	h := newHarness(t)
	h.cfg.IdentityClientID = "11111111-2222-3333-4444-555555555555"
	h.fake.WantAudience = "https://management.azure.com"
	h.want(h.logoff(), decide.Deallocate, 1)
	var saw bool
	for _, r := range h.fake.Requests() {
		if strings.HasSuffix(r.Path, "/oauth2/token") {
			saw = r.Query["client_id"] == h.cfg.IdentityClientID && r.Header.Get("Metadata") == "true"
		}
	}
	if !saw {
		t.Error("token request without client_id or Metadata: true")
	}
}

func TestTokenFailureNamesTheIdentity(t *testing.T) {
	h := newHarness(t)
	h.cfg.IdentityResourceID = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/avd"
	h.fake.TokenReplies = []fakeazure.Reply{{Status: 400, Body: `{"error":"invalid_request","error_description":"Identity not found"}`}}
	res := h.logoff()
	h.want(res, decide.FailToken, 0)
	if !strings.Contains(res.Decision.Reason, "userAssignedIdentities/avd") {
		t.Errorf("reason %q does not name the identity", res.Decision.Reason)
	}
}

func TestMetadataAndARMFailures(t *testing.T) {
	h := newHarness(t)
	h.fake.IMDSReplies = []fakeazure.Reply{{Status: 404, Body: "nope"}}
	h.want(h.logoff(), decide.FailMetadata, 0)

	h = newHarness(t)
	h.fake.IMDSBody = strings.Replace(h.fake.InstanceJSON(), "AzurePublicCloud", "AzureGermanCloud", 1)
	h.want(h.logoff(), decide.FailMetadata, 0)

	h = newHarness(t)
	h.fake.DeallocateReplies = []fakeazure.Reply{{Status: 403, Body: `{"error":{"code":"AuthorizationFailed","message":"no"}}`}}
	res := h.logoff()
	h.want(res, decide.FailNotAuthorized, 1)
	if res.Err == nil {
		t.Error("no error with the failure")
	}

	h = newHarness(t)
	h.fake.DeallocateReplies = []fakeazure.Reply{{Status: 400, Body: `{"error":{"code":"BadRequest","message":"no"}}`}}
	h.want(h.logoff(), decide.FailARM, 1)
}

func TestDryRunChecksAtTheLastMomentAndPostsNothing(t *testing.T) {
	h := newHarness(t)
	h.cfg.DryRun = true
	h.want(h.logoff(), decide.DryRun, 0)
	if n := h.probe.count("sessions"); n != 2 {
		t.Errorf("sessions listed %d times, want 2", n)
	}
	h = newHarness(t)
	h.cfg.DryRun = true
	h.probe.hook = func(name string, n int) {
		if name == "sessions" && n == 2 {
			h.probe.sessions = []host.Session{ann}
		}
	}
	h.want(h.logoff(), decide.SkipUserSession, 0)
}

// Defect 9: the second trigger of one logoff sees the first run's decision.
func TestOneDecisionPerLogoff(t *testing.T) {
	h := newHarness(t)
	h.want(h.logoff(), decide.Deallocate, 1)
	h.advance(2 * time.Minute)
	res := h.logoff()
	h.want(res, decide.SkipAlreadyDecided, 1)
	if !strings.Contains(res.Decision.Reason, "already decided") {
		t.Errorf("reason %q", res.Decision.Reason)
	}
	// Another session's logoff is decided on its own.
	h.cfg.Session = "3"
	h.want(h.logoff(), decide.Deallocate, 2)
	// The same session id long after is a new logoff.
	h.advance(time.Hour)
	h.want(h.logoff(), decide.Deallocate, 3)
}

func TestFailuresAreNotRememberedAsDecisions(t *testing.T) {
	h := newHarness(t)
	h.fake.IMDSReplies = []fakeazure.Reply{{Status: 404}}
	h.want(h.logoff(), decide.FailMetadata, 0)
	h.want(h.logoff(), decide.Deallocate, 1)
}

func TestLiteralSessionIDIsToleratedAndLogged(t *testing.T) {
	h := newHarness(t)
	h.cfg.Session = "$(SessionId)"
	h.want(h.logoff(), decide.Deallocate, 1)
	if !strings.Contains(h.logText(), " 402 ") {
		t.Errorf("no warning 402:\n%s", h.logText())
	}
	// No deduplication without a session id.
	h.want(h.logoff(), decide.Deallocate, 2)
}

func TestUnreadableStateDecidesAgain(t *testing.T) {
	h := newHarness(t)
	if err := os.WriteFile(h.deps.State.Path, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.want(h.logoff(), decide.Deallocate, 1)
	if !strings.Contains(h.logText(), " 403 ") {
		t.Errorf("no warning 403:\n%s", h.logText())
	}
}

func TestSessionKnown(t *testing.T) {
	for s, want := range map[string]bool{"2": true, "65536": true, "": false, "$(SessionId)": false, "2x": false, "-1": false, "12345678901": false,
		"1234567890": true, "0": true, "9": true, "/1": false, "9:": false} {
		if got := SessionKnown(s); got != want {
			t.Errorf("SessionKnown(%q) = %v", s, got)
		}
	}
}

func TestSplitTag(t *testing.T) {
	n, v, err := SplitTag(" keep = Yes ")
	if err != nil || n != "keep" || v != "Yes" {
		t.Errorf("got %q %q %v", n, v, err)
	}
	for _, bad := range []string{"novalue", "=x", " =x"} {
		if _, _, err := SplitTag(bad); err == nil {
			t.Errorf("SplitTag(%q) accepted", bad)
		}
	}
}

// Defect 8: a host restarted with nobody signed in is deallocated by the
// idle safety net once no session has existed for idleAfter.
func TestIdleSafetyNet(t *testing.T) {
	h := newHarness(t)
	h.probe.uptime = 10 * time.Minute
	// First run on this host: the clock starts, nothing is sent.
	res := h.idle()
	h.want(res, decide.SkipIdleUnknown, 0)
	// 15 minutes later, 25 minutes after boot: not yet.
	h.advance(15 * time.Minute)
	h.probe.uptime = 25 * time.Minute
	h.want(h.idle(), decide.SkipNotIdleLongEnough, 0)
	// 31 minutes after the first run saw the host empty (41 after boot).
	h.advance(16 * time.Minute)
	h.probe.uptime = 41 * time.Minute
	res = h.idle()
	h.want(res, decide.Deallocate, 1)
	if !strings.Contains(res.Decision.Reason, "no user session for 31m0s") {
		t.Errorf("reason %q", res.Decision.Reason)
	}
}

func TestIdleCountsFromBoot(t *testing.T) {
	h := newHarness(t)
	if err := h.deps.State.Save(Record{LastSessionSeen: t0.Add(-48 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	h.probe.uptime = 20 * time.Minute // restarted by Windows Update 20 minutes ago
	h.want(h.idle(), decide.SkipNotIdleLongEnough, 0)
	h.probe.uptime = 31 * time.Minute
	h.want(h.idle(), decide.Deallocate, 1)
}

func TestIdleCountsFromLastSessionSeen(t *testing.T) {
	h := newHarness(t)
	h.probe.uptime = 5 * time.Hour
	h.probe.sessions = []host.Session{ann}
	h.want(h.idle(), decide.SkipUserSession, 0)
	h.probe.sessions = nil
	h.advance(20 * time.Minute)
	h.want(h.idle(), decide.SkipNotIdleLongEnough, 0)
	h.advance(11 * time.Minute)
	h.want(h.idle(), decide.Deallocate, 1)
}

func TestIdleAfterLogoffCountsFromTheLogoff(t *testing.T) {
	h := newHarness(t)
	h.probe.uptime = 5 * time.Hour
	h.probe.sessions = []host.Session{{ID: 3, User: `CONTOSO\bob`, State: host.StateDisconnected}}
	h.want(h.logoff(), decide.SkipUserSession, 0)
	h.probe.sessions = nil
	h.advance(10 * time.Minute)
	h.want(h.idle(), decide.SkipNotIdleLongEnough, 0)
}

func TestIdleNeverWhileUnsure(t *testing.T) {
	for name, c := range map[string]struct {
		set  func(*harness)
		want decide.Outcome
	}{
		"never":          {func(h *harness) { h.cfg.IdleAfter = 0 }, decide.SkipIdleDisabled},
		"reboot pending": {func(h *harness) { h.probe.reboot = "RebootPending" }, decide.SkipServicing},
		"installing":     {func(h *harness) { h.probe.installing = "TrustedInstaller" }, decide.SkipServicing},
		"shutting down":  {func(h *harness) { h.probe.shuttingDown = true }, decide.SkipShutdown},
		"event log":      {func(h *harness) { h.probe.eventLogErr = []error{errBad, errBad} }, decide.SkipEventLogUnknown},
		"sessions":       {func(h *harness) { h.probe.sessionsErr = []error{errBad, errBad} }, decide.SkipSessionsUnknown},
		"no state":       {func(h *harness) { h.deps.State = nil }, decide.SkipIdleUnknown},
		"uptime":         {func(h *harness) { h.probe.uptimeErr = errBad }, decide.SkipIdleUnknown},
		"excluded":       {func(h *harness) { h.fake.VM.Tags = map[string]string{"avdgen-exclude": "TRUE"} }, decide.SkipExcluded},
		"future state": {func(h *harness) {
			h.deps.State.Save(Record{LastSessionSeen: t0.Add(time.Hour)})
		}, decide.SkipIdleUnknown},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			if err := h.deps.State.Save(Record{LastSessionSeen: t0.Add(-48 * time.Hour)}); err != nil {
				t.Fatal(err)
			}
			c.set(h)
			h.want(h.idle(), c.want, 0)
		})
	}
}

func TestIdleInterrupted(t *testing.T) {
	h := newHarness(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := RunIdle(ctx, h.cfg, h.deps)
	h.want(res, decide.SkipInterrupted, 0)
}

func TestStateRefusesLinks(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "elsewhere")
	if err := os.WriteFile(target, []byte(`{}`), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &State{Path: filepath.Join(dir, StateFile)}
	if err := os.Symlink(target, s.Path); err != nil {
		t.Skip(err)
	}
	if _, _, err := s.Load(); err == nil {
		t.Error("Load followed a symbolic link")
	}
	if err := s.Save(Record{}); err == nil {
		t.Error("Save replaced a symbolic link")
	}
	if b, _ := os.ReadFile(target); string(b) != `{}` {
		t.Errorf("target changed: %q", b)
	}
}

func TestStateRoundTrip(t *testing.T) {
	s := &State{Path: filepath.Join(t.TempDir(), StateFile)}
	if _, found, err := s.Load(); found || err != nil {
		t.Fatalf("empty: %v %v", found, err)
	}
	want := Record{DecidedSession: "4", DecidedAt: t0, DecidedOutcome: 100, DecidedReason: "r", LastSessionSeen: t0}
	if err := s.Save(want); err != nil {
		t.Fatal(err)
	}
	got, found, err := s.Load()
	if err != nil || !found || got != want {
		t.Errorf("got %+v %v %v", got, found, err)
	}
	if s2 := (&State{Path: filepath.Join(t.TempDir(), "no", StateFile)}); s2.Save(want) == nil {
		t.Error("Save into a missing folder succeeded")
	}
}

func TestDefaults(t *testing.T) {
	r := newRun(Config{}, Deps{}, decide.Logoff)
	if r.cfg.ShutdownWindow != 10*time.Minute || r.d.ProbeTimeout != 30*time.Second || r.d.ProbeRetryDelay != 2*time.Second ||
		r.d.TokenTimeout != 30*time.Second || r.d.Now == nil || r.d.Sleep == nil {
		t.Errorf("defaults: %+v %+v", r.cfg, r.d)
	}
	r = newRun(Config{ShutdownWindow: time.Minute}, Deps{ProbeTimeout: 1, ProbeRetryDelay: 2, TokenTimeout: 3}, decide.Idle)
	if r.cfg.ShutdownWindow != time.Minute || r.d.ProbeTimeout != 1 || r.d.ProbeRetryDelay != 2 || r.d.TokenTimeout != 3 || r.facts.Command != decide.Idle {
		t.Errorf("overrides lost: %+v %+v", r.cfg, r.d)
	}
}

func TestNoGraceNoWait(t *testing.T) {
	h := newHarness(t)
	h.want(h.logoff(), decide.Deallocate, 1)
	if len(h.slept) != 0 {
		t.Errorf("slept %v without a grace period or a failing probe", h.slept)
	}
	for _, id := range []string{" 402 ", " 403 ", " 404 "} {
		if strings.Contains(h.logText(), id) {
			t.Errorf("warning%sin a clean run:\n%s", id, h.logText())
		}
	}
}

func TestManualRunHasNoSessionWarning(t *testing.T) {
	h := newHarness(t)
	h.cfg.Session = ""
	h.want(h.logoff(), decide.Deallocate, 1)
	if strings.Contains(h.logText(), " 402 ") {
		t.Errorf("warning 402 for a run started by hand:\n%s", h.logText())
	}
	h.want(h.logoff(), decide.Deallocate, 2)
}

func TestSecondTriggerAtTheSameInstantAndAtTheWindowsEdge(t *testing.T) {
	h := newHarness(t)
	h.cfg.Grace = time.Minute
	h.want(h.logoff(), decide.Deallocate, 1)
	h.want(h.logoff(), decide.SkipAlreadyDecided, 1) // same instant
	h.advance(16 * time.Minute)                      // grace + 15 minutes: still the same logoff
	h.want(h.logoff(), decide.SkipAlreadyDecided, 1)
	h.advance(time.Second)
	h.want(h.logoff(), decide.Deallocate, 2)
}

func TestCheckExactlyMaxCheckAgeOldIsActedOn(t *testing.T) {
	h := newHarness(t)
	h.probe.hook = func(name string, n int) {
		if name == "sessions" && n == 2 {
			h.advance(MaxCheckAge)
		}
	}
	h.want(h.logoff(), decide.Deallocate, 1)
}

func TestIdleNeverAsksNothing(t *testing.T) {
	h := newHarness(t)
	h.cfg.IdleAfter = 0
	h.want(h.idle(), decide.SkipIdleDisabled, 0)
	if len(h.probe.calls) != 0 {
		t.Errorf("probes asked: %v", h.probe.calls)
	}
}

func TestShutdownWindowReachesTheProbe(t *testing.T) {
	h := newHarness(t)
	var got []time.Duration
	p := &windowProbe{probe: h.probe, got: &got}
	h.deps.Probe = p
	h.cfg.ShutdownWindow = 7 * time.Minute
	h.want(h.logoff(), decide.Deallocate, 1)
	if len(got) == 0 || got[0] != 7*time.Minute {
		t.Errorf("windows asked %v", got)
	}
}

type windowProbe struct {
	*probe
	got *[]time.Duration
}

func (w *windowProbe) LastShutdownInitiated(d time.Duration) (time.Time, bool, error) {
	*w.got = append(*w.got, d)
	return w.probe.LastShutdownInitiated(d)
}

func TestStateWriteFailureIsLogged(t *testing.T) {
	h := newHarness(t)
	h.deps.State = &State{Path: filepath.Join(h.dir, "missing", StateFile)}
	h.want(h.logoff(), decide.Deallocate, 1)
	if !strings.Contains(h.logText(), " 403 ") {
		t.Errorf("no warning 403:\n%s", h.logText())
	}
}

func TestStateLoadErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o600)
	if _, _, err := (&State{Path: filepath.Join(file, StateFile)}).Load(); err == nil {
		t.Error("a path under a file loaded")
	}
	os.Mkdir(filepath.Join(dir, StateFile), 0o700)
	if _, _, err := (&State{Path: filepath.Join(dir, StateFile)}).Load(); err == nil {
		t.Error("a folder loaded as the state file")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("left behind: %v", entries)
	}
}

// The logoff and idle tasks may save at the same time: the later facts win.
func TestStateSaveMergesWithTheFile(t *testing.T) {
	s := &State{Path: filepath.Join(t.TempDir(), StateFile)}
	newer := Record{DecidedSession: "5", DecidedAt: t0.Add(time.Minute), DecidedOutcome: 100, DecidedReason: "new", LastSessionSeen: t0.Add(time.Minute)}
	if err := s.Save(newer); err != nil {
		t.Fatal(err)
	}
	// A run that loaded before the newer save writes its older view.
	if err := s.Save(Record{DecidedSession: "4", DecidedAt: t0, DecidedOutcome: 202, DecidedReason: "old", LastSessionSeen: t0}); err != nil {
		t.Fatal(err)
	}
	got, _, _ := s.Load()
	if got != newer {
		t.Errorf("merged %+v, want %+v", got, newer)
	}
	// Newer values replace older ones field by field.
	later := Record{LastSessionSeen: t0.Add(time.Hour)}
	if err := s.Save(later); err != nil {
		t.Fatal(err)
	}
	got, _, _ = s.Load()
	want := newer
	want.LastSessionSeen = t0.Add(time.Hour)
	if got != want {
		t.Errorf("merged %+v, want %+v", got, want)
	}
	decided := Record{DecidedSession: "6", DecidedAt: t0.Add(2 * time.Hour), DecidedOutcome: 203, DecidedReason: "r6"}
	if err := s.Save(decided); err != nil {
		t.Fatal(err)
	}
	got, _, _ = s.Load()
	want = decided
	want.LastSessionSeen = t0.Add(time.Hour)
	if got != want {
		t.Errorf("merged %+v, want %+v", got, want)
	}
}

// Issue 20 item 1: the console at the logon screen holds no VM. Every AVD
// session host lists it ("console 1 Conn", no user, not always session 1)
// next to its listeners; before the fix every logoff ended "logon in
// progress (session 1, Connected)" and nothing was ever deallocated. A
// remote session initialising, on the other hand, is a logon in progress.
func TestConsoleAtLogonScreenHoldsNoVM(t *testing.T) {
	listed := []host.Session{
		{ID: 2, Station: "Console", State: host.StateConnected},
		{ID: 65536, Station: "RDP-Tcp", State: host.StateListen},
		{ID: 65537, Station: "rdp-sxs240705700", State: host.StateListen},
		{ID: 65538, Station: "31C5CE94259D4006A9E4", State: host.StateDown},
	}
	h := newHarness(t)
	h.probe.sessions = listed
	h.want(h.logoff(), decide.Deallocate, 1)

	h = newHarness(t)
	h.probe.sessions = append(append([]host.Session(nil), listed...), host.Session{ID: 3, Station: "rdp-sxs240705700#1", State: host.StateInit})
	res := h.logoff()
	h.want(res, decide.SkipUserSession, 0)
	if !strings.Contains(res.Decision.Reason, "session 3 at rdp-sxs240705700#1, Init") {
		t.Errorf("reason %q", res.Decision.Reason)
	}
}
