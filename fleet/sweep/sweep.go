// Package sweep is the backstop for VMs a user shut down from inside
// Windows: they sit "stopped" and keep billing until deallocated. The sweep
// finds them with list calls, confirms each once more after a delay (a
// starting VM also shows "stopped" briefly), and deallocates them.
package sweep

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/avdgen/avdgen/agent/armclient"
	"github.com/avdgen/avdgen/fleet/pool"
)

// Options of one sweep.
type Options struct {
	Pool         pool.Ref
	DryRun       bool
	ConfirmDelay time.Duration
	Concurrency  int
	// ExcludeName=ExcludeValue is the exclusion tag.
	ExcludeName, ExcludeValue string
	// Sleep waits the confirm delay; tests make it instant.
	Sleep func(context.Context, time.Duration) error
}

// Action is what the sweep did with one VM.
type Action string

// Actions.
const (
	Deallocated     Action = "deallocated"
	WouldDeallocate Action = "would-deallocate"
	Skipped         Action = "skipped"
	Failed          Action = "failed"
)

// Result is the sweep's verdict on one session host's VM.
type Result struct {
	SessionHost string `json:"sessionHost"`
	VM          string `json:"vm"`
	PowerState  string `json:"powerState"`
	Action      Action `json:"action"`
	Reason      string `json:"reason"`
}

// Report is the whole sweep.
type Report struct {
	Results []Result `json:"results"`
	Failed  int      `json:"failed"`
}

// Run sweeps the pool.
func Run(ctx context.Context, c *armclient.Client, o Options) (Report, error) {
	if o.Concurrency < 1 {
		o.Concurrency = 8
	}
	hosts, err := pool.SessionHosts(ctx, c, o.Pool)
	if err != nil {
		return Report{}, err
	}
	groups := pool.Groups(hosts)
	vms, err := pool.ListVMs(ctx, c, o.Pool.Subscription, groups)
	if err != nil {
		return Report{}, err
	}
	var results []Result
	var candidates []int
	for _, h := range hosts {
		r := Result{SessionHost: h.Name, VM: h.ResourceID}
		vm, ok := vms[pool.Key(h.ResourceID)]
		switch {
		case !ok:
			r.Action, r.Reason = Skipped, "VM not found in the VM list"
		case vm.PowerState != "PowerState/stopped":
			r.PowerState = vm.PowerState
			r.Action, r.Reason = Skipped, "not stopped ("+orUnknown(vm.PowerState)+")"
		case vm.ProvisioningState != "ProvisioningState/succeeded":
			r.PowerState = vm.PowerState
			r.Action, r.Reason = Skipped, "provisioning not succeeded ("+orUnknown(vm.ProvisioningState)+")"
		case h.Sessions > 0:
			r.PowerState = vm.PowerState
			r.Action, r.Reason = Skipped, fmt.Sprintf("session host reports %d user session(s)", h.Sessions)
		case o.ExcludeName != "" && vm.HasTag(o.ExcludeName, o.ExcludeValue):
			r.PowerState = vm.PowerState
			r.Action, r.Reason = Skipped, "exclusion tag "+o.ExcludeName+"="+o.ExcludeValue
		default:
			r.PowerState = vm.PowerState
			candidates = append(candidates, len(results))
		}
		results = append(results, r)
	}
	if len(candidates) > 0 {
		// Confirm: stopped also shows briefly while a VM starts.
		if o.ConfirmDelay > 0 {
			if err := o.Sleep(ctx, o.ConfirmDelay); err != nil {
				return Report{}, err
			}
		}
		again, err := pool.ListVMs(ctx, c, o.Pool.Subscription, groups)
		if err != nil {
			return Report{}, err
		}
		var confirmed []int
		for _, i := range candidates {
			vm := again[pool.Key(results[i].VM)]
			if vm.PowerState != "PowerState/stopped" {
				results[i].PowerState = vm.PowerState
				results[i].Action, results[i].Reason = Skipped, "no longer stopped at confirmation ("+orUnknown(vm.PowerState)+")"
				continue
			}
			confirmed = append(confirmed, i)
		}
		deallocate(ctx, c, o, results, confirmed)
	}
	rep := Report{Results: results}
	for _, r := range results {
		if r.Action == Failed {
			rep.Failed++
		}
	}
	sort.SliceStable(rep.Results, func(i, j int) bool { return rep.Results[i].SessionHost < rep.Results[j].SessionHost })
	return rep, nil
}

func deallocate(ctx context.Context, c *armclient.Client, o Options, results []Result, idx []int) {
	sem := make(chan struct{}, o.Concurrency)
	var wg sync.WaitGroup
	for _, i := range idx {
		if o.DryRun {
			results[i].Action, results[i].Reason = WouldDeallocate, "stopped (still billed), confirmed after the delay; --dry-run"
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			res, err := c.Deallocate(ctx, results[i].VM, false)
			if err != nil {
				results[i].Action, results[i].Reason = Failed, err.Error()
				return
			}
			results[i].Action, results[i].Reason = Deallocated, fmt.Sprintf("stopped (still billed), confirmed; ARM answered %d", res.StatusCode)
		}(i)
	}
	wg.Wait()
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
