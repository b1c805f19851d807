package contract

import (
	"errors"
	"fmt"
	"strings"
)

// StandardWindowsVars are the machine-wide variables an install folder may
// use, with the values they have on a Windows host installed the usual way
// (system drive C:). avdgen judges a spec with these; the agent judges the
// real expansion on the host. Per-user variables (%TEMP%, %USERPROFILE%,
// %APPDATA%, …) are not here: they name places users write.
var StandardWindowsVars = map[string]string{
	"systemroot":              `C:\Windows`,
	"windir":                  `C:\Windows`,
	"systemdrive":             `C:`,
	"programfiles":            `C:\Program Files`,
	"programfiles(x86)":       `C:\Program Files (x86)`,
	"programw6432":            `C:\Program Files`,
	"commonprogramfiles":      `C:\Program Files\Common Files`,
	"commonprogramfiles(x86)": `C:\Program Files (x86)\Common Files`,
	"commonprogramw6432":      `C:\Program Files\Common Files`,
	"programdata":             `C:\ProgramData`,
	"allusersprofile":         `C:\ProgramData`,
	"public":                  `C:\Users\Public`,
}

// ErrUnknownVar is returned by ExpandWindowsVars for a variable lookup does
// not know, or an unpaired '%'.
var ErrUnknownVar = errors.New("unknown environment variable")

// ExpandWindowsVars replaces every %NAME% in s with lookup(NAME) (names
// compared case-insensitively by lookup's caller's choice), as Windows'
// ExpandEnvironmentStrings does, except that a name lookup does not know,
// or a lone '%', is an error: a folder that cannot be expanded cannot be
// judged.
func ExpandWindowsVars(s string, lookup func(name string) (string, bool)) (string, error) {
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '%')
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		j := strings.IndexByte(s[i+1:], '%')
		if j < 0 {
			return "", fmt.Errorf("%w: unpaired %% in %q", ErrUnknownVar, s)
		}
		name := s[i+1 : i+1+j]
		v, ok := lookup(name)
		if !ok || name == "" {
			return "", fmt.Errorf("%w %%%s%%", ErrUnknownVar, name)
		}
		b.WriteString(s[:i])
		b.WriteString(v)
		s = s[i+2+j:]
	}
}

// StandardLookup looks a name up in StandardWindowsVars.
func StandardLookup(name string) (string, bool) {
	v, ok := StandardWindowsVars[strings.ToLower(name)]
	return v, ok
}

// installRoots are the folders an install folder must lie under: their
// children inherit ACLs that let only administrators, SYSTEM and
// TrustedInstaller write.
var installRoots = []string{`c:\program files\`, `c:\program files (x86)\`, `c:\windows\`}

// userWritableUnderRoots are folders under those roots where standard
// users can create files or folders (Windows' own defaults), so an agent
// there could be replaced by a user and would then run as SYSTEM.
var userWritableUnderRoots = []string{
	`c:\windows\temp\`, `c:\windows\tasks\`, `c:\windows\tracing\`, `c:\windows\debug\`,
	`c:\windows\registration\crmlog\`, `c:\windows\pla\`,
	`c:\windows\system32\tasks\`, `c:\windows\system32\tasks_migrated\`, `c:\windows\system32\spool\`,
	`c:\windows\system32\com\dmp\`, `c:\windows\system32\fxstmp\`, `c:\windows\system32\microsoft\crypto\rsa\machinekeys\`,
	`c:\windows\syswow64\tasks\`, `c:\windows\syswow64\com\dmp\`, `c:\windows\syswow64\fxstmp\`,
}

// userWritable are other places standard users write.
var userWritable = []string{`c:\users\`, `c:\programdata\`, `c:\temp\`}

// JudgeInstallDir judges an install folder after its variables were
// expanded and (on the host) its real path resolved: a local absolute path
// X:\…, no '.' or '..' step, no short (8.3) name, under %ProgramFiles%,
// %ProgramFiles(x86)% or %SystemRoot% but not one of them itself, and not in
// a folder standard users can write. Drive letters and case do not matter
// (C:\WINDOWS\TEMP is C:\Windows\Temp). It says what is wrong, not the
// field: callers name it.
func JudgeInstallDir(path string) error {
	if len(path) < 3 || path[1] != ':' || path[2] != '\\' || !isLetter(path[0]) {
		return fmt.Errorf("resolves to %q, not a local absolute path: must be under %%ProgramFiles%%, %%ProgramFiles(x86)%% or %%SystemRoot%%", path)
	}
	lower := strings.ToLower(strings.TrimRight(path, `\`)) + `\`
	for _, step := range strings.Split(strings.TrimSuffix(lower[3:], `\`), `\`) {
		switch {
		case step == "" || step == "." || step == "..":
			return fmt.Errorf("resolves to %q, which has an empty, '.' or '..' step", path)
		case strings.Contains(step, "~"):
			return fmt.Errorf("resolves to %q, which has a short (8.3) name; give the long name", path)
		}
	}
	for _, p := range append(append([]string{}, userWritableUnderRoots...), userWritable...) {
		if strings.HasPrefix(lower, p) {
			return fmt.Errorf("resolves to %s: users can write there, and the agent runs as SYSTEM; use a folder under %%ProgramFiles%% (default %s)", path, DefaultInstallDir)
		}
	}
	for _, root := range installRoots {
		if lower == root {
			return fmt.Errorf("resolves to %s itself; use a dedicated folder, e.g. %s", path, DefaultInstallDir)
		}
		if strings.HasPrefix(lower, root) {
			return nil
		}
	}
	// A folder elsewhere (C:\tools, D:\x) inherits the drive root's ACL,
	// which lets Authenticated Users modify files in new subfolders.
	return fmt.Errorf("resolves to %s: must be under %%ProgramFiles%%, %%ProgramFiles(x86)%% or %%SystemRoot%% (folders elsewhere inherit ACLs that let users replace the agent, which runs as SYSTEM)", path)
}

func isLetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }
