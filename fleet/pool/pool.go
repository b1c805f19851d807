// Package pool reads an AVD host pool and its VMs from ARM with list calls
// only (paged), never one GET per VM: what `avdgen rbac` and `avdgen sweep`
// need to act on thousands of session hosts.
package pool

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/avdgen/avdgen/agent/armclient"
	"github.com/avdgen/avdgen/agent/contract"
)

// API versions.
const (
	DesktopVirtualizationAPIVersion = "2024-04-03"
	ComputeAPIVersion               = armclient.ComputeAPIVersion
)

// SessionHost is one session host of the pool.
type SessionHost struct {
	Name       string
	ResourceID string // the VM
	Sessions   int
	Status     string
}

// Ref names a host pool.
type Ref struct {
	Subscription, ResourceGroup, HostPool string
}

var subscriptionRe = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
var nameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._()-]{0,89}$`)

// Validate checks the flags before anything is sent.
func (r Ref) Validate() error {
	if !subscriptionRe.MatchString(r.Subscription) {
		return fmt.Errorf("--subscription %q: must be a subscription id (GUID), e.g. 00000000-1111-2222-3333-444444444444", r.Subscription)
	}
	if !nameRe.MatchString(r.ResourceGroup) {
		return fmt.Errorf("--resource-group %q: must be a resource group name (1-90 letters, digits, '.', '_', '-', '(', ')')", r.ResourceGroup)
	}
	if !nameRe.MatchString(r.HostPool) {
		return fmt.Errorf("--host-pool %q: must be a host pool name (letters, digits, '.', '_', '-')", r.HostPool)
	}
	return nil
}

// SessionHosts lists the pool's session hosts, following nextLink.
func SessionHosts(ctx context.Context, c *armclient.Client, r Ref) ([]SessionHost, error) {
	path := fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.DesktopVirtualization/hostPools/%s/sessionHosts", r.Subscription, r.ResourceGroup, r.HostPool)
	var out []SessionHost
	err := c.Pages(ctx, c.URL(path, "api-version="+DesktopVirtualizationAPIVersion), func(raw json.RawMessage) error {
		var page []struct {
			Name       string `json:"name"`
			Properties struct {
				ResourceID string `json:"resourceId"`
				Sessions   int    `json:"sessions"`
				Status     string `json:"status"`
			} `json:"properties"`
		}
		if err := json.Unmarshal(raw, &page); err != nil {
			return err
		}
		for _, p := range page {
			out = append(out, SessionHost{Name: p.Name, ResourceID: p.Properties.ResourceID, Sessions: p.Properties.Sessions, Status: p.Properties.Status})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing session hosts of %s: %w", r.HostPool, err)
	}
	return out, nil
}

// Identity is a VM's managed identity block.
type Identity struct {
	Type                   string                     `json:"type,omitempty"`
	PrincipalID            string                     `json:"principalId,omitempty"`
	UserAssignedIdentities map[string]json.RawMessage `json:"userAssignedIdentities,omitempty"`
}

// HasSystemAssigned reports a system-assigned identity.
func (i *Identity) HasSystemAssigned() bool {
	return i != nil && strings.Contains(strings.ToLower(i.Type), "systemassigned")
}

// VM is what the list calls tell about one VM.
type VM struct {
	ID                string
	Name              string
	ResourceGroup     string
	Tags              map[string]string
	PowerState        string // e.g. PowerState/stopped
	ProvisioningState string // e.g. ProvisioningState/succeeded
	Identity          *Identity
	// Model properties (what `avdgen report` prices): hardwareProfile.vmSize,
	// location, licenseType, storageProfile.osDisk.osType and the image.
	Size, Location, LicenseType string
	OSType                      string
	ImagePublisher, ImageOffer  string
}

// HasTag reports tag name=value by the agent's own exclusion tag rule
// (contract.HasTag: case-insensitive after trimming).
func (v VM) HasTag(name, value string) bool { return contract.HasTag(v.Tags, name, value) }

// ParseVMID splits a VM resource id.
func ParseVMID(id string) (sub, rg, name string, ok bool) {
	p := strings.Split(strings.Trim(id, "/"), "/")
	if len(p) != 8 || !strings.EqualFold(p[0], "subscriptions") || !strings.EqualFold(p[2], "resourceGroups") ||
		!strings.EqualFold(p[4], "providers") || !strings.EqualFold(p[5], "Microsoft.Compute") || !strings.EqualFold(p[6], "virtualMachines") {
		return "", "", "", false
	}
	return p[1], p[3], p[7], true
}

// Key normalizes a resource id for map lookups (ARM ids are case-insensitive).
func Key(id string) string { return strings.ToLower(strings.TrimRight(id, "/")) }

// ListVMs lists the VMs of the subscription with their power state: one
// paged subscription-wide list (statusOnly=true), the only list Compute
// documents with run-time status. A resource group's list takes
// $expand=instanceView only with a scale-set $filter (REST reference,
// VirtualMachines_List), so it cannot give a pool's power states. The map
// is keyed by Key(id) and holds the VMs of the given resource groups only.
func ListVMs(ctx context.Context, c *armclient.Client, sub string, groups []string) (map[string]VM, error) {
	return listVMs(ctx, c, sub, groups, true)
}

// ListVMsWithIdentity lists the VMs of the resource groups with their
// identity blocks (a paged list per group, without instance views).
func ListVMsWithIdentity(ctx context.Context, c *armclient.Client, sub string, groups []string) (map[string]VM, error) {
	return listVMs(ctx, c, sub, groups, false)
}

func listVMs(ctx context.Context, c *armclient.Client, sub string, groups []string, status bool) (map[string]VM, error) {
	out := map[string]VM{}
	collect := func(raw json.RawMessage) error {
		var page []struct {
			ID       string            `json:"id"`
			Name     string            `json:"name"`
			Location string            `json:"location"`
			Tags     map[string]string `json:"tags"`
			Identity *Identity         `json:"identity"`
			Props    struct {
				LicenseType     string `json:"licenseType"`
				HardwareProfile struct {
					VMSize string `json:"vmSize"`
				} `json:"hardwareProfile"`
				StorageProfile struct {
					ImageReference struct {
						Publisher string `json:"publisher"`
						Offer     string `json:"offer"`
					} `json:"imageReference"`
					OSDisk struct {
						OSType string `json:"osType"`
					} `json:"osDisk"`
				} `json:"storageProfile"`
				InstanceView *struct {
					Statuses []struct {
						Code string `json:"code"`
					} `json:"statuses"`
				} `json:"instanceView"`
			} `json:"properties"`
		}
		if err := json.Unmarshal(raw, &page); err != nil {
			return err
		}
		for _, p := range page {
			_, rg, _, _ := ParseVMID(p.ID)
			vm := VM{ID: p.ID, Name: p.Name, ResourceGroup: rg, Tags: p.Tags, Identity: p.Identity,
				Size: p.Props.HardwareProfile.VMSize, Location: p.Location, LicenseType: p.Props.LicenseType,
				OSType: p.Props.StorageProfile.OSDisk.OSType, ImagePublisher: p.Props.StorageProfile.ImageReference.Publisher,
				ImageOffer: p.Props.StorageProfile.ImageReference.Offer}
			if p.Props.InstanceView != nil {
				for _, s := range p.Props.InstanceView.Statuses {
					switch {
					case strings.HasPrefix(s.Code, "PowerState/"):
						vm.PowerState = s.Code
					case strings.HasPrefix(s.Code, "ProvisioningState/"):
						vm.ProvisioningState = s.Code
					}
				}
			}
			out[Key(p.ID)] = vm
		}
		return nil
	}
	if status {
		path := fmt.Sprintf("/subscriptions/%s/providers/Microsoft.Compute/virtualMachines", sub)
		if err := c.Pages(ctx, c.URL(path, "api-version="+ComputeAPIVersion+"&statusOnly=true"), collect); err != nil {
			return nil, fmt.Errorf("listing VMs of subscription %s: %w", sub, err)
		}
		inGroups := map[string]bool{}
		for _, rg := range groups {
			inGroups[strings.ToLower(rg)] = true
		}
		for k, vm := range out {
			if !inGroups[strings.ToLower(vm.ResourceGroup)] {
				delete(out, k)
			}
		}
		return out, nil
	}
	for _, rg := range groups {
		path := fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/virtualMachines", sub, rg)
		q := "api-version=" + ComputeAPIVersion
		if err := c.Pages(ctx, c.URL(path, q), collect); err != nil {
			return nil, fmt.Errorf("listing VMs of resource group %s: %w", rg, err)
		}
	}
	return out, nil
}

// Groups returns the distinct resource groups of the session hosts' VMs.
func Groups(hosts []SessionHost) []string {
	seen := map[string]string{}
	for _, h := range hosts {
		if _, rg, _, ok := ParseVMID(h.ResourceID); ok {
			seen[strings.ToLower(rg)] = rg
		}
	}
	var out []string
	for _, rg := range seen {
		out = append(out, rg)
	}
	sort.Strings(out)
	return out
}
