// Package intunecmd implements `avdgen intune`.
package intunecmd

import (
	"crypto/rand"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/avdgen/avdgen/cmd/avdgen/app/bundlecmd"
	"github.com/avdgen/avdgen/cmd/avdgen/app/cmdutil"
	"github.com/avdgen/avdgen/cmd/avdgen/app/specflags"
	"github.com/avdgen/avdgen/cmd/internal/buildinfo"
	"github.com/avdgen/avdgen/generator/intune"
)

// Options of `avdgen intune`.
type Options struct {
	Factory *cmdutil.Factory
	Spec    *specflags.Flags
	Bundle  bundlecmd.Options
	// Rand supplies the .intunewin keys (crypto/rand; tests inject).
	Rand io.Reader
}

// NewCmdIntune builds the command; runF replaces the run function in tests.
func NewCmdIntune(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{Factory: f, Rand: rand.Reader}
	cmd := &cobra.Command{
		Use:   "intune --out DIR [flags]",
		Short: "Write the Intune bundle for an Entra-joined host pool",
		Long: `Writes the Session Time Limits profile (Settings Catalog, and an OMA-URI alternative) as
Graph JSON, the avd-agent Win32 app package (.intunewin, built and encrypted by avdgen), its
Graph body and encryption info, and a README with the upload steps. ` + "`avdgen intune publish`" + `
creates or updates all of it in Intune through Microsoft Graph.`,
		Example: `  avdgen intune --idle 2h --disconnected 15m --out ./avdgen-intune`,
		Args:    cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if runF != nil {
				return runF(opts)
			}
			return run(opts)
		},
	}
	opts.Spec = specflags.Add(cmd, specflags.Intune)
	bundlecmd.AddFlags(cmd, &opts.Bundle)
	cmd.AddCommand(NewCmdPublish(f, nil))
	return cmd
}

// New is the registration hook for commands.go.
func New(f *cmdutil.Factory) *cobra.Command { return NewCmdIntune(f, nil) }

func run(opts *Options) error {
	s, agents, at, err := opts.Bundle.Inputs(opts.Factory, opts.Spec, false)
	if err != nil {
		return err
	}
	files, err := intune.Build(intune.Input{Spec: s, Agents: agents, Time: at, AvdgenVersion: buildinfo.Version, Rand: opts.Rand})
	if err != nil {
		return err
	}
	next := fmt.Sprintf(`next steps (details in %s/README.md):
  1. avdgen rbac apply --subscription <sub> --resource-group <rg> --host-pool %s
  2. avdgen intune publish --bundle %s --assign-group <group> (or upload by hand: README.md)
`, opts.Bundle.Out, s.HostPool, opts.Bundle.Out)
	return bundlecmd.Emit(opts.Factory.IO, opts.Bundle, "intune", s.HostPool, files, next)
}
