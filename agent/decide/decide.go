// Package decide is the agent's decision, as a pure function of the facts
// it gathered, so every combination can be tested as a table. When in
// doubt it does not deallocate: a probe that could not answer is a reason to
// skip, never a "no".
package decide

import (
	"fmt"
	"strings"
	"time"

	"github.com/avdgen/avdgen/agent/host"
)

// Outcome is what the agent did or will do. Its value is the Application
// event log id the agent writes (documented in docs/agent.md). Ids stay in
// 1–1000: EventCreate.exe, the message file the event source uses, only
// carries messages for those.
type Outcome uint32

// Outcomes and their event ids. 1xx act, 2xx deliberate skips, 3xx failures,
// 4xx warnings.
const (
	Deallocate Outcome = 100 // deallocated (or will deallocate)
	Hibernate  Outcome = 101 // hibernated
	DryRun     Outcome = 102 // would have deallocated; --dry-run

	SkipShutdown           Outcome = 200 // Windows is shutting down or restarting now
	SkipRecentShutdown     Outcome = 201 // event 1074: shutdown/restart initiated recently
	SkipUserSession        Outcome = 202 // a user session is there (or one being logged on)
	SkipExcluded           Outcome = 203 // the VM carries the exclusion tag
	SkipSessionsUnknown    Outcome = 204 // sessions could not be listed
	SkipEventLogUnknown    Outcome = 205 // the System log could not be read
	SkipServicing          Outcome = 206 // Windows servicing is busy
	SkipServicingUnknown   Outcome = 207 // servicing state could not be read
	SkipNotSessionHost     Outcome = 208 // not a registered AVD session host
	SkipSessionHostUnknown Outcome = 209 // registration could not be read
	SkipAlreadyDecided     Outcome = 210 // this logoff was decided by an earlier run
	SkipIdleDisabled       Outcome = 211 // idle safety net switched off (idleAfter never)
	SkipNotIdleLongEnough  Outcome = 212 // no session, but not for idleAfter yet
	SkipIdleUnknown        Outcome = 213 // how long the host has been idle is unknown
	SkipInterrupted        Outcome = 214 // cancelled (shutdown, logoff or stop signal)
	SkipIncomplete         Outcome = 215 // a required probe never ran
	SkipStale              Outcome = 216 // the last check is too old to act on

	FailMetadata      Outcome = 300 // IMDS unreachable or its answer unusable
	FailToken         Outcome = 301 // no managed-identity token
	FailNotAuthorized Outcome = 302 // ARM 403: the identity may not deallocate
	FailARM           Outcome = 303 // other ARM failure after retries
	FailConfig        Outcome = 304 // refused to run (Arc, endpoints)
	FailUsage         Outcome = 305 // bad command line
	FailPanic         Outcome = 306 // internal error (recovered panic)

	WarnHibernateFallback Outcome = 400 // hibernation refused, deallocated instead
	WarnLogFileRefused    Outcome = 401 // log folder not protected: no log file written
	WarnSessionLiteral    Outcome = 402 // the task passed a literal $(SessionId)
	WarnStateUnavailable  Outcome = 403 // state file could not be read or written
	WarnProbeRetry        Outcome = 404 // a probe failed once and is asked again
)

// IsSkip reports a deliberate skip (not a failure; exit code 0).
func (o Outcome) IsSkip() bool { return o >= 200 && o < 300 }

// IsFailure reports a failure.
func (o Outcome) IsFailure() bool { return o >= 300 && o < 400 }

// Command is what the agent was started for.
type Command int

// Commands.
const (
	Logoff Command = iota // after a logoff event
	Idle                  // the periodic safety net
)

// Facts are what the agent knows when it decides. The zero value of every
// "…Err" field means the probe answered; a fact whose probe has not run yet
// is marked by the Probed flags, so Decide can refuse an incomplete picture.
type Facts struct {
	Command Command

	// LocalProbed: shutdown, event log, servicing, registration and sessions were asked.
	LocalProbed bool
	// ShuttingDown: GetSystemMetrics(SM_SHUTTINGDOWN) at any check so far.
	ShuttingDown bool
	// RecentShutdownEvent: System event 1074 within the window; EventLogErr when unreadable.
	RecentShutdownEvent bool
	EventLogErr         error
	// Servicing: TrustedInstaller / Windows Update installing; RebootPending
	// names the pending-reboot marker found (noted in the reason, holds
	// nothing). ServicingErr when unreadable.
	Installing    string
	RebootPending string
	ServicingErr  error
	// SessionHost: registered with the AVD agent (IsRegistered=1).
	SessionHost       bool
	SessionHostErr    error
	AllowUnregistered bool
	// Sessions at the last check; SessionsErr when they could not be listed.
	Sessions    []host.Session
	SessionsErr error

	// Idle safety net: IdleAfter 0 means switched off; IdleFor is how long no
	// session has existed; IdleErr when that is unknown.
	IdleAfter time.Duration
	IdleFor   time.Duration
	IdleErr   error

	// MetadataRead: IMDS answered; Excluded: the VM carries the exclusion tag.
	MetadataRead bool
	Excluded     bool
	// HibernateRequested (--action hibernate) and HibernationEnabled (IMDS).
	HibernateRequested bool
	HibernationEnabled bool
	DryRun             bool
}

// Decision is the outcome with its reason.
type Decision struct {
	Outcome Outcome
	// Hibernate is set when the deallocate call should ask to hibernate.
	Hibernate bool
	Reason    string
}

// Act reports whether the agent should call ARM.
func (d Decision) Act() bool { return d.Outcome == Deallocate || d.Outcome == Hibernate }

// Busy reports whether a session keeps the VM (see Hold).
func Busy(s host.Session) bool {
	holds, _ := Hold(s)
	return holds
}

// Station names Windows gives its own sessions and listeners. WTS spells
// them "Console", "RDP-Tcp", "rdp-sxs240705700"; qwinsta prints them
// lower-cased, so they compare case-insensitively. A connection through a
// listener is the listener's name, '#' and a number ("rdp-sxs240705700#1").
const (
	consoleStation = "Console"
	rdpTCPListener = "RDP-Tcp"
	sxsListener    = "rdp-sxs" // AVD's side-by-side stack: rdp-sxs<version>
	// vmbusListener is Hyper-V's VMBus listener (enhanced session); its
	// connections are "31C5CE94259D4006A9E4#N".
	vmbusListener = "31C5CE94259D4006A9E4"
)

// isListener reports a listener's station name: RDP-Tcp, rdp-sxs<version>
// or the VMBus listener, without the "#N" of a connection through it.
func isListener(station string) bool {
	if station == "" || strings.Contains(station, "#") {
		return false
	}
	return strings.EqualFold(station, rdpTCPListener) || strings.EqualFold(station, vmbusListener) ||
		len(station) > len(sxsListener) && strings.EqualFold(station[:len(sxsListener)], sxsListener)
}

// Hold is the busy rule: whether a session keeps the VM, and why, in words
// `check` and the logs print. In order:
//   - the services session (0) never does;
//   - anyone signed in does, at the console or remotely, attached or not;
//   - a listener (state Listen, or named RDP-Tcp, rdp-sxs…, or the VMBus
//     listener, whatever its state) does not: nobody is in it;
//   - the console with nobody signed in does not: it sits at the logon
//     screen on every VM, whatever its session id, and AVD users never
//     arrive through it;
//   - any other session without a user does: a remote logon in progress
//     (ConnectQuery, Connected, Init), or a session Windows has not named a
//     user for yet. A down session that is not a listener is held too: the
//     agent cannot tell whose it was.
func Hold(s host.Session) (holds bool, why string) {
	// One if per rule, in order (a switch hides its cases from the mutation
	// tester's coverage).
	if s.ID == 0 {
		return false, "the services session, never a user's"
	}
	console := strings.EqualFold(s.Station, consoleStation)
	if s.User != "" && console {
		return true, "a user is signed in at the console"
	}
	if s.User != "" {
		return true, fmt.Sprintf("a user is signed in (%s)", s.State)
	}
	if s.State == host.StateListen || isListener(s.Station) {
		return false, fmt.Sprintf("a listener (%s): it accepts connections, nobody is in it", s.State)
	}
	if console {
		return false, fmt.Sprintf("the console at the logon screen (%s): nobody signed in", s.State)
	}
	if s.State == host.StateDown {
		return true, "down, not a listener, no user known: held while Windows cannot say whose it was"
	}
	return true, fmt.Sprintf("no user yet (%s): a remote logon in progress", s.State)
}

// describe names a session that holds the VM, for a skip reason.
func describe(s host.Session) string {
	user := s.User
	if user == "" {
		user = "(user not known yet: logon in progress)"
	}
	return fmt.Sprintf("%s (session %d%s, %s)", user, s.ID, atStation(s), s.State)
}

// atStation is " at <station>", or nothing for a session without one (a
// disconnected session has no station).
func atStation(s host.Session) string {
	if s.Station == "" {
		return ""
	}
	return " at " + s.Station
}

// Explain is one line per session for `check` and the logs: id, station,
// user, state, and whether and why it holds the VM.
func Explain(s host.Session) string {
	holds, why := Hold(s)
	verdict := "holds the VM"
	if !holds {
		verdict = "does not hold the VM"
	}
	station := s.Station
	if station == "" {
		station = "(no station: disconnected)"
	}
	user := s.User
	if user == "" {
		user = "(no user)"
	}
	return fmt.Sprintf("session %d %s %s %s: %s, %s", s.ID, station, user, s.State, verdict, why)
}

// Stop returns the first rule that forbids deallocating with what is known so
// far, and ok=false when none does (yet).
func Stop(f Facts) (d Decision, stop bool) {
	skip := func(o Outcome, format string, args ...any) (Decision, bool) {
		return Decision{Outcome: o, Reason: fmt.Sprintf(format, args...)}, true
	}
	// One if per rule, in order (the order is the table in docs/agent.md).
	if f.ShuttingDown {
		return skip(SkipShutdown, "Windows is shutting down or restarting (SM_SHUTTINGDOWN); a user's shutdown is left to the stopped-VM sweep")
	}
	if f.EventLogErr != nil {
		return skip(SkipEventLogUnknown, "could not read the System event log for event 1074 (%v); a restart may be under way, not deallocating while unsure", f.EventLogErr)
	}
	if f.RecentShutdownEvent {
		return skip(SkipRecentShutdown, "a shutdown or restart was initiated recently (System event 1074); not deallocating")
	}
	if f.ServicingErr != nil {
		return skip(SkipServicingUnknown, "could not tell whether Windows servicing is busy (%v); not deallocating while unsure", f.ServicingErr)
	}
	if f.Installing != "" {
		return skip(SkipServicing, "Windows servicing is busy (%s); deallocating now could damage the installation", f.Installing)
	}
	if f.SessionHostErr != nil && !f.AllowUnregistered {
		return skip(SkipSessionHostUnknown, "could not tell whether this is a registered AVD session host (%v); not deallocating", f.SessionHostErr)
	}
	if f.LocalProbed && !f.SessionHost && !f.AllowUnregistered {
		return skip(SkipNotSessionHost, "this VM is not a registered AVD session host (HKLM\\SOFTWARE\\Microsoft\\RDInfraAgent IsRegistered is not 1); not deallocating")
	}
	if f.SessionsErr != nil {
		return skip(SkipSessionsUnknown, "could not list user sessions (%v); not deallocating while unsure", f.SessionsErr)
	}
	var users []string
	for _, s := range f.Sessions {
		if Busy(s) {
			users = append(users, describe(s))
		}
	}
	if len(users) > 0 {
		return skip(SkipUserSession, "still signed in: %s", strings.Join(users, ", "))
	}
	if f.Command == Idle && f.IdleAfter <= 0 {
		return skip(SkipIdleDisabled, "the idle safety net is switched off (idleAfter never)")
	}
	if f.Command == Idle && f.IdleErr != nil {
		return skip(SkipIdleUnknown, "cannot tell how long this host has been without a session (%v); not deallocating", f.IdleErr)
	}
	if f.Command == Idle && f.LocalProbed && f.IdleFor < f.IdleAfter {
		return skip(SkipNotIdleLongEnough, "no user session for %s, less than idleAfter %s", f.IdleFor.Round(time.Second), f.IdleAfter)
	}
	if f.Excluded {
		return skip(SkipExcluded, "the VM carries the exclusion tag")
	}
	return Decision{}, false
}

// Decide is the final decision: a stop rule, or an incomplete picture, or
// the action.
func Decide(f Facts) Decision {
	if d, stop := Stop(f); stop {
		return d
	}
	if !f.LocalProbed || !f.MetadataRead {
		return Decision{Outcome: SkipIncomplete, Reason: "not every probe has answered (local state and instance metadata are both required); not deallocating"}
	}
	hibernate := f.HibernateRequested && f.HibernationEnabled
	reason := "no user session left after the grace period"
	if f.Command == Idle {
		reason = fmt.Sprintf("no user session for %s (idleAfter %s)", f.IdleFor.Round(time.Second), f.IdleAfter)
	}
	if f.HibernateRequested && !f.HibernationEnabled {
		reason += "; hibernate requested but IMDS says hibernation is not enabled on this VM, so deallocating"
	}
	if f.RebootPending != "" {
		// One rule for logoff and idle: deallocation shuts Windows down
		// gracefully, which completes what waits for the reboot; servicing
		// at work (rule 5) holds the VM, a pending reboot does not.
		reason += fmt.Sprintf("; a reboot is pending (%s): the shutdown completes it", f.RebootPending)
	}
	if f.DryRun {
		verb := "deallocate"
		if hibernate {
			verb = "hibernate"
		}
		return Decision{Outcome: DryRun, Hibernate: hibernate, Reason: reason + "; --dry-run: would " + verb}
	}
	if hibernate {
		return Decision{Outcome: Hibernate, Hibernate: true, Reason: reason + "; hibernating"}
	}
	return Decision{Outcome: Deallocate, Reason: reason + "; deallocating"}
}
