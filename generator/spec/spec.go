// Package spec is the one input every avdgen generator takes: avdgen.yaml plus
// flags, decoded strictly, defaulted and validated before anything renders.
package spec

import "time"

// Spec is avdgen.yaml. YAML keys are the lowerCamel names in the tags.
type Spec struct {
	// HostPool is the AVD host pool name; it names the GPO, task and profiles.
	HostPool string `yaml:"hostPool" json:"hostPool"`
	Limits   Limits `yaml:"limits" json:"limits"`
	Agent    Agent  `yaml:"agent" json:"agent"`
	GPO      GPO    `yaml:"gpo" json:"gpo"`
	Intune   Intune `yaml:"intune" json:"intune"`
}

// Limits are the Session Time Limits policies (FORMATS.md §1).
type Limits struct {
	// Idle disconnects (or with EndSessionOnLimit logs off) an idle active session.
	Idle Limit `yaml:"idle" json:"idle"`
	// Disconnected logs off a disconnected session.
	Disconnected Limit `yaml:"disconnected" json:"disconnected"`
	// Active caps an active session's length.
	Active Limit `yaml:"active" json:"active"`
	// EndSessionOnLimit makes the idle and active limits log off instead of disconnect.
	EndSessionOnLimit bool `yaml:"endSessionOnLimit" json:"endSessionOnLimit"`
	// AllowNoLogoff accepts limits under which no session is ever logged off
	// (so the logoff task, and the agent, never run); Validate refuses such
	// limits without it.
	AllowNoLogoff bool `yaml:"allowNoLogoff" json:"allowNoLogoff,omitempty"`
}

// finite reports whether l is set to a real limit (not unset, not never).
func (l Limit) finite() bool { return l.Set && l.Ms > 0 }

// DisconnectedStay reports whether a disconnected session is never logged
// off by a time limit (the idle and active limits apply only to sessions
// that are still connected).
func (l Limits) DisconnectedStay() bool { return !l.Disconnected.finite() }

// EndsSessions reports whether these limits ever log a session off by
// themselves: a finite disconnected limit, or end-session with a finite
// idle or active limit. Without that, a user who disconnects stays signed
// in for ever, the logoff task never runs and the VM is never deallocated.
func (l Limits) EndsSessions() bool {
	return l.Disconnected.finite() || (l.EndSessionOnLimit && (l.Idle.finite() || l.Active.finite()))
}

// Limit is one of the 19 values GPMC and Intune accept, in milliseconds;
// 0 means "never". Set reports whether the spec configures it at all
// (an unset limit leaves the policy Not Configured).
type Limit struct {
	Ms  uint32
	Set bool
}

// Agent configures avd-agent and how it is installed.
type Agent struct {
	// Action is deallocate or hibernate.
	Action string `yaml:"action" json:"action"`
	// Grace is how long the agent waits after logoff before deciding.
	Grace time.Duration `yaml:"grace" json:"grace"`
	// ExcludeTag is name=value; a VM carrying it is never deallocated.
	ExcludeTag string `yaml:"excludeTag" json:"excludeTag"`
	// InstallDir is where the agent lives on the host (default %ProgramFiles%\avdgen).
	InstallDir string `yaml:"installDir" json:"installDir"`
	// IdleAfter is the idle safety net: deallocate a host that has had no user
	// session for this long since boot or the last session (default 30m;
	// "never" turns it off). A duration of 5m-168h, or never.
	IdleAfter string `yaml:"idleAfter" json:"idleAfter"`
	// IdentityClientID selects a user-assigned managed identity (optional).
	IdentityClientID string `yaml:"identityClientId" json:"identityClientId,omitempty"`
}

// GPO is specific to `avdgen gpo`.
type GPO struct {
	// Name is the GPO display name (default "avdgen - <hostPool>").
	Name string `yaml:"name" json:"name"`
	// Domain is the AD DNS domain (FQDN), e.g. contoso.local.
	Domain string `yaml:"domain" json:"domain"`
	// OU is the distinguished name of the OU to link the GPO to (optional).
	// It must be an OU (OU=...): never the domain root or a CN= container.
	OU string `yaml:"ou" json:"ou,omitempty"`
	// HostsGroup is an optional computer security group, DOMAIN\name, that
	// the session hosts belong to; the agent file and task then apply only
	// to its members (item-level targeting), on top of the AVD agent check.
	HostsGroup string `yaml:"hostsGroup" json:"hostsGroup,omitempty"`
	// HostsGroupSID is that group's SID (optional); with it the targeting
	// survives a rename of the group.
	HostsGroupSID string `yaml:"hostsGroupSid" json:"hostsGroupSid,omitempty"`
}

// Intune is specific to `avdgen intune`.
type Intune struct {
	// ProfileName is the display name of the configuration profiles.
	ProfileName string `yaml:"profileName" json:"profileName"`
	// AppName is the Win32 app's display name.
	AppName string `yaml:"appName" json:"appName"`
	// Publisher is the Win32 app's publisher.
	Publisher string `yaml:"publisher" json:"publisher"`
	// MinimumWindowsRelease is Graph's minimumSupportedWindowsRelease.
	MinimumWindowsRelease string `yaml:"minimumWindowsRelease" json:"minimumWindowsRelease"`
}
