// Package rbac gives each session host's system-assigned identity the
// right to deallocate only itself: a custom role with exactly the agent's
// permission, assigned at each VM's own scope. Reruns are no-ops.
package rbac

import (
	"crypto/sha1"
	"fmt"
	"strings"

	"github.com/avdgen/avdgen/agent/armclient"
)

// AuthorizationAPIVersion for role definitions and assignments.
const AuthorizationAPIVersion = "2022-04-01"

// Role is a custom role.
type Role struct {
	Name        string
	Description string
	Actions     []string
	Scope       string // assignable scope
}

// DeallocateRole is what avd-agent needs on its own VM, and nothing else.
// `avd-agent check` reads the identity's own permissions through
// Microsoft.Authorization/permissions, which Microsoft documents without a
// required action, so no read permission is added for it.
func DeallocateRole(scope string) Role {
	return Role{
		Name:        "avdgen session host self-deallocate",
		Description: "Lets an AVD session host's system-assigned identity deallocate its own VM (avd-agent). Assign at the VM's scope only.",
		Actions:     []string{armclient.DeallocateAction},
		Scope:       scope,
	}
}

// SweeperRole is what `avdgen sweep` needs: read VMs and their instance
// view, read host pools, session hosts and user sessions, deallocate.
func SweeperRole(scope string) Role {
	return Role{
		Name:        "avdgen stopped-VM sweeper",
		Description: "Lets avdgen sweep find AVD session hosts stopped from inside Windows (still billed) and deallocate them.",
		Actions: []string{
			"Microsoft.Compute/virtualMachines/read",
			"Microsoft.Compute/virtualMachines/instanceView/read",
			armclient.DeallocateAction,
			"Microsoft.DesktopVirtualization/hostpools/read",
			"Microsoft.DesktopVirtualization/hostpools/sessionhosts/read",
			"Microsoft.DesktopVirtualization/hostpools/sessionhosts/usersessions/read",
		},
		Scope: scope,
	}
}

// stableGUID is a UUIDv5-style id from the parts, so reruns find their own
// role definitions and assignments.
func stableGUID(parts ...string) string {
	h := sha1.Sum([]byte("avdgen-rbac\x00" + strings.ToLower(strings.Join(parts, "\x00"))))
	s := h[:16]
	s[6] = s[6]&0x0f | 0x50
	s[8] = s[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", s[0:4], s[4:6], s[6:8], s[8:10], s[10:16])
}

// ID is the role definition's name (a GUID), stable for name and scope.
func (r Role) ID() string { return stableGUID("role", r.Name, r.Scope) }

// ResourceID is the role definition's full id.
func (r Role) ResourceID() string {
	return r.Scope + "/providers/Microsoft.Authorization/roleDefinitions/" + r.ID()
}

// CLIDefinition is the JSON `az role definition create --role-definition` takes.
type CLIDefinition struct {
	Name             string   `json:"Name"`
	ID               string   `json:"Id"`
	IsCustom         bool     `json:"IsCustom"`
	Description      string   `json:"Description"`
	Actions          []string `json:"Actions"`
	NotActions       []string `json:"NotActions"`
	DataActions      []string `json:"DataActions"`
	NotDataActions   []string `json:"NotDataActions"`
	AssignableScopes []string `json:"AssignableScopes"`
}

// CLI renders the role for `avdgen rbac role`.
func (r Role) CLI() CLIDefinition {
	return CLIDefinition{Name: r.Name, ID: r.ID(), IsCustom: true, Description: r.Description, Actions: r.Actions,
		NotActions: []string{}, DataActions: []string{}, NotDataActions: []string{}, AssignableScopes: []string{r.Scope}}
}

// roleDefinition is ARM's body.
type roleDefinition struct {
	Properties roleProperties `json:"properties"`
}

type roleProperties struct {
	RoleName         string       `json:"roleName"`
	Description      string       `json:"description"`
	Type             string       `json:"type"`
	Permissions      []permission `json:"permissions"`
	AssignableScopes []string     `json:"assignableScopes"`
}

type permission struct {
	Actions        []string `json:"actions"`
	NotActions     []string `json:"notActions"`
	DataActions    []string `json:"dataActions"`
	NotDataActions []string `json:"notDataActions"`
}

func (r Role) body() roleDefinition {
	return roleDefinition{Properties: roleProperties{
		RoleName: r.Name, Description: r.Description, Type: "CustomRole",
		Permissions:      []permission{{Actions: r.Actions, NotActions: []string{}, DataActions: []string{}, NotDataActions: []string{}}},
		AssignableScopes: []string{r.Scope},
	}}
}

func sameRole(a, b roleProperties) bool {
	if a.RoleName != b.RoleName || a.Description != b.Description || len(a.Permissions) != 1 || len(b.Permissions) != 1 ||
		strings.Join(a.AssignableScopes, ",") != strings.Join(b.AssignableScopes, ",") {
		return false
	}
	pa, pb := a.Permissions[0], b.Permissions[0]
	return strings.Join(pa.Actions, ",") == strings.Join(pb.Actions, ",") && len(pa.NotActions) == len(pb.NotActions) &&
		len(pa.DataActions) == len(pb.DataActions) && len(pa.NotDataActions) == len(pb.NotDataActions)
}
