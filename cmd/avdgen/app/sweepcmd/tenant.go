package sweepcmd

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/avdgen/avdgen/agent/contract"
	"github.com/avdgen/avdgen/cmd/avdgen/app/cmdutil"
	"github.com/avdgen/avdgen/fleet/sweep"
)

// runTenant is the sweep over --management-group and --subscription scopes.
func runTenant(o *Options) error {
	scope := sweep.Scope{Subscriptions: o.Subscriptions, ManagementGroups: o.ManagementGroups}
	var errs []string
	if err := scope.Validate(); err != nil {
		errs = append(errs, err.Error())
	}
	if err := o.Azure.ValidateConnection(); err != nil {
		errs = append(errs, err.Error())
	}
	if o.ConfirmDelay < 0 || o.ConfirmDelay > time.Hour {
		errs = append(errs, fmt.Sprintf("--confirm-delay %s: must be between 0s and 1h", o.ConfirmDelay))
	}
	name, value, err := contract.SplitTag(o.ExcludeTag)
	if err != nil {
		errs = append(errs, err.Error())
	}
	if len(errs) > 0 {
		return cmdutil.Usagef("%s", strings.Join(errs, "; "))
	}
	c, err := o.Azure.Client(o.Factory)
	if err != nil {
		return err
	}
	now := o.Factory.Now
	if now == nil {
		now = time.Now
	}
	rep, err := sweep.RunTenant(context.Background(), c, sweep.TenantOptions{Scope: scope, DryRun: o.DryRun, ConfirmDelay: o.ConfirmDelay,
		Concurrency: o.Azure.Concurrency, ExcludeName: name, ExcludeValue: value, Sleep: o.Sleep, Now: now})
	if err != nil {
		return err
	}
	out := o.Factory.IO.Out
	if o.JSON {
		b, _ := json.MarshalIndent(rep, "", "  ")
		fmt.Fprintf(out, "%s\n", b)
	} else {
		printTenant(o, rep)
	}
	for _, p := range rep.Partial {
		fmt.Fprintf(o.Factory.IO.ErrOut, "avdgen: partial scope: %s\n", p)
	}
	if rep.Total.Failed > 0 {
		fmt.Fprintf(o.Factory.IO.ErrOut, "avdgen: %d VM(s) failed\n", rep.Total.Failed)
	}
	if rep.Total.Failed > 0 || len(rep.Partial) > 0 {
		return cmdutil.SilentError
	}
	return nil
}

func printTenant(o *Options, rep sweep.TenantReport) {
	out := o.Factory.IO.Out
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST POOL\tTYPE\tSESSION HOSTS\tNOT STOPPED\tDEALLOCATED\tWOULD DEALLOCATE\tSKIPPED\tFAILED")
	for _, p := range rep.Pools {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\n", p.HostPoolID, p.HostPoolType, p.SessionHosts, p.NotStopped, p.Deallocated, p.WouldDeallocate, p.Skipped, p.Failed)
	}
	tw.Flush()
	tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	header := false
	for _, p := range rep.Pools {
		for _, r := range p.Results {
			if !header {
				fmt.Fprintln(tw, "\nACTION\tVM\tPOWER STATE\tREASON")
				header = true
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Action, r.VM, orDash(r.PowerState), r.Reason)
		}
	}
	tw.Flush()
	t := rep.Total
	fmt.Fprintf(out, "%d host pools, %d session hosts: %d deallocated, %d would be deallocated, %d skipped, %d failed, %d not stopped; %d Resource Graph requests (%d throttled), %d ARM reads, %d ARM writes\n",
		len(rep.Pools), t.SessionHosts, t.Deallocated, t.WouldDeallocate, t.Skipped, t.Failed, t.NotStopped, rep.ARGRequests, rep.ARGThrottled, rep.ARMReads, rep.ARMWrites)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
