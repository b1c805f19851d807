package intunecmd

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/avdgen/avdgen/agent/azure"
	"github.com/avdgen/avdgen/cmd/avdgen/app/azureflags"
	"github.com/avdgen/avdgen/cmd/avdgen/app/bundlecmd"
	"github.com/avdgen/avdgen/cmd/avdgen/app/cmdutil"
	"github.com/avdgen/avdgen/cmd/avdgen/app/specflags"
	"github.com/avdgen/avdgen/cmd/internal/buildinfo"
	"github.com/avdgen/avdgen/fleet/graphpublish"
	"github.com/avdgen/avdgen/generator/bundle"
	"github.com/avdgen/avdgen/generator/intune"
)

// PublishOptions of `avdgen intune publish`.
type PublishOptions struct {
	Factory       *cmdutil.Factory
	Spec          *specflags.Flags
	AgentDir      string
	Group         string
	Auth          azureflags.Auth
	GraphEndpoint string
	DryRun        bool
	JSON          bool
	Remediation   bool
	BundleDir     string
	// Rand supplies the .intunewin keys (crypto/rand; tests inject).
	Rand io.Reader
	// flags lets run tell which flags were given (--bundle excludes spec flags).
	flags *pflag.FlagSet
}

// NewCmdPublish builds `avdgen intune publish`; runF replaces run in tests.
func NewCmdPublish(f *cmdutil.Factory, runF func(*PublishOptions) error) *cobra.Command {
	opts := &PublishOptions{Factory: f, Rand: rand.Reader}
	cmd := &cobra.Command{
		Use:   "publish --assign-group GROUP [flags]",
		Short: "Create or update the Intune profile, Win32 app and assignments through Microsoft Graph",
		Long: `Publishes what ` + "`avdgen intune`" + ` writes, through Microsoft Graph (beta): the Settings Catalog
profile (updated in place when its settings differ), the Win32 app (created or patched; its content
is uploaded again only when the package changed, and its detection rule changes only together with
the committed content), optionally the Remediations script pair, and their assignments to one
device group. A rerun with the same spec changes nothing. --dry-run only reads and prints the plan.

Graph permissions (application permissions with admin consent), per flag:
  always            DeviceManagementConfiguration.ReadWrite.All (the profile)
                    DeviceManagementApps.ReadWrite.All (the app, its content, its assignment)
  --remediation     DeviceManagementScripts.ReadWrite.All (the Remediations pair)
  --assign-group    GroupMember.Read.All or Group.Read.All (find a group by name; check that it
                    holds devices - without it publish only warns that it could not check)
--auth: env (an app registration) or managed-identity, or default (those two and workload
identity). cli and device-code are refused: they sign in through the Azure CLI's own app, which
Intune's permissions are not granted to.

Objects are found by the avdgen key in their description or notes first (renamed in the portal,
they are still ours), by exact name second. Assignments to other groups and Policy Set assignments
are kept; publish refuses to override an exclusion or an uninstall assignment of the group.
See docs/intune.md.`,
		Example: `  avdgen intune publish --idle 2h --disconnected 15m --assign-group 5b0e7c1a-3d2f-4c6b-9a8e-1f2d3c4b5a69 --auth env
  avdgen intune publish --bundle ./avdgen-intune --assign-group "AVD session hosts" --auth env --dry-run`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if runF != nil {
				return runF(opts)
			}
			return runPublish(opts)
		},
	}
	opts.Spec = specflags.Add(cmd, specflags.Intune)
	fs := cmd.Flags()
	fs.StringVar(&opts.AgentDir, "agent-dir", "", "publish avd-agent-amd64.exe and avd-agent-arm64.exe from `DIR` instead of the built-in ones")
	fs.StringVar(&opts.Group, "assign-group", "", "Entra `GROUP` (object id, or exact display name) to assign the profile and the app (required) to")
	azureflags.AddAuth(cmd, &opts.Auth)
	fs.StringVar(&opts.GraphEndpoint, "graph-endpoint", "", "Microsoft Graph endpoint `URL` override: loopback http only (tests)")
	fs.BoolVar(&opts.DryRun, "dry-run", false, "read only: print what would be created, updated, uploaded and assigned")
	fs.BoolVar(&opts.JSON, "json", false, "print the report as JSON")
	fs.BoolVar(&opts.Remediation, "remediation", false, "also publish and assign the Remediations pair (detect/re-register the logoff and idle tasks)")
	fs.StringVar(&opts.BundleDir, "bundle", "", "publish exactly the bundle in `DIR`, written earlier by avdgen intune (its manifest hashes are checked) instead of building one")
	opts.flags = fs
	return cmd
}

// specFlagNames are the flags that shape a bundle; --bundle takes none.
var specFlagNames = []string{"config", "host-pool", "idle", "disconnected", "active", "end-session", "action", "grace",
	"exclude-tag", "install-dir", "identity-client-id", "profile-name", "app-name", "publisher", "min-windows-release", "agent-dir"}

func runPublish(o *PublishOptions) error {
	f := o.Factory
	if strings.TrimSpace(o.Group) == "" {
		return cmdutil.Usagef("--assign-group is required: the Entra group (object id or exact display name) of the session hosts")
	}
	if err := o.Auth.Validate(); err != nil {
		return err
	}
	endpoint := ""
	if o.GraphEndpoint != "" {
		var err error
		if endpoint, err = azure.ParseGraphOverride("--graph-endpoint", o.GraphEndpoint); err != nil {
			return cmdutil.Usagef("%v", err)
		}
	}
	files, err := o.bundleFiles()
	if err != nil {
		return err
	}
	in, err := graphpublish.FromBundle(files, o.Remediation)
	if err != nil {
		return cmdutil.Usagef("%v", err)
	}
	in.Group, in.DryRun = o.Group, o.DryRun
	cred, cloud, err := o.Auth.Credential(f)
	if err != nil {
		return err
	}
	progress := f.IO.ErrOut
	if o.JSON {
		progress = io.Discard
	}
	cfg := graphpublish.Config{Cloud: cloud, Endpoint: endpoint, Credential: cred, HTTPClient: &http.Client{Transport: f.Transport},
		Sleep: f.Sleep, Now: f.Now, Progress: progress, Terminal: f.IO.IsTerminal}
	rep, err := graphpublish.Publish(context.Background(), cfg, in)
	if rep != nil {
		if o.JSON {
			b, _ := json.MarshalIndent(rep, "", "  ")
			fmt.Fprintf(f.IO.Out, "%s\n", b)
		} else {
			printReport(f.IO.Out, rep)
		}
	}
	if err != nil {
		return fmt.Errorf("publish stopped: %w", err)
	}
	return nil
}

// bundleFiles builds the bundle in memory from the spec, or reads --bundle.
func (o *PublishOptions) bundleFiles() (map[string][]byte, error) {
	if o.BundleDir != "" {
		var given []string
		o.flags.Visit(func(fl *pflag.Flag) {
			for _, n := range specFlagNames {
				if fl.Name == n {
					given = append(given, "--"+n)
				}
			}
		})
		if len(given) > 0 {
			return nil, cmdutil.Usagef("--bundle publishes the bundle as written and reviewed; leave out %s (or rebuild the bundle with avdgen intune)", strings.Join(given, ", "))
		}
		return readBundle(o.BundleDir)
	}
	s, err := o.Spec.Resolve(false, o.Factory.IO.ErrOut)
	if err != nil {
		return nil, &cmdutil.UsageError{Err: err}
	}
	at, err := bundlecmd.Time(o.Factory.Getenv)
	if err != nil {
		return nil, err
	}
	agents, err := bundlecmd.Options{AgentDir: o.AgentDir}.Agents(o.Factory)
	if err != nil {
		return nil, err
	}
	built, err := intune.Build(intune.Input{Spec: s, Agents: agents, Time: at, AvdgenVersion: buildinfo.Version, Rand: o.Rand})
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	for _, fl := range built {
		files[fl.Path] = fl.Data
	}
	return files, nil
}

// readBundle reads an `avdgen intune` bundle and checks every file against
// its manifest: size and SHA-256, nothing missing.
func readBundle(dir string) (map[string][]byte, error) {
	raw, err := os.ReadFile(filepath.Join(dir, bundle.ManifestName))
	if err != nil {
		return nil, cmdutil.Usagef("--bundle %s: %v (is it a folder written by avdgen intune?)", dir, err)
	}
	var m bundle.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, cmdutil.Usagef("--bundle %s: %s is not an avdgen manifest: %v", dir, bundle.ManifestName, err)
	}
	if m.Command != "intune" {
		return nil, cmdutil.Usagef("--bundle %s: written by avdgen %s, not avdgen intune", dir, m.Command)
	}
	files := map[string][]byte{}
	var bad []string
	for _, e := range m.Files {
		if strings.Contains(e.Path, "..") || filepath.IsAbs(e.Path) {
			return nil, cmdutil.Usagef("--bundle %s: manifest names an unsafe path %q", dir, e.Path)
		}
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(e.Path)))
		if err != nil {
			bad = append(bad, fmt.Sprintf("%s: %v", e.Path, err))
			continue
		}
		sum := sha256.Sum256(b)
		if hex.EncodeToString(sum[:]) != e.SHA256 || int64(len(b)) != e.Size {
			bad = append(bad, e.Path+": changed since the bundle was written (SHA-256 differs from the manifest)")
			continue
		}
		files[e.Path] = b
	}
	if len(bad) > 0 {
		return nil, cmdutil.Usagef("--bundle %s does not match its manifest; rebuild it with avdgen intune:\n  %s", dir, strings.Join(bad, "\n  "))
	}
	return files, nil
}

func printReport(w io.Writer, r *graphpublish.Report) {
	if r.DryRun {
		fmt.Fprintln(w, "dry run: nothing was changed")
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(s graphpublish.Step) {
		if s.Action == "" {
			return
		}
		detail := s.Detail
		if s.ID != "" {
			detail = strings.TrimSpace(s.ID + "  " + detail)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.What, s.Name, s.Action, detail)
	}
	row(r.Policy)
	row(r.App)
	row(r.Content)
	if r.Remediation != nil {
		row(*r.Remediation)
	}
	for _, a := range r.Assignments {
		row(a)
	}
	tw.Flush()
	for _, warning := range r.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warning)
	}
	fmt.Fprintf(w, "graph: %d requests, %d writes, %d retries; blob: %d writes\n", r.Requests, r.Writes, r.Retries, r.BlobWrites)
}
