package spec

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/avdgen/avdgen/agent/contract"
)

// Defaults an unset field takes.
const (
	DefaultHostPool              = "avd-personal"
	DefaultAction                = "deallocate"
	DefaultPublisher             = "avdgen"
	DefaultMinimumWindowsRelease = "Windows10_21H2"
)

// ErrNoLogoff refuses limits under which no session is ever logged off.
var ErrNoLogoff = errors.New("limits: nothing ever logs a disconnected user off, so the logoff task never runs and the VM is never deallocated; " +
	"set a disconnected limit (--disconnected 15m, or limits.disconnected: 15m), " +
	"or end sessions at an idle or active limit (--end-session --idle 2h, or limits.endSessionOnLimit: true with limits.idle: 2h); " +
	"if users always sign out themselves, pass --allow-no-logoff (limits.allowNoLogoff: true) to write these limits anyway")

// WithDefaults fills every unset field.
func (s Spec) WithDefaults() Spec {
	if s.HostPool == "" {
		s.HostPool = DefaultHostPool
	}
	if s.Agent.Action == "" {
		s.Agent.Action = DefaultAction
	}
	if s.Agent.Grace == 0 {
		s.Agent.Grace = contract.DefaultGraceSeconds * time.Second
	}
	if s.Agent.ExcludeTag == "" {
		s.Agent.ExcludeTag = contract.DefaultExcludeTag
	}
	if s.Agent.IdleAfter == "" {
		s.Agent.IdleAfter = contract.DefaultIdleAfter
	}
	if s.Agent.InstallDir == "" {
		s.Agent.InstallDir = contract.DefaultInstallDir
	}
	if s.GPO.Name == "" {
		s.GPO.Name = "avdgen - " + s.HostPool
	}
	if s.Intune.ProfileName == "" {
		s.Intune.ProfileName = "avdgen - " + s.HostPool + " - session time limits"
	}
	if s.Intune.AppName == "" {
		s.Intune.AppName = "avdgen agent (" + s.HostPool + ")"
	}
	if s.Intune.Publisher == "" {
		s.Intune.Publisher = DefaultPublisher
	}
	if s.Intune.MinimumWindowsRelease == "" {
		s.Intune.MinimumWindowsRelease = DefaultMinimumWindowsRelease
	}
	return s
}

var (
	hostPoolRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	guidRe     = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	labelRe    = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)
	// Tag names and values travel on the task's argument line: letters,
	// digits and - _ . : + @ only (no whitespace, quotes, % which Task
	// Scheduler expands, $ which starts a value query, or \ before a quote).
	tagNameRe  = regexp.MustCompile(`^[A-Za-z0-9_.:+@-]{1,512}$`)
	tagValueRe = regexp.MustCompile(`^[A-Za-z0-9_.:+@-]{0,256}$`)
)

// Validate checks everything the generators rely on. Each error names the
// field, the value and what is allowed. needDomain is true for `avdgen gpo`.
func (s Spec) Validate(needDomain bool) error {
	if !hostPoolRe.MatchString(s.HostPool) {
		return fmt.Errorf("hostPool %q: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit", s.HostPool)
	}
	if s.Agent.Action != "deallocate" && s.Agent.Action != "hibernate" {
		return fmt.Errorf("agent.action %q: allowed values are deallocate, hibernate", s.Agent.Action)
	}
	if s.Agent.Grace < 0 || s.Agent.Grace > time.Hour {
		return fmt.Errorf("agent.grace %s: must be between 0s and 1h", s.Agent.Grace)
	}
	if s.Agent.Grace%time.Second != 0 {
		return fmt.Errorf("agent.grace %s: use whole seconds", s.Agent.Grace)
	}
	if err := ValidateExcludeTag(s.Agent.ExcludeTag); err != nil {
		return err
	}
	if _, err := ParseIdleAfter(s.Agent.IdleAfter); err != nil {
		return err
	}
	if err := ValidateInstallDir(s.Agent.InstallDir); err != nil {
		return err
	}
	if s.Agent.IdentityClientID != "" && !guidRe.MatchString(s.Agent.IdentityClientID) {
		return fmt.Errorf("agent.identityClientId %q: must be a GUID such as 11111111-2222-3333-4444-555555555555", s.Agent.IdentityClientID)
	}
	if strings.TrimSpace(s.GPO.Name) == "" || len(s.GPO.Name) > 200 || strings.ContainsAny(s.GPO.Name, `"<>&`) {
		return fmt.Errorf("gpo.name %q: 1-200 characters without \" < > &", s.GPO.Name)
	}
	if needDomain || s.GPO.Domain != "" {
		if err := ValidateDomain(s.GPO.Domain); err != nil {
			return err
		}
	}
	if s.GPO.OU != "" {
		if err := validateOU(s.GPO.OU, s.GPO.Domain); err != nil {
			return err
		}
	}
	if err := validateHostsGroup(s.GPO.HostsGroup, s.GPO.HostsGroupSID); err != nil {
		return err
	}
	if err := validateWindowsRelease(s.Intune.MinimumWindowsRelease); err != nil {
		return err
	}
	for field, v := range map[string]string{"intune.profileName": s.Intune.ProfileName, "intune.appName": s.Intune.AppName, "intune.publisher": s.Intune.Publisher} {
		if strings.TrimSpace(v) == "" || len(v) > 200 {
			return fmt.Errorf("%s %q: 1-200 characters", field, v)
		}
	}
	// Last, so that a typo in another field is reported first.
	if !s.Limits.EndsSessions() && !s.Limits.AllowNoLogoff {
		return ErrNoLogoff
	}
	return nil
}

// ValidateExcludeTag accepts name=value where both consist of letters,
// digits and - _ . : + @ (the value may be empty), so the tag reaches the
// agent intact through the task's argument line.
func ValidateExcludeTag(tag string) error {
	name, value, ok := strings.Cut(tag, "=")
	switch {
	case !ok || name == "":
		return fmt.Errorf("agent.excludeTag %q: want name=value, e.g. avdgen-exclude=true", tag)
	case !tagNameRe.MatchString(name):
		return fmt.Errorf("agent.excludeTag %q: the name %q may only hold letters, digits and - _ . : + @ (1-512 characters; no spaces or quotes)", tag, name)
	case !tagValueRe.MatchString(value):
		return fmt.Errorf("agent.excludeTag %q: the value %q may only hold letters, digits and - _ . : + @ (up to 256 characters; no spaces or quotes)", tag, value)
	}
	return nil
}

// ParseIdleAfter reads agent.idleAfter: "never" (0) or a duration of 5m-168h.
func ParseIdleAfter(v string) (time.Duration, error) {
	if strings.EqualFold(v, "never") {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 5*time.Minute || d > 168*time.Hour {
		return 0, fmt.Errorf("agent.idleAfter %q: want a duration between 5m and 168h (e.g. 30m, 2h), or never", v)
	}
	return d, nil
}

// ValidateDomain accepts an AD DNS domain name (FQDN), not a NetBIOS name.
func ValidateDomain(d string) error {
	if d == "" {
		return fmt.Errorf("gpo.domain is required for avdgen gpo: the AD DNS domain (FQDN), e.g. --domain contoso.local")
	}
	labels := strings.Split(d, ".")
	if len(labels) < 2 || len(d) > 253 {
		return fmt.Errorf("gpo.domain %q: not a fully qualified domain name; give the AD DNS name such as contoso.local, not the NetBIOS name", d)
	}
	for _, l := range labels {
		if !labelRe.MatchString(l) {
			return fmt.Errorf("gpo.domain %q: label %q is not a DNS label (letters, digits and '-', 1-63 characters)", d, l)
		}
	}
	return nil
}

// validateOU accepts only an organizational unit: OU=..[,OU=..],DC=..,DC=..
// The GPO carries a task that powers the VM off, so where it is linked
// decides which machines can be deallocated.
func validateOU(ou, domain string) error {
	var dcs []string
	for i, part := range strings.Split(ou, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		k = strings.ToUpper(strings.TrimSpace(k))
		if !ok || v == "" || (k != "OU" && k != "DC" && k != "CN") {
			return fmt.Errorf("gpo.ou %q: not a distinguished name such as OU=Personal,OU=AVD,DC=contoso,DC=local", ou)
		}
		switch {
		case i == 0 && k == "DC":
			return fmt.Errorf("gpo.ou %q is the domain root: linked there the GPO reaches every computer in the domain, domain controllers and admin servers included, and its task powers their VMs off; give the OU that holds only the session hosts, e.g. OU=AVD,%s", ou, ou)
		case k == "CN":
			return fmt.Errorf("gpo.ou %q names a container (CN=), not an organizational unit: Group Policy cannot be linked to containers such as CN=Computers, so the link would fail after the GPO was created; move the session hosts into an OU and give that OU (OU=...)", ou)
		case k == "OU" && len(dcs) > 0:
			return fmt.Errorf("gpo.ou %q: OU= parts must come before the DC= parts, e.g. OU=Personal,OU=AVD,DC=contoso,DC=local", ou)
		}
		if k == "DC" {
			dcs = append(dcs, strings.TrimSpace(v))
		}
	}
	if len(dcs) == 0 {
		return fmt.Errorf("gpo.ou %q: the DC= parts of the domain are missing, e.g. OU=AVD,DC=contoso,DC=local", ou)
	}
	if domain != "" && !strings.EqualFold(strings.Join(dcs, "."), domain) {
		return fmt.Errorf("gpo.ou %q: its DC= parts (%s) do not match gpo.domain %q", ou, strings.Join(dcs, "."), domain)
	}
	return nil
}

var (
	// groupNameRe is DOMAIN\name as GPMC's group picker writes it: a
	// NetBIOS domain (no dots) and an sAMAccountName.
	groupNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,14}\\[^"/\\\[\]:;|=,+*?<>@&]{1,256}$`)
	domainSIDRe = regexp.MustCompile(`^S-1-5-21-\d{1,10}-\d{1,10}-\d{1,10}-\d{1,10}$`)
)

// validateHostsGroup checks the optional session-host group.
func validateHostsGroup(name, sid string) error {
	if name == "" {
		if sid != "" {
			return fmt.Errorf("gpo.hostsGroupSid %q: give the group's name too (gpo.hostsGroup, --hosts-group DOMAIN\\name)", sid)
		}
		return nil
	}
	if !groupNameRe.MatchString(name) {
		return fmt.Errorf("gpo.hostsGroup %q: want the computer group as DOMAIN\\name with the NetBIOS domain name, e.g. CONTOSO\\AVD Session Hosts", name)
	}
	if sid != "" && !domainSIDRe.MatchString(sid) {
		return fmt.Errorf("gpo.hostsGroupSid %q: want a domain group SID such as S-1-5-21-1004336348-1177238915-682003330-1105 (Get-ADGroup <name> | Select-Object SID)", sid)
	}
	return nil
}

// perUserVars name folders of the user running something: users write there.
var perUserVars = []string{"temp", "tmp", "userprofile", "appdata", "localappdata", "homepath", "homedrive", "homeshare", "onedrive", "username", "userdomain"}

// ValidateInstallDir refuses relative, UNC and user-writable directories.
// The folder is judged after its variables are expanded with their standard
// values (contract.StandardWindowsVars), so %SystemRoot%\Temp\avdgen is
// refused as C:\Windows\Temp\avdgen is; the agent's check judges the real
// expansion and the real path on the host with the same rule.
func ValidateInstallDir(dir string) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("agent.installDir \"%s\": "+format, append([]any{dir}, args...)...)
	}
	switch {
	case strings.ContainsAny(dir, `"'/*?<>|`) || strings.Contains(dir, `..`):
		return bad("must not contain quotes, '/', wildcards or '..'")
	case strings.HasPrefix(dir, `\\`):
		return bad("a UNC path is not allowed; the agent must be a local file")
	}
	expanded, err := contract.ExpandWindowsVars(dir, func(name string) (string, bool) {
		for _, u := range perUserVars {
			if strings.EqualFold(name, u) {
				return "", false
			}
		}
		return contract.StandardLookup(name)
	})
	if err != nil {
		for _, u := range perUserVars {
			if strings.Contains(strings.ToLower(dir), "%"+u+"%") {
				return bad("users can write there, and the agent runs as SYSTEM; use a folder under %%ProgramFiles%% (default %s)", contract.DefaultInstallDir)
			}
		}
		return bad("%v; use %%ProgramFiles%%, %%ProgramFiles(x86)%% or %%SystemRoot%%, or a C:\\ path", err)
	}
	if err := contract.JudgeInstallDir(expanded); err != nil {
		return bad("%v", err)
	}
	return nil
}
