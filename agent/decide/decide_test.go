package decide

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/avdgen/avdgen/agent/host"
)

var errProbe = errors.New("probe failed")

// The table walks every combination of the facts the agent weighs and checks
// the outcome against the rules written out independently in expected.
func TestDecideEveryCombination(t *testing.T) {
	sessionCases := []struct {
		name     string
		sessions []host.Session
		err      error
		busy     bool
	}{
		{name: "none"},
		{name: "services, console at the logon screen, listeners up and down", sessions: []host.Session{
			{ID: 0, Station: "Services", State: host.StateDisconnected}, {ID: 1, Station: "Console", State: host.StateConnected},
			{ID: 65536, Station: "RDP-Tcp", State: host.StateListen}, {ID: 65537, Station: "rdp-sxs240705700", State: host.StateDown},
			{ID: 65538, Station: "31C5CE94259D4006A9E4", State: host.StateInit}}},
		{name: "other user disconnected", sessions: []host.Session{{ID: 4, User: `CONTOSO\bob`, State: host.StateDisconnected}}, busy: true},
		{name: "logon in progress", sessions: []host.Session{{ID: 5, Station: "rdp-sxs240705700#1", State: host.StateConnected}}, busy: true},
		{name: "remote session initialising", sessions: []host.Session{{ID: 6, Station: "rdp-sxs240705700#2", State: host.StateInit}, {ID: 1, Station: "Console", State: host.StateConnected}}, busy: true},
		{name: "sessions unknown", err: errProbe},
	}
	type eventCase struct {
		recent bool
		err    error
	}
	events := []eventCase{{}, {recent: true}, {err: errProbe}}
	type servicingCase struct {
		installing, reboot string
		err                error
	}
	servicing := []servicingCase{{}, {installing: "TrustedInstaller"}, {reboot: "RebootPending"}, {err: errProbe}}
	type hostCase struct {
		registered bool
		err        error
	}
	hosts := []hostCase{{registered: true}, {}, {err: errProbe}}
	type idleCase struct {
		after, idle time.Duration
		err         error
	}
	idles := []idleCase{{after: 30 * time.Minute, idle: time.Hour}, {after: 30 * time.Minute, idle: 29 * time.Minute}, {after: 30 * time.Minute, idle: 30 * time.Minute}, {}, {after: 30 * time.Minute, err: errProbe}}
	n := 0
	for _, sc := range sessionCases {
		for _, ev := range events {
			for _, sv := range servicing {
				for _, hc := range hosts {
					for _, ic := range idles {
						for bits := 0; bits < 1<<7; bits++ {
							b := func(i int) bool { return bits&(1<<i) != 0 }
							f := Facts{
								Command: Logoff, LocalProbed: true, MetadataRead: true,
								ShuttingDown: b(0), RecentShutdownEvent: ev.recent, EventLogErr: ev.err,
								Installing: sv.installing, RebootPending: sv.reboot, ServicingErr: sv.err,
								SessionHost: hc.registered, SessionHostErr: hc.err, AllowUnregistered: b(1),
								Sessions: sc.sessions, SessionsErr: sc.err,
								IdleAfter: ic.after, IdleFor: ic.idle, IdleErr: ic.err,
								Excluded: b(2), HibernateRequested: b(3), HibernationEnabled: b(4), DryRun: b(5),
							}
							if b(6) {
								f.Command = Idle
							}
							n++
							got := Decide(f)
							want := expected(f, sc.busy)
							name := fmt.Sprintf("%s/%+v/%+v/%+v/%+v/bits=%07b", sc.name, ev, sv, hc, ic, bits)
							if got.Outcome != want {
								t.Fatalf("%s: outcome %d (%s), want %d", name, got.Outcome, got.Reason, want)
							}
							if got.Reason == "" {
								t.Fatalf("%s: no reason", name)
							}
							if got.Act() != (want == Deallocate || want == Hibernate) {
								t.Fatalf("%s: Act() = %v", name, got.Act())
							}
							hib := f.HibernateRequested && f.HibernationEnabled
							if got.Hibernate != (hib && (want == Hibernate || want == DryRun)) {
								t.Fatalf("%s: Hibernate = %v", name, got.Hibernate)
							}
							if want == SkipUserSession && !strings.Contains(got.Reason, fmt.Sprint("session ", sc.sessions[0].ID)) {
								t.Fatalf("%s: reason %q does not name the session", name, got.Reason)
							}
							for _, e := range []error{ev.err, sv.err, hc.err, sc.err, ic.err} {
								if e != nil && want.IsSkip() && strings.HasSuffix(outcomeKind(want), "unknown") && !strings.Contains(got.Reason, e.Error()) {
									t.Fatalf("%s: reason %q does not say why it is unknown", name, got.Reason)
								}
							}
						}
					}
				}
			}
		}
	}
	t.Logf("%d combinations", n)
}

func outcomeKind(o Outcome) string {
	switch o {
	case SkipEventLogUnknown, SkipServicingUnknown, SkipSessionHostUnknown, SkipSessionsUnknown, SkipIdleUnknown:
		return "unknown"
	}
	return ""
}

// expected restates the rules: any doubt, any signal of a restart or
// servicing, anyone on the host means no deallocation; the idle safety net
// also waits for idleAfter. A pending reboot holds neither (issue 20).
func expected(f Facts, busy bool) Outcome {
	idle := f.Command == Idle
	switch {
	case f.ShuttingDown:
		return SkipShutdown
	case f.EventLogErr != nil:
		return SkipEventLogUnknown
	case f.RecentShutdownEvent:
		return SkipRecentShutdown
	case f.ServicingErr != nil:
		return SkipServicingUnknown
	case f.Installing != "":
		return SkipServicing
	case !f.AllowUnregistered && f.SessionHostErr != nil:
		return SkipSessionHostUnknown
	case !f.AllowUnregistered && !f.SessionHost:
		return SkipNotSessionHost
	case f.SessionsErr != nil:
		return SkipSessionsUnknown
	case busy:
		return SkipUserSession
	case idle && f.IdleAfter == 0:
		return SkipIdleDisabled
	case idle && f.IdleErr != nil:
		return SkipIdleUnknown
	case idle && f.IdleFor < f.IdleAfter:
		return SkipNotIdleLongEnough
	case f.Excluded:
		return SkipExcluded
	case f.DryRun:
		return DryRun
	case f.HibernateRequested && f.HibernationEnabled:
		return Hibernate
	}
	return Deallocate
}

func TestIncompleteFactsNeverAct(t *testing.T) {
	for _, f := range []Facts{{}, {LocalProbed: true, SessionHost: true}, {MetadataRead: true, SessionHost: true}} {
		if d := Decide(f); d.Outcome != SkipIncomplete && d.Outcome != SkipNotSessionHost {
			t.Errorf("%+v: %d (%s)", f, d.Outcome, d.Reason)
		}
	}
	if d := Decide(Facts{MetadataRead: true, SessionHost: true}); d.Outcome != SkipIncomplete {
		t.Errorf("without local probes: %d", d.Outcome)
	}
	if d := Decide(Facts{LocalProbed: true, SessionHost: true}); d.Outcome != SkipIncomplete {
		t.Errorf("without metadata: %d", d.Outcome)
	}
}

// Stop before the local probes ran must not claim "not a session host".
func TestStopBeforeProbing(t *testing.T) {
	if d, stop := Stop(Facts{}); stop {
		t.Errorf("stopped on nothing: %+v", d)
	}
	if d, stop := Stop(Facts{Command: Idle, IdleAfter: time.Minute}); stop {
		t.Errorf("idle stopped before probing: %+v", d)
	}
	if _, stop := Stop(Facts{LocalProbed: true}); !stop {
		t.Error("unregistered host not stopped")
	}
}

// The busy rule, one row per kind of session Windows lists. The console at
// the logon screen (no user, whatever its id) was busy before issue 20, so a
// host nobody signed in to at the console never deallocated.
func TestBusy(t *testing.T) {
	for _, c := range []struct {
		s    host.Session
		busy bool
	}{
		{host.Session{ID: 0, Station: "Services", User: "x", State: host.StateActive}, false},
		// The console: at the logon screen it holds nothing, with any id.
		{host.Session{ID: 1, Station: "Console", State: host.StateConnected}, false},
		{host.Session{ID: 3, Station: "console", State: host.StateConnected}, false},
		{host.Session{ID: 2, Station: "Console", State: host.StateConnectQuery}, false},
		{host.Session{ID: 1, Station: "Console", User: `C\ann`, State: host.StateActive}, true},
		{host.Session{ID: 1, Station: "Console", User: `C\ann`, State: host.StateDisconnected}, true},
		// Listeners, up or down, whatever they are called.
		{host.Session{ID: 65536, Station: "RDP-Tcp", State: host.StateListen}, false},
		{host.Session{ID: 65536, Station: "rdp-tcp", State: host.StateDown}, false},
		{host.Session{ID: 65537, Station: "rdp-sxs240705700", State: host.StateDown}, false},
		{host.Session{ID: 65537, Station: "RDP-SXS240705700", State: host.StateInit}, false},
		{host.Session{ID: 65536, Station: "31C5CE94259D4006A9E4", State: host.StateDown}, false},
		{host.Session{ID: 65539, Station: "RDP-Tcp-3390", State: host.StateListen}, false},
		{host.Session{ID: 1, State: host.StateListen}, false},
		// Remote sessions with no user yet: a logon in progress.
		{host.Session{ID: 2, Station: "rdp-sxs240705700#0", State: host.StateConnected}, true},
		{host.Session{ID: 2, Station: "RDP-Tcp#3", State: host.StateConnectQuery}, true},
		{host.Session{ID: 2, Station: "rdp-sxs240705700#1", State: host.StateInit}, true},
		{host.Session{ID: 2, Station: "31C5CE94259D4006A9E4#3", State: host.StateConnected}, true},
		{host.Session{ID: 2, State: host.StateInit}, true},
		{host.Session{ID: 2, State: host.StateReset}, true},
		{host.Session{ID: 2, State: host.StateShadow}, true},
		{host.Session{ID: 2, State: host.StateIdle}, true},
		{host.Session{ID: 7, State: host.StateDown}, true},
		{host.Session{ID: 7, Station: "rdp-sxs", State: host.StateDown}, true},
		// Users, remote, attached or not.
		{host.Session{ID: 4, User: `C\bob`, State: host.StateDisconnected}, true},
		{host.Session{ID: 5, Station: "rdp-sxs240705700#2", User: `C\bob`, State: host.StateActive}, true},
		{host.Session{ID: 65536, Station: "RDP-Tcp", User: `C\odd`, State: host.StateListen}, true},
	} {
		holds, why := Hold(c.s)
		if got := Busy(c.s); got != c.busy || holds != c.busy {
			t.Errorf("Busy(%+v) = %v (%s), want %v", c.s, got, why, c.busy)
		}
		if why == "" {
			t.Errorf("Hold(%+v): no reason", c.s)
		}
	}
}

func TestHoldSaysWhy(t *testing.T) {
	for s, want := range map[host.Session]string{
		{ID: 0, Station: "Services", State: host.StateDisconnected}:           "session 0 Services (no user) Disconnected: does not hold the VM, the services session, never a user's",
		{ID: 1, Station: "Console", State: host.StateConnected}:               "session 1 Console (no user) Connected: does not hold the VM, the console at the logon screen (Connected): nobody signed in",
		{ID: 1, Station: "Console", User: `C\ann`, State: host.StateActive}:   `session 1 Console C\ann Active: holds the VM, a user is signed in at the console`,
		{ID: 4, User: `C\bob`, State: host.StateDisconnected}:                 `session 4 (no station: disconnected) C\bob Disconnected: holds the VM, a user is signed in (Disconnected)`,
		{ID: 65536, Station: "31C5CE94259D4006A9E4", State: host.StateListen}: "session 65536 31C5CE94259D4006A9E4 (no user) Listen: does not hold the VM, a listener (Listen): it accepts connections, nobody is in it",
		{ID: 2, Station: "rdp-sxs240705700#0", State: host.StateInit}:         "session 2 rdp-sxs240705700#0 (no user) Init: holds the VM, no user yet (Init): a remote logon in progress",
		{ID: 9, State: host.StateDown}:                                        "session 9 (no station: disconnected) (no user) Down: holds the VM, down, not a listener, no user known: held while Windows cannot say whose it was",
	} {
		if got := Explain(s); got != want {
			t.Errorf("Explain(%+v)\n got %q\nwant %q", s, got, want)
		}
	}
	f := Facts{LocalProbed: true, MetadataRead: true, SessionHost: true, Sessions: []host.Session{{ID: 2, Station: "rdp-sxs240705700#0", State: host.StateInit}}}
	if d := Decide(f); d.Reason != "still signed in: (user not known yet: logon in progress) (session 2 at rdp-sxs240705700#0, Init)" {
		t.Errorf("reason %q", d.Reason)
	}
}

func TestReasonsSayWhatTheyMean(t *testing.T) {
	base := Facts{LocalProbed: true, MetadataRead: true, SessionHost: true}
	d := Decide(Facts{Command: Idle, LocalProbed: true, MetadataRead: true, SessionHost: true, IdleAfter: 30 * time.Minute, IdleFor: 40 * time.Minute})
	if !strings.Contains(d.Reason, "no user session for 40m0s (idleAfter 30m0s)") {
		t.Errorf("idle reason %q", d.Reason)
	}
	f := base
	f.HibernateRequested = true
	if d := Decide(f); !strings.Contains(d.Reason, "hibernation is not enabled") || d.Outcome != Deallocate {
		t.Errorf("reason %q", d.Reason)
	}
	f.HibernationEnabled, f.DryRun = true, true
	if d := Decide(f); !strings.HasSuffix(d.Reason, "would hibernate") {
		t.Errorf("reason %q", d.Reason)
	}
	f.HibernationEnabled = false
	if d := Decide(f); !strings.HasSuffix(d.Reason, "would deallocate") {
		t.Errorf("reason %q", d.Reason)
	}
	f = base
	f.Sessions = []host.Session{{ID: 3, User: `C\bob`, State: host.StateDisconnected}, {ID: 4, State: host.StateConnected}}
	if d := Decide(f); d.Reason != `still signed in: C\bob (session 3, Disconnected), (user not known yet: logon in progress) (session 4, Connected)` {
		t.Errorf("reason %q", d.Reason)
	}
	for _, cmd := range []Command{Logoff, Idle} {
		f = base
		f.Command, f.RebootPending, f.IdleAfter, f.IdleFor = cmd, "X", time.Minute, time.Hour
		if d := Decide(f); !strings.Contains(d.Reason, "a reboot is pending (X)") || !d.Act() {
			t.Errorf("%v: %d %q", cmd, d.Outcome, d.Reason)
		}
	}
	f = base
	f.Installing = "TrustedInstaller"
	if d := Decide(f); !strings.Contains(d.Reason, "(TrustedInstaller)") {
		t.Errorf("reason %q", d.Reason)
	}
}

func TestOutcomeClasses(t *testing.T) {
	for _, o := range []Outcome{SkipShutdown, SkipRecentShutdown, SkipUserSession, SkipExcluded, SkipSessionsUnknown, SkipEventLogUnknown,
		SkipServicing, SkipServicingUnknown, SkipNotSessionHost, SkipSessionHostUnknown, SkipAlreadyDecided, SkipIdleDisabled,
		SkipNotIdleLongEnough, SkipIdleUnknown, SkipInterrupted, SkipIncomplete, SkipStale} {
		if !o.IsSkip() || o.IsFailure() {
			t.Errorf("%d should be a skip", o)
		}
	}
	for _, o := range []Outcome{FailMetadata, FailToken, FailNotAuthorized, FailARM, FailConfig, FailUsage, FailPanic} {
		if o.IsSkip() || !o.IsFailure() {
			t.Errorf("%d should be a failure", o)
		}
	}
	for _, o := range []Outcome{Deallocate, Hibernate, DryRun, WarnHibernateFallback, WarnLogFileRefused, WarnSessionLiteral, WarnStateUnavailable, WarnProbeRetry, 199, 400} {
		if o.IsSkip() || o.IsFailure() {
			t.Errorf("%d is neither skip nor failure", o)
		}
	}
	for _, o := range []Outcome{199, 300} {
		if o.IsSkip() {
			t.Errorf("%d is not a skip", o)
		}
	}
	if Outcome(299).IsSkip() != true || Outcome(399).IsFailure() != true {
		t.Error("range ends")
	}
}

// Defect 11: EventCreate.exe, the event source's message file, only carries
// messages for ids 1–1000.
func TestEventIDsWithinEventCreateRange(t *testing.T) {
	for _, o := range []Outcome{Deallocate, Hibernate, DryRun, SkipShutdown, SkipRecentShutdown, SkipUserSession, SkipExcluded, SkipSessionsUnknown,
		SkipEventLogUnknown, SkipServicing, SkipServicingUnknown, SkipNotSessionHost, SkipSessionHostUnknown, SkipAlreadyDecided,
		SkipIdleDisabled, SkipNotIdleLongEnough, SkipIdleUnknown, SkipInterrupted, SkipIncomplete, SkipStale,
		FailMetadata, FailToken, FailNotAuthorized, FailARM, FailConfig, FailUsage, FailPanic,
		WarnHibernateFallback, WarnLogFileRefused, WarnSessionLiteral, WarnStateUnavailable, WarnProbeRetry} {
		if o < 1 || o > 1000 {
			t.Errorf("event id %d outside 1–1000", o)
		}
	}
}
