// Package armclient is the agent's Resource Manager client for its own VM:
// deallocate (optionally hibernating) and the permissions check. `avdgen
// sweep` reuses it for the stopped VMs it deallocates.
package armclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"

	"github.com/avdgen/avdgen/agent/azure"
)

// API versions in use.
const (
	ComputeAPIVersion     = "2024-07-01"
	PermissionsAPIVersion = "2022-04-01"
	// DeallocateAction is the only permission the agent needs.
	DeallocateAction = "Microsoft.Compute/virtualMachines/deallocate/action"
)

// Client calls ARM for VMs.
type Client struct {
	base     string
	pipeline runtime.Pipeline
}

// New builds a client for a; cred supplies bearer tokens for a.Cloud's audience.
func New(a azure.ARM, cred azcore.TokenCredential) (*Client, error) {
	c, err := arm.NewClient("avdgen.armclient", "v1.0.0", cred, a.ClientOptions())
	if err != nil {
		return nil, err
	}
	return &Client{base: strings.TrimRight(a.BaseURL(), "/"), pipeline: c.Pipeline()}, nil
}

// Result says how a deallocation went.
type Result struct {
	StatusCode int
	// Hibernated is true when the VM was asked to hibernate and ARM accepted it.
	Hibernated bool
	// FellBack is true when hibernation was refused (409) and a plain
	// deallocate was sent instead.
	FellBack bool
}

// AuthorizationError is a 403: the identity lacks the permission.
type AuthorizationError struct {
	ResourceID string
	Action     string
	Message    string
}

func (e *AuthorizationError) Error() string {
	return fmt.Sprintf("not authorized to %s on %s (%s). Fix: run `avdgen rbac apply --subscription <sub> --resource-group <rg> --host-pool <pool>` "+
		"to give each VM's system-assigned identity the avdgen role on itself, or assign a role with %s to this VM's identity at scope %s "+
		"(az role assignment create --assignee-object-id <principalId> --assignee-principal-type ServicePrincipal --role \"<role>\" --scope %s)",
		e.Action, e.ResourceID, e.Message, e.Action, e.ResourceID, e.ResourceID)
}

// StatusError is any other unexpected ARM answer (after retries).
type StatusError struct {
	StatusCode int
	Code       string
	Message    string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("ARM answered %d %s: %s", e.StatusCode, e.Code, e.Message)
}

// Deallocate deallocates resourceID. With hibernate it asks to hibernate and
// falls back to a plain deallocate only when ARM refuses hibernation itself.
func (c *Client) Deallocate(ctx context.Context, resourceID string, hibernate bool) (Result, error) {
	if hibernate {
		res, err := c.post(ctx, resourceID, true)
		var se *StatusError
		if errors.As(err, &se) && HibernationRefused(se) {
			res, err = c.post(ctx, resourceID, false)
			res.FellBack = true
			return res, err
		}
		res.Hibernated = err == nil
		return res, err
	}
	return c.post(ctx, resourceID, false)
}

// HibernationRefused reports a 409 whose error is about hibernation (not
// enabled, not supported for this size or OS, not ready), and not a conflict
// such as "another operation is in progress", after which a plain deallocate
// would only collide again.
func HibernationRefused(se *StatusError) bool {
	if se.StatusCode != http.StatusConflict {
		return false
	}
	code, msg := strings.ToLower(se.Code), strings.ToLower(se.Message)
	if strings.Contains(msg, "in progress") || strings.Contains(code, "inprogress") || strings.Contains(code, "preempted") {
		return false
	}
	return strings.Contains(code, "hibernat") || strings.Contains(msg, "hibernat")
}

func (c *Client) post(ctx context.Context, resourceID string, hibernate bool) (Result, error) {
	url := c.base + resourceID + "/deallocate?api-version=" + ComputeAPIVersion
	if hibernate {
		url += "&hibernate=true"
	}
	req, err := runtime.NewRequest(ctx, http.MethodPost, url)
	if err != nil {
		return Result{}, err
	}
	resp, err := c.pipeline.Do(req)
	if err != nil {
		return Result{}, fmt.Errorf("POST deallocate: %w", err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK, http.StatusAccepted:
		return Result{StatusCode: resp.StatusCode}, nil
	}
	code, msg := armError(resp.Body)
	if resp.StatusCode == http.StatusForbidden {
		return Result{StatusCode: resp.StatusCode}, &AuthorizationError{ResourceID: resourceID, Action: DeallocateAction, Message: strings.TrimSpace(code + ": " + msg)}
	}
	return Result{StatusCode: resp.StatusCode}, &StatusError{StatusCode: resp.StatusCode, Code: code, Message: msg}
}

func armError(r io.Reader) (code, msg string) {
	var body struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	b, _ := io.ReadAll(io.LimitReader(r, 64<<10))
	if json.Unmarshal(b, &body) == nil && body.Error.Code != "" {
		return body.Error.Code, body.Error.Message
	}
	return "", strings.TrimSpace(string(b))
}

// Permission is one entry of the ARM permissions API.
type Permission struct {
	Actions    []string `json:"actions"`
	NotActions []string `json:"notActions"`
}

// Permissions lists the caller's effective permissions at scope.
func (c *Client) Permissions(ctx context.Context, scope string) ([]Permission, error) {
	url := c.base + scope + "/providers/Microsoft.Authorization/permissions?api-version=" + PermissionsAPIVersion
	var all []Permission
	for url != "" {
		req, err := runtime.NewRequest(ctx, http.MethodGet, url)
		if err != nil {
			return nil, err
		}
		resp, err := c.pipeline.Do(req)
		if err != nil {
			return nil, fmt.Errorf("GET permissions: %w", err)
		}
		if resp.StatusCode != http.StatusOK {
			code, msg := armError(resp.Body)
			resp.Body.Close()
			return nil, &StatusError{StatusCode: resp.StatusCode, Code: code, Message: msg}
		}
		var page struct {
			Value    []Permission `json:"value"`
			NextLink string       `json:"nextLink"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("decoding permissions: %w", err)
		}
		all = append(all, page.Value...)
		url = page.NextLink
	}
	return all, nil
}

// Allows evaluates ARM permissions for action: some entry must match it in
// Actions and not in that same entry's NotActions. Patterns use * as a
// wildcard for any run of characters, compared case-insensitively.
func Allows(perms []Permission, action string) bool {
	for _, p := range perms {
		if anyMatch(p.Actions, action) && !anyMatch(p.NotActions, action) {
			return true
		}
	}
	return false
}

func anyMatch(patterns []string, action string) bool {
	for _, p := range patterns {
		if wildcardMatch(strings.ToLower(p), strings.ToLower(action)) {
			return true
		}
	}
	return false
}

// wildcardMatch matches s against a pattern where * is any run of characters.
func wildcardMatch(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for i, part := range parts[1:] {
		if i == len(parts)-2 {
			return strings.HasSuffix(s, part)
		}
		j := strings.Index(s, part)
		if j < 0 {
			return false
		}
		s = s[j+len(part):]
	}
	return true
}
