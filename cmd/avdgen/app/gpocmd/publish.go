package gpocmd

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/avdgen/avdgen/cmd/avdgen/app/bundlecmd"
	"github.com/avdgen/avdgen/cmd/avdgen/app/cmdutil"
	"github.com/avdgen/avdgen/cmd/avdgen/app/specflags"
	"github.com/avdgen/avdgen/cmd/internal/buildinfo"
	"github.com/avdgen/avdgen/fleet/adpublish"
	"github.com/avdgen/avdgen/generator/gpo"
)

// ConnFlags say how to reach and authenticate to a DC: shared by publish,
// diff and unpublish.
type ConnFlags struct {
	Server   string
	Username string
	CAFile   string
	AgentDir string
	// Auth is "password" (simple bind in TLS, NTLM for SMB) or "kerberos".
	Auth     string
	Keytab   string
	Krb5Conf string
}

func addConnFlags(cmd *cobra.Command, c *ConnFlags) {
	fl := cmd.Flags()
	fl.StringVar(&c.Server, "server", "", "domain controller `HOST` to use (default: the domain's DCs from DNS SRV _ldap._tcp.dc._msdcs.<domain>)")
	fl.StringVar(&c.Username, "username", "", "`ACCOUNT` to bind as: a UPN (admin@contoso.local) or DOMAIN\\user; the password comes from "+PasswordEnv+" or a prompt")
	fl.StringVar(&c.CAFile, "ca-file", "", "PEM `FILE` with CA certificates to trust for the DC's LDAPS certificate, beside the system roots")
	fl.StringVar(&c.Auth, "auth", "password", "`METHOD`: password (simple bind inside TLS, NTLM for SMB) or kerberos (ticket cache from KRB5CCNAME, or --keytab)")
	fl.StringVar(&c.Keytab, "keytab", "", "with --auth kerberos: keytab `FILE` holding --username's keys (default: the ticket cache kinit made)")
	fl.StringVar(&c.Krb5Conf, "krb5-conf", "", "with --auth kerberos: krb5.conf `FILE` (default: KRB5_CONFIG, else /etc/krb5.conf)")
}

// PublishOptions of `avdgen gpo publish` and `avdgen gpo diff`.
type PublishOptions struct {
	Factory *cmdutil.Factory
	Spec    *specflags.Flags
	ConnFlags
	DryRun bool
	Force  bool
	Enable bool
	JSON   bool
	// Diff: exit 1 (after printing) when AD differs from the spec.
	Diff bool
	// Connect opens the DC session; tests may replace it with fakes.
	Connect func(context.Context, adpublish.Config) (*adpublish.Session, error)
}

// PasswordEnv carries the password; it is never a flag (flags end up in
// shell history and process listings).
const PasswordEnv = "AVDGEN_PASSWORD"

// NewCmdPublish builds `avdgen gpo publish`; diff is `publish --dry-run`
// under the name people look for when they want to see drift.
func NewCmdPublish(f *cmdutil.Factory, diff bool, runF func(*PublishOptions) error) *cobra.Command {
	opts := &PublishOptions{Factory: f, Connect: adpublish.Connect}
	cmd := &cobra.Command{
		Use:   "publish --domain FQDN --ou OU-DN --username USER [flags]",
		Short: "Create or update the pool's GPO in Active Directory and SYSVOL",
		Long: `Publishes the GPO that ` + "`avdgen gpo`" + ` renders straight into Active Directory, as GPMC would:
finds the pool's GPO (display name plus avdgen's GUID) or creates it, writes registry.pol and the
Preferences files only when their bytes differ, raises the machine version once when anything
changed, copies the agents and SHA256SUMS to \\<domain>\SYSVOL\<domain>\scripts\avdgen and links the
GPO to --ou. A rerun with the same spec writes nothing.

LDAP runs over TLS only (LDAPS, else StartTLS; the certificate is verified: --ca-file adds a private
CA), SMB with signing. The password comes from ` + PasswordEnv + ` or a prompt on the terminal.`,
		Example: `  AVDGEN_PASSWORD=... avdgen gpo publish --config avdgen.yaml --username admin@contoso.local --dry-run
  avdgen gpo publish --config avdgen.yaml --username 'CONTOSO\gpoadmin' --server dc1.contoso.local --ca-file corp-ca.pem`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if runF != nil {
				return runF(opts)
			}
			return runPublish(opts)
		},
	}
	if diff {
		cmd.Use = "diff --domain FQDN --ou OU-DN --username USER [flags]"
		cmd.Short = "Show how the live GPO differs from the spec (publish --dry-run)"
		cmd.Long = "Reads the pool's GPO from Active Directory and SYSVOL and prints what `avdgen gpo publish` would change,\n" +
			"and what an admin set that publish leaves alone: links (enabled, enforced, on other OUs), security filtering,\n" +
			"WMI filter, a disabled GPO, settings avdgen does not own. Nothing is written.\n\n" +
			"Exit status: 0 when AD matches the spec, 1 when it differs, 2 on bad input (so a pipeline can gate on it)."
		cmd.Example = `  AVDGEN_PASSWORD=... avdgen gpo diff --config avdgen.yaml --username admin@contoso.local`
		opts.DryRun = true
		opts.Diff = true
	}
	opts.Spec = specflags.Add(cmd, specflags.GPO)
	addConnFlags(cmd, &opts.ConnFlags)
	fl := cmd.Flags()
	if !diff {
		fl.BoolVar(&opts.DryRun, "dry-run", false, "read only: print what would change (files and attributes) and write nothing")
		fl.BoolVar(&opts.Force, "force", false, "overwrite settings avdgen does not own that an admin added to avdgen's files (registry values, preference items)")
		fl.BoolVar(&opts.Enable, "enable", false, "enable the GPO's computer configuration when an admin disabled it in GPMC (without it a disabled GPO stays disabled)")
	}
	fl.BoolVar(&opts.JSON, "json", false, "print the result as JSON")
	fl.StringVar(&opts.AgentDir, "agent-dir", "", "publish avd-agent-amd64.exe and avd-agent-arm64.exe from `DIR` (e.g. after signing them) instead of the built-in ones")
	return cmd
}

// connectTarget resolves the spec, renders the bundle and connects to
// the DC: what publish, diff and unpublish share.
func connectTarget(f *cmdutil.Factory, spec *specflags.Flags, c ConnFlags,
	connect func(context.Context, adpublish.Config) (*adpublish.Session, error)) (adpublish.Target, *adpublish.Session, error) {
	server, username, caFile, agentDir := c.Server, c.Username, c.CAFile, c.AgentDir
	if c.Auth != "password" && c.Auth != "kerberos" {
		return adpublish.Target{}, nil, cmdutil.Usagef("--auth %q: want password or kerberos", c.Auth)
	}
	if c.Auth != "kerberos" && (c.Keytab != "" || c.Krb5Conf != "") {
		return adpublish.Target{}, nil, cmdutil.Usagef("--keytab and --krb5-conf need --auth kerberos")
	}
	s, err := spec.Resolve(true, f.IO.ErrOut)
	if err != nil {
		return adpublish.Target{}, nil, &cmdutil.UsageError{Err: err}
	}
	if s.GPO.OU == "" {
		return adpublish.Target{}, nil, cmdutil.Usagef("--ou (gpo.ou in avdgen.yaml) is required: the distinguished name of the OU to link the GPO to, e.g. OU=AVD,DC=%s", strings.ReplaceAll(s.GPO.Domain, ".", ",DC="))
	}
	if err := adpublish.CheckOU(s.GPO.OU); err != nil {
		return adpublish.Target{}, nil, &cmdutil.UsageError{Err: err}
	}
	if username == "" {
		return adpublish.Target{}, nil, cmdutil.Usagef("--username is required: a UPN (admin@%s) or DOMAIN\\user allowed to edit GPOs", s.GPO.Domain)
	}
	roots, err := rootCAs(caFile)
	if err != nil {
		return adpublish.Target{}, nil, err
	}
	at, err := bundlecmd.Time(f.Getenv)
	if err != nil {
		return adpublish.Target{}, nil, err
	}
	agents, err := bundlecmd.Options{AgentDir: agentDir}.Agents(f)
	if err != nil {
		return adpublish.Target{}, nil, err
	}
	files, err := gpo.Build(gpo.Input{Spec: s, Agents: agents, Time: at, AvdgenVersion: buildinfo.Version})
	if err != nil {
		return adpublish.Target{}, nil, err
	}
	target, err := adpublish.TargetFromBundle(files, s.GPO.OU)
	if err != nil {
		return adpublish.Target{}, nil, err
	}
	cfg := adpublish.Config{Domain: s.GPO.Domain, Server: server, Username: username, RootCAs: roots, Timeout: 30 * time.Second}
	if c.Auth == "kerberos" {
		cfg.Kerberos = kerberosFrom(f, c)
	} else if cfg.Password, err = readPassword(f); err != nil {
		return adpublish.Target{}, nil, err
	}
	sess, err := connect(context.Background(), cfg)
	if err != nil {
		return adpublish.Target{}, nil, err
	}
	return target, sess, nil
}

func runPublish(opts *PublishOptions) error {
	f := opts.Factory
	target, sess, err := connectTarget(f, opts.Spec, opts.ConnFlags, opts.Connect)
	if err != nil {
		return err
	}
	defer sess.Close()
	res, err := adpublish.Publish(sess.Directory, sess.SYSVOL, target, adpublish.Options{
		DryRun: opts.DryRun, Force: opts.Force, Enable: opts.Enable, CallerSID: sess.CallerSID})
	if err := printResult(f, res, err, opts.JSON, sess.Server); err != nil {
		return fmt.Errorf("publishing GPO %q to %s: %w", target.DisplayName, sess.Server, err)
	}
	return diffExit(opts.Diff, res)
}

// diffExit makes `gpo diff` exit 1 when AD differs from the spec (the
// changes are printed already), 0 when it matches.
func diffExit(diff bool, res *adpublish.Result) error {
	if diff && res != nil && res.Changed() {
		return cmdutil.SilentError
	}
	return nil
}

func printResult(f *cmdutil.Factory, res *adpublish.Result, err error, asJSON bool, server string) error {
	if res != nil {
		res.Server = server
	}
	if res != nil && (err == nil || res.Changed()) {
		if asJSON {
			enc := json.NewEncoder(f.IO.Out)
			enc.SetIndent("", "  ")
			if jerr := enc.Encode(res); jerr != nil && err == nil {
				err = jerr
			}
		} else if err == nil {
			res.WriteText(f.IO.Out)
		}
	}
	return err
}

// kerberosFrom finds the Kerberos credentials as MIT kinit leaves them:
// --keytab, else the ticket cache in KRB5CCNAME (FILE: caches only) or
// /tmp/krb5cc_<uid>; krb5.conf from --krb5-conf, KRB5_CONFIG or /etc.
func kerberosFrom(f *cmdutil.Factory, c ConnFlags) *adpublish.Kerberos {
	k := &adpublish.Kerberos{Keytab: c.Keytab, Config: c.Krb5Conf}
	if k.Config == "" {
		k.Config = f.Getenv("KRB5_CONFIG")
	}
	if k.Config == "" {
		k.Config = "/etc/krb5.conf"
	}
	k.CCache = strings.TrimPrefix(f.Getenv("KRB5CCNAME"), "FILE:")
	if k.CCache == "" {
		k.CCache = fmt.Sprintf("/tmp/krb5cc_%d", os.Getuid())
	}
	return k
}

// rootCAs is the system pool plus --ca-file.
func rootCAs(file string) (*x509.CertPool, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if file == "" {
		return pool, nil
	}
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, cmdutil.Usagef("--ca-file %q: %v", file, err)
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, cmdutil.Usagef("--ca-file %q: no PEM certificate in it (want -----BEGIN CERTIFICATE-----)", file)
	}
	return pool, nil
}

// readPassword takes AVDGEN_PASSWORD, else prompts without echo when
// stdin is a terminal.
func readPassword(f *cmdutil.Factory) (string, error) {
	if pw := f.Getenv(PasswordEnv); pw != "" {
		return pw, nil
	}
	in, ok := f.IO.In.(*os.File)
	if !ok || !term.IsTerminal(int(in.Fd())) {
		return "", cmdutil.Usagef("no password: set %s (stdin is not a terminal to prompt on)", PasswordEnv)
	}
	fmt.Fprint(f.IO.ErrOut, "password: ")
	b, err := term.ReadPassword(int(in.Fd()))
	fmt.Fprintln(f.IO.ErrOut)
	if err != nil {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	if len(b) == 0 {
		return "", errors.New("empty password: nothing was done")
	}
	return string(b), nil
}
