// Package policy describes the Session Time Limits policies the way the
// ADMX/ADML and GPMC name them, for READMEs and gpreport.xml.
package policy

import (
	"fmt"

	"github.com/avdgen/avdgen/generator/spec"
)

// Row is one Session Time Limits policy as the README and report show it.
type Row struct {
	Policy, Setting, Value, State string
}

func Rows(l spec.Limits) []Row {
	row := func(policy, setting string, v spec.Limit) Row {
		if !v.Set {
			return Row{policy, setting, "", "Not Configured"}
		}
		return Row{policy, setting, DisplayTime(v.Ms), "Enabled"}
	}
	end := Row{"End session when time limits are reached", "", "", "Disabled"}
	if l.EndSessionOnLimit {
		end.State = "Enabled"
	}
	return []Row{
		row("Set time limit for active but idle Remote Desktop Services sessions", "Idle session limit:", l.Idle),
		row("Set time limit for disconnected sessions", "End a disconnected session", l.Disconnected),
		row("Set time limit for active Remote Desktop Services sessions", "Active session limit :", l.Active),
		end,
	}
}

// DisplayTime is the ADML's display string for an allowed value.
func DisplayTime(ms uint32) string {
	switch {
	case ms == 0:
		return "Never"
	case ms%86400000 == 0:
		return plural(ms/86400000, "day")
	case ms%3600000 == 0:
		return plural(ms/3600000, "hour")
	}
	return plural(ms/60000, "minute")
}

func plural(n uint32, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

// SessionEnd says, one sentence per line, when these limits end a session
// and so run the logoff task: what the bundle READMEs print, so that they
// describe the limits actually chosen.
func SessionEnd(l spec.Limits) []string {
	var out []string
	finite := func(v spec.Limit) bool { return v.Set && v.Ms > 0 }
	if finite(l.Disconnected) {
		out = append(out, fmt.Sprintf("A disconnected session is logged off after %s; that logoff runs the task, and the agent deallocates the VM.", DisplayTime(l.Disconnected.Ms)))
	} else {
		out = append(out, "Disconnected sessions are never logged off by a time limit: a user who disconnects without signing out stays signed in.")
	}
	for _, c := range []struct {
		what string
		v    spec.Limit
	}{{"An idle session", l.Idle}, {"An active session", l.Active}} {
		switch {
		case !finite(c.v):
		case l.EndSessionOnLimit:
			out = append(out, fmt.Sprintf("%s is logged off after %s (end session when time limits are reached is Enabled); that logoff runs the task.", c.what, DisplayTime(c.v.Ms)))
		case finite(l.Disconnected):
			out = append(out, fmt.Sprintf("%s is disconnected after %s, then logged off by the disconnected limit.", c.what, DisplayTime(c.v.Ms)))
		default:
			out = append(out, fmt.Sprintf("%s is disconnected after %s and then stays signed in.", c.what, DisplayTime(c.v.Ms)))
		}
	}
	if !l.EndsSessions() {
		out = append(out, "**No limit here logs a session off** (written with --allow-no-logoff): the VM is deallocated only after a user signs out themselves; a user who only disconnects keeps it running and billed.")
	} else {
		out = append(out, "A user who signs out runs the task at once.")
	}
	return out
}
