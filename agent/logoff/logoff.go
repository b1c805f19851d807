// Package logoff is what `avd-agent logoff` does, in order: shutdown check,
// grace period, session and shutdown check again, IMDS, exclusion tag,
// managed-identity token, deallocate. Every step logs its reason.
package logoff

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/avdgen/avdgen/agent/agentlog"
	"github.com/avdgen/avdgen/agent/armvm"
	"github.com/avdgen/avdgen/agent/azure"
	"github.com/avdgen/avdgen/agent/decide"
	"github.com/avdgen/avdgen/agent/host"
	"github.com/avdgen/avdgen/agent/identity"
	"github.com/avdgen/avdgen/agent/imds"
)

// Config is the validated command line.
type Config struct {
	Session, User string
	Grace         time.Duration
	Hibernate     bool // --action hibernate
	DryRun        bool
	// ExcludeName=ExcludeValue is the exclusion tag.
	ExcludeName, ExcludeValue string
	IdentityClientID          string
	IdentityResourceID        string
	// IMDSBase is azure.IMDSEndpoint or a loopback override.
	IMDSBase string
	// ARMEndpoint overrides the cloud's endpoint when not empty.
	ARMEndpoint string
	// ShutdownWindow is how far back event 1074 counts (default 10 min).
	ShutdownWindow time.Duration
}

// Deps are the agent's seams to the machine and the network.
type Deps struct {
	Probe host.Probe
	// HTTP carries IMDS, token and ARM requests (never through a proxy).
	HTTP *http.Client
	// Sleep waits (the grace period, IMDS backoff); tests make it instant.
	Sleep func(context.Context, time.Duration) error
	Log   *agentlog.Logger
	// Getenv and Identity.Source feed identity.CheckSource.
	Getenv   func(string) string
	Identity identity.Options
	// Retry tunes ARM retries (zero: azure.DefaultRetry).
	Retry policy.RetryOptions
	// TokenTimeout bounds GetToken (default 30 s; MSAL would retry ~90 s).
	TokenTimeout time.Duration
}

// Result is the final decision and, for failures, the error.
type Result struct {
	Decision decide.Decision
	Err      error
}

// Run performs the logoff job.
func Run(ctx context.Context, cfg Config, d Deps) Result {
	if cfg.ShutdownWindow == 0 {
		cfg.ShutdownWindow = 10 * time.Minute
	}
	log := d.Log
	log.Log(agentlog.Info, 0, "logoff of session %q user %q: grace %s, hibernate %v, dry-run %v", cfg.Session, cfg.User, cfg.Grace, cfg.Hibernate, cfg.DryRun)

	facts := decide.Facts{HibernateRequested: cfg.Hibernate, DryRun: cfg.DryRun}
	// 1. Shutdown or restart in progress, or initiated recently.
	facts.ShuttingDownAtStart = d.Probe.ShuttingDown()
	facts.RecentShutdownEvent = recentShutdown(d, cfg.ShutdownWindow)
	if dec := decide.Decide(facts); !dec.Act() && dec.Outcome != decide.DryRun {
		return finish(log, dec, nil)
	}

	// 2. Grace period: while Windows shuts down, it kills us here.
	if cfg.Grace > 0 {
		log.Log(agentlog.Info, 0, "waiting %s before deciding", cfg.Grace)
		if err := d.Sleep(ctx, cfg.Grace); err != nil {
			return finish(log, decide.Decision{Outcome: decide.SkipShutdown, Reason: "interrupted during the grace period: " + err.Error()}, nil)
		}
	}
	facts.ShuttingDownAfterGrace = d.Probe.ShuttingDown()
	if !facts.RecentShutdownEvent {
		facts.RecentShutdownEvent = recentShutdown(d, cfg.ShutdownWindow)
	}
	facts.Sessions, facts.SessionsErr = d.Probe.Sessions()
	if dec := decide.Decide(facts); !dec.Act() && dec.Outcome != decide.DryRun {
		return finish(log, dec, nil)
	}

	// 3. Who am I?
	md := &imds.Client{Base: cfg.IMDSBase, HTTP: d.HTTP, Sleep: d.Sleep}
	inst, err := md.Instance(ctx)
	if err != nil {
		return finish(log, decide.Decision{Outcome: decide.FailMetadata, Reason: "instance metadata: " + err.Error()}, err)
	}
	cloud, err := azure.CloudByEnvironment(inst.Environment)
	if err != nil {
		return finish(log, decide.Decision{Outcome: decide.FailMetadata, Reason: err.Error()}, err)
	}
	log.Log(agentlog.Info, 0, "this VM is %s in %s", inst.ResourceID, cloud.Environment)
	facts.Excluded = cfg.ExcludeName != "" && inst.HasTag(cfg.ExcludeName, cfg.ExcludeValue)
	facts.HibernationEnabled = inst.HibernationEnabled
	dec := decide.Decide(facts)
	if !dec.Act() && dec.Outcome != decide.DryRun {
		return finish(log, dec, nil)
	}

	// 4. Token for this cloud's Resource Manager.
	idOpts := d.Identity
	idOpts.IMDSBase, idOpts.ClientID, idOpts.ResourceID = cfg.IMDSBase, cfg.IdentityClientID, cfg.IdentityResourceID
	idOpts.Getenv = d.Getenv
	if d.HTTP != nil {
		idOpts.Transport = d.HTTP.Transport
	}
	cred, err := identity.NewCredential(idOpts)
	if err != nil {
		return finish(log, decide.Decision{Outcome: decide.FailConfig, Reason: err.Error()}, err)
	}
	timeout := d.TokenTimeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	tok, err := identity.Token(ctx, cred, cloud, timeout)
	if err != nil {
		return finish(log, decide.Decision{Outcome: decide.FailToken, Reason: err.Error()}, err)
	}
	if dec.Outcome == decide.DryRun {
		return finish(log, dec, nil)
	}

	// 5. Deallocate exactly the VM IMDS named.
	client, err := armvm.New(azure.ARM{Cloud: cloud, Endpoint: cfg.ARMEndpoint, HTTPClient: d.HTTP, Retry: d.Retry},
		identity.StaticCredential{Token: tok})
	if err != nil {
		return finish(log, decide.Decision{Outcome: decide.FailConfig, Reason: err.Error()}, err)
	}
	res, err := client.Deallocate(ctx, inst.ResourceID, dec.Hibernate)
	if res.FellBack {
		log.Log(agentlog.Warning, uint32(decide.WarnHibernateFallback), "hibernation refused by ARM (409); deallocated without hibernating")
		dec = decide.Decision{Outcome: decide.Deallocate, Reason: dec.Reason + "; hibernate refused, plain deallocate sent"}
	}
	var authErr *armvm.AuthorizationError
	switch {
	case errors.As(err, &authErr):
		return finish(log, decide.Decision{Outcome: decide.FailNotAuthorized, Reason: err.Error()}, err)
	case err != nil:
		return finish(log, decide.Decision{Outcome: decide.FailARM, Reason: err.Error()}, err)
	}
	dec.Reason += fmt.Sprintf(" (ARM answered %d)", res.StatusCode)
	return finish(log, dec, nil)
}

// recentShutdown asks for event 1074. An unreadable event log is logged and
// treated as "none seen": SM_SHUTTINGDOWN and the grace period (Windows kills
// the agent while shutting down) still guard a restart.
func recentShutdown(d Deps, window time.Duration) bool {
	_, ok, err := d.Probe.LastShutdownInitiated(window)
	if err != nil {
		d.Log.Log(agentlog.Warning, uint32(decide.WarnEventLogUnreadable), "could not read System event 1074 (%v); relying on SM_SHUTTINGDOWN and the grace period", err)
		return false
	}
	return ok
}

func finish(log *agentlog.Logger, dec decide.Decision, err error) Result {
	level := agentlog.Info
	if dec.Outcome.IsFailure() {
		level = agentlog.Error
	}
	log.Log(level, uint32(dec.Outcome), "%s", dec.Reason)
	return Result{Decision: dec, Err: err}
}

// SplitTag parses name=value.
func SplitTag(tag string) (name, value string, err error) {
	name, value, ok := strings.Cut(tag, "=")
	name = strings.TrimSpace(name)
	if !ok || name == "" {
		return "", "", fmt.Errorf("--exclude-tag %q: want name=value, e.g. avdgen-exclude=true", tag)
	}
	return name, strings.TrimSpace(value), nil
}
