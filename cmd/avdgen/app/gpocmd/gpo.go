// Package gpocmd implements `avdgen gpo`.
package gpocmd

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/avdgen/avdgen/cmd/avdgen/app/bundlecmd"
	"github.com/avdgen/avdgen/cmd/avdgen/app/cmdutil"
	"github.com/avdgen/avdgen/cmd/avdgen/app/specflags"
	"github.com/avdgen/avdgen/cmd/internal/buildinfo"
	"github.com/avdgen/avdgen/generator/gpo"
)

// Options of `avdgen gpo`.
type Options struct {
	Factory *cmdutil.Factory
	Spec    *specflags.Flags
	Bundle  bundlecmd.Options
}

// NewCmdGPO builds the command; runF replaces the run function in tests.
func NewCmdGPO(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{Factory: f}
	cmd := &cobra.Command{
		Use:   "gpo --domain FQDN --out DIR [flags]",
		Short: "Write the Group Policy bundle for an AD-joined host pool",
		Long: `Writes a GPO backup (session time limits, the logoff task, the agent file copy) to import
with GPMC or Import-GPO, the SYSVOL payload with the agent binaries, single-VM files and
Import-AvdGpo.ps1. Everything is rendered in memory first; nothing is half-written.`,
		Example: `  avdgen gpo --domain contoso.local --idle 2h --disconnected 15m --out ./avdgen-gpo
  avdgen gpo --config avdgen.yaml --out ./avdgen-gpo --force`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if runF != nil {
				return runF(opts)
			}
			return run(opts)
		},
	}
	opts.Spec = specflags.Add(cmd, specflags.GPO)
	bundlecmd.AddFlags(cmd, &opts.Bundle)
	cmd.AddCommand(NewCmdPublish(f, false, nil), NewCmdPublish(f, true, nil), NewCmdUnpublish(f, nil))
	return cmd
}

// New is the registration hook for commands.go.
func New(f *cmdutil.Factory) *cobra.Command { return NewCmdGPO(f, nil) }

func run(opts *Options) error {
	s, agents, at, err := opts.Bundle.Inputs(opts.Factory, opts.Spec, true)
	if err != nil {
		return err
	}
	files, err := gpo.Build(gpo.Input{Spec: s, Agents: agents, Time: at, AvdgenVersion: buildinfo.Version})
	if err != nil {
		return err
	}
	next := fmt.Sprintf(`next steps:
  1. avdgen rbac apply --subscription <sub> --resource-group <rg> --host-pool %s
  2. on a machine with GPMC: cd %s; .\Import-AvdGpo.ps1 -WhatIf; .\Import-AvdGpo.ps1
  3. on a session host: gpupdate /force, then avd-agent.exe check (see README.md in the bundle)
`, s.HostPool, opts.Bundle.Out)
	return bundlecmd.Emit(opts.Factory.IO, opts.Bundle, "gpo", s.HostPool, files, next)
}
