// Package specflags binds avdgen.yaml's fields to command-line flags, shared
// by `avdgen gpo` and `avdgen intune`. Flags win over the file.
package specflags

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/avdgen/avdgen/generator/spec"
)

// Flags holds the raw flag values.
type Flags struct {
	Config                                           string
	hostPool, idle, disconnected, active             string
	endSession, allowNoLogoff                        bool
	action, excludeTag, installDir, identityClientID string
	idleAfter                                        string
	grace                                            time.Duration
	gpoName, domain, ou                              string
	hostsGroup, hostsGroupSID                        string
	profileName, appName, publisher, minRelease      string
	fs                                               *pflag.FlagSet
}

// Which flag groups a command takes.
type Which int

// Flag groups.
const (
	GPO Which = 1 << iota
	Intune
)

// Add registers the spec flags on cmd.
func Add(cmd *cobra.Command, which Which) *Flags {
	f := &Flags{fs: cmd.Flags()}
	fs := f.fs
	fs.StringVar(&f.Config, "config", "", "read the spec from `FILE` (as written by avdgen init; flags override its fields; default ./avdgen.yaml when it exists)")
	fs.StringVar(&f.hostPool, "host-pool", "", "host pool `NAME` (default "+spec.DefaultHostPool+")")
	fs.StringVar(&f.idle, "idle", "", "`LIMIT` for active but idle sessions: never, 1m, 5m, 10m, 15m, 30m, 1h, 2h, 3h, 6h, 8h, 12h, 16h, 18h, 1d-5d")
	fs.StringVar(&f.disconnected, "disconnected", "", "`LIMIT` for disconnected sessions (same values); they are logged off, which runs the agent")
	fs.StringVar(&f.active, "active", "", "`LIMIT` for active sessions (same values)")
	fs.BoolVar(&f.endSession, "end-session", false, "end (log off) sessions when the idle or active limit is reached instead of disconnecting them")
	fs.BoolVar(&f.allowNoLogoff, "allow-no-logoff", false, "write limits under which no session is ever logged off (no finite --disconnected, no --end-session with --idle or --active); then the agent only runs when users sign out themselves")
	fs.StringVar(&f.action, "action", "", "agent `ACTION`: deallocate or hibernate (default deallocate)")
	fs.DurationVar(&f.grace, "grace", 0, "`DURATION` the agent waits after logoff before deciding (default 90s)")
	fs.StringVar(&f.excludeTag, "exclude-tag", "", "VM tag `NAME=VALUE` that makes the agent leave the VM alone (default avdgen-exclude=true)")
	fs.StringVar(&f.idleAfter, "idle-after", "", "idle safety net: deallocate a host with no user session for this `DURATION` since boot or the last session (5m-168h, or never; default 30m)")
	fs.StringVar(&f.installDir, "install-dir", "", "`DIR` the agent is installed into on the hosts (default %ProgramFiles%\\avdgen)")
	fs.StringVar(&f.identityClientID, "identity-client-id", "", "`GUID`: client id of a user-assigned managed identity (default: the VM's system-assigned identity)")
	limits := make([]string, len(spec.AllowedLimits))
	for i, ms := range spec.AllowedLimits {
		limits[i] = spec.FormatMs(ms)
	}
	for _, name := range []string{"idle", "disconnected", "active"} {
		cmd.RegisterFlagCompletionFunc(name, cobra.FixedCompletions(limits, cobra.ShellCompDirectiveNoFileComp))
	}
	cmd.RegisterFlagCompletionFunc("action", cobra.FixedCompletions([]string{"deallocate", "hibernate"}, cobra.ShellCompDirectiveNoFileComp))
	cmd.RegisterFlagCompletionFunc("config", cobra.FixedCompletions([]string{"yaml", "yml"}, cobra.ShellCompDirectiveFilterFileExt))
	if which&GPO != 0 {
		fs.StringVar(&f.gpoName, "gpo-name", "", "GPO display `NAME` (default \"avdgen - <host pool>\")")
		fs.StringVar(&f.domain, "domain", "", "AD DNS domain `FQDN`, e.g. contoso.local")
		fs.StringVar(&f.ou, "ou", "", "distinguished name (`DN`) of the OU (OU=...) of the session hosts, to link the GPO to; not the domain root or a CN= container")
		fs.StringVar(&f.hostsGroup, "hosts-group", "", "computer `GROUP` of the session hosts, as DOMAIN\\name: the agent and task apply only to its members")
		fs.StringVar(&f.hostsGroupSID, "hosts-group-sid", "", "`SID` of the --hosts-group group (optional; survives a rename)")
	}
	if which&Intune != 0 {
		fs.StringVar(&f.profileName, "profile-name", "", "display `NAME` of the Intune configuration profiles")
		fs.StringVar(&f.appName, "app-name", "", "display `NAME` of the Win32 app")
		fs.StringVar(&f.publisher, "publisher", "", "`PUBLISHER` of the Win32 app (default avdgen)")
		fs.StringVar(&f.minRelease, "min-windows-release", "", "Graph minimumSupportedWindowsRelease `RELEASE` (default Windows10_21H2)")
	}
	return f
}

func (f *Flags) changed(name string) bool {
	fl := f.fs.Lookup(name)
	return fl != nil && fl.Changed
}

// DefaultConfig is the spec file read when --config is not given and it
// exists in the working directory: what `avdgen init` writes, so the quick
// start (init, edit, gpo) uses the edited file.
const DefaultConfig = "avdgen.yaml"

// Resolve loads --config (or ./avdgen.yaml when it exists and --config was
// not given, saying so on notice), applies the flags that were given, fills
// defaults and validates. needDomain is true for `avdgen gpo`.
func (f *Flags) Resolve(needDomain bool, notice io.Writer) (spec.Spec, error) {
	var s spec.Spec
	config := f.Config
	if !f.changed("config") {
		if _, err := os.Stat(DefaultConfig); err == nil {
			config = DefaultConfig
			fmt.Fprintf(notice, "avdgen: reading ./%s (use --config to choose another file)\n", DefaultConfig)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return s, fmt.Errorf("./%s: %w (use --config to choose another file)", DefaultConfig, err)
		}
	}
	if config != "" {
		var err error
		if s, err = spec.Load(config); err != nil {
			return s, err
		}
	}
	strs := []struct {
		flag string
		val  string
		dst  *string
	}{
		{"host-pool", f.hostPool, &s.HostPool}, {"action", f.action, &s.Agent.Action}, {"exclude-tag", f.excludeTag, &s.Agent.ExcludeTag},
		{"idle-after", f.idleAfter, &s.Agent.IdleAfter}, {"install-dir", f.installDir, &s.Agent.InstallDir}, {"identity-client-id", f.identityClientID, &s.Agent.IdentityClientID},
		{"gpo-name", f.gpoName, &s.GPO.Name}, {"domain", f.domain, &s.GPO.Domain}, {"ou", f.ou, &s.GPO.OU},
		{"hosts-group", f.hostsGroup, &s.GPO.HostsGroup}, {"hosts-group-sid", f.hostsGroupSID, &s.GPO.HostsGroupSID},
		{"profile-name", f.profileName, &s.Intune.ProfileName}, {"app-name", f.appName, &s.Intune.AppName},
		{"publisher", f.publisher, &s.Intune.Publisher}, {"min-windows-release", f.minRelease, &s.Intune.MinimumWindowsRelease},
	}
	for _, p := range strs {
		if f.changed(p.flag) {
			*p.dst = p.val
		}
	}
	limits := []struct {
		flag string
		val  string
		dst  *spec.Limit
	}{{"idle", f.idle, &s.Limits.Idle}, {"disconnected", f.disconnected, &s.Limits.Disconnected}, {"active", f.active, &s.Limits.Active}}
	for _, l := range limits {
		if f.changed(l.flag) {
			v, err := spec.ParseLimit("--"+l.flag, l.val)
			if err != nil {
				return s, err
			}
			*l.dst = v
		}
	}
	if f.changed("end-session") {
		s.Limits.EndSessionOnLimit = f.endSession
	}
	if f.changed("allow-no-logoff") {
		s.Limits.AllowNoLogoff = f.allowNoLogoff
	}
	if f.changed("grace") {
		if f.grace < 0 {
			return s, fmt.Errorf("--grace %s: must be between 0s and 1h", f.grace)
		}
		s.Agent.Grace = f.grace
		if f.grace == 0 {
			// 0 is a real choice here, not "unset": keep it through defaults.
			s = s.WithDefaults()
			s.Agent.Grace = 0
			return s, validated(s, needDomain, notice)
		}
	}
	s = s.WithDefaults()
	return s, validated(s, needDomain, notice)
}

// validated validates the resolved spec and, when it is valid, warns of
// what it allows but should not go unsaid.
func validated(s spec.Spec, needDomain bool, notice io.Writer) error {
	if err := s.Validate(needDomain); err != nil {
		return err
	}
	if s.Agent.IdentityClientID != "" {
		fmt.Fprintln(notice, SharedIdentityWarning(s.Agent.IdentityClientID))
	}
	return nil
}

// SharedIdentityWarning is printed when the agent is told to use a
// user-assigned identity (issue 20): one client id for every host of the
// pool means one identity holding the deallocate role on each of them, and
// IMDS hands its token to any process on any of those VMs.
func SharedIdentityWarning(clientID string) string {
	return "avdgen: warning: --identity-client-id / agent.identityClientId " + clientID +
		": every host of the pool will use this one user-assigned identity, so it needs the deallocate role on every host; " +
		"IMDS gives its token to any process on a VM it is attached to, so any user signed in to one host can deallocate all of them. " +
		"Leave it out to use each VM's system-assigned identity (avdgen rbac apply grants each one the role on its own VM only), or use one user-assigned identity per VM"
}
