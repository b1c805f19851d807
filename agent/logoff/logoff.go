// Package logoff is what `avd-agent logoff` and `avd-agent idle` do. Logoff,
// in order: one decision per logoff (state file), shutdown/servicing/host
// checks, grace period, every local check again with the sessions, IMDS and
// the exclusion tag, the managed-identity token, and immediately before each
// deallocate POST every local check once more. Idle: every local check, how
// long no session has existed, then the same path. Any probe that cannot
// answer (after one bounded retry) means "skip, and say why".
package logoff

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/avdgen/avdgen/agent/agentlog"
	"github.com/avdgen/avdgen/agent/armclient"
	"github.com/avdgen/avdgen/agent/azure"
	"github.com/avdgen/avdgen/agent/decide"
	"github.com/avdgen/avdgen/agent/host"
	"github.com/avdgen/avdgen/agent/identity"
	"github.com/avdgen/avdgen/agent/imds"
)

// MaxCheckAge bounds the time between the last local check and a deallocate
// POST: the check runs right before every attempt, and a check that took
// longer than this (slow probes, retries) is not acted on.
const MaxCheckAge = 2 * time.Minute

// MaxGraceOverrun is how much longer than asked the grace period may have
// lasted on the wall clock: a run that waited longer (the VM was hibernated
// or suspended meanwhile, and has just been resumed) decides nothing about a
// logoff from before.
const MaxGraceOverrun = time.Minute

// MaxIdleCheckGap is the longest wall-clock gap between two idle runs over
// which the idle clock keeps counting. The idle task runs every 15 minutes
// (IgnoreNew, at most 10 minutes each), so a longer gap means the idle runs
// stopped: the VM was hibernated, stopped or the task was off, and the
// clock starts again.
const MaxIdleCheckGap = 35 * time.Minute

// MaxSleepInRun is how much more the wall clock may advance than the awake
// clock (QueryUnbiasedInterruptTime) during one run or between two idle
// runs before the host counts as having slept or hibernated meanwhile.
const MaxSleepInRun = time.Minute

// Config is the validated command line.
type Config struct {
	Session, User string
	Grace         time.Duration
	Hibernate     bool // --action hibernate
	DryRun        bool
	// ExcludeName=ExcludeValue is the exclusion tag.
	ExcludeName, ExcludeValue string
	IdentityClientID          string
	IdentityResourceID        string
	// IMDSBase is azure.IMDSEndpoint or a loopback override.
	IMDSBase string
	// ARMEndpoint overrides the cloud's endpoint when not empty.
	ARMEndpoint string
	// ShutdownWindow is how far back event 1074 counts (default 10 min).
	ShutdownWindow time.Duration
	// AllowUnregistered lets the agent act on a VM the AVD agent has not
	// registered as a session host (unusual images); off by default.
	AllowUnregistered bool
	// IdleAfter is the idle safety net's threshold (idle command; 0 = never).
	IdleAfter time.Duration
}

// Deps are the agent's seams to the machine and the network.
type Deps struct {
	Probe host.Probe
	// HTTP carries IMDS, token and ARM requests.
	HTTP *http.Client
	// Sleep waits (the grace period, retries); tests make it instant.
	Sleep func(context.Context, time.Duration) error
	// Now is the clock (default time.Now).
	Now func() time.Time
	Log *agentlog.Logger
	// State remembers decisions and the last session seen; nil when the
	// protected folder is not usable.
	State *State
	// Retry tunes ARM retries (zero: azure.DefaultRetry).
	Retry policy.RetryOptions
	// TokenTimeout bounds the token request with its retries (default 30 s).
	TokenTimeout time.Duration
	// ProbeTimeout bounds one probe call (default 30 s); ProbeRetryDelay is
	// the wait before the one retry (default 2 s).
	ProbeTimeout    time.Duration
	ProbeRetryDelay time.Duration
}

// Result is the final decision and, for failures, the error.
type Result struct {
	Decision decide.Decision
	Err      error
}

// run is one invocation's state.
type run struct {
	cfg       Config
	d         Deps
	log       *agentlog.Logger
	facts     decide.Facts
	lastCheck time.Time
	session   string    // the logoff's session id, "" when unknown
	logon     time.Time // that session's logon time when Windows listed it
	// The run's start on the wall clock and on the awake clock: a run
	// during which the host slept acts on nothing (lastMoment).
	startWall  time.Time
	startAwake time.Duration
	awakeErr   error
}

func newRun(cfg Config, d Deps, cmd decide.Command) *run {
	if cfg.ShutdownWindow == 0 {
		cfg.ShutdownWindow = 10 * time.Minute
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Sleep == nil {
		d.Sleep = azure.SleepContext
	}
	if d.ProbeTimeout == 0 {
		d.ProbeTimeout = 30 * time.Second
	}
	if d.ProbeRetryDelay == 0 {
		d.ProbeRetryDelay = 2 * time.Second
	}
	if d.TokenTimeout == 0 {
		d.TokenTimeout = 30 * time.Second
	}
	if d.State != nil && d.State.Now == nil {
		st := *d.State
		st.Now = d.Now
		d.State = &st
	}
	return &run{cfg: cfg, d: d, log: d.Log, facts: decide.Facts{
		Command: cmd, HibernateRequested: cfg.Hibernate, DryRun: cfg.DryRun,
		AllowUnregistered: cfg.AllowUnregistered, IdleAfter: cfg.IdleAfter,
	}}
}

// start notes the run's start on both clocks.
func (r *run) start() {
	r.startWall = r.d.Now()
	if r.d.Probe != nil {
		r.startAwake, r.awakeErr = r.d.Probe.Awake()
	}
}

// slept says why the host may have slept or hibernated since the run
// started (the wall clock ran ahead of the awake clock), or "".
func (r *run) slept() string {
	awake, err := r.d.Probe.Awake()
	if err = errors.Join(r.awakeErr, err); err != nil {
		return fmt.Sprintf("cannot tell whether this host slept or hibernated during this run (awake clock: %v); not acting", err)
	}
	wall := r.d.Now().Sub(r.startWall)
	if asleep := wall - (awake - r.startAwake); asleep > MaxSleepInRun || awake < r.startAwake {
		return fmt.Sprintf("this run started %s ago but the host was awake for only %s of it (it slept or was hibernated and has just resumed); not acting on what was seen before", wall.Round(time.Second), (awake - r.startAwake).Round(time.Second))
	}
	return ""
}

// Run performs the logoff job.
func Run(ctx context.Context, cfg Config, d Deps) Result {
	r := newRun(cfg, d, decide.Logoff)
	r.start()
	r.log.Log(agentlog.Info, 0, "logoff of session %q user %q: grace %s, hibernate %v, dry-run %v", cfg.Session, cfg.User, cfg.Grace, cfg.Hibernate, cfg.DryRun)
	if SessionKnown(cfg.Session) {
		r.session = cfg.Session
		r.logon = r.sessionLogon(ctx)
	}
	// An empty session is a run started by hand: no logoff to deduplicate.
	if !SessionKnown(cfg.Session) && cfg.Session != "" {
		r.log.Log(agentlog.Warning, uint32(decide.WarnSessionLiteral), "the task passed session id %q, not a number: its value queries were lost (was the task re-saved in GPMC?); deciding without one-decision-per-logoff protection. Fix: redeploy the avdgen task", cfg.Session)
	}
	if res, done := r.alreadyDecided(); done {
		return res
	}
	r.remember(func(rec *Record) { rec.LastSessionSeen = r.d.Now().UTC() })

	// 1. Shutdown, servicing, registration before waiting. The session that
	// just logged off may still be listed, so sessions wait for the grace.
	if dec, stop := r.check(ctx, false); stop {
		return r.finish(dec, nil)
	}
	// 2. Grace period: while Windows shuts down, it kills or cancels us here.
	if cfg.Grace > 0 {
		r.log.Log(agentlog.Info, 0, "waiting %s before deciding", cfg.Grace)
		before := r.d.Now()
		if err := r.d.Sleep(ctx, cfg.Grace); err != nil {
			return r.finish(interrupted("during the grace period", err), nil)
		}
		if took := r.d.Now().Sub(before); took > cfg.Grace+MaxGraceOverrun || took < 0 {
			return r.finish(decide.Decision{Outcome: decide.SkipStale, Reason: fmt.Sprintf(
				"the grace period of %s took %s on the wall clock (the VM was hibernated or suspended meanwhile, or the clock was changed); not deciding about a logoff from before", cfg.Grace, took.Round(time.Second))}, nil)
		}
	}
	// 3. Everything again, now with the sessions.
	if dec, stop := r.check(ctx, true); stop {
		return r.finish(dec, nil)
	}
	return r.act(ctx)
}

// RunIdle is the safety net for the restart gap: deallocate when no user
// session has existed for IdleAfter, counted on the awake clock by the idle
// runs themselves (see idleFor).
func RunIdle(ctx context.Context, cfg Config, d Deps) Result {
	r := newRun(cfg, d, decide.Idle)
	r.log.Log(agentlog.Info, 0, "idle check: idleAfter %s, hibernate %v, dry-run %v", cfg.IdleAfter, cfg.Hibernate, cfg.DryRun)
	if cfg.IdleAfter <= 0 {
		return r.finish(decide.Decide(r.facts), nil)
	}
	r.start()
	if dec, stop := r.check(ctx, true); stop && dec.Outcome == decide.SkipInterrupted {
		return r.finish(dec, nil)
	}
	r.facts.IdleFor, r.facts.IdleErr = r.idleFor()
	if dec, stop := decide.Stop(r.facts); stop {
		return r.finish(dec, nil)
	}
	return r.act(ctx)
}

// idleFor keeps the idle clock and says how long no session has existed.
// Each idle run adds the awake time (QueryUnbiasedInterruptTime: sleep and
// hibernation left out) since the previous idle run, and the clock starts
// again at zero when a session is there, and whenever the idle runs were
// interrupted: the first run, a wall-clock gap longer than MaxIdleCheckGap,
// the host asleep or hibernated in between (wall clock ahead of the awake
// clock), a restart (awake clock back) or the wall clock set back. So a VM
// resumed by Start VM on Connect, whose user's session is not there yet,
// counts from its resume, never from before its hibernation. The answer
// is also never more than the wall time since the last session seen (a
// logoff run notes that). Without a usable state file it does not know.
func (r *run) idleFor() (time.Duration, error) {
	now := r.d.Now().UTC()
	if r.d.State == nil {
		return 0, errors.New("the state file in the protected folder is not usable")
	}
	rec, found, err := r.d.State.Load()
	var restart string
	if errors.Is(err, ErrCorrupt) {
		r.log.Log(agentlog.Warning, uint32(decide.WarnStateUnavailable), "%v; replacing it with a fresh one", err)
		restart = fmt.Sprintf("the state file was corrupt and has been replaced (%v); the idle clock starts now", err)
		rec, found, err = Record{}, false, nil
	}
	if err != nil {
		return 0, err
	}
	busy := r.facts.SessionsErr != nil
	for _, s := range r.facts.Sessions {
		busy = busy || decide.Busy(s)
	}
	awake, awakeErr := r.d.Probe.Awake()
	if awakeErr != nil {
		// Recorded with awake 0: the next run sees the clocks disagree and
		// starts again, never counting across this run.
		awake = 0
		restart = fmt.Sprintf("awake time (QueryUnbiasedInterruptTime): %v", awakeErr)
	}
	prev := rec
	rec.IdleCheckedAt, rec.IdleCheckedAwake, rec.IdleFor = now, awake, 0
	if busy {
		rec.LastSessionSeen = now
	}
	if !busy && restart == "" {
		restart = idleRestart(prev, found, now, awake)
	}
	if !busy && restart == "" {
		rec.IdleFor = prev.IdleFor + awake - prev.IdleCheckedAwake
	}
	if err := r.d.State.Save(rec); err != nil {
		return 0, err
	}
	if busy {
		return 0, nil
	}
	if restart != "" {
		return 0, errors.New(restart)
	}
	idle := rec.IdleFor
	if !rec.LastSessionSeen.IsZero() {
		idle = min(idle, now.Sub(rec.LastSessionSeen))
	}
	return idle, nil
}

// idleRestart says why the idle clock must start again rather than count
// on from the previous idle run, or "". One if per rule: Go's cover tool
// leaves a tagless switch's cases outside every block (docs/testing.md).
func idleRestart(prev Record, found bool, now time.Time, awake time.Duration) string {
	gap, awakeGap := now.Sub(prev.IdleCheckedAt), awake-prev.IdleCheckedAwake
	if !found || prev.IdleCheckedAt.IsZero() {
		return "first idle check on this host: the idle clock starts now"
	}
	if gap < 0 {
		return fmt.Sprintf("the wall clock is %s behind the last idle check: the idle clock starts again", (-gap).Round(time.Second))
	}
	if awakeGap < 0 {
		return "the host restarted since the last idle check: the idle clock starts again"
	}
	if gap > MaxIdleCheckGap {
		return fmt.Sprintf("the last idle check was %s ago, more than %s (the VM was hibernated or stopped, or the task did not run): the idle clock starts again", gap.Round(time.Second), MaxIdleCheckGap)
	}
	if awakeGap > gap+MaxSleepInRun {
		return fmt.Sprintf("the awake clock advanced %s in %s of wall time since the last idle check (the clocks disagree): the idle clock starts again", awakeGap.Round(time.Second), gap.Round(time.Second))
	}
	if gap-awakeGap > MaxSleepInRun {
		return fmt.Sprintf("the host was awake for only %s of the %s since the last idle check (it slept or was hibernated): the idle clock starts again", awakeGap.Round(time.Second), gap.Round(time.Second))
	}
	return ""
}

// SessionKnown reports whether the task passed a real session id (a
// re-saved task passes the literal "$(SessionId)").
func SessionKnown(s string) bool {
	if s == "" || len(s) > 10 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// alreadyDecided: the second run for the same logoff (event 23 after 7002,
// queued behind the first) exits at once when the first one decided.
func (r *run) alreadyDecided() (Result, bool) {
	if r.session == "" || r.d.State == nil {
		return Result{}, false
	}
	rec, _, err := r.d.State.Load()
	if err != nil {
		r.log.Log(agentlog.Warning, uint32(decide.WarnStateUnavailable), "state file unreadable (%v); deciding again", err)
		return Result{}, false
	}
	age := r.d.Now().Sub(rec.DecidedAt)
	if rec.DecidedSession != r.session || age < 0 || age > r.cfg.Grace+15*time.Minute {
		return Result{}, false
	}
	// Session ids are reused: the session listed now under this id with
	// another logon time is a later logon, whose logoff this is.
	if !r.logon.IsZero() && !r.logon.Equal(rec.DecidedLogon) {
		return Result{}, false
	}
	dec := decide.Decision{Outcome: decide.SkipAlreadyDecided, Reason: fmt.Sprintf(
		"session %s's logoff was already decided %s ago (event %d: %s); this is its second trigger", r.session, age.Round(time.Second), rec.DecidedOutcome, rec.DecidedReason)}
	return r.finish(dec, nil), true
}

func (r *run) remember(update func(*Record)) {
	if r.d.State == nil {
		return
	}
	rec, _, err := r.d.State.Load()
	if errors.Is(err, ErrCorrupt) {
		r.log.Log(agentlog.Warning, uint32(decide.WarnStateUnavailable), "%v; replacing it with a fresh one", err)
		rec, err = Record{}, nil
	}
	if err == nil {
		update(&rec)
		err = r.d.State.Save(rec)
	}
	if err != nil {
		r.log.Log(agentlog.Warning, uint32(decide.WarnStateUnavailable), "state file: %v", err)
	}
}

// sessionLogon is the logon time of the logoff's session when Windows
// still lists it (the first trigger usually runs while it is logging off),
// zero otherwise. It only tells two logons with the same id apart, so an
// unanswered query is not retried.
func (r *run) sessionLogon(ctx context.Context) time.Time {
	id, err := strconv.ParseUint(r.session, 10, 32)
	if err != nil {
		return time.Time{}
	}
	at, err := within(ctx, r.d.ProbeTimeout, func() (time.Time, error) { return r.d.Probe.LogonTime(uint32(id)) })
	if err != nil {
		return time.Time{}
	}
	return at.UTC()
}

// check asks every local probe (sessions too when withSessions), then
// applies the stop rules to all facts known so far.
func (r *run) check(ctx context.Context, withSessions bool) (decide.Decision, bool) {
	started := r.d.Now()
	f := &r.facts
	f.ShuttingDown = f.ShuttingDown || r.d.Probe.ShuttingDown()
	type shutdown struct{ recent bool }
	ev, err := ask(ctx, r, "System event 1074", func() (shutdown, error) {
		_, ok, err := r.d.Probe.LastShutdownInitiated(r.cfg.ShutdownWindow)
		return shutdown{ok}, err
	})
	f.RecentShutdownEvent, f.EventLogErr = f.RecentShutdownEvent || ev.recent, err
	type servicing struct{ installing, pending string }
	sv, err := ask(ctx, r, "servicing state", func() (servicing, error) {
		i, p, err := r.d.Probe.Servicing()
		return servicing{i, p}, err
	})
	f.Installing, f.RebootPending, f.ServicingErr = sv.installing, sv.pending, err
	f.SessionHost, f.SessionHostErr = ask(ctx, r, "session host registration", r.d.Probe.SessionHost)
	if withSessions {
		f.Sessions, f.SessionsErr = ask(ctx, r, "user sessions", r.d.Probe.Sessions)
		f.LocalProbed = true
		r.lastCheck = started
	}
	if ctx.Err() != nil {
		return interrupted("while checking the host", ctx.Err()), true
	}
	return decide.Stop(*f)
}

// ask calls a probe with a time limit, and once more after a short wait if
// it failed. A probe that never returns is abandoned, not waited for.
func ask[T any](ctx context.Context, r *run, what string, probe func() (T, error)) (T, error) {
	v, err := within(ctx, r.d.ProbeTimeout, probe)
	if err == nil || ctx.Err() != nil {
		return v, err
	}
	r.log.Log(agentlog.Warning, uint32(decide.WarnProbeRetry), "%s: %v; asking once more in %s", what, err, r.d.ProbeRetryDelay)
	if serr := r.d.Sleep(ctx, r.d.ProbeRetryDelay); serr != nil {
		return v, fmt.Errorf("%w (retry cancelled: %v)", err, serr)
	}
	v, err2 := within(ctx, r.d.ProbeTimeout, probe)
	if err2 != nil {
		return v, fmt.Errorf("failed twice: %v; then %w", err, err2)
	}
	return v, nil
}

func within[T any](ctx context.Context, limit time.Duration, probe func() (T, error)) (T, error) {
	type answer struct {
		v     T
		err   error
		panic any
	}
	ch := make(chan answer, 1)
	go func() {
		var a answer
		defer func() {
			if p := recover(); p != nil {
				a = answer{panic: p}
			}
			ch <- a
		}()
		a.v, a.err = probe()
	}()
	t := time.NewTimer(limit)
	defer t.Stop()
	var zero T
	select {
	case a := <-ch:
		if a.panic != nil {
			panic(a.panic) // on the caller's goroutine, where Main recovers it
		}
		return a.v, a.err
	case <-t.C:
		return zero, fmt.Errorf("no answer within %s", limit)
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}

func interrupted(when string, err error) decide.Decision {
	return decide.Decision{Outcome: decide.SkipInterrupted, Reason: fmt.Sprintf("interrupted %s (%v): Windows is shutting down or the task was stopped; nothing sent", when, err)}
}

// act reads IMDS, gets the token and deallocates behind the last-moment gate.
func (r *run) act(ctx context.Context) Result {
	cfg, f := r.cfg, &r.facts
	if err := identity.CheckArc(r.d.Probe.ArcSignals()); err != nil {
		return r.finish(decide.Decision{Outcome: decide.FailConfig, Reason: err.Error()}, err)
	}
	md := &imds.Client{Base: cfg.IMDSBase, HTTP: r.d.HTTP, Sleep: r.d.Sleep}
	inst, err := md.Instance(ctx)
	if err != nil {
		return r.finish(decide.Decision{Outcome: decide.FailMetadata, Reason: "instance metadata: " + err.Error()}, err)
	}
	cloud, err := azure.CloudByEnvironment(inst.Environment)
	if err != nil {
		return r.finish(decide.Decision{Outcome: decide.FailMetadata, Reason: err.Error()}, err)
	}
	r.log.Log(agentlog.Info, 0, "this VM is %s in %s", inst.ResourceID, cloud.Environment)
	f.MetadataRead = true
	f.Excluded = cfg.ExcludeName != "" && inst.HasTag(cfg.ExcludeName, cfg.ExcludeValue)
	f.HibernationEnabled = inst.HibernationEnabled
	if dec, stop := decide.Stop(*f); stop {
		return r.finish(dec, nil)
	}

	tokenClient := &imds.Client{Base: cfg.IMDSBase, HTTP: r.d.HTTP, Sleep: r.d.Sleep, Deadline: r.d.TokenTimeout}
	tok, err := tokenClient.Token(ctx, strings.TrimSuffix(cloud.ARMAudience, "/"), cfg.IdentityClientID, cfg.IdentityResourceID)
	if err != nil {
		reason := fmt.Sprintf("%v (the %s must exist on this VM)", err, identity.Describe(cfg.IdentityClientID, cfg.IdentityResourceID))
		return r.finish(decide.Decision{Outcome: decide.FailToken, Reason: reason}, err)
	}
	dec := decide.Decide(*f)
	if dec.Outcome == decide.DryRun {
		if stop := r.lastMoment(ctx); stop != nil {
			return r.finish(stop.dec, nil)
		}
		return r.finish(dec, nil)
	}
	if !dec.Act() {
		return r.finish(dec, nil)
	}

	client, err := armclient.New(azure.ARM{Cloud: cloud, Endpoint: cfg.ARMEndpoint, HTTPClient: r.d.HTTP, Retry: r.d.Retry, PerRetry: []policy.Policy{gate{r}}},
		identity.StaticCredential{Token: azcore.AccessToken{Token: tok.AccessToken, ExpiresOn: tok.ExpiresOn}})
	if err != nil {
		return r.finish(decide.Decision{Outcome: decide.FailConfig, Reason: err.Error()}, err)
	}
	res, err := client.Deallocate(ctx, inst.ResourceID, dec.Hibernate)
	var stop *stopError
	if errors.As(err, &stop) {
		return r.finish(stop.dec, nil)
	}
	if res.FellBack {
		r.log.Log(agentlog.Warning, uint32(decide.WarnHibernateFallback), "hibernation refused by ARM (409); deallocated without hibernating")
		dec = decide.Decision{Outcome: decide.Deallocate, Reason: dec.Reason + "; hibernate refused, plain deallocate sent"}
	}
	var authErr *armclient.AuthorizationError
	if errors.As(err, &authErr) {
		return r.finish(decide.Decision{Outcome: decide.FailNotAuthorized, Reason: err.Error()}, err)
	}
	if err != nil {
		return r.finish(decide.Decision{Outcome: decide.FailARM, Reason: err.Error()}, err)
	}
	dec.Reason += fmt.Sprintf(" (ARM answered %d)", res.StatusCode)
	return r.finish(dec, nil)
}

// stopError ends the ARM call before a POST; azcore does not retry it.
type stopError struct{ dec decide.Decision }

func (e *stopError) Error() string { return e.dec.Reason }

// NonRetriable tells azcore's retry policy not to try again.
func (e *stopError) NonRetriable() {}

// lastMoment re-checks everything local right before a POST, and refuses
// when cancelled or when that check is older than MaxCheckAge.
func (r *run) lastMoment(ctx context.Context) *stopError {
	if err := ctx.Err(); err != nil {
		return &stopError{interrupted("before the deallocate request", err)}
	}
	if dec, stop := r.check(ctx, true); stop {
		return &stopError{dec}
	}
	if age := r.d.Now().Sub(r.lastCheck); age >= MaxCheckAge {
		return &stopError{decide.Decision{Outcome: decide.SkipStale, Reason: fmt.Sprintf("the last check of the host is %s old, not less than %s; not acting on it", age.Round(time.Second), MaxCheckAge)}}
	}
	if why := r.slept(); why != "" {
		return &stopError{decide.Decision{Outcome: decide.SkipStale, Reason: why}}
	}
	if err := ctx.Err(); err != nil {
		return &stopError{interrupted("before the deallocate request", err)}
	}
	return nil
}

// gate is a per-attempt pipeline policy: before every deallocate POST,
// retries and the hibernate fallback included, the host is checked again,
// and the POST must have left (been written to the connection) by the time
// that check is MaxCheckAge old: a connection that takes longer to open is
// abandoned and nothing is sent.
type gate struct{ r *run }

func (g gate) Do(req *policy.Request) (*http.Response, error) {
	if req.Raw().Method != http.MethodPost {
		return req.Next()
	}
	parent := req.Raw().Context()
	if stop := g.r.lastMoment(parent); stop != nil {
		return nil, stop
	}
	left := MaxCheckAge - g.r.d.Now().Sub(g.r.lastCheck)
	ctx, cancel := context.WithCancel(parent)
	var wrote atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { wrote.Store(true) }})
	var expired atomic.Bool
	timer := time.AfterFunc(left, func() {
		if !wrote.Load() {
			expired.Store(true)
			cancel()
		}
	})
	resp, err := req.Clone(ctx).Next()
	timer.Stop()
	if err != nil {
		cancel()
		if expired.Load() && parent.Err() == nil {
			return nil, &stopError{decide.Decision{Outcome: decide.SkipStale, Reason: fmt.Sprintf(
				"the deallocate request could not be sent within %s of the last check of the host; abandoned before it left", MaxCheckAge)}}
		}
		return nil, err
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// cancelOnClose releases the attempt's context once its body is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

func (r *run) finish(dec decide.Decision, err error) Result {
	level := agentlog.Info
	if dec.Outcome.IsFailure() {
		level = agentlog.Error
	}
	r.log.Log(level, uint32(dec.Outcome), "%s", dec.Reason)
	if r.facts.Command == decide.Logoff && r.session != "" && !dec.Outcome.IsFailure() &&
		dec.Outcome != decide.SkipInterrupted && dec.Outcome != decide.SkipAlreadyDecided {
		r.remember(func(rec *Record) {
			rec.DecidedSession, rec.DecidedLogon, rec.DecidedAt = r.session, r.logon, r.d.Now().UTC()
			rec.DecidedOutcome, rec.DecidedReason = uint32(dec.Outcome), dec.Reason
		})
	}
	return Result{Decision: dec, Err: err}
}
