package intune

import (
	"fmt"
	"strings"

	"github.com/avdgen/avdgen/agent/contract"
	"github.com/avdgen/avdgen/generator/spec"
)

// settingPrefix starts every ADMX_TerminalServer Settings Catalog id.
const settingPrefix = "device_vendor_msft_policy_config_admx_terminalserver_"

// limitSetting ties a spec limit to its Settings Catalog and OMA-URI names
// (FORMATS.md §6).
type limitSetting struct {
	parent, child  string // Settings Catalog id suffixes
	policy, dataID string // ADMX policy and enum element ids
	limit          func(spec.Limits) spec.Limit
}

var limitSettings = []limitSetting{
	{"ts_sessions_idle_limit_2", "_ts_sessions_idlelimittext", "TS_SESSIONS_Idle_Limit_2", "TS_SESSIONS_IdleLimitText", func(l spec.Limits) spec.Limit { return l.Idle }},
	{"ts_sessions_disconnected_timeout_2", "_ts_sessions_enddisconnected", "TS_SESSIONS_Disconnected_Timeout_2", "TS_SESSIONS_EndDisconnected", func(l spec.Limits) spec.Limit { return l.Disconnected }},
	{"ts_sessions_limits_2", "_ts_sessions_activelimit", "TS_SESSIONS_Limits_2", "TS_SESSIONS_ActiveLimit", func(l spec.Limits) spec.Limit { return l.Active }},
}

// endSessionSetting is singular "session" in Intune's id.
const endSessionSetting = "ts_session_end_on_limit_2"

// ConfigurationPolicy is the Graph body for POST /beta/deviceManagement/configurationPolicies.
type ConfigurationPolicy struct {
	Name            string          `json:"name"`
	Description     string          `json:"description"`
	Platforms       string          `json:"platforms"`
	Technologies    string          `json:"technologies"`
	RoleScopeTagIDs []string        `json:"roleScopeTagIds"`
	Settings        []PolicySetting `json:"settings"`
}

// PolicySetting wraps one setting instance.
type PolicySetting struct {
	ODataType       string         `json:"@odata.type"`
	SettingInstance ChoiceInstance `json:"settingInstance"`
}

// ChoiceInstance is a deviceManagementConfigurationChoiceSettingInstance.
type ChoiceInstance struct {
	ODataType           string      `json:"@odata.type"`
	SettingDefinitionID string      `json:"settingDefinitionId"`
	ChoiceSettingValue  ChoiceValue `json:"choiceSettingValue"`
}

// ChoiceValue is the chosen option and its children.
type ChoiceValue struct {
	Value    string           `json:"value"`
	Children []ChoiceInstance `json:"children"`
}

const (
	settingType  = "#microsoft.graph.deviceManagementConfigurationSetting"
	instanceType = "#microsoft.graph.deviceManagementConfigurationChoiceSettingInstance"
)

func choice(id, value string, children ...ChoiceInstance) ChoiceInstance {
	if children == nil {
		children = []ChoiceInstance{}
	}
	return ChoiceInstance{ODataType: instanceType, SettingDefinitionID: id, ChoiceSettingValue: ChoiceValue{Value: value, Children: children}}
}

// SettingsCatalog maps the spec's limits to the Settings Catalog. Unset
// limits are left out (Not Configured); "never" is Enabled with the 0 option.
func SettingsCatalog(s spec.Spec) ConfigurationPolicy {
	p := ConfigurationPolicy{
		Name:            s.Intune.ProfileName,
		Description:     fmt.Sprintf("avdgen: Session Time Limits for AVD host pool %s (disconnected sessions are logged off, which lets avd-agent deallocate the host).\n%s", s.HostPool, Key(s.HostPool, "session-time-limits")),
		Platforms:       "windows10",
		Technologies:    "mdm",
		RoleScopeTagIDs: []string{"0"},
		Settings:        []PolicySetting{},
	}
	add := func(ci ChoiceInstance) {
		p.Settings = append(p.Settings, PolicySetting{ODataType: settingType, SettingInstance: ci})
	}
	for _, ls := range limitSettings {
		l := ls.limit(s.Limits)
		if !l.Set {
			continue
		}
		parent := settingPrefix + ls.parent
		child := parent + ls.child
		add(choice(parent, parent+"_1", choice(child, fmt.Sprintf("%s_%d", child, l.Ms))))
	}
	end := settingPrefix + endSessionSetting
	value := end + "_0"
	if s.Limits.EndSessionOnLimit {
		value = end + "_1"
	}
	add(choice(end, value))
	return p
}

// CustomConfiguration is the windows10CustomConfiguration alternative.
type CustomConfiguration struct {
	ODataType       string       `json:"@odata.type"`
	DisplayName     string       `json:"displayName"`
	Description     string       `json:"description"`
	RoleScopeTagIDs []string     `json:"roleScopeTagIds"`
	OMASettings     []OMASetting `json:"omaSettings"`
}

// OMASetting is one omaSettingString.
type OMASetting struct {
	ODataType   string `json:"@odata.type"`
	DisplayName string `json:"displayName"`
	Description string `json:"description"`
	OMAURI      string `json:"omaUri"`
	Value       string `json:"value"`
}

// OMAURI maps the spec to ADMX-backed custom OMA-URI settings. Intune does
// not deliver custom profiles to multi-session hosts (see the README).
func OMAURI(s spec.Spec) CustomConfiguration {
	c := CustomConfiguration{
		ODataType:       "#microsoft.graph.windows10CustomConfiguration",
		DisplayName:     s.Intune.ProfileName + " (OMA-URI)",
		Description:     fmt.Sprintf("avdgen: Session Time Limits for AVD host pool %s. Single-session hosts only.", s.HostPool),
		RoleScopeTagIDs: []string{"0"},
		OMASettings:     []OMASetting{},
	}
	add := func(policy, value string) {
		c.OMASettings = append(c.OMASettings, OMASetting{
			ODataType: "#microsoft.graph.omaSettingString", DisplayName: policy, Description: "avdgen",
			OMAURI: "./Device/Vendor/MSFT/Policy/Config/ADMX_TerminalServer/" + policy, Value: value,
		})
	}
	for _, ls := range limitSettings {
		if l := ls.limit(s.Limits); l.Set {
			add(ls.policy, fmt.Sprintf(`<enabled/><data id="%s" value="%d"/>`, ls.dataID, l.Ms))
		}
	}
	if s.Limits.EndSessionOnLimit {
		add("TS_Session_End_On_Limit_2", "<enabled/>")
	} else {
		add("TS_Session_End_On_Limit_2", "<disabled/>")
	}
	return c
}

// Win32LobApp is the Graph body for POST /beta/deviceAppManagement/mobileApps.
type Win32LobApp struct {
	ODataType                      string            `json:"@odata.type"`
	DisplayName                    string            `json:"displayName"`
	Description                    string            `json:"description"`
	Publisher                      string            `json:"publisher"`
	Notes                          string            `json:"notes"`
	FileName                       string            `json:"fileName"`
	SetupFilePath                  string            `json:"setupFilePath"`
	InstallCommandLine             string            `json:"installCommandLine"`
	UninstallCommandLine           string            `json:"uninstallCommandLine"`
	ApplicableArchitectures        string            `json:"applicableArchitectures"`
	AllowedArchitectures           string            `json:"allowedArchitectures"`
	MinimumSupportedWindowsRelease string            `json:"minimumSupportedWindowsRelease"`
	InstallExperience              InstallExperience `json:"installExperience"`
	ReturnCodes                    []ReturnCode      `json:"returnCodes"`
	Rules                          []RegistryRule    `json:"rules"`
}

// InstallExperience runs the install as SYSTEM without restarts, for at
// most MaxRunTimeInMinutes (sent although 60 is Intune's default: a real
// GET returns it, and a body that leaves it out leaves it to the service).
type InstallExperience struct {
	ODataType             string `json:"@odata.type"`
	RunAsAccount          string `json:"runAsAccount"`
	MaxRunTimeInMinutes   int    `json:"maxRunTimeInMinutes"`
	DeviceRestartBehavior string `json:"deviceRestartBehavior"`
}

// ReturnCode maps an exit code to its meaning.
type ReturnCode struct {
	ODataType  string `json:"@odata.type"`
	ReturnCode int    `json:"returnCode"`
	Type       string `json:"type"`
}

// RegistryRule is a win32LobAppRegistryRule used for detection.
type RegistryRule struct {
	ODataType            string `json:"@odata.type"`
	RuleType             string `json:"ruleType"`
	Check32BitOn64System bool   `json:"check32BitOn64System"`
	KeyPath              string `json:"keyPath"`
	ValueName            string `json:"valueName"`
	OperationType        string `json:"operationType"`
	Operator             string `json:"operator"`
	ComparisonValue      string `json:"comparisonValue"`
}

// KeyPrefix starts the avdgen key each published object carries in its
// description (profile, Remediations pair) or notes (app): `avdgen intune
// publish` finds its objects by it first, so one renamed in the portal is
// still found (by exact name second). The portal keeps both fields as they
// are when an object is renamed.
const KeyPrefix = "avdgen-key: "

// Key is the avdgen key of a host pool's object of one kind.
func Key(hostPool, kind string) string { return KeyPrefix + hostPool + "/" + kind }

// KeyFrom reads the avdgen key out of a description or notes ("" if none).
func KeyFrom(text string) string {
	for _, line := range strings.Split(text, "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), KeyPrefix); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				return KeyPrefix + f[0]
			}
		}
	}
	return ""
}

// NotesPrefix starts the app's notes line that records which content the
// app carries: `avdgen intune publish` compares it on a rerun and uploads a
// new content version only when it differs, and writes it back only after
// that content is committed.
const NotesPrefix = "Managed by avdgen; do not edit this line."

// Notes is that line: the agents' digest (AgentDigest) and the SHA-256 of
// the unencrypted package (fileEncryptionInfo.fileDigest, hex).
// The avdgen key is the line before it.
func Notes(key, agentDigest, packageDigest string) string {
	return key + "\n" + NotesPrefix + " agent-sha256=" + agentDigest + " package-sha256=" + packageDigest
}

// ContentFromNotes reads back what Notes wrote; ok is false when the notes
// hold no avdgen line (an app made by hand, or edited).
func ContentFromNotes(notes string) (agentDigest, packageDigest string, ok bool) {
	for _, line := range strings.Split(notes, "\n") {
		rest, found := strings.CutPrefix(strings.TrimSpace(line), NotesPrefix)
		if !found {
			continue
		}
		for _, f := range strings.Fields(rest) {
			if v, ok := strings.CutPrefix(f, "agent-sha256="); ok {
				agentDigest = v
			} else if v, ok := strings.CutPrefix(f, "package-sha256="); ok {
				packageDigest = v
			}
		}
		return agentDigest, packageDigest, agentDigest != "" && packageDigest != ""
	}
	return "", "", false
}

// Win32App describes the agent app; detection checks the installed version.
// notes is Notes(...) for the package the app carries.
//
// arm64 is only in allowedArchitectures (beta): applicableArchitectures
// predates it and Graph answers 400 "Only x86, x64 are supported with this
// property" to arm64 there, so it is "none" as Graph expects when
// allowedArchitectures is set.
func Win32App(s spec.Spec, version, notes string) Win32LobApp {
	codes := []ReturnCode{}
	for _, c := range []struct {
		code int
		kind string
	}{{0, "success"}, {1707, "success"}, {3010, "softReboot"}, {1641, "hardReboot"}, {1618, "retry"}} {
		codes = append(codes, ReturnCode{ODataType: "#microsoft.graph.win32LobAppReturnCode", ReturnCode: c.code, Type: c.kind})
	}
	return Win32LobApp{
		ODataType:                      "#microsoft.graph.win32LobApp",
		DisplayName:                    s.Intune.AppName,
		Description:                    fmt.Sprintf("avd-agent %s for AVD host pool %s: deallocates the session host after its users sign out. Installed by avdgen.", version, s.HostPool),
		Publisher:                      s.Intune.Publisher,
		Notes:                          notes,
		FileName:                       "avd-agent.intunewin",
		SetupFilePath:                  "install.ps1",
		InstallCommandLine:             InstallCommand,
		UninstallCommandLine:           UninstallCommand,
		ApplicableArchitectures:        "none",
		AllowedArchitectures:           "x64,arm64",
		MinimumSupportedWindowsRelease: s.Intune.MinimumWindowsRelease,
		InstallExperience:              InstallExperience{ODataType: "#microsoft.graph.win32LobAppInstallExperience", RunAsAccount: "system", MaxRunTimeInMinutes: 60, DeviceRestartBehavior: "suppress"},
		ReturnCodes:                    codes,
		Rules: []RegistryRule{{
			ODataType: "#microsoft.graph.win32LobAppRegistryRule", RuleType: "detection", Check32BitOn64System: false,
			KeyPath: `HKEY_LOCAL_MACHINE\` + contract.DetectionKey, ValueName: contract.DetectionValue,
			OperationType: "string", Operator: "equal", ComparisonValue: version,
		}},
	}
}
