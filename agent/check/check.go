// Package check is `avd-agent check`: a readiness report that answers "will
// the logoff deallocation work on this host?" before a user ever signs out,
// including the "AuthorizationFailed" question.
package check

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"sort"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/avdgen/avdgen/agent/armclient"
	"github.com/avdgen/avdgen/agent/azure"
	"github.com/avdgen/avdgen/agent/contract"
	"github.com/avdgen/avdgen/agent/decide"
	"github.com/avdgen/avdgen/agent/host"
	"github.com/avdgen/avdgen/agent/identity"
	"github.com/avdgen/avdgen/agent/imds"
)

// Status of one check.
type Status string

// Statuses.
const (
	OK   Status = "OK"
	Warn Status = "WARN"
	Fail Status = "FAIL"
)

// Item is one line of the report.
type Item struct {
	Name   string
	Status Status
	Detail string
}

// Report is every check in order.
type Report []Item

// Failed reports whether any check failed.
func (r Report) Failed() bool {
	for _, it := range r {
		if it.Status == Fail {
			return true
		}
	}
	return false
}

// Print writes the report, one aligned line per check.
func (r Report) Print(w io.Writer) {
	for _, it := range r {
		fmt.Fprintf(w, "%-4s  %-12s %s\n", it.Status, it.Name, it.Detail)
	}
}

// Config of a check run.
type Config struct {
	// LogDir is the protected folder (log and state files).
	LogDir                               string
	IMDSBase, ARMEndpoint                string
	IdentityClientID, IdentityResourceID string
}

// Deps of a check run.
type Deps struct {
	HTTP      *http.Client
	Sleep     func(context.Context, time.Duration) error
	Readiness host.Readiness
	Probe     host.Probe
	Retry     policy.RetryOptions
}

// Run performs every check it can; a failed prerequisite marks the checks
// that depend on it as failed with the reason.
func Run(ctx context.Context, cfg Config, d Deps) Report {
	var r Report
	add := func(name string, s Status, format string, args ...any) {
		r = append(r, Item{Name: name, Status: s, Detail: fmt.Sprintf(format, args...)})
	}

	md := &imds.Client{Base: cfg.IMDSBase, HTTP: d.HTTP, Sleep: d.Sleep, Deadline: 15 * time.Second}
	inst, err := md.Instance(ctx)
	if err != nil {
		add("imds", Fail, "%v (is this an Azure VM? IMDS must be reachable without a proxy)", err)
		add("identity", Fail, "not checked: no instance metadata")
		add("token", Fail, "not checked: no instance metadata")
		add("permission", Fail, "not checked: no instance metadata")
	} else {
		add("imds", OK, "reachable; VM %s (vmId %s)", inst.ResourceID, inst.VMID)
		r = append(r, azureChecks(ctx, cfg, d, inst)...)
	}
	r = append(r, localChecks(cfg, d)...)
	return r
}

func azureChecks(ctx context.Context, cfg Config, d Deps, inst imds.Instance) Report {
	var r Report
	add := func(name string, s Status, format string, args ...any) {
		r = append(r, Item{Name: name, Status: s, Detail: fmt.Sprintf(format, args...)})
	}
	cloud, err := azure.CloudByEnvironment(inst.Environment)
	if err != nil {
		add("cloud", Fail, "%v", err)
		return r
	}
	add("cloud", OK, "%s (Resource Manager %s)", cloud.Environment, cloud.ARMEndpoint)

	which := identity.Describe(cfg.IdentityClientID, cfg.IdentityResourceID)
	if err := identity.CheckArc(d.Probe.ArcSignals()); err != nil {
		add("identity", Fail, "%v", err)
		return r
	}
	add("identity", OK, "%s, token from this VM's IMDS (no Azure Arc signal)", which)
	if cfg.IdentityClientID != "" || cfg.IdentityResourceID != "" {
		// Issue 20 item 7: a user-assigned identity is usually shared, and
		// IMDS gives its token to any process on this VM.
		add("identity", Warn, "the %s is user-assigned: if several VMs share it with the deallocate role on each, any user signed in to this VM can take its token from IMDS and deallocate every one of them. Prefer the VM's system-assigned identity (drop --identity-client-id; avdgen rbac apply grants it the role on this VM only) or one user-assigned identity per VM", which)
	}
	tc := &imds.Client{Base: cfg.IMDSBase, HTTP: d.HTTP, Sleep: d.Sleep, Deadline: 30 * time.Second}
	tk, err := tc.Token(ctx, strings.TrimSuffix(cloud.ARMAudience, "/"), cfg.IdentityClientID, cfg.IdentityResourceID)
	if err != nil {
		fix := fmt.Sprintf("enable the VM's system-assigned identity: az vm identity assign -g %s -n %s", inst.ResourceGroup, inst.Name)
		if cfg.IdentityClientID != "" || cfg.IdentityResourceID != "" {
			fix = fmt.Sprintf("assign the %s to the VM: az vm identity assign -g %s -n %s --identities <identity resource id>", which, inst.ResourceGroup, inst.Name)
		}
		add("token", Fail, "%v (%s)", err, fix)
		return r
	}
	tok := azcore.AccessToken{Token: tk.AccessToken, ExpiresOn: tk.ExpiresOn}
	add("token", OK, "obtained for %s (expires %s)", cloud.ARMAudience, tok.ExpiresOn.UTC().Format(time.RFC3339))

	client, err := armclient.New(azure.ARM{Cloud: cloud, Endpoint: cfg.ARMEndpoint, HTTPClient: d.HTTP, Retry: d.Retry}, identity.StaticCredential{Token: tok})
	if err != nil {
		add("permission", Fail, "%v", err)
		return r
	}
	perms, err := client.Permissions(ctx, inst.ResourceID)
	var se *armclient.StatusError
	switch {
	case errors.As(err, &se) && se.StatusCode == http.StatusForbidden:
		add("permission", Warn, "could not read this identity's permissions (%v); deallocation may still work", err)
	case err != nil:
		add("permission", Fail, "%v", err)
	case armclient.Allows(perms, armclient.DeallocateAction):
		add("permission", OK, "the identity may %s on this VM", armclient.DeallocateAction)
	default:
		add("permission", Fail, "the identity may NOT %s on %s: this is the AuthorizationFailed users would hit. Fix: avdgen rbac apply --subscription %s --resource-group <pool RG> --host-pool <pool>",
			armclient.DeallocateAction, inst.ResourceID, inst.SubscriptionID)
	}
	return r
}

// endsAtLimit: fResetBroken=1 with a finite idle or active limit logs
// sessions off when the limit is reached (FORMATS.md §1).
func endsAtLimit(vals map[string]uint32) bool {
	return vals["fResetBroken"] == 1 && (vals["MaxIdleTime"] > 0 || vals["MaxConnectionTime"] > 0)
}

// policySummary lists the values found, in a fixed order.
func policySummary(vals map[string]uint32) string {
	var got []string
	for _, name := range policyValues {
		if v, ok := vals[name]; ok {
			got = append(got, fmt.Sprintf("%s=%d", name, v))
		}
	}
	sort.Strings(got)
	return strings.Join(got, " ")
}

// policyValues are the Session Time Limits values the generated policies set.
var policyValues = []string{"MaxDisconnectionTime", "MaxIdleTime", "MaxConnectionTime", "fResetBroken"}

func localChecks(cfg Config, d Deps) Report {
	var r Report
	add := func(name string, s Status, format string, args ...any) {
		r = append(r, Item{Name: name, Status: s, Detail: fmt.Sprintf(format, args...)})
	}
	rd, p := d.Readiness, d.Probe
	vals, err := rd.PolicyValues()
	switch {
	case errors.Is(err, host.ErrUnsupported):
		add("policy", Warn, "not checked (not Windows)")
	case err != nil:
		add("policy", Fail, "reading HKLM\\%s: %v", contract.PolicyKey, err)
	case len(vals) == 0:
		add("policy", Fail, "no Session Time Limits value under HKLM\\%s: the policies have not reached this host, so sessions are never logged off by policy (run gpupdate /force, or check the GPO/Intune profile is assigned)", contract.PolicyKey)
	case vals["MaxDisconnectionTime"] == 0 && endsAtLimit(vals):
		// avdgen writes this spec (end-session with an idle or active
		// limit) but warns about it too: the limits end connected sessions only.
		add("policy", Warn, "%s: sessions end at the idle or active limit (fResetBroken=1), but MaxDisconnectionTime is not set, so a user who disconnects stays signed in and the VM keeps running; set a disconnected limit", policySummary(vals))
	case vals["MaxDisconnectionTime"] == 0:
		// What avdgen writes only with --allow-no-logoff: consistent with
		// that, a warning, not a failure.
		add("policy", Warn, "%s: no policy ever logs a session off (no finite MaxDisconnectionTime, no end-session with an idle or active limit), so the agent runs only when users sign out themselves; avdgen writes this only with --allow-no-logoff", policySummary(vals))
	default:
		add("policy", OK, "%s", policySummary(vals))
	}
	r = append(r, taskCheck("task", contract.TaskPath, "logoff", rd, true))
	r = append(r, taskCheck("idle task", contract.IdleTaskPath, "idle", rd, false))

	if p == nil {
		return r
	}
	if ok, err := p.SessionHost(); err != nil {
		add("sessionhost", Fail, "cannot read HKLM\\%s: %v (every deallocation would be skipped)", host.SessionHostKey, err)
	} else if !ok {
		add("sessionhost", Fail, "not a registered AVD session host (HKLM\\%s IsRegistered is not 1): the agent will not deallocate (--allow-unregistered-host overrides)", host.SessionHostKey)
	} else {
		add("sessionhost", OK, "registered with the AVD agent (IsRegistered = 1)")
	}
	if sessions, err := p.Sessions(); err != nil {
		add("sessions", Fail, "cannot list sessions (%v): every deallocation would be skipped", err)
	} else {
		// Every session with its station and the busy rule's verdict, so an
		// admin sees why the VM is (not) held, console and listeners included.
		var busy []string
		for _, s := range sessions {
			if decide.Busy(s) {
				user := s.User
				if user == "" {
					user = "(logon in progress)"
				}
				busy = append(busy, fmt.Sprintf("%s (session %d, %s)", user, s.ID, s.State))
			}
		}
		add("sessions", OK, "listed %d; holding the VM: %s", len(sessions), orNone(busy))
		for _, s := range sessions {
			add("session", OK, "%s", decide.Explain(s))
		}
	}
	if p.ShuttingDown() {
		add("shutdown", Warn, "SM_SHUTTINGDOWN is set: Windows is shutting down")
	} else {
		add("shutdown", OK, "SM_SHUTTINGDOWN not set")
	}
	if at, ok, err := p.LastShutdownInitiated(10 * time.Minute); err != nil {
		add("eventlog", Fail, "System log unreadable for event 1074 (%v): every deallocation would be skipped", err)
	} else if ok {
		add("eventlog", Warn, "readable; a shutdown/restart was initiated at %s (event 1074)", at.UTC().Format(time.RFC3339))
	} else {
		add("eventlog", OK, "readable; no event 1074 in the last 10 minutes")
	}
	if installing, pending, err := p.Servicing(); err != nil {
		add("servicing", Fail, "cannot read the servicing state (%v): every deallocation would be skipped", err)
	} else if installing != "" || pending != "" {
		add("servicing", Warn, "busy: %s (logoff and the idle safety net wait while installing; a pending reboot holds neither: the deallocation's shutdown completes it)", strings.Trim(installing+"; "+pending, "; "))
	} else {
		add("servicing", OK, "not installing, no reboot pending")
	}
	if cfg.LogDir != "" && cfg.LogDir != "." {
		if sec, err := host.FolderSecurity(cfg.LogDir); err != nil {
			add("folder", Fail, "%v (the agent creates it with SYSTEM and Administrators only on its first run)", err)
		} else if err := host.JudgeSecurity(cfg.LogDir, sec); err != nil {
			add("folder", Fail, "%v: the agent will not write its log or state there", err)
		} else {
			add("folder", OK, "%s owned by %s, writable only by SYSTEM and Administrators", cfg.LogDir, sec.Owner)
		}
	}
	return r
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// taskCheck reads a registered task's definition: it must exist, be enabled
// and run the agent's command.
func taskCheck(name, path, command string, rd host.Readiness, required bool) Item {
	b, err := rd.TaskDefinition(path)
	missing := Fail
	if !required {
		missing = Warn
	}
	switch {
	case errors.Is(err, host.ErrUnsupported):
		return Item{name, Warn, "not checked (not Windows)"}
	case errors.Is(err, fs.ErrNotExist):
		return Item{name, missing, fmt.Sprintf("scheduled task %s is not registered (GPO not applied yet? run gpupdate /force; Intune: check the Win32 app install status)", path)}
	case err != nil:
		return Item{name, Fail, fmt.Sprintf("reading %s: %v", path, err)}
	}
	def, err := ParseTask(b)
	switch {
	case err != nil:
		return Item{name, Fail, fmt.Sprintf("%s: %v", path, err)}
	case !def.Enabled:
		return Item{name, Fail, fmt.Sprintf("%s is disabled", path)}
	case !strings.HasPrefix(def.Arguments, command+" "):
		return Item{name, Fail, fmt.Sprintf("%s runs %q with arguments %q, not avd-agent %s", path, def.Command, def.Arguments, command)}
	}
	if item, bad := judgeProgramFolder(name, path, def.Command, rd); bad {
		return item
	}
	if command == "logoff" && !strings.Contains(def.Arguments, "$(SessionId)") {
		return Item{name, Warn, fmt.Sprintf("%s passes no $(SessionId) (arguments %q): re-saved in GPMC? one-decision-per-logoff is off", path, def.Arguments)}
	}
	return Item{name, OK, fmt.Sprintf("%s enabled: %s %s", path, def.Command, def.Arguments)}
}

// judgeProgramFolder judges the folder the task runs the agent from as
// avdgen judges agent.installDir, after the host expanded its variables and
// resolved its real path: a junction from an accepted folder into a place
// users write is caught, and so is %SystemRoot%\Temp.
func judgeProgramFolder(name, path, command string, rd host.Readiness) (Item, bool) {
	command = strings.Trim(strings.TrimSpace(command), `"`)
	i := strings.LastIndex(command, `\`)
	if i <= 0 {
		return Item{name, Fail, fmt.Sprintf("%s runs %q, not a program in an install folder", path, command)}, true
	}
	dir := command[:i]
	expanded, real, err := rd.ResolveInstallDir(dir)
	switch {
	case errors.Is(err, host.ErrUnsupported):
		return Item{}, false
	case err != nil:
		return Item{name, Fail, fmt.Sprintf("%s runs the agent from %s, which cannot be judged: %v", path, dir, err)}, true
	}
	for _, p := range []string{expanded, real} {
		if err := contract.JudgeInstallDir(p); err != nil {
			return Item{name, Fail, fmt.Sprintf("%s runs the agent from %s, which %v", path, dir, err)}, true
		}
	}
	return Item{}, false
}

// TaskDefinition is what `check` reads from a registered task.
type TaskDefinition struct {
	Enabled            bool
	Command, Arguments string
}

// ParseTask reads a task as Task Scheduler stores it: UTF-16LE with BOM
// (or UTF-8). Settings/Enabled absent means enabled.
func ParseTask(b []byte) (TaskDefinition, error) {
	text := string(b)
	if len(b) >= 2 && b[0] == 0xFF && b[1] == 0xFE {
		u := make([]uint16, (len(b)-2)/2)
		for i := range u {
			u[i] = uint16(b[2+2*i]) | uint16(b[3+2*i])<<8
		}
		text = string(utf16.Decode(u))
	}
	text = strings.TrimPrefix(text, "\ufeff")
	if i := strings.Index(text, "?>"); strings.HasPrefix(text, "<?xml") && i >= 0 {
		text = text[i+2:]
	}
	var doc struct {
		Settings struct {
			Enabled *string `xml:"Enabled"`
		} `xml:"Settings"`
		Exec struct {
			Command   string `xml:"Command"`
			Arguments string `xml:"Arguments"`
		} `xml:"Actions>Exec"`
	}
	if err := xml.Unmarshal([]byte(text), &doc); err != nil {
		return TaskDefinition{}, fmt.Errorf("task XML unreadable: %w", err)
	}
	enabled := doc.Settings.Enabled == nil || strings.TrimSpace(*doc.Settings.Enabled) == "true"
	return TaskDefinition{Enabled: enabled, Command: doc.Exec.Command, Arguments: doc.Exec.Arguments}, nil
}
