// Package agentcmd wires avd-agent's command line: logoff, check, version.
// It uses the standard flag package to keep the agent binary small.
package agentcmd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/avdgen/avdgen/agent/agentlog"
	"github.com/avdgen/avdgen/agent/azure"
	"github.com/avdgen/avdgen/agent/check"
	"github.com/avdgen/avdgen/agent/contract"
	"github.com/avdgen/avdgen/agent/decide"
	"github.com/avdgen/avdgen/agent/host"
	"github.com/avdgen/avdgen/agent/identity"
	"github.com/avdgen/avdgen/agent/imds"
	"github.com/avdgen/avdgen/agent/logoff"
	"github.com/avdgen/avdgen/cmd/internal/buildinfo"
)

// Exit codes (docs/agent.md).
const (
	ExitOK            = 0 // deallocated, or a deliberate skip
	ExitFailure       = 1 // IMDS, token or ARM failure; check found a problem
	ExitUsage         = 2 // bad input; nothing was sent
	ExitNotAuthorized = 3 // ARM 403: the identity may not deallocate this VM
)

// Env is everything a run touches, injected so tests run in-process.
type Env struct {
	Out, ErrOut io.Writer
	Getenv      func(string) string
	Now         func() time.Time
	Sleep       func(context.Context, time.Duration) error
	// Transport carries IMDS, token and ARM requests; nil means a no-proxy default.
	Transport http.RoundTripper
	Probe     host.Probe
	Readiness host.Readiness
	// OpenEventLog opens the Application log (nil: none).
	OpenEventLog func() (host.EventLog, error)
	// IsWindows: non-Windows builds only run against loopback endpoints.
	IsWindows bool
	// Identity overrides the managed-identity source check (tests).
	Identity identity.Options
	// Retry tunes ARM retries (tests shorten them).
	Retry policy.RetryOptions
}

// SystemEnv is the Env of a real run.
func SystemEnv() *Env {
	return &Env{
		Out: os.Stdout, ErrOut: os.Stderr, Getenv: os.Getenv, Now: time.Now, Sleep: imds.SleepContext,
		Probe: host.System(), Readiness: host.SystemReadiness(), OpenEventLog: host.OpenEventLog,
		IsWindows: host.IsWindows,
	}
}

const usage = `avd-agent deallocates this Azure Virtual Desktop session host after its users sign out.

Usage:
  avd-agent logoff [--session ID] [--user NAME] [--grace 90s] [--action deallocate|hibernate] [--dry-run]
                   [--exclude-tag name=value] [--identity-client-id ID | --identity-resource-id ID] [global flags]
  avd-agent check  [--identity-client-id ID | --identity-resource-id ID] [global flags]
  avd-agent version

Global flags:
  --imds-endpoint URL   instance metadata and token endpoint (default the real IMDS; otherwise loopback http only)
  --arm-endpoint URL    Resource Manager endpoint (default from the VM's cloud; https, or http on loopback)
  --log-file PATH       log file (default %ProgramData%\avdgen\avd-agent.log, capped at 1 MiB)
  --verbose             also print every log line to stderr

Exit codes: 0 deallocated or deliberately skipped, 1 failure, 2 bad input, 3 not authorized to deallocate.
`

// Main runs avd-agent and returns its exit code.
func Main(args []string, env *Env) int {
	if len(args) == 0 {
		fmt.Fprint(env.ErrOut, usage)
		return ExitUsage
	}
	switch args[0] {
	case "version", "--version":
		fmt.Fprintf(env.Out, "avd-agent %s\n", buildinfo.Version)
		return ExitOK
	case "-h", "--help", "help":
		fmt.Fprint(env.Out, usage)
		return ExitOK
	case "logoff":
		return runLogoff(args[1:], env)
	case "check":
		return runCheck(args[1:], env)
	}
	fmt.Fprintf(env.ErrOut, "avd-agent: unknown command %q (want logoff, check or version)\n", args[0])
	return ExitUsage
}

// globals are the flags every command takes.
type globals struct {
	imds, arm, logFile string
	verbose            bool
	clientID, resID    string
	// resolved
	imdsBase, armBase string
}

func (g *globals) register(fs *flag.FlagSet) {
	fs.StringVar(&g.imds, "imds-endpoint", "", "")
	fs.StringVar(&g.arm, "arm-endpoint", "", "")
	fs.StringVar(&g.logFile, "log-file", "", "")
	fs.BoolVar(&g.verbose, "verbose", false, "")
	fs.StringVar(&g.clientID, "identity-client-id", "", "")
	fs.StringVar(&g.resID, "identity-resource-id", "", "")
}

// resolve validates endpoint overrides. Non-Windows builds exist only for
// tests and benchmarks, so they insist on loopback endpoints.
func (g *globals) resolve(env *Env) error {
	g.imdsBase = azure.IMDSEndpoint
	if g.imds != "" {
		b, err := azure.ParseIMDSOverride("--imds-endpoint", g.imds)
		if err != nil {
			return err
		}
		g.imdsBase = b
	}
	if g.arm != "" {
		b, err := azure.ParseARMOverride("--arm-endpoint", g.arm)
		if err != nil {
			return err
		}
		g.armBase = b
	}
	if !env.IsWindows && (g.imds == "" || g.armBase == "" || !azure.IsLoopbackURL(g.armBase)) {
		return errors.New("this is a non-Windows build, for tests only: give both --imds-endpoint and --arm-endpoint as loopback URLs")
	}
	if g.clientID != "" && g.resID != "" {
		return errors.New("give either --identity-client-id or --identity-resource-id, not both")
	}
	return nil
}

func (g *globals) logger(env *Env) *agentlog.Logger {
	path := g.logFile
	if path == "" && env.IsWindows {
		dir := env.Getenv("ProgramData")
		if dir == "" {
			dir = `C:\ProgramData`
		}
		path = dir + `\avdgen\` + contract.LogFile
	}
	var events host.EventLog
	if env.OpenEventLog != nil {
		if ev, err := env.OpenEventLog(); err == nil {
			events = ev
		} else if g.verbose {
			fmt.Fprintf(env.ErrOut, "avd-agent: event log unavailable (%v); logging to the file only\n", err)
		}
	}
	return agentlog.New(path, events, env.ErrOut, g.verbose, env.Now)
}

func (g *globals) httpClient(env *Env) *http.Client {
	if env.Transport != nil {
		return &http.Client{Transport: env.Transport, Timeout: 60 * time.Second}
	}
	return imds.NoProxyClient(nil)
}

func usageErr(env *Env, err error) int {
	fmt.Fprintf(env.ErrOut, "avd-agent: %v\n", firstLine(err.Error()))
	return ExitUsage
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are printed on one line by usageErr
	return fs
}

func runLogoff(args []string, env *Env) int {
	var (
		g                  globals
		session, user, tag string
		action             string
		grace              time.Duration
		dryRun             bool
	)
	fs := newFlagSet("logoff")
	g.register(fs)
	fs.StringVar(&session, "session", "", "")
	fs.StringVar(&user, "user", "", "")
	fs.StringVar(&action, "action", "deallocate", "")
	fs.DurationVar(&grace, "grace", contract.DefaultGraceSeconds*time.Second, "")
	fs.BoolVar(&dryRun, "dry-run", false, "")
	fs.StringVar(&tag, "exclude-tag", contract.DefaultExcludeTag, "")
	if err := fs.Parse(args); err != nil {
		return usageErr(env, err)
	}
	if fs.NArg() > 0 {
		return usageErr(env, fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	if action != "deallocate" && action != "hibernate" {
		return usageErr(env, fmt.Errorf("--action %q: allowed values are deallocate, hibernate", action))
	}
	if grace < 0 || grace > time.Hour {
		return usageErr(env, fmt.Errorf("--grace %s: must be between 0s and 1h", grace))
	}
	var excludeName, excludeValue string
	if tag != "" {
		var err error
		if excludeName, excludeValue, err = logoff.SplitTag(tag); err != nil {
			return usageErr(env, err)
		}
	}
	if err := g.resolve(env); err != nil {
		return usageErr(env, err)
	}
	log := g.logger(env)
	defer log.Close()
	res := logoff.Run(context.Background(), logoff.Config{
		Session: session, User: user, Grace: grace, Hibernate: action == "hibernate", DryRun: dryRun,
		ExcludeName: excludeName, ExcludeValue: excludeValue,
		IdentityClientID: g.clientID, IdentityResourceID: g.resID,
		IMDSBase: g.imdsBase, ARMEndpoint: g.armBase,
	}, logoff.Deps{
		Probe: env.Probe, HTTP: g.httpClient(env), Sleep: env.Sleep, Log: log, Getenv: env.Getenv,
		Identity: env.Identity, Retry: env.Retry,
	})
	fmt.Fprintf(env.Out, "%s: %s\n", outcomeName(res.Decision.Outcome), res.Decision.Reason)
	switch {
	case res.Decision.Outcome == decide.FailNotAuthorized:
		return ExitNotAuthorized
	case res.Decision.Outcome.IsFailure():
		return ExitFailure
	}
	return ExitOK
}

func outcomeName(o decide.Outcome) string {
	switch {
	case o == decide.Deallocate:
		return "deallocated"
	case o == decide.Hibernate:
		return "hibernated"
	case o == decide.DryRun:
		return "dry-run"
	case o.IsSkip():
		return "skipped"
	}
	return "failed"
}

func runCheck(args []string, env *Env) int {
	var g globals
	fs := newFlagSet("check")
	g.register(fs)
	if err := fs.Parse(args); err != nil {
		return usageErr(env, err)
	}
	if fs.NArg() > 0 {
		return usageErr(env, fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	if err := g.resolve(env); err != nil {
		return usageErr(env, err)
	}
	rep := check.Run(context.Background(), check.Config{
		IMDSBase: g.imdsBase, ARMEndpoint: g.armBase, IdentityClientID: g.clientID, IdentityResourceID: g.resID,
	}, check.Deps{
		HTTP: g.httpClient(env), Sleep: env.Sleep, Readiness: env.Readiness, Getenv: env.Getenv,
		Identity: env.Identity, Retry: env.Retry,
	})
	rep.Print(env.Out)
	if rep.Failed() {
		return ExitFailure
	}
	return ExitOK
}
