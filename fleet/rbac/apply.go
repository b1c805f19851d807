package rbac

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"

	"github.com/avdgen/avdgen/agent/armclient"
	"github.com/avdgen/avdgen/fleet/pool"
)

// Options of `avdgen rbac apply`.
type Options struct {
	Pool        pool.Ref
	Scope       string // where the role definition lives (default /subscriptions/S)
	Concurrency int
	DryRun      bool
	// Progress, when set, is called after each VM with the count done.
	Progress func(done, total int)
}

// VMResult is what apply did for one VM.
type VMResult struct {
	VM      string   `json:"vm"`
	Writes  []string `json:"writes"` // what was (or, dry run, would be) written
	Status  string   `json:"status"` // ok, unchanged, failed
	Message string   `json:"message,omitempty"`
}

// Report is the whole run.
type Report struct {
	Role    string     `json:"roleDefinitionId"`
	RoleOp  string     `json:"roleDefinition"` // created, updated, unchanged (or would-…)
	VMs     []VMResult `json:"vms"`
	Failed  int        `json:"failed"`
	Changed int        `json:"changed"`
}

// Apply creates or updates the role, then for every session host ensures
// the VM's system-assigned identity and its role assignment at the VM's
// scope. Per-VM failures are collected; the others go on.
func Apply(ctx context.Context, c *armclient.Client, o Options) (Report, error) {
	if o.Concurrency < 1 {
		o.Concurrency = 8
	}
	if o.Scope == "" {
		o.Scope = "/subscriptions/" + o.Pool.Subscription
	}
	role := DeallocateRole(o.Scope)
	rep := Report{Role: role.ResourceID()}
	op, err := ensureRole(ctx, c, role, o.DryRun)
	if err != nil {
		return rep, fmt.Errorf("role definition %s: %w", role.Name, err)
	}
	rep.RoleOp = op

	hosts, err := pool.SessionHosts(ctx, c, o.Pool)
	if err != nil {
		return rep, err
	}
	groups := pool.Groups(hosts)
	vms, err := pool.ListVMsWithIdentity(ctx, c, o.Pool.Subscription, groups)
	if err != nil {
		return rep, err
	}
	existing, err := assignments(ctx, c, o.Pool.Subscription, groups)
	if err != nil {
		return rep, err
	}

	results := make([]VMResult, len(hosts))
	sem := make(chan struct{}, o.Concurrency)
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	for i, h := range hosts {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int, h pool.SessionHost) {
			defer wg.Done()
			defer func() { <-sem }()
			results[i] = applyVM(ctx, c, o, role, h, vms, existing)
			if o.Progress != nil {
				mu.Lock()
				done++
				o.Progress(done, len(hosts))
				mu.Unlock()
			}
		}(i, h)
	}
	wg.Wait()
	sort.Slice(results, func(i, j int) bool { return results[i].VM < results[j].VM })
	rep.VMs = results
	for _, r := range results {
		switch r.Status {
		case "failed":
			rep.Failed++
		case "ok":
			rep.Changed++
		}
	}
	return rep, nil
}

func ensureRole(ctx context.Context, c *armclient.Client, role Role, dryRun bool) (string, error) {
	url := c.URL(role.ResourceID(), "api-version="+AuthorizationAPIVersion)
	var current roleDefinition
	_, err := c.Do(ctx, http.MethodGet, url, nil, &current)
	var se *armclient.StatusError
	op := "updated"
	switch {
	case errors.As(err, &se) && se.StatusCode == http.StatusNotFound:
		op = "created"
	case err != nil:
		return "", err
	case sameRole(current.Properties, role.body().Properties):
		return "unchanged", nil
	}
	if dryRun {
		return "would be " + op, nil
	}
	if _, err := c.Do(ctx, http.MethodPut, url, role.body(), nil); err != nil {
		return "", err
	}
	return op, nil
}

type assignmentKey struct{ principal, role, scope string }

// assignments lists the role assignments in the pool's resource groups
// (one paged list per group; it includes those on the VMs below).
func assignments(ctx context.Context, c *armclient.Client, sub string, groups []string) (map[assignmentKey]bool, error) {
	out := map[assignmentKey]bool{}
	for _, rg := range groups {
		path := fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Authorization/roleAssignments", sub, rg)
		err := c.Pages(ctx, c.URL(path, "api-version="+AuthorizationAPIVersion), func(raw json.RawMessage) error {
			var page []struct {
				Properties struct {
					PrincipalID      string `json:"principalId"`
					RoleDefinitionID string `json:"roleDefinitionId"`
					Scope            string `json:"scope"`
				} `json:"properties"`
			}
			if err := json.Unmarshal(raw, &page); err != nil {
				return err
			}
			for _, a := range page {
				out[assignmentKey{strings.ToLower(a.Properties.PrincipalID), pool.Key(a.Properties.RoleDefinitionID), pool.Key(a.Properties.Scope)}] = true
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("listing role assignments in %s: %w", rg, err)
		}
	}
	return out, nil
}

func applyVM(ctx context.Context, c *armclient.Client, o Options, role Role, h pool.SessionHost, vms map[string]pool.VM, existing map[assignmentKey]bool) VMResult {
	r := VMResult{VM: h.ResourceID, Writes: []string{}}
	fail := func(err error) VMResult {
		r.Status, r.Message = "failed", err.Error()
		return r
	}
	vm, ok := vms[pool.Key(h.ResourceID)]
	if !ok {
		return fail(fmt.Errorf("session host %s: VM not found in its resource group", h.Name))
	}
	principal := ""
	if vm.Identity.HasSystemAssigned() {
		principal = vm.Identity.PrincipalID
	} else {
		r.Writes = append(r.Writes, "enable system-assigned identity")
		if o.DryRun {
			r.Writes = append(r.Writes, "assign role at the VM")
			r.Status = "ok"
			return r
		}
		id, err := enableIdentity(ctx, c, vm)
		if err != nil {
			return fail(err)
		}
		principal = id
	}
	if principal == "" {
		return fail(fmt.Errorf("VM %s has a system-assigned identity without a principal id", vm.Name))
	}
	key := assignmentKey{strings.ToLower(principal), pool.Key(role.ResourceID()), pool.Key(vm.ID)}
	if !existing[key] {
		r.Writes = append(r.Writes, "assign role at the VM")
		if !o.DryRun {
			if err := assign(ctx, c, role, principal, vm.ID); err != nil {
				return fail(err)
			}
		}
	}
	r.Status = "unchanged"
	if len(r.Writes) > 0 {
		r.Status = "ok"
	}
	return r
}

// enableIdentity turns on the system-assigned identity, keeping any
// user-assigned identities the VM already has.
func enableIdentity(ctx context.Context, c *armclient.Client, vm pool.VM) (string, error) {
	id := pool.Identity{Type: "SystemAssigned"}
	if vm.Identity != nil && len(vm.Identity.UserAssignedIdentities) > 0 {
		id.Type = "SystemAssigned, UserAssigned"
		id.UserAssignedIdentities = map[string]json.RawMessage{}
		for k := range vm.Identity.UserAssignedIdentities {
			id.UserAssignedIdentities[k] = json.RawMessage(`{}`)
		}
	}
	var out struct {
		Identity pool.Identity `json:"identity"`
	}
	url := c.URL(vm.ID, "api-version="+pool.ComputeAPIVersion)
	if _, err := c.Do(ctx, http.MethodPatch, url, map[string]any{"identity": id}, &out); err != nil {
		return "", fmt.Errorf("enabling the system-assigned identity of %s: %w", vm.Name, err)
	}
	return out.Identity.PrincipalID, nil
}

func assign(ctx context.Context, c *armclient.Client, role Role, principal, scope string) error {
	name := stableGUID("assignment", principal, role.ResourceID(), scope)
	url := c.URL(scope+"/providers/Microsoft.Authorization/roleAssignments/"+name, "api-version="+AuthorizationAPIVersion)
	body := map[string]any{"properties": map[string]string{
		"roleDefinitionId": role.ResourceID(), "principalId": principal, "principalType": "ServicePrincipal",
	}}
	_, err := c.Do(ctx, http.MethodPut, url, body, nil)
	var se *armclient.StatusError
	if errors.As(err, &se) && se.StatusCode == http.StatusConflict && se.Code == "RoleAssignmentExists" {
		return nil
	}
	if err != nil {
		return fmt.Errorf("assigning the role on %s: %w", scope, err)
	}
	return nil
}
