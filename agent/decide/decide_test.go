package decide

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/avdgen/avdgen/agent/host"
)

// The table walks every combination of the facts the agent weighs and checks
// the outcome against the rules written out independently below.
func TestDecideEveryCombination(t *testing.T) {
	sessionCases := []struct {
		name     string
		sessions []host.Session
		err      error
		busy     bool
	}{
		{name: "none"},
		{name: "only listener", sessions: []host.Session{{ID: 65536, State: host.StateListen}}},
		{name: "other user active", sessions: []host.Session{{ID: 3, User: `CONTOSO\bob`, State: host.StateActive}}, busy: true},
		{name: "other user disconnected", sessions: []host.Session{{ID: 4, User: `CONTOSO\bob`, State: host.StateDisconnected}}, busy: true},
		{name: "same user back", sessions: []host.Session{{ID: 5, User: `CONTOSO\ann`, State: host.StateActive}}, busy: true},
		{name: "sessions unknown", err: errors.New("WTSEnumerateSessions failed")},
	}
	shutdownCases := []struct {
		name                        string
		atStart, recentEvent, later bool
	}{
		{name: "no shutdown"},
		{name: "shutting down at start", atStart: true},
		{name: "recent 1074", recentEvent: true},
		{name: "shutdown during grace", later: true},
	}
	for _, sc := range sessionCases {
		for _, sd := range shutdownCases {
			for _, excluded := range []bool{false, true} {
				for _, hibReq := range []bool{false, true} {
					for _, hibOn := range []bool{false, true} {
						for _, dry := range []bool{false, true} {
							f := Facts{
								ShuttingDownAtStart: sd.atStart, RecentShutdownEvent: sd.recentEvent, ShuttingDownAfterGrace: sd.later,
								Sessions: sc.sessions, SessionsErr: sc.err, Excluded: excluded,
								HibernateRequested: hibReq, HibernationEnabled: hibOn, DryRun: dry,
							}
							name := fmt.Sprintf("%s/%s/excluded=%v/hib=%v,%v/dry=%v", sc.name, sd.name, excluded, hibReq, hibOn, dry)
							t.Run(name, func(t *testing.T) {
								got := Decide(f)
								want := expected(sd.atStart || sd.later, sd.recentEvent, sc.err != nil, sc.busy, excluded, hibReq && hibOn, dry)
								if got.Outcome != want {
									t.Fatalf("outcome %d (%s), want %d", got.Outcome, got.Reason, want)
								}
								if got.Reason == "" {
									t.Errorf("no reason given")
								}
								if got.Act() != (want == Deallocate || want == Hibernate) {
									t.Errorf("Act() = %v for %d", got.Act(), want)
								}
								if (want == Hibernate || want == DryRun && hibReq && hibOn) != got.Hibernate {
									t.Errorf("Hibernate = %v", got.Hibernate)
								}
								if want == SkipUserSession && !strings.Contains(got.Reason, sc.sessions[0].User) {
									t.Errorf("reason %q does not name the user", got.Reason)
								}
							})
						}
					}
				}
			}
		}
	}
}

// expected restates the rules: any doubt or anyone on the host means no
// deallocation; otherwise hibernate only when asked and enabled.
func expected(shutdownNow, recent, unknown, busy, excluded, hibernate, dry bool) Outcome {
	switch {
	case shutdownNow:
		return SkipShutdown
	case recent:
		return SkipRecentShutdown
	case unknown:
		return SkipSessionsUnknown
	case busy:
		return SkipUserSession
	case excluded:
		return SkipExcluded
	case dry:
		return DryRun
	case hibernate:
		return Hibernate
	}
	return Deallocate
}

func TestOutcomeClasses(t *testing.T) {
	for _, o := range []Outcome{SkipShutdown, SkipRecentShutdown, SkipUserSession, SkipExcluded, SkipSessionsUnknown} {
		if !o.IsSkip() || o.IsFailure() {
			t.Errorf("%d should be a skip", o)
		}
	}
	for _, o := range []Outcome{FailMetadata, FailToken, FailNotAuthorized, FailARM, FailConfig} {
		if o.IsSkip() || !o.IsFailure() {
			t.Errorf("%d should be a failure", o)
		}
	}
}
