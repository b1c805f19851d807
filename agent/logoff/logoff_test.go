package logoff

import (
	"context"
	"errors"
	"fmt"
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
	"github.com/avdgen/avdgen/agent/host"
	"github.com/avdgen/avdgen/internal/fakeazure"
	"github.com/avdgen/avdgen/internal/testnet"
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
	awake        func() time.Duration // QueryUnbiasedInterruptTime
	awakeErr     error
	logons       map[uint32]time.Time // LogonTime answers; missing: the session is gone
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

func (p *probe) LogonTime(id uint32) (time.Time, error) {
	p.call("logon")
	p.mu.Lock()
	defer p.mu.Unlock()
	if at, ok := p.logons[id]; ok {
		return at, nil
	}
	return time.Time{}, host.ErrSessionGone
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
func (p *probe) Awake() (time.Duration, error) {
	p.call("awake")
	p.mu.Lock()
	awake, err := p.awake, p.awakeErr
	p.mu.Unlock()
	return awake(), err
}
func (p *probe) ArcSignals() ([]string, error) {
	p.call("arc")
	return p.arc, p.arcErr
}

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
	// bootAwake is the awake clock at t0; hibernated is the time the VM
	// spent hibernated since (the wall clock ran, the awake clock did not).
	bootAwake, hibernated time.Duration
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t, fake: fakeazure.New(t, fakeazure.DefaultVM()), probe: &probe{uptime: 5 * time.Hour}, dir: t.TempDir(), now: t0, bootAwake: 5 * time.Hour}
	h.probe.awake = func() time.Duration {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.bootAwake + h.now.Sub(t0) - h.hibernated
	}
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
		State:        &State{Path: filepath.Join(h.dir, StateFile), Now: h.clock},
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

// hibernate: the VM is hibernated for d and resumed (by Start VM on
// Connect): the wall clock moves on, the awake clock does not.
func (h *harness) hibernate(d time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.now = h.now.Add(d)
	h.hibernated += d
}

// restart: the VM restarts and has been up for up (awake clock from zero).
func (h *harness) restart(up time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.bootAwake = up - h.now.Sub(t0) + h.hibernated
	h.probe.uptime = up
}

// runningIdleClock: earlier idle runs, the last one 15 minutes ago, have
// counted idle on the awake clock; no session since.
func (h *harness) runningIdleClock(idle time.Duration) {
	h.t.Helper()
	awake, _ := h.probe.Awake()
	rec := Record{IdleCheckedAt: h.clock().Add(-15 * time.Minute), IdleCheckedAwake: awake - 15*time.Minute, IdleFor: idle - 15*time.Minute,
		LastSessionSeen: h.clock().Add(-idle)}
	if err := h.deps.State.Save(rec); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) writeState(text string) {
	h.t.Helper()
	if err := os.WriteFile(h.deps.State.Path, []byte(text), 0o600); err != nil {
		h.t.Fatal(err)
	}
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

// Issue 20 (7): one pending-reboot rule for logoff and idle. A deallocation
// shuts Windows down gracefully, which completes what waits for the reboot,
// so a pending reboot holds neither; servicing at work holds both.
func TestRebootPendingIsOneRuleForLogoffAndIdle(t *testing.T) {
	h := newHarness(t)
	h.probe.reboot = "RebootRequired"
	res := h.logoff()
	h.want(res, decide.Deallocate, 1)
	if !strings.Contains(res.Decision.Reason, "reboot is pending (RebootRequired)") {
		t.Errorf("logoff reason %q does not say a reboot is pending", res.Decision.Reason)
	}
	h.advance(2 * time.Hour)
	h.runningIdleClock(time.Hour)
	res = h.idle()
	h.want(res, decide.Deallocate, 2)
	if !strings.Contains(res.Decision.Reason, "reboot is pending (RebootRequired)") {
		t.Errorf("idle reason %q does not say a reboot is pending", res.Decision.Reason)
	}
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

// After a restart the awake clock starts from zero: the idle clock starts
// again at the first idle run (the task runs at startup), whatever the state
// file says about the time before.
func TestIdleCountsFromTheFirstRunAfterARestart(t *testing.T) {
	h := newHarness(t)
	h.runningIdleClock(48 * time.Hour)
	h.advance(10 * time.Minute)
	h.restart(2 * time.Minute) // restarted by Windows Update 2 minutes ago
	res := h.idle()
	h.want(res, decide.SkipIdleUnknown, 0)
	if !strings.Contains(res.Decision.Reason, "restarted") {
		t.Errorf("reason %q", res.Decision.Reason)
	}
	h.advance(15 * time.Minute)
	h.want(h.idle(), decide.SkipNotIdleLongEnough, 0)
	h.advance(15 * time.Minute)
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
	h.runningIdleClock(15 * time.Minute)
	h.probe.sessions = []host.Session{{ID: 3, User: `CONTOSO\bob`, State: host.StateDisconnected}}
	h.want(h.logoff(), decide.SkipUserSession, 0)
	h.probe.sessions = nil
	h.advance(10 * time.Minute)
	res := h.idle()
	h.want(res, decide.SkipNotIdleLongEnough, 0)
	if !strings.Contains(res.Decision.Reason, "no user session for 10m0s") {
		t.Errorf("reason %q: not counted from the logoff", res.Decision.Reason)
	}
	h.advance(15 * time.Minute)
	h.want(h.idle(), decide.SkipNotIdleLongEnough, 0)
	h.advance(15 * time.Minute)
	h.want(h.idle(), decide.Deallocate, 1)
}

func TestIdleNeverWhileUnsure(t *testing.T) {
	for name, c := range map[string]struct {
		set  func(*harness)
		want decide.Outcome
	}{
		"never":         {func(h *harness) { h.cfg.IdleAfter = 0 }, decide.SkipIdleDisabled},
		"installing":    {func(h *harness) { h.probe.installing = "TrustedInstaller" }, decide.SkipServicing},
		"shutting down": {func(h *harness) { h.probe.shuttingDown = true }, decide.SkipShutdown},
		"event log":     {func(h *harness) { h.probe.eventLogErr = []error{errBad, errBad} }, decide.SkipEventLogUnknown},
		"sessions":      {func(h *harness) { h.probe.sessionsErr = []error{errBad, errBad} }, decide.SkipSessionsUnknown},
		"no state":      {func(h *harness) { h.deps.State = nil }, decide.SkipIdleUnknown},
		"awake clock":   {func(h *harness) { h.probe.awakeErr = errBad }, decide.SkipIdleUnknown},
		"excluded":      {func(h *harness) { h.fake.VM.Tags = map[string]string{"avdgen-exclude": "TRUE"} }, decide.SkipExcluded},
		"future state": {func(h *harness) {
			h.writeState(`{"lastSessionSeen":"2026-11-22T13:00:00Z","idleCheckedAt":"2026-11-22T11:45:00Z","idleFor":172800000000000}`)
		}, decide.SkipIdleUnknown},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			h.runningIdleClock(48 * time.Hour)
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

// A link where the state file belongs is never read or written through:
// Load calls it corrupt, Save replaces the link itself.
func TestStateNeverFollowsLinks(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "elsewhere")
	if err := os.WriteFile(target, []byte(`{}`), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &State{Path: filepath.Join(dir, StateFile)}
	if err := os.Symlink(target, s.Path); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Load(); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Load of a symbolic link: %v, want ErrCorrupt", err)
	}
	if err := s.Save(Record{DecidedSession: "7", DecidedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(target); string(b) != `{}` {
		t.Errorf("target changed: %q", b)
	}
	if fi, err := os.Lstat(s.Path); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("the link was not replaced by a file: %v %v", fi, err)
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

func TestCheckAgeBoundary(t *testing.T) {
	for age, want := range map[time.Duration]decide.Outcome{MaxCheckAge - time.Second: decide.Deallocate, MaxCheckAge: decide.SkipStale} {
		h := newHarness(t)
		h.probe.hook = func(name string, n int) {
			if name == "sessions" && n == 2 {
				h.advance(age)
			}
		}
		res := h.logoff()
		h.want(res, want, map[decide.Outcome]int{decide.Deallocate: 1}[want])
		if want == decide.SkipStale && !strings.Contains(res.Decision.Reason, "the last check of the host is 2m0s old, not less than 2m0s") {
			t.Errorf("reason %q", res.Decision.Reason)
		}
	}
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

// Issue 20 (2): Start VM on Connect resumes a VM hibernated 72 hours ago;
// the idle run lands 5 minutes after the resume, before the user's RDP
// session exists. GetTickCount64 counts the 72 hours; the awake clock does
// not, and the gap in idle runs restarts the idle clock: nothing is sent,
// whether the action is hibernate or deallocate.
func TestResumeIsNotIdleTime(t *testing.T) {
	for _, hibernate := range []bool{true, false} {
		for _, after := range []time.Duration{0, 5 * time.Minute, 14 * time.Minute} {
			h := newHarness(t)
			h.cfg.Hibernate = hibernate
			h.fake.VM.HibernationEnabled = true
			h.runningIdleClock(20 * time.Minute)
			h.hibernate(72 * time.Hour)
			h.probe.uptime = 5*time.Hour + 72*time.Hour // GetTickCount64 counts hibernation
			h.advance(after)
			res := h.idle()
			h.want(res, decide.SkipIdleUnknown, 0)
			if !strings.Contains(res.Decision.Reason, "the idle clock starts again") {
				t.Errorf("hibernate=%v, %s after the resume: reason %q", hibernate, after, res.Decision.Reason)
			}
			if after != 14*time.Minute {
				continue
			}
			// The user never came: counted from the resume, on the awake clock.
			h.advance(15 * time.Minute)
			h.want(h.idle(), decide.SkipNotIdleLongEnough, 0)
			h.advance(15 * time.Minute)
			want := decide.Deallocate
			if hibernate {
				want = decide.Hibernate
			}
			h.want(h.idle(), want, 1)
		}
	}
}

// Issue 20 (2): a sleep shorter than the gap bound between two idle runs
// restarts the clock too: only awake time with no session counts.
func TestShortHibernationBetweenIdleRunsRestartsTheClock(t *testing.T) {
	h := newHarness(t)
	h.runningIdleClock(25 * time.Minute)
	h.hibernate(10 * time.Minute)
	h.advance(5 * time.Minute)
	res := h.idle()
	h.want(res, decide.SkipIdleUnknown, 0)
	if !strings.Contains(res.Decision.Reason, "slept or was hibernated") {
		t.Errorf("reason %q", res.Decision.Reason)
	}
}

// Issue 20 (2): a queued logoff run whose grace period slept through a
// hibernation wakes up right after the resume; it decides nothing.
func TestGraceThatSleptThroughHibernationNeverActs(t *testing.T) {
	for _, hibernate := range []bool{true, false} {
		h := newHarness(t)
		h.cfg.Grace = 90 * time.Second
		h.cfg.Hibernate = hibernate
		h.fake.VM.HibernationEnabled = true
		h.deps.Sleep = func(ctx context.Context, d time.Duration) error {
			if d == h.cfg.Grace {
				h.hibernate(72 * time.Hour)
			}
			return ctx.Err()
		}
		res := h.logoff()
		h.want(res, decide.SkipStale, 0)
		if !strings.Contains(res.Decision.Reason, "grace period of 1m30s took 72h") {
			t.Errorf("reason %q", res.Decision.Reason)
		}
	}
	// A grace period one minute late is still acted on.
	h := newHarness(t)
	h.cfg.Grace = 90 * time.Second
	h.deps.Sleep = func(ctx context.Context, d time.Duration) error {
		h.advance(d + MaxGraceOverrun)
		return ctx.Err()
	}
	h.want(h.logoff(), decide.Deallocate, 1)
}

// Issue 20 (2): hibernated while IMDS and the token were asked (after the
// last full check): the last-moment check sees the wall clock ahead of the
// awake clock and sends nothing, for logoff and idle alike.
func TestRunThatSleptNeverPosts(t *testing.T) {
	for _, idle := range []bool{false, true} {
		h := newHarness(t)
		h.probe.hook = func(name string, n int) {
			if name == "arc" {
				h.hibernate(3 * time.Hour)
			}
		}
		var res Result
		if idle {
			h.runningIdleClock(time.Hour)
			res = h.idle()
		} else {
			res = h.logoff()
		}
		h.want(res, decide.SkipStale, 0)
		if !strings.Contains(res.Decision.Reason, "started 3h0m0s ago but the host was awake for only 0s of it (it slept or was hibernated") {
			t.Errorf("idle=%v: reason %q", idle, res.Decision.Reason)
		}
	}
	h := newHarness(t)
	h.probe.awakeErr = errBad
	h.want(h.logoff(), decide.SkipStale, 0)
}

// Issue 20 (7): session ids are reused. The second trigger of one logoff is
// deduplicated; a later logon that got the same id is decided on its own.
func TestOneDecisionPerLogonNotPerSessionID(t *testing.T) {
	h := newHarness(t)
	first, second := t0.Add(-3*time.Hour), t0.Add(time.Minute)
	h.probe.logons = map[uint32]time.Time{2: first}
	h.want(h.logoff(), decide.Deallocate, 1)
	h.probe.logons = nil // the 23 trigger: the session is gone
	h.want(h.logoff(), decide.SkipAlreadyDecided, 1)
	h.probe.logons = map[uint32]time.Time{2: first}
	h.want(h.logoff(), decide.SkipAlreadyDecided, 1)
	h.advance(2 * time.Minute)
	h.probe.logons = map[uint32]time.Time{2: second} // someone signed in as session 2 and out again
	h.want(h.logoff(), decide.Deallocate, 2)
	h.probe.logons = nil
	h.want(h.logoff(), decide.SkipAlreadyDecided, 2)
	rec, _, err := h.deps.State.Load()
	if err != nil || !rec.DecidedLogon.Equal(second) {
		t.Errorf("recorded logon %s (%v), want %s", rec.DecidedLogon, err, second)
	}
}

// Issue 20 (3): a state file that cannot be believed (unparsable, a time in
// the future, writable by others) is not used and is replaced by the next
// run, so no user-planted or damaged file switches the rules off for good.
func TestCorruptStateIsReplaced(t *testing.T) {
	for name, write := range map[string]func(h *harness){
		"unparsable": func(h *harness) { h.writeState("{") },
		"future decision": func(h *harness) {
			h.writeState(`{"decidedSession":"2","decidedAt":"2027-01-01T00:00:00Z","decidedOutcome":202}`)
		},
		"future last session": func(h *harness) { h.writeState(`{"lastSessionSeen":"2030-01-01T00:00:00Z"}`) },
		"negative idle":       func(h *harness) { h.writeState(`{"idleFor":-5}`) },
		"writable by others": func(h *harness) {
			h.writeState(`{"decidedSession":"2","decidedAt":"2026-11-22T11:59:00Z","decidedOutcome":202}`)
			if err := os.Chmod(h.deps.State.Path, 0o666); err != nil {
				h.t.Fatal(err)
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			write(h)
			if _, _, err := h.deps.State.Load(); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Load: %v, want ErrCorrupt", err)
			}
			h.want(h.logoff(), decide.Deallocate, 1)
			rec, found, err := h.deps.State.Load()
			if err != nil || !found || rec.DecidedSession != "2" || !rec.DecidedAt.Equal(t0) || !rec.LastSessionSeen.Equal(t0) {
				t.Errorf("after the run: %+v %v %v", rec, found, err)
			}
			// The idle clock restarts from a corrupt file too.
			write(h)
			res := h.idle()
			h.want(res, decide.SkipIdleUnknown, 1)
			if !strings.Contains(res.Decision.Reason, "state file corrupt") {
				t.Errorf("idle reason %q", res.Decision.Reason)
			}
			if _, _, err := h.deps.State.Load(); err != nil {
				t.Errorf("not replaced by the idle run: %v", err)
			}
		})
	}
}

// delayedPOST holds every deallocate POST for delay before it is sent, as
// a slow connection would.
type delayedPOST struct {
	base  http.RoundTripper
	delay time.Duration
}

func (d delayedPOST) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPost {
		select {
		case <-time.After(d.delay):
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
	}
	return d.base.RoundTrip(r)
}

// Issue 20 (7): the POST must have left by the time the last check is
// MaxCheckAge old; a connection still not open then is abandoned.
func TestPOSTNeverLeavesAfterTheBound(t *testing.T) {
	h := newHarness(t)
	h.deps.HTTP = &http.Client{Transport: delayedPOST{base: testnet.Guard(t, nil), delay: 2 * time.Second}}
	h.probe.hook = func(name string, n int) {
		if name == "sessions" && n == 2 {
			h.advance(MaxCheckAge - 50*time.Millisecond)
		}
	}
	res := h.logoff()
	h.want(res, decide.SkipStale, 0)
	if !strings.Contains(res.Decision.Reason, "abandoned before it left") {
		t.Errorf("reason %q", res.Decision.Reason)
	}
	// With time left, the same slow connection is waited for.
	h = newHarness(t)
	h.deps.HTTP = &http.Client{Transport: delayedPOST{base: testnet.Guard(t, nil), delay: 20 * time.Millisecond}}
	h.want(h.logoff(), decide.Deallocate, 1)
}

// An idle run that could not read the awake clock counts nothing, and the
// next run does not count across it either.
func TestIdleNeverCountsAcrossAnUnreadableAwakeClock(t *testing.T) {
	h := newHarness(t)
	h.runningIdleClock(25 * time.Minute)
	h.probe.awakeErr = errBad
	h.want(h.idle(), decide.SkipIdleUnknown, 0)
	h.probe.awakeErr = nil
	h.advance(15 * time.Minute)
	res := h.idle()
	h.want(res, decide.SkipIdleUnknown, 0)
	if !strings.Contains(res.Decision.Reason, "clocks disagree") {
		t.Errorf("reason %q", res.Decision.Reason)
	}
}

// The idle clock's restart rules at their edges: a gap of exactly
// MaxIdleCheckGap, or a sleep of exactly MaxSleepInRun, still counts.
func TestIdleClockEdges(t *testing.T) {
	for name, c := range map[string]struct {
		wall, asleep time.Duration // since the previous idle run; asleep of it
		awakeShift   time.Duration // the awake clock moved by this beyond the wall clock
		idle         time.Duration // counted, or
		restart      string        // the clock restarts saying this
	}{
		"every 15 minutes":               {wall: 15 * time.Minute, idle: 120 * time.Minute},
		"gap at the bound":               {wall: MaxIdleCheckGap, idle: 105*time.Minute + MaxIdleCheckGap},
		"gap over the bound":             {wall: MaxIdleCheckGap + time.Second, restart: "more than 35m0s"},
		"sleep at the bound":             {wall: 15 * time.Minute, asleep: MaxSleepInRun, idle: 119 * time.Minute},
		"sleep over the bound":           {wall: 15 * time.Minute, asleep: MaxSleepInRun + time.Second, restart: "slept or was hibernated"},
		"wall clock set back":            {wall: -time.Second, restart: "the wall clock is 1s behind the last idle check"},
		"same instant":                   {wall: 0, idle: 105 * time.Minute},
		"asleep half a minute":           {wall: 30 * time.Second, asleep: 30 * time.Second, idle: 105 * time.Minute},
		"awake clock ahead":              {wall: 15 * time.Minute, awakeShift: MaxSleepInRun + time.Second, restart: "clocks disagree"},
		"awake clock ahead at the bound": {wall: 15 * time.Minute, awakeShift: MaxSleepInRun, idle: 120 * time.Minute}, // capped by the wall time since the last session,
		"restarted":                      {wall: 15 * time.Minute, awakeShift: -4 * time.Hour, restart: "restarted"},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			h.cfg.IdleAfter = 5 * time.Hour
			h.runningIdleClock(2 * time.Hour) // 105 minutes counted at the last run, 15 minutes ago
			h.advance(-15 * time.Minute)      // back to that run: now the test moves the clocks
			h.hibernate(c.asleep)
			h.advance(c.wall - c.asleep)
			h.mu.Lock()
			h.bootAwake += c.awakeShift
			h.mu.Unlock()
			res := h.idle()
			if c.restart != "" {
				if res.Decision.Outcome != decide.SkipIdleUnknown || !strings.Contains(res.Decision.Reason, c.restart) {
					t.Errorf("%d %q, want a restart saying %q", res.Decision.Outcome, res.Decision.Reason, c.restart)
				}
				return
			}
			want := fmt.Sprintf("no user session for %s,", c.idle)
			if res.Decision.Outcome != decide.SkipNotIdleLongEnough || !strings.Contains(res.Decision.Reason, want) {
				t.Errorf("%d %q, want %q", res.Decision.Outcome, res.Decision.Reason, want)
			}
		})
	}
}

// The slept-during-run check at its edge: a wall clock exactly
// MaxSleepInRun ahead of the awake clock still acts; a restarted awake
// clock (lower than at the start) never does.
func TestSleptDuringRunEdges(t *testing.T) {
	h := newHarness(t)
	h.probe.hook = func(name string, n int) {
		if name == "arc" {
			h.hibernate(MaxSleepInRun)
		}
	}
	h.want(h.logoff(), decide.Deallocate, 1)
	h = newHarness(t)
	h.probe.hook = func(name string, n int) {
		if name == "arc" {
			h.mu.Lock()
			h.bootAwake -= time.Second
			h.mu.Unlock()
		}
	}
	h.want(h.logoff(), decide.SkipStale, 0)
}

// Deps.State without a clock judges its times on the run's clock, not the
// machine's: a state written by this run is never "in the future".
func TestStateTakesTheRunsClock(t *testing.T) {
	h := newHarness(t)
	h.now = time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	h.deps.State = &State{Path: h.deps.State.Path}
	h.want(h.logoff(), decide.Deallocate, 1)
	h.want(h.logoff(), decide.SkipAlreadyDecided, 1)
	if strings.Contains(h.logText(), " 403 ") {
		t.Errorf("state refused:\n%s", h.logText())
	}
}
