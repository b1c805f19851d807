package spec

import (
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
	if !regexp.MustCompile(`^Windows(10|11)_\d{2}H\d$`).MatchString(s.Intune.MinimumWindowsRelease) {
		return fmt.Errorf("intune.minimumWindowsRelease %q: use Graph's spelling, e.g. Windows10_21H2 or Windows11_22H2", s.Intune.MinimumWindowsRelease)
	}
	for field, v := range map[string]string{"intune.profileName": s.Intune.ProfileName, "intune.appName": s.Intune.AppName, "intune.publisher": s.Intune.Publisher} {
		if strings.TrimSpace(v) == "" || len(v) > 200 {
			return fmt.Errorf("%s %q: 1-200 characters", field, v)
		}
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

func validateOU(ou, domain string) error {
	var dcs []string
	for _, part := range strings.Split(ou, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		k = strings.ToUpper(strings.TrimSpace(k))
		if !ok || v == "" || (k != "OU" && k != "DC" && k != "CN") {
			return fmt.Errorf("gpo.ou %q: not a distinguished name such as OU=Personal,OU=AVD,DC=contoso,DC=local", ou)
		}
		if k == "DC" {
			dcs = append(dcs, strings.TrimSpace(v))
		}
	}
	if domain != "" && !strings.EqualFold(strings.Join(dcs, "."), domain) {
		return fmt.Errorf("gpo.ou %q: its DC= parts (%s) do not match gpo.domain %q", ou, strings.Join(dcs, "."), domain)
	}
	return nil
}

// userWritable are places a standard user can write to: an agent there
// could be replaced by the user and would then run as SYSTEM.
var userWritable = []string{`%temp%`, `%tmp%`, `%userprofile%`, `%appdata%`, `%localappdata%`, `%public%`, `%homepath%`, `%homedrive%`,
	`%programdata%`, `c:\users\`, `c:\windows\temp`, `c:\programdata`, `c:\temp`}

// ValidateInstallDir refuses relative, UNC and user-writable directories.
func ValidateInstallDir(dir string) error {
	lower := strings.ToLower(strings.TrimRight(dir, `\`)) + `\`
	switch {
	case strings.ContainsAny(dir, `"'/*?<>|`) || strings.Contains(dir, `..`):
		return fmt.Errorf("agent.installDir \"%s\": must not contain quotes, '/', wildcards or '..'", dir)
	case strings.HasPrefix(dir, `\\`):
		return fmt.Errorf("agent.installDir \"%s\": a UNC path is not allowed; the agent must be a local file", dir)
	}
	for _, p := range userWritable {
		if strings.HasPrefix(lower, p) {
			return fmt.Errorf("agent.installDir \"%s\": users can write there, and the agent runs as SYSTEM; use a folder under %%ProgramFiles%% (default %s)", dir, contract.DefaultInstallDir)
		}
	}
	var root string
	for _, p := range []string{`%programfiles%\`, `%programfiles(x86)%\`, `%systemroot%\`, `c:\program files\`, `c:\program files (x86)\`, `c:\windows\`} {
		if strings.HasPrefix(lower, p) {
			root = p
		}
	}
	if root == "" {
		// A folder elsewhere (C:\tools, D:\x) inherits the drive root's ACL,
		// which lets Authenticated Users modify files in new subfolders.
		return fmt.Errorf("agent.installDir \"%s\": must be under %%ProgramFiles%%, %%ProgramFiles(x86)%% or %%SystemRoot%% (folders elsewhere inherit ACLs that let users replace the agent, which runs as SYSTEM)", dir)
	}
	if lower == root {
		return fmt.Errorf("agent.installDir \"%s\": use a dedicated folder, e.g. %s", dir, contract.DefaultInstallDir)
	}
	return nil
}
