package gpocmd

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/avdgen/avdgen/cmd/avdgen/app/cmdutil"
	"github.com/avdgen/avdgen/cmd/avdgen/app/specflags"
	"github.com/avdgen/avdgen/fleet/adpublish"
)

// UnpublishOptions of `avdgen gpo unpublish`.
type UnpublishOptions struct {
	Factory *cmdutil.Factory
	Spec    *specflags.Flags
	ConnFlags
	Yes     bool
	JSON    bool
	Connect func(context.Context, adpublish.Config) (*adpublish.Session, error)
}

// NewCmdUnpublish builds `avdgen gpo unpublish`.
func NewCmdUnpublish(f *cmdutil.Factory, runF func(*UnpublishOptions) error) *cobra.Command {
	opts := &UnpublishOptions{Factory: f, Connect: adpublish.Connect}
	cmd := &cobra.Command{
		Use:   "unpublish --domain FQDN --ou OU-DN --username USER [--yes] [flags]",
		Short: "Remove the pool's GPO that publish made: its links, the GPO, its SYSVOL folder and agents",
		Long: `Removes what ` + "`avdgen gpo publish`" + ` made for the spec's host pool: the GPO's links (on every OU), the GPO
and its SYSVOL folder, and the agents in \\<domain>\SYSVOL\<domain>\scripts\avdgen that no other avdgen GPO copies.
It finds the GPO as publish does (the recorded id, avdgen's GUID, or the name plus avdgen's preference items) and
refuses a GPO avdgen did not create.

Without --yes it is a dry run: it prints what it would remove and removes nothing.`,
		Example: `  AVDGEN_PASSWORD=... avdgen gpo unpublish --config avdgen.yaml --username admin@contoso.local
  AVDGEN_PASSWORD=... avdgen gpo unpublish --config avdgen.yaml --username admin@contoso.local --yes`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if runF != nil {
				return runF(opts)
			}
			return runUnpublish(opts)
		},
	}
	opts.Spec = specflags.Add(cmd, specflags.GPO)
	addConnFlags(cmd, &opts.ConnFlags)
	fl := cmd.Flags()
	fl.BoolVar(&opts.Yes, "yes", false, "remove for real (without it: a dry run that lists what would be removed)")
	fl.BoolVar(&opts.JSON, "json", false, "print the result as JSON")
	fl.StringVar(&opts.AgentDir, "agent-dir", "", "render the bundle with the agents from `DIR` (as published with --agent-dir)")
	return cmd
}

func runUnpublish(opts *UnpublishOptions) error {
	f := opts.Factory
	target, sess, err := connectTarget(f, opts.Spec, opts.ConnFlags, opts.Connect)
	if err != nil {
		return err
	}
	defer sess.Close()
	res, err := adpublish.Unpublish(sess.Directory, sess.SYSVOL, target, !opts.Yes)
	if err := printResult(f, res, err, opts.JSON, sess.Server); err != nil {
		return fmt.Errorf("unpublishing GPO %q from %s: %w", target.DisplayName, sess.Server, err)
	}
	if !opts.Yes && !opts.JSON {
		fmt.Fprintln(f.IO.Out, "dry run: nothing was removed; pass --yes to remove it")
	}
	return nil
}
