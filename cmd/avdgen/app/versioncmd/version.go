// Package versioncmd implements `avdgen version`.
package versioncmd

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/avdgen/avdgen/cmd/avdgen/app/cmdutil"
	"github.com/avdgen/avdgen/cmd/internal/buildinfo"
	"github.com/avdgen/avdgen/dist"
)

// Options of `avdgen version`.
type Options struct {
	IO     *cmdutil.IOStreams
	Agents func() (dist.Agents, error)
}

// NewCmdVersion builds the command; runF replaces the run function in tests.
func NewCmdVersion(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Agents: f.Agents}
	return &cobra.Command{
		Use:   "version",
		Short: "Print avdgen's version and the bundled agents' version and SHA-256",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if runF != nil {
				return runF(opts)
			}
			return run(opts)
		},
	}
}

// New is how app registers the command.
func New(f *cmdutil.Factory) *cobra.Command { return NewCmdVersion(f, nil) }

func run(opts *Options) error {
	out := opts.IO.Out
	fmt.Fprintf(out, "avdgen %s\n", buildinfo.Version)
	agents, err := opts.Agents()
	if errors.Is(err, dist.ErrNotBundled) {
		fmt.Fprintf(out, "avd-agent: not bundled\n")
		return err
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "avd-agent %s\n", agents.Version)
	for _, arch := range dist.Arches {
		ag, _ := agents.Get(arch)
		fmt.Fprintf(out, "  windows/%-5s %s  sha256:%s  %d bytes\n", arch, dist.FileName(arch), ag.SHA256(), ag.Size())
	}
	return nil
}
