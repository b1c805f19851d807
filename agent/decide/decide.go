// Package decide is the agent's decision, as a pure function of the facts
// it gathered, so every combination can be tested as a table. When in
// doubt it does not deallocate: the stopped-VM sweep is the backstop.
package decide

import (
	"fmt"
	"strings"

	"github.com/avdgen/avdgen/agent/host"
)

// Outcome is what the agent did or will do. Its value is the Application
// event log id the agent writes (documented in docs/agent.md).
type Outcome uint32

// Outcomes and their event ids. 10xx act, 11xx deliberate skips, 12xx failures.
const (
	Deallocate             Outcome = 1000 // deallocated (or will deallocate)
	Hibernate              Outcome = 1001 // hibernated
	DryRun                 Outcome = 1002 // would have deallocated; --dry-run
	SkipShutdown           Outcome = 1100 // Windows is shutting down or restarting now
	SkipRecentShutdown     Outcome = 1101 // event 1074: shutdown/restart initiated recently
	SkipUserSession        Outcome = 1102 // a user session is active or disconnected
	SkipExcluded           Outcome = 1103 // the VM carries the exclusion tag
	SkipSessionsUnknown    Outcome = 1104 // sessions could not be listed
	FailMetadata           Outcome = 1200 // IMDS unreachable or its answer unusable
	FailToken              Outcome = 1201 // no managed-identity token
	FailNotAuthorized      Outcome = 1202 // ARM 403: the identity may not deallocate
	FailARM                Outcome = 1203 // other ARM failure after retries
	FailConfig             Outcome = 1204 // refused to run (identity source, endpoints)
	WarnHibernateFallback  Outcome = 1300 // hibernate refused (409), deallocated instead
	WarnEventLogUnreadable Outcome = 1301 // event 1074 could not be read
)

// IsSkip reports a deliberate skip (not a failure; exit code 0).
func (o Outcome) IsSkip() bool { return o >= 1100 && o < 1200 }

// IsFailure reports a failure.
func (o Outcome) IsFailure() bool { return o >= 1200 && o < 1300 }

// Facts are what the agent knows when it decides.
type Facts struct {
	// ShuttingDownAtStart / ShuttingDownAfterGrace: GetSystemMetrics(SM_SHUTTINGDOWN).
	ShuttingDownAtStart    bool
	ShuttingDownAfterGrace bool
	// RecentShutdownEvent: System event 1074 within the window (any language).
	RecentShutdownEvent bool
	// Sessions after the grace period; SessionsErr when they could not be listed.
	Sessions    []host.Session
	SessionsErr error
	// Excluded: the VM carries the exclusion tag.
	Excluded bool
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

// busy reports whether a session keeps the VM: anyone signed in, attached or
// not. Listening, down and initialising sessions hold no user.
func busy(s host.Session) bool {
	switch s.State {
	case host.StateListen, host.StateDown, host.StateInit:
		return false
	}
	return true
}

// Decide applies the rules in order: shutdown signals, sessions, exclusion
// tag, then the action.
func Decide(f Facts) Decision {
	switch {
	case f.ShuttingDownAtStart:
		return Decision{Outcome: SkipShutdown, Reason: "Windows is shutting down or restarting (SM_SHUTTINGDOWN at start); a user's shutdown is left to the stopped-VM sweep"}
	case f.RecentShutdownEvent:
		return Decision{Outcome: SkipRecentShutdown, Reason: "a shutdown or restart was initiated recently (System event 1074); not deallocating"}
	case f.ShuttingDownAfterGrace:
		return Decision{Outcome: SkipShutdown, Reason: "Windows started shutting down during the grace period (SM_SHUTTINGDOWN)"}
	case f.SessionsErr != nil:
		return Decision{Outcome: SkipSessionsUnknown, Reason: fmt.Sprintf("could not list user sessions (%v); not deallocating while unsure", f.SessionsErr)}
	}
	var users []string
	for _, s := range f.Sessions {
		if busy(s) {
			users = append(users, fmt.Sprintf("%s (session %d, %s)", s.User, s.ID, s.State))
		}
	}
	if len(users) > 0 {
		return Decision{Outcome: SkipUserSession, Reason: "still signed in: " + strings.Join(users, ", ")}
	}
	if f.Excluded {
		return Decision{Outcome: SkipExcluded, Reason: "the VM carries the exclusion tag"}
	}
	hibernate := f.HibernateRequested && f.HibernationEnabled
	reason := "no user session left after the grace period"
	if f.HibernateRequested && !f.HibernationEnabled {
		reason += "; hibernate requested but IMDS says hibernation is not enabled on this VM, so deallocating"
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
