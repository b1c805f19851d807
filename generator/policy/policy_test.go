package policy

import (
	"strings"
	"testing"

	"github.com/avdgen/avdgen/generator/spec"
)

// TestSessionEndDescribesTheChosenLimits: the bundle READMEs say when a
// session ends for the limits actually chosen, not a fixed sentence.
func TestSessionEndDescribesTheChosenLimits(t *testing.T) {
	lim := func(ms uint32) spec.Limit { return spec.Limit{Ms: ms, Set: true} }
	cases := []struct {
		name        string
		limits      spec.Limits
		want, avoid []string
	}{
		{"disconnected 15m, idle 2h disconnects", spec.Limits{Disconnected: lim(900000), Idle: lim(7200000)},
			[]string{"logged off after 15 minutes", "idle session is disconnected after 2 hours, then logged off by the disconnected limit"}, []string{"No limit here"}},
		{"end-session with idle only", spec.Limits{EndSessionOnLimit: true, Idle: lim(7200000)},
			[]string{"never logged off by a time limit", "idle session is logged off after 2 hours"}, []string{"No limit here"}},
		{"allow-no-logoff", spec.Limits{Idle: lim(3600000), AllowNoLogoff: true},
			[]string{"No limit here logs a session off", "disconnected after 1 hour and then stays signed in"}, []string{"runs the task at once"}},
	}
	for _, c := range cases {
		got := strings.Join(SessionEnd(c.limits), "\n")
		for _, w := range c.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: %q lacks %q", c.name, got, w)
			}
		}
		for _, a := range c.avoid {
			if strings.Contains(got, a) {
				t.Errorf("%s: %q says %q", c.name, got, a)
			}
		}
	}
}
