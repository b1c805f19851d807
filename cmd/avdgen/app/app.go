// Package app wires avdgen's commands. Each command lives in its own package
// as a constructor taking the Factory, an options struct and a run function.
package app

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/avdgen/avdgen/agent/azure"
	"github.com/avdgen/avdgen/cmd/avdgen/app/azureflags"
	"github.com/avdgen/avdgen/cmd/avdgen/app/cmdutil"
	"github.com/avdgen/avdgen/cmd/internal/buildinfo"
	"github.com/avdgen/avdgen/dist"
)

// SystemFactory is the Factory of a real run: real streams, clock and network.
func SystemFactory() *cmdutil.Factory {
	return &cmdutil.Factory{
		IO:        &cmdutil.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr, IsTerminal: isTerminal(os.Stdout), ErrIsTerminal: isTerminal(os.Stderr)},
		Now:       time.Now,
		Sleep:     azure.SleepContext,
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
	for _, newCmd := range commands() {
		root.AddCommand(newCmd(f))
	}
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error { return refuseEmpty(cmd) }
	root.InitDefaultCompletionCmd() // added now, so that usageConvention covers it
	usageConvention(root)
	return root
}

// mayBeEmpty are the flags whose empty value means "none", like the yaml
// field left out: no OU link, the VM's system-assigned identity.
var mayBeEmpty = map[string]bool{"ou": true, "identity-client-id": true}

// refuseEmpty rejects a string flag given with an empty value
// (`--host-pool ""`, often an unset shell variable): quietly using the
// default instead would, say, write a bundle for the wrong pool.
func refuseEmpty(cmd *cobra.Command) error {
	var bad error
	cmd.Flags().Visit(func(fl *pflag.Flag) {
		if bad == nil && !mayBeEmpty[fl.Name] && fl.Value.Type() == "string" && strings.TrimSpace(fl.Value.String()) == "" {
			bad = cmdutil.Usagef("--%s %q: the value is empty; give one, or leave the flag out", fl.Name, fl.Value.String())
		}
	})
	return bad
}

// usageConvention makes every kind of bad command line a UsageError (exit
// 2): a stray argument (the commands' Args checks), and an unknown command
// at any level. Without this cobra reports an unknown command as a plain
// error (exit 1), and for a command group such as `rbac` prints help and
// exits 0.
func usageConvention(c *cobra.Command) {
	if c.SuggestionsMinimumDistance <= 0 {
		c.SuggestionsMinimumDistance = 2
	}
	if c.HasSubCommands() && c.Run == nil && c.RunE == nil {
		c.Args = cobra.ArbitraryArgs
		c.RunE = func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
			if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
				msg += fmt.Sprintf(" (did you mean %s?)", strings.Join(s, ", "))
			}
			var names []string
			for _, sub := range cmd.Commands() {
				if sub.IsAvailableCommand() {
					names = append(names, sub.Name())
				}
			}
			return cmdutil.Usagef("%s; commands: %s (see %s --help)", msg, strings.Join(names, ", "), cmd.CommandPath())
		}
	} else if check := c.Args; check != nil {
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := check(cmd, args); err != nil {
				if len(args) > 0 {
					// Every avdgen command takes flags only (cobra.NoArgs).
					return cmdutil.Usagef("unexpected argument %q: %s takes flags only (see %s --help)", args[0], cmd.CommandPath(), cmd.CommandPath())
				}
				return &cmdutil.UsageError{Err: fmt.Errorf("%w (see %s --help)", err, cmd.CommandPath())}
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		usageConvention(sub)
	}
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
