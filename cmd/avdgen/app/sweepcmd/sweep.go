// Package sweepcmd implements `avdgen sweep`.
package sweepcmd

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/avdgen/avdgen/agent/contract"
	"github.com/avdgen/avdgen/cmd/avdgen/app/azureflags"
	"github.com/avdgen/avdgen/cmd/avdgen/app/cmdutil"
	"github.com/avdgen/avdgen/fleet/sweep"
)

// Options of `avdgen sweep`.
type Options struct {
	Factory      *cmdutil.Factory
	Azure        azureflags.Flags
	DryRun       bool
	JSON         bool
	ConfirmDelay time.Duration
	ExcludeTag   string
	Sleep        func(context.Context, time.Duration) error
}

// NewCmdSweep builds the command.
func NewCmdSweep(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{Factory: f, Sleep: f.Sleep}
	if opts.Sleep == nil {
		opts.Sleep = cmdutil.SleepContext
	}
	cmd := &cobra.Command{
		Use:   "sweep --subscription S --resource-group RG --host-pool HP",
		Short: "Deallocate session hosts left stopped (still billed) by a shutdown from inside Windows",
		Long: `Lists the pool's session hosts and their VMs' power states with list calls, picks VMs that are
stopped (provisioning succeeded, no user session, no exclusion tag), confirms them once more after
--confirm-delay, and deallocates them. Running and deallocated VMs are never touched.
Run it every 15 minutes with an identity holding the role from 'avdgen rbac role --sweeper'.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if runF != nil {
				return runF(opts)
			}
			return run(opts)
		},
	}
	azureflags.Add(cmd, &opts.Azure)
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "show what would be deallocated, deallocate nothing")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the report as JSON")
	cmd.Flags().DurationVar(&opts.ConfirmDelay, "confirm-delay", 60*time.Second, "`DURATION` to wait before confirming a stopped VM (a starting VM shows stopped briefly)")
	cmd.Flags().StringVar(&opts.ExcludeTag, "exclude-tag", contract.DefaultExcludeTag, "VM tag `NAME=VALUE` that the sweep leaves alone")
	return cmd
}

// New is the registration hook for commands.go.
func New(f *cmdutil.Factory) *cobra.Command { return NewCmdSweep(f, nil) }

func run(o *Options) error {
	if err := o.Azure.Validate(); err != nil {
		return err
	}
	if o.ConfirmDelay < 0 || o.ConfirmDelay > time.Hour {
		return cmdutil.Usagef("--confirm-delay %s: must be between 0s and 1h", o.ConfirmDelay)
	}
	name, value, err := contract.SplitTag(o.ExcludeTag)
	if err != nil {
		return cmdutil.Usagef("%v", err)
	}
	c, err := o.Azure.Client(o.Factory)
	if err != nil {
		return err
	}
	rep, err := sweep.Run(context.Background(), c, sweep.Options{Pool: o.Azure.Pool, DryRun: o.DryRun, ConfirmDelay: o.ConfirmDelay,
		Concurrency: o.Azure.Concurrency, ExcludeName: name, ExcludeValue: value, Sleep: o.Sleep})
	if err != nil {
		return err
	}
	out := o.Factory.IO.Out
	if o.JSON {
		b, _ := json.MarshalIndent(rep, "", "  ")
		fmt.Fprintf(out, "%s\n", b)
	} else {
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ACTION\tSESSION HOST\tPOWER STATE\tREASON")
		counts := map[sweep.Action]int{}
		for _, r := range rep.Results {
			counts[r.Action]++
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Action, r.SessionHost, r.PowerState, r.Reason)
		}
		tw.Flush()
		fmt.Fprintf(out, "%d session hosts: %d deallocated, %d would be deallocated, %d skipped, %d failed\n",
			len(rep.Results), counts[sweep.Deallocated], counts[sweep.WouldDeallocate], counts[sweep.Skipped], counts[sweep.Failed])
	}
	if rep.Failed > 0 {
		fmt.Fprintf(o.Factory.IO.ErrOut, "avdgen: %d deallocation(s) failed\n", rep.Failed)
		return cmdutil.SilentError
	}
	return nil
}
