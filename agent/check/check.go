// Package check is `avd-agent check`: a readiness report that answers "will
// the logoff deallocation work on this host?" before a user ever signs out,
// including the "AuthorizationFailed" question.
package check

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/avdgen/avdgen/agent/armvm"
	"github.com/avdgen/avdgen/agent/azure"
	"github.com/avdgen/avdgen/agent/contract"
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
	r = append(r, localChecks(d.Readiness)...)
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

	client, err := armvm.New(azure.ARM{Cloud: cloud, Endpoint: cfg.ARMEndpoint, HTTPClient: d.HTTP, Retry: d.Retry}, identity.StaticCredential{Token: tok})
	if err != nil {
		add("permission", Fail, "%v", err)
		return r
	}
	perms, err := client.Permissions(ctx, inst.ResourceID)
	var se *armvm.StatusError
	switch {
	case errors.As(err, &se) && se.StatusCode == http.StatusForbidden:
		add("permission", Warn, "could not read this identity's permissions (%v); deallocation may still work", err)
	case err != nil:
		add("permission", Fail, "%v", err)
	case armvm.Allows(perms, armvm.DeallocateAction):
		add("permission", OK, "the identity may %s on this VM", armvm.DeallocateAction)
	default:
		add("permission", Fail, "the identity may NOT %s on %s: this is the AuthorizationFailed users would hit. Fix: avdgen rbac apply --subscription %s --resource-group <pool RG> --host-pool <pool>",
			armvm.DeallocateAction, inst.ResourceID, inst.SubscriptionID)
	}
	return r
}

// policyValues are the Session Time Limits values the generated policies set.
var policyValues = []string{"MaxDisconnectionTime", "MaxIdleTime", "MaxConnectionTime", "fResetBroken"}

func localChecks(rd host.Readiness) Report {
	var r Report
	vals, err := rd.PolicyValues()
	switch {
	case errors.Is(err, host.ErrUnsupported):
		r = append(r, Item{"policy", Warn, "not checked (not Windows)"})
	case err != nil:
		r = append(r, Item{"policy", Fail, fmt.Sprintf("reading HKLM\\%s: %v", contract.PolicyKey, err)})
	case vals["MaxDisconnectionTime"] == 0:
		r = append(r, Item{"policy", Fail, fmt.Sprintf("MaxDisconnectionTime is not set under HKLM\\%s: disconnected sessions are never logged off, so the logoff task never runs (run gpupdate /force, or check the GPO/Intune profile is assigned)", contract.PolicyKey)})
	default:
		var got []string
		for _, name := range policyValues {
			if v, ok := vals[name]; ok {
				got = append(got, fmt.Sprintf("%s=%d", name, v))
			}
		}
		sort.Strings(got)
		r = append(r, Item{"policy", OK, strings.Join(got, " ")})
	}
	ok, err := rd.TaskRegistered(contract.TaskPath)
	switch {
	case errors.Is(err, host.ErrUnsupported):
		r = append(r, Item{"task", Warn, "not checked (not Windows)"})
	case err != nil:
		r = append(r, Item{"task", Fail, fmt.Sprintf("looking up %s: %v", contract.TaskPath, err)})
	case !ok:
		r = append(r, Item{"task", Fail, fmt.Sprintf("scheduled task %s is not registered (GPO not applied yet? run gpupdate /force; Intune: check the Win32 app install status)", contract.TaskPath)})
	default:
		r = append(r, Item{"task", OK, contract.TaskPath + " is registered"})
	}
	return r
}
