// Package rbaccmd implements `avdgen rbac role` and `avdgen rbac apply`.
package rbaccmd

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/avdgen/avdgen/cmd/avdgen/app/azureflags"
	"github.com/avdgen/avdgen/cmd/avdgen/app/cmdutil"
	"github.com/avdgen/avdgen/fleet/rbac"
)

// New builds `avdgen rbac` with its two subcommands.
func New(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rbac",
		Short: "Least-privilege role for the agent (and the sweep), assigned to each VM's own identity",
	}
	cmd.AddCommand(NewCmdRole(f, nil), NewCmdApply(f, nil))
	return cmd
}

// RoleOptions of `avdgen rbac role`.
type RoleOptions struct {
	IO           *cmdutil.IOStreams
	Scope        string
	Subscription string
	Sweeper      bool
}

var scopeRe = regexp.MustCompile(`^/subscriptions/[0-9a-fA-F-]{36}(/resourceGroups/[A-Za-z0-9._()-]{1,90})?$`)

// NewCmdRole builds `avdgen rbac role`.
func NewCmdRole(f *cmdutil.Factory, runF func(*RoleOptions) error) *cobra.Command {
	opts := &RoleOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "role --scope /subscriptions/S[/resourceGroups/RG] [--sweeper]",
		Short: "Print the custom role definition (az role definition create --role-definition @role.json)",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if runF != nil {
				return runF(opts)
			}
			return runRole(opts)
		},
	}
	cmd.Flags().StringVar(&opts.Scope, "scope", "", "assignable `SCOPE`: /subscriptions/S or /subscriptions/S/resourceGroups/RG")
	cmd.Flags().StringVar(&opts.Subscription, "subscription", "", "subscription `ID`, shorthand for --scope /subscriptions/ID")
	cmd.Flags().BoolVar(&opts.Sweeper, "sweeper", false, "print the role avdgen sweep needs instead of the agent's")
	return cmd
}

func runRole(o *RoleOptions) error {
	scope := o.Scope
	if scope == "" && o.Subscription != "" {
		scope = "/subscriptions/" + o.Subscription
	}
	if !scopeRe.MatchString(scope) {
		return cmdutil.Usagef("--scope %q: want /subscriptions/<subscription id> or /subscriptions/<id>/resourceGroups/<name> (or --subscription <id>)", scope)
	}
	role := rbac.DeallocateRole(scope)
	if o.Sweeper {
		role = rbac.SweeperRole(scope)
	}
	b, err := json.MarshalIndent(role.CLI(), "", "  ")
	if err != nil {
		return err
	}
	fmt.Fprintf(o.IO.Out, "%s\n", b)
	return nil
}

// ApplyOptions of `avdgen rbac apply`.
type ApplyOptions struct {
	Factory *cmdutil.Factory
	Azure   azureflags.Flags
	Scope   string
	DryRun  bool
	JSON    bool
}

// NewCmdApply builds `avdgen rbac apply`.
func NewCmdApply(f *cmdutil.Factory, runF func(*ApplyOptions) error) *cobra.Command {
	opts := &ApplyOptions{Factory: f}
	cmd := &cobra.Command{
		Use:   "apply --subscription S --resource-group RG --host-pool HP",
		Short: "Create the role and assign it to every session host's system-assigned identity on its own VM",
		Long: `Creates or updates the custom role (stable GUID from its name and scope), then for every
session host of the pool enables the VM's system-assigned identity (keeping user-assigned
ones) and assigns the role at the VM's own scope. A rerun on an unchanged pool writes nothing.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if runF != nil {
				return runF(opts)
			}
			return runApply(opts)
		},
	}
	azureflags.Add(cmd, &opts.Azure)
	cmd.Flags().StringVar(&opts.Scope, "scope", "", "`SCOPE` the role definition lives in (default /subscriptions/<subscription>)")
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "list the writes it would make, make none")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the report as JSON")
	return cmd
}

func runApply(o *ApplyOptions) error {
	if err := o.Azure.Validate(); err != nil {
		return err
	}
	if o.Scope != "" && !scopeRe.MatchString(o.Scope) {
		return cmdutil.Usagef("--scope %q: want /subscriptions/<id> or /subscriptions/<id>/resourceGroups/<name>", o.Scope)
	}
	c, err := o.Azure.Client(o.Factory)
	if err != nil {
		return err
	}
	opts := rbac.Options{Pool: o.Azure.Pool, Scope: o.Scope, Concurrency: o.Azure.Concurrency, DryRun: o.DryRun}
	if o.Factory.IO.IsTerminal {
		opts.Progress = func(done, total int) {
			fmt.Fprintf(o.Factory.IO.ErrOut, "\r%d/%d VMs", done, total)
			if done == total {
				fmt.Fprintln(o.Factory.IO.ErrOut)
			}
		}
	}
	rep, err := rbac.Apply(context.Background(), c, opts)
	if err != nil {
		return err
	}
	out := o.Factory.IO.Out
	if o.JSON {
		b, _ := json.MarshalIndent(rep, "", "  ")
		fmt.Fprintf(out, "%s\n", b)
	} else {
		fmt.Fprintf(out, "role definition %s: %s\n", rep.Role, rep.RoleOp)
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "STATUS\tVM\tWRITES\tMESSAGE")
		for _, v := range rep.VMs {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", v.Status, v.VM, len(v.Writes), v.Message)
		}
		tw.Flush()
		fmt.Fprintf(out, "%d VMs: %d changed, %d unchanged, %d failed\n", len(rep.VMs), rep.Changed, len(rep.VMs)-rep.Changed-rep.Failed, rep.Failed)
	}
	if rep.Failed > 0 {
		fmt.Fprintf(o.Factory.IO.ErrOut, "avdgen: %d VM(s) failed; fix the cause shown and rerun (reruns are safe)\n", rep.Failed)
		return cmdutil.SilentError
	}
	return nil
}
