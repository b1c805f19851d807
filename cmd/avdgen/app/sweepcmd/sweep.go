// Package sweepcmd implements `avdgen sweep`.
package sweepcmd

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/avdgen/avdgen/agent/azure"
	"github.com/avdgen/avdgen/agent/contract"
	"github.com/avdgen/avdgen/cmd/avdgen/app/azureflags"
	"github.com/avdgen/avdgen/cmd/avdgen/app/cmdutil"
	"github.com/avdgen/avdgen/fleet/sweep"
)

// Options of `avdgen sweep`.
type Options struct {
	Factory *cmdutil.Factory
	Azure   azureflags.Flags
	// Subscriptions and ManagementGroups are the tenant-wide scope (each
	// flag repeatable); one subscription with --resource-group and
	// --host-pool is the one-pool sweep.
	Subscriptions    []string
	ManagementGroups []string
	DryRun           bool
	JSON             bool
	ConfirmDelay     time.Duration
	ExcludeTag       string
	Sleep            func(context.Context, time.Duration) error
}

// NewCmdSweep builds the command.
func NewCmdSweep(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{Factory: f, Sleep: f.Sleep}
	if opts.Sleep == nil {
		opts.Sleep = azure.SleepContext
	}
	cmd := &cobra.Command{
		Use:   "sweep {--management-group MG | --subscription S}... | sweep --subscription S --resource-group RG --host-pool HP",
		Short: "Deallocate session hosts left stopped (still billed) by a shutdown from inside Windows",
		Long: `With --management-group and/or --subscription (each repeatable) and no host pool: finds every
session host of every host pool in scope with one Azure Resource Graph query, and for personal pools
reads each VM Resource Graph saw stopped again from Compute (instance view) after --confirm-delay,
right before deallocating it; pooled pools, the exclusion tag and a scaling plan's exclusion tag are
skipped. A report per pool and a total.

With --subscription, --resource-group and --host-pool: lists that pool's session hosts and their VMs'
power states with list calls, picks VMs that are stopped (provisioning succeeded, no user session, no
exclusion tag), confirms them once more after --confirm-delay, and deallocates them.

Running and deallocated VMs are never touched. Run it every 15 minutes ('avdgen sweep deploy' writes a
scheduled Container Apps job for it).`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if runF != nil {
				return runF(opts)
			}
			return run(opts)
		},
	}
	cmd.AddCommand(NewCmdDeploy(f), NewCmdImage(f))
	azureflags.AddConnection(cmd, &opts.Azure)
	cmd.Flags().StringArrayVar(&opts.Subscriptions, "subscription", nil, "subscription `ID` to sweep (repeatable); with --resource-group and --host-pool, the host pool's subscription")
	cmd.Flags().StringArrayVar(&opts.ManagementGroups, "management-group", nil, "management group `ID` whose subscriptions to sweep (repeatable)")
	cmd.Flags().StringVar(&opts.Azure.Pool.ResourceGroup, "resource-group", "", "resource group `NAME` of the one host pool to sweep")
	cmd.Flags().StringVar(&opts.Azure.Pool.HostPool, "host-pool", "", "the one host pool `NAME` to sweep")
	cmd.Flags().StringVar(&opts.Azure.IdentityClientID, "identity-client-id", "", "client `ID` of the user-assigned managed identity for --auth managed-identity (default: the system-assigned one)")
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "show what would be deallocated, deallocate nothing")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the report as JSON")
	cmd.Flags().DurationVar(&opts.ConfirmDelay, "confirm-delay", 60*time.Second, "`DURATION` to wait before confirming a stopped VM (a starting VM shows stopped briefly)")
	cmd.Flags().StringVar(&opts.ExcludeTag, "exclude-tag", contract.DefaultExcludeTag, "VM tag `NAME=VALUE` that the sweep leaves alone")
	return cmd
}

// New is the registration hook for commands.go.
func New(f *cmdutil.Factory) *cobra.Command { return NewCmdSweep(f, nil) }

func run(o *Options) error {
	if o.Azure.Pool.ResourceGroup == "" && o.Azure.Pool.HostPool == "" {
		return runTenant(o)
	}
	if len(o.ManagementGroups) > 0 || len(o.Subscriptions) > 1 {
		return cmdutil.Usagef("--resource-group and --host-pool sweep one pool in one --subscription; leave them out to sweep every pool of --management-group or several --subscription")
	}
	if len(o.Subscriptions) == 1 {
		o.Azure.Pool.Subscription = o.Subscriptions[0]
	}
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
