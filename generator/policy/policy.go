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
