// Package app wires avdgen's commands. Each command lives in its own package
// as a constructor taking the Factory, an options struct and a run function.
package app

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"time"

	"github.com/spf13/cobra"

	"github.com/avdgen/avdgen/agent/imds"
	"github.com/avdgen/avdgen/cmd/avdgen/app/azureflags"
	"github.com/avdgen/avdgen/cmd/avdgen/app/cmdutil"
	"github.com/avdgen/avdgen/cmd/avdgen/app/versioncmd"
	"github.com/avdgen/avdgen/cmd/internal/buildinfo"
	"github.com/avdgen/avdgen/dist"
)

// SystemFactory is the Factory of a real run: real streams, clock and network.
func SystemFactory() *cmdutil.Factory {
	return &cmdutil.Factory{
		IO:        &cmdutil.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr, IsTerminal: isTerminal(os.Stdout)},
		Now:       time.Now,
		Sleep:     imds.SleepContext,
		Getenv:    os.Getenv,
		Transport: http.DefaultTransport,
		Agents:    dist.Embedded,
		LookPath:  exec.LookPath,
		ProbeIMDS: azureflags.ProbeIMDS(azureflags.IMDSBase, nil, azureflags.IMDSProbeTimeout),
	}
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// NewRootCmd builds the command tree.
func NewRootCmd(f *cmdutil.Factory) *cobra.Command {
	root := &cobra.Command{
		Use:   "avdgen",
		Short: "Make personal Azure Virtual Desktop hosts deallocate themselves after sign-out",
		Long: `avdgen writes importable Group Policy (AD-joined pools) and Intune (Entra-joined pools)
bundles: session time-limit policies, a logoff scheduled task and the avd-agent that
deallocates the session host once nobody is signed in any more.`,
		Version:       buildinfo.Version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(f.IO.In)
	root.SetOut(f.IO.Out)
	root.SetErr(f.IO.ErrOut)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &cmdutil.UsageError{Err: err}
	})
	root.AddCommand(versioncmd.NewCmdVersion(f, nil))
	for _, newCmd := range commands() {
		root.AddCommand(newCmd(f))
	}
	return root
}

// Main runs avdgen with args and returns the process exit code.
func Main(args []string, f *cmdutil.Factory) int {
	root := NewRootCmd(f)
	root.SetArgs(args)
	err := root.Execute()
	switch {
	case err == nil:
		return cmdutil.ExitOK
	case errors.Is(err, cmdutil.SilentError):
		return cmdutil.ExitFailure
	case cmdutil.IsUsage(err):
		fmt.Fprintf(f.IO.ErrOut, "avdgen: %v\n", err)
		return cmdutil.ExitUsage
	default:
		fmt.Fprintf(f.IO.ErrOut, "avdgen: %v\n", err)
		return cmdutil.ExitFailure
	}
}
