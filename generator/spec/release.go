package spec

import (
	"fmt"
	"strings"
)

// WindowsReleases are the values Graph takes for a Win32 app's
// minimumSupportedWindowsRelease, oldest first. The Windows 10 releases up to
// 21H1 carry the names of windowsMinimumOperatingSystem's v10_* properties
// (Graph spells 20H2 "2H20"); later ones are Windows10_/Windows11_ names.
var WindowsReleases = []string{
	"1607", "1703", "1709", "1803", "1809", "1903", "1909", "2004", "2H20", "21H1",
	"Windows10_21H2", "Windows10_22H2",
	"Windows11_21H2", "Windows11_22H2", "Windows11_23H2", "Windows11_24H2",
}

// validateWindowsRelease accepts only a value from WindowsReleases and, for a
// near miss, names the spelling Graph uses.
func validateWindowsRelease(v string) error {
	for _, r := range WindowsReleases {
		if v == r {
			return nil
		}
	}
	hint := ""
	switch up := strings.ToUpper(strings.TrimSpace(v)); {
	case strings.HasSuffix(up, "20H2"):
		hint = ` (Graph spells 20H2 "2H20")`
	default:
		for _, r := range WindowsReleases {
			if strings.EqualFold(r, v) || strings.EqualFold("Windows10_"+r, v) {
				hint = fmt.Sprintf(" (did you mean %q?)", r)
				break
			}
		}
	}
	return fmt.Errorf("intune.minimumWindowsRelease %q: not a release Graph knows%s; allowed: %s", v, hint, strings.Join(WindowsReleases, ", "))
}
