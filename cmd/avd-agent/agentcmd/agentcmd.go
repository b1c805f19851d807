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
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/avdgen/avdgen/agent/agentlog"
	"github.com/avdgen/avdgen/agent/azure"
	"github.com/avdgen/avdgen/agent/check"
	"github.com/avdgen/avdgen/agent/contract"
	"github.com/avdgen/avdgen/agent/decide"
	"github.com/avdgen/avdgen/agent/host"
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
	// Retry tunes ARM retries (tests shorten them).
	Retry policy.RetryOptions
	// Context is cancelled when the run must stop: Windows shutting down or
	// logging off (console control events), the task being ended, SIGTERM.
	// nil means never.
	Context context.Context
	// ProbeRetryDelay is the wait before a failed probe is asked again (0: 2 s).
	ProbeRetryDelay time.Duration
}

// SystemEnv is the Env of a real run. Its context ends on SIGINT/SIGTERM; on
// Windows Go's SetConsoleCtrlHandler turns CTRL_C/BREAK into SIGINT and
// CTRL_CLOSE/LOGOFF/SHUTDOWN into SIGTERM. Windows withholds LOGOFF/SHUTDOWN
// from processes that loaded user32.dll (GetSystemMetrics), so on a real
// shutdown the guard is the SM_SHUTTINGDOWN / event 1074 check repeated right
// before every POST (docs/agent.md, "Cancellation").
func SystemEnv() (*Env, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	return &Env{
		Out: os.Stdout, ErrOut: os.Stderr, Getenv: os.Getenv, Now: time.Now, Sleep: azure.SleepContext,
		Probe: host.System(), Readiness: host.SystemReadiness(), OpenEventLog: host.OpenEventLog,
		IsWindows: host.IsWindows, Context: ctx,
	}, stop
}

func (env *Env) context() context.Context {
	if env.Context == nil {
		return context.Background()
	}
	return env.Context
}

const usage = `avd-agent deallocates this Azure Virtual Desktop session host after its users sign out.

Usage:
  avd-agent logoff [--session ID] [--user NAME] [--grace 90s] [--action deallocate|hibernate] [--dry-run]
                   [--exclude-tag name=value] [--allow-unregistered-host] [global flags]
  avd-agent idle   [--idle-after 30m|never] [--action deallocate|hibernate] [--dry-run]
                   [--exclude-tag name=value] [--allow-unregistered-host] [global flags]
  avd-agent check  [global flags]
  avd-agent version

Global flags (before or after the command):
  --imds-endpoint URL          instance metadata and token endpoint (default the real IMDS; otherwise loopback http only)
  --arm-endpoint URL           Resource Manager endpoint (default from the VM's cloud; https, or http on loopback)
  --identity-client-id ID      use this user-assigned managed identity (default: the system-assigned one)
  --identity-resource-id ID    the same, by resource id
  --log-file PATH              log file, an absolute local path in a folder only SYSTEM and Administrators may write
                               (default %SystemRoot%\System32\config\systemprofile\AppData\Local\avdgen\avd-agent.log, capped at 1 MiB)
  --verbose                    also print every log line to stderr

Exit codes: 0 deallocated or deliberately skipped, 1 failure, 2 bad input, 3 not authorized to deallocate.
`

// valueFlags are the global flags that take a value as the next argument.
var valueFlags = map[string]bool{"imds-endpoint": true, "arm-endpoint": true, "log-file": true, "identity-client-id": true, "identity-resource-id": true}

// splitCommand finds the command among args: global flags may come before
// it (they are moved after it, where the command's flag set parses them).
func splitCommand(args []string) (cmd string, rest []string, err error) {
	var before []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") || a == "-" || a == "--" {
			return a, append(append([]string{}, before...), args[i+1:]...), nil
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		switch {
		case name == "h" || name == "help" || name == "version":
			return name, nil, nil
		case valueFlags[name] && !hasValue:
			if i+1 >= len(args) {
				return "", nil, fmt.Errorf("flag %s needs a value", a)
			}
			before = append(before, a, args[i+1])
			i++
		case valueFlags[name] || name == "verbose":
			before = append(before, a)
		default:
			return "", nil, fmt.Errorf("%s before the command is not a global flag (global flags: --imds-endpoint, --arm-endpoint, --identity-client-id, --identity-resource-id, --log-file, --verbose)", a)
		}
	}
	return "", nil, errors.New("no command given (want logoff, idle, check or version)")
}

// Main runs avd-agent and returns its exit code. A panic is logged (event
// log and log file) and exits 1, never 2, which means bad input.
func Main(args []string, env *Env) (code int) {
	defer func() {
		if p := recover(); p != nil {
			msg := fmt.Sprintf("internal error: %v; nothing more was sent. Please report this with the log file.", p)
			fmt.Fprintf(env.ErrOut, "avd-agent: %s\n", msg)
			log := quietLogger(env, args)
			log.Log(agentlog.Error, uint32(decide.FailPanic), "%s\n%s", msg, debug.Stack())
			log.Close()
			code = ExitFailure
		}
	}()
	if len(args) == 0 {
		fmt.Fprint(env.ErrOut, usage)
		return ExitUsage
	}
	cmd, rest, err := splitCommand(args)
	if err != nil {
		return usageErr(env, args, err)
	}
	switch cmd {
	case "version":
		fmt.Fprintf(env.Out, "avd-agent %s\n", buildinfo.Version)
		return ExitOK
	case "h", "help":
		fmt.Fprint(env.Out, usage)
		return ExitOK
	case "logoff":
		return runLogoff(rest, env)
	case "idle":
		return runIdle(rest, env)
	case "check":
		return runCheck(rest, env)
	}
	return usageErr(env, args, fmt.Errorf("unknown command %q (want logoff, idle, check or version)", cmd))
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
	if g.logFile != "" {
		return ValidateLogFile(g.logFile, runtime.GOOS == "windows")
	}
	return nil
}

var windowsLogFileRe = regexp.MustCompile(`^[A-Za-z]:\\[^/*?"<>|:]+$`)

// ValidateLogFile judges --log-file before anything is created or written:
// an absolute local path to a file, not a folder (on Windows X:\...\name,
// no UNC, device or \\?\ path, no '.' or '..' step, no wildcard) whose
// folder is not a drive root. Whether the folder is safe for SYSTEM is
// judged when the log is opened; the agent never changes a folder it did not
// create.
func ValidateLogFile(path string, windows bool) error {
	bad := func(why string) error {
		return fmt.Errorf("--log-file %q: %s; want an absolute local path such as %s\\%s in a folder only SYSTEM and Administrators may write", path, why, contract.LogDir, contract.LogFile)
	}
	if !windows {
		if !filepath.IsAbs(path) || filepath.Clean(path) != path || filepath.Dir(path) == path {
			return bad("not an absolute, clean path to a file")
		}
		return nil
	}
	if !windowsLogFileRe.MatchString(path) {
		return bad(`not a local path X:\folder\file (UNC, device paths, '/', wildcards and quotes are refused)`)
	}
	parts := strings.Split(path[3:], `\`)
	for _, p := range parts {
		if p == "" || p == "." || p == ".." || strings.TrimRight(p, ". ") != p {
			return bad("an empty, '.' or '..' step, or a name ending in a dot or space")
		}
	}
	if len(parts) < 2 {
		return bad("a file in a drive root")
	}
	return nil
}

// logPath is the log file in force: --log-file, or the default one in the
// SYSTEM profile (contract.LogDir).
func logPath(env *Env, flagValue string) string {
	if flagValue != "" || !env.IsWindows {
		return flagValue
	}
	root := env.Getenv("SystemRoot")
	if root == "" {
		root = `C:\Windows`
	}
	return strings.Replace(contract.LogDir, "%SystemRoot%", root, 1) + `\` + contract.LogFile
}

func openEvents(env *Env, verbose bool) host.EventLog {
	if env.OpenEventLog == nil {
		return nil
	}
	ev, err := env.OpenEventLog()
	if err != nil {
		if verbose {
			fmt.Fprintf(env.ErrOut, "avd-agent: event log unavailable (%v); logging to the file only\n", err)
		}
		return nil
	}
	return ev
}

func (g *globals) logger(env *Env) *agentlog.Logger {
	return agentlog.New(logPath(env, g.logFile), openEvents(env, g.verbose), env.ErrOut, g.verbose, env.Now)
}

// state is the state file beside the log file, only when its folder passed
// the protected-folder check.
func state(log *agentlog.Logger, path string) *logoff.State {
	if path == "" || log.Refused != nil {
		return nil
	}
	return &logoff.State{Path: filepath.Join(filepath.Dir(path), logoff.StateFile)}
}

func (g *globals) httpClient(env *Env) *http.Client {
	if env.Transport != nil {
		return &http.Client{Transport: env.Transport, Timeout: 60 * time.Second}
	}
	return imds.NoProxyClient(nil)
}

// quietLogger logs to the event log and the log file but not to stderr
// (which gets its own one line). The command line may have been rejected, so
// its --log-file is only used when it is a valid path into a folder that
// already exists: nothing is created for a command line that was refused
// (the folder is still judged before anything is written).
func quietLogger(env *Env, args []string) *agentlog.Logger {
	var file string
	for i, a := range args {
		if v, ok := strings.CutPrefix(strings.TrimLeft(a, "-"), "log-file="); ok && strings.HasPrefix(a, "-") {
			file = v
		} else if (a == "--log-file" || a == "-log-file") && i+1 < len(args) {
			file = args[i+1]
		}
	}
	if file != "" {
		if ValidateLogFile(file, runtime.GOOS == "windows") != nil {
			file = ""
		} else if fi, err := os.Lstat(filepath.Dir(file)); err != nil || !fi.IsDir() {
			file = ""
		}
	}
	return agentlog.New(logPath(env, file), openEvents(env, false), nil, false, env.Now)
}

// usageErr prints one line to stderr and records the same line in the
// event log and the log file: a scheduled task's stderr is read by nobody.
func usageErr(env *Env, args []string, err error) int {
	line := firstLine(err.Error())
	fmt.Fprintf(env.ErrOut, "avd-agent: %v\n", line)
	log := quietLogger(env, args)
	log.Log(agentlog.Error, uint32(decide.FailUsage), "bad command line %q: %s; nothing was done", strings.Join(args, " "), line)
	log.Close()
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

// actionFlags are the flags logoff and idle share.
type actionFlags struct {
	g                 globals
	tag, action       string
	dryRun, allowHost bool
	excludeName       string
	excludeValue      string
}

func (a *actionFlags) register(fs *flag.FlagSet) {
	a.g.register(fs)
	fs.StringVar(&a.action, "action", "deallocate", "")
	fs.BoolVar(&a.dryRun, "dry-run", false, "")
	fs.StringVar(&a.tag, "exclude-tag", contract.DefaultExcludeTag, "")
	fs.BoolVar(&a.allowHost, "allow-unregistered-host", false, "")
}

func (a *actionFlags) validate(fs *flag.FlagSet, env *Env) error {
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (quote values that contain spaces)", fs.Arg(0))
	}
	if a.action != "deallocate" && a.action != "hibernate" {
		return fmt.Errorf("--action %q: allowed values are deallocate, hibernate", a.action)
	}
	if a.tag != "" {
		var err error
		if a.excludeName, a.excludeValue, err = contract.SplitTag(a.tag); err != nil {
			return err
		}
	}
	return a.g.resolve(env)
}

func (a *actionFlags) config() logoff.Config {
	return logoff.Config{
		Hibernate: a.action == "hibernate", DryRun: a.dryRun, AllowUnregistered: a.allowHost,
		ExcludeName: a.excludeName, ExcludeValue: a.excludeValue,
		IdentityClientID: a.g.clientID, IdentityResourceID: a.g.resID,
		IMDSBase: a.g.imdsBase, ARMEndpoint: a.g.armBase,
	}
}

func (a *actionFlags) deps(env *Env, log *agentlog.Logger) logoff.Deps {
	return logoff.Deps{
		Probe: env.Probe, HTTP: a.g.httpClient(env), Sleep: env.Sleep, Now: env.Now, Log: log,
		State: state(log, logPath(env, a.g.logFile)), Retry: env.Retry, ProbeRetryDelay: env.ProbeRetryDelay,
	}
}

func runLogoff(args []string, env *Env) int {
	var (
		a             actionFlags
		session, user string
		grace         time.Duration
	)
	fs := newFlagSet("logoff")
	a.register(fs)
	fs.StringVar(&session, "session", "", "")
	fs.StringVar(&user, "user", "", "")
	fs.DurationVar(&grace, "grace", contract.DefaultGraceSeconds*time.Second, "")
	if err := fs.Parse(args); err != nil {
		return usageErr(env, args, err)
	}
	if err := a.validate(fs, env); err != nil {
		return usageErr(env, args, err)
	}
	if grace < 0 || grace > time.Hour {
		return usageErr(env, args, fmt.Errorf("--grace %s: must be between 0s and 1h", grace))
	}
	log := a.g.logger(env)
	defer log.Close()
	cfg := a.config()
	cfg.Session, cfg.User, cfg.Grace = session, user, grace
	return report(env, logoff.Run(env.context(), cfg, a.deps(env, log)))
}

// ParseIdleAfter reads --idle-after: a duration of at least 5 minutes, or
// "never" (0).
func ParseIdleAfter(s string) (time.Duration, error) {
	if strings.EqualFold(s, "never") {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 5*time.Minute || d > 7*24*time.Hour {
		return 0, fmt.Errorf("--idle-after %q: want a duration between 5m and 168h, or never", s)
	}
	return d, nil
}

func runIdle(args []string, env *Env) int {
	var (
		a         actionFlags
		idleAfter string
	)
	fs := newFlagSet("idle")
	a.register(fs)
	fs.StringVar(&idleAfter, "idle-after", contract.DefaultIdleAfter, "")
	if err := fs.Parse(args); err != nil {
		return usageErr(env, args, err)
	}
	if err := a.validate(fs, env); err != nil {
		return usageErr(env, args, err)
	}
	after, err := ParseIdleAfter(idleAfter)
	if err != nil {
		return usageErr(env, args, err)
	}
	log := a.g.logger(env)
	defer log.Close()
	cfg := a.config()
	cfg.IdleAfter = after
	return report(env, logoff.RunIdle(env.context(), cfg, a.deps(env, log)))
}

func report(env *Env, res logoff.Result) int {
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
		return usageErr(env, args, err)
	}
	if fs.NArg() > 0 {
		return usageErr(env, args, fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	if err := g.resolve(env); err != nil {
		return usageErr(env, args, err)
	}
	rep := check.Run(env.context(), check.Config{
		IMDSBase: g.imdsBase, ARMEndpoint: g.armBase, IdentityClientID: g.clientID, IdentityResourceID: g.resID,
		LogDir: filepath.Dir(logPath(env, g.logFile)),
	}, check.Deps{
		HTTP: g.httpClient(env), Sleep: env.Sleep, Readiness: env.Readiness, Probe: env.Probe, Retry: env.Retry,
	})
	rep.Print(env.Out)
	if rep.Failed() {
		return ExitFailure
	}
	return ExitOK
}
