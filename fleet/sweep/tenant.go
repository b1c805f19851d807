package sweep

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/avdgen/avdgen/agent/armclient"
	"github.com/avdgen/avdgen/fleet/pool"
)

// TenantOptions are the options of a sweep over subscriptions and
// management groups.
type TenantOptions struct {
	Scope        Scope
	DryRun       bool
	ConfirmDelay time.Duration
	// Concurrency bounds the VMs confirmed and deallocated at once.
	Concurrency int
	// ExcludeName=ExcludeValue is avdgen's exclusion tag.
	ExcludeName, ExcludeValue string
	// Sleep waits (confirm delay, throttling, token buckets); Now is the
	// clock of the token buckets. Tests inject both.
	Sleep func(context.Context, time.Duration) error
	Now   func() time.Time
}

// TenantResult is the sweep's verdict on one VM Resource Graph saw stopped.
type TenantResult struct {
	VM string `json:"vm"`
	// ARGPowerState is what Resource Graph said; PowerState what the VM's
	// instance view said just before acting ("" when not asked).
	ARGPowerState string `json:"argPowerState"`
	PowerState    string `json:"powerState,omitempty"`
	Action        Action `json:"action"`
	Reason        string `json:"reason"`
}

// Counts add up one pool or the whole sweep.
type Counts struct {
	SessionHosts int `json:"sessionHosts"`
	// NotStopped are session hosts Resource Graph did not see stopped: not
	// looked at further.
	NotStopped      int `json:"notStopped"`
	Deallocated     int `json:"deallocated"`
	WouldDeallocate int `json:"wouldDeallocate"`
	Skipped         int `json:"skipped"`
	Failed          int `json:"failed"`
}

func (c *Counts) add(o Counts) {
	c.SessionHosts += o.SessionHosts
	c.NotStopped += o.NotStopped
	c.Deallocated += o.Deallocated
	c.WouldDeallocate += o.WouldDeallocate
	c.Skipped += o.Skipped
	c.Failed += o.Failed
}

// PoolReport is one host pool's part of the sweep.
type PoolReport struct {
	HostPoolID   string `json:"hostPoolId"`
	HostPoolType string `json:"hostPoolType"`
	Counts
	// Note says why a whole pool was left alone (pooled).
	Note    string         `json:"note,omitempty"`
	Results []TenantResult `json:"results"`
}

// TenantReport is the whole sweep: a report per pool and the total.
type TenantReport struct {
	Pools []PoolReport `json:"pools"`
	Total Counts       `json:"total"`
	// ARGRequests and ARGThrottled count Resource Graph requests and 429s;
	// ARMReads and ARMWrites the instance-view GETs and deallocate POSTs.
	ARGRequests  int `json:"argRequests"`
	ARGThrottled int `json:"argThrottled"`
	ARMReads     int `json:"armReads"`
	ARMWrites    int `json:"armWrites"`
	// Partial says why discovery may not have covered the whole scope.
	Partial []string `json:"partial,omitempty"`
}

// RunTenant discovers every session host in scope through Resource Graph
// and deallocates the personal pools' VMs that are stopped (still billed).
// Resource Graph is minutes to hours stale, so each candidate's power
// state, provisioning state and tags are read again from Compute (GET with
// $expand=instanceView) right before its deallocate; only a VM that is
// stopped then is deallocated. Pooled pools, avdgen's exclusion tag and the
// exclusion tag of a scaling plan enabled on the pool are skipped. ARM reads
// and writes go through per-subscription token buckets at ARM's published
// limits, at most Concurrency VMs at once.
func RunTenant(ctx context.Context, c *armclient.Client, o TenantOptions) (TenantReport, error) {
	if o.Concurrency < 1 {
		o.Concurrency = 8
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	disc, err := Discover(ctx, c, o.Scope, o.Sleep)
	rep := TenantReport{ARGRequests: disc.Requests, ARGThrottled: disc.Throttled, Partial: disc.Partial}
	if err != nil {
		return rep, err
	}
	pools := map[string]*PoolReport{}
	type job struct {
		pool *PoolReport
		i    int
	}
	var jobs []job
	for _, r := range disc.Rows {
		key := strings.ToLower(r.HostPoolID)
		p := pools[key]
		if p == nil {
			p = &PoolReport{HostPoolID: r.HostPoolID, HostPoolType: r.HostPoolType, Results: []TenantResult{}}
			pools[key] = p
		}
		p.SessionHosts++
		if !strings.EqualFold(r.HostPoolType, "Personal") {
			// A pooled host shuts down only through autoscale or an admin;
			// its VM is shared, so the sweep never touches it.
			p.Skipped++
			p.Note = fmt.Sprintf("%s host pool: not swept (only personal desktops are)", orUnknown(r.HostPoolType))
			continue
		}
		if !strings.EqualFold(r.PowerState, "PowerState/stopped") {
			p.NotStopped++
			continue
		}
		res := TenantResult{VM: r.ID, ARGPowerState: r.PowerState}
		switch {
		case o.ExcludeName != "" && hasTag(r.Tags, o.ExcludeName, o.ExcludeValue):
			res.Action, res.Reason = Skipped, "exclusion tag "+o.ExcludeName+"="+o.ExcludeValue
		case r.ScalingPlanExclusionTag != "" && hasTagName(r.Tags, r.ScalingPlanExclusionTag):
			res.Action, res.Reason = Skipped, "scaling plan exclusion tag "+r.ScalingPlanExclusionTag
		default:
			if _, _, _, ok := pool.ParseVMID(r.ID); !ok {
				res.Action, res.Reason = Skipped, "not a VM resource id"
				break
			}
			jobs = append(jobs, job{p, len(p.Results)})
		}
		p.Results = append(p.Results, res)
	}
	if len(jobs) > 0 && o.ConfirmDelay > 0 {
		// A starting VM shows stopped briefly: look again only after a while.
		if err := o.Sleep(ctx, o.ConfirmDelay); err != nil {
			return rep, err
		}
	}
	limits := NewLimits(o.Now, o.Sleep)
	var mu sync.Mutex
	var wg sync.WaitGroup
	work := make(chan job)
	for w := 0; w < min(o.Concurrency, len(jobs)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range work {
				res := j.pool.Results[j.i] // each job owns its slot
				reads, writes := confirmAndDeallocate(ctx, c, limits, o, &res)
				mu.Lock()
				j.pool.Results[j.i] = res
				rep.ARMReads += reads
				rep.ARMWrites += writes
				mu.Unlock()
			}
		}()
	}
	for _, j := range jobs {
		work <- j
	}
	close(work)
	wg.Wait()

	for _, p := range pools {
		for _, r := range p.Results {
			switch r.Action {
			case Deallocated:
				p.Deallocated++
			case WouldDeallocate:
				p.WouldDeallocate++
			case Skipped:
				p.Skipped++
			case Failed:
				p.Failed++
			}
		}
		sort.Slice(p.Results, func(i, j int) bool { return strings.ToLower(p.Results[i].VM) < strings.ToLower(p.Results[j].VM) })
		rep.Pools = append(rep.Pools, *p)
		rep.Total.add(p.Counts)
	}
	sort.Slice(rep.Pools, func(i, j int) bool { return rep.Pools[i].HostPoolID < rep.Pools[j].HostPoolID })
	return rep, nil
}

// confirmAndDeallocate asks Compute for the VM's state now and deallocates
// it only when it is still stopped; it returns the ARM reads and writes sent.
func confirmAndDeallocate(ctx context.Context, c *armclient.Client, limits *Limits, o TenantOptions, res *TenantResult) (reads, writes int) {
	sub, _, _, _ := pool.ParseVMID(res.VM)
	if err := limits.Read(ctx, sub); err != nil {
		res.Action, res.Reason = Failed, err.Error()
		return
	}
	var vm struct {
		Tags       map[string]string `json:"tags"`
		Properties struct {
			InstanceView *struct {
				Statuses []struct {
					Code string `json:"code"`
				} `json:"statuses"`
			} `json:"instanceView"`
		} `json:"properties"`
	}
	reads++
	q := "api-version=" + armclient.ComputeAPIVersion + "&" + url.QueryEscape("$expand") + "=instanceView"
	if status, err := c.Do(ctx, http.MethodGet, c.URL(res.VM, q), nil, &vm); err != nil {
		if status == http.StatusNotFound {
			res.Action, res.Reason = Skipped, "not found in Compute (deleted since Resource Graph's snapshot)"
			return
		}
		// Fail closed: without a fresh answer the VM is not touched.
		res.Action, res.Reason = Failed, "reading the VM's instance view: "+err.Error()
		return
	}
	var power, prov string
	if vm.Properties.InstanceView != nil {
		for _, s := range vm.Properties.InstanceView.Statuses {
			switch {
			case strings.HasPrefix(s.Code, "PowerState/"):
				power = s.Code
			case strings.HasPrefix(s.Code, "ProvisioningState/"):
				prov = s.Code
			}
		}
	}
	res.PowerState = power
	switch {
	case power != "PowerState/stopped":
		res.Action, res.Reason = Skipped, "Resource Graph said stopped, the instance view says "+orUnknown(power)+" (Resource Graph is stale)"
		return
	case prov != "ProvisioningState/succeeded":
		res.Action, res.Reason = Skipped, "provisioning not succeeded ("+orUnknown(prov)+")"
		return
	case o.ExcludeName != "" && hasTag(vm.Tags, o.ExcludeName, o.ExcludeValue):
		res.Action, res.Reason = Skipped, "exclusion tag "+o.ExcludeName+"="+o.ExcludeValue+" (set after Resource Graph's snapshot)"
		return
	}
	if o.DryRun {
		res.Action, res.Reason = WouldDeallocate, "stopped (still billed), confirmed by the instance view; --dry-run"
		return
	}
	if err := limits.Write(ctx, sub); err != nil {
		res.Action, res.Reason = Failed, err.Error()
		return
	}
	writes++
	r, err := c.Deallocate(ctx, res.VM, false)
	if err != nil {
		res.Action, res.Reason = Failed, err.Error()
		return
	}
	res.Action, res.Reason = Deallocated, fmt.Sprintf("stopped (still billed), confirmed by the instance view; ARM answered %d", r.StatusCode)
	return
}

// hasTag compares name and value case-insensitively after trimming, as the
// agent and the one-pool sweep do.
func hasTag(tags map[string]string, name, value string) bool {
	return pool.VM{Tags: tags}.HasTag(name, value)
}

// hasTagName is a scaling plan's exclusion: the tag name alone, any value.
func hasTagName(tags map[string]string, name string) bool {
	for k := range tags {
		if strings.EqualFold(strings.TrimSpace(k), strings.TrimSpace(name)) {
			return true
		}
	}
	return false
}
