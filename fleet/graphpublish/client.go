package graphpublish

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// client sends Graph requests: bearer token for the cloud's Graph, retries
// on throttling (429, honouring Retry-After) and 5xx, and counts requests.
type client struct {
	base  string // scheme://host, no version
	hc    *http.Client
	cred  azcore.TokenCredential
	scope string
	sleep func(context.Context, time.Duration) error
	now   func() time.Time
	token azcore.AccessToken

	requests, writes, retries int
}

// maxTries bounds every request; maxRetryAfter caps a Retry-After we honour.
const (
	maxTries      = 6
	maxRetryAfter = 2 * time.Minute
)

// GraphError is an error answer from Graph.
type GraphError struct {
	Method, Path string
	Status       int
	Code         string
	Message      string
}

func (e *GraphError) Error() string {
	msg := fmt.Sprintf("Graph %s %s: HTTP %d", e.Method, e.Path, e.Status)
	if e.Code != "" || e.Message != "" {
		msg += fmt.Sprintf(" %s: %s", e.Code, e.Message)
	}
	switch e.Status {
	case http.StatusUnauthorized:
		msg += " (the token was refused: check --auth and --cloud)"
	case http.StatusForbidden:
		msg += " (missing Graph permission: " + PermissionFor(e.Path) + "; grant it to the app registration or managed identity behind --auth (application permission, admin consent) and rerun. " + PermissionsHint + ")"
	}
	return msg
}

// Permissions publish needs, per flag (docs/intune.md has the table).
const (
	PermProfile     = "DeviceManagementConfiguration.ReadWrite.All"
	PermApp         = "DeviceManagementApps.ReadWrite.All"
	PermRemediation = "DeviceManagementScripts.ReadWrite.All"
	PermGroup       = "GroupMember.Read.All"
	// PermissionsHint is the whole list, per flag.
	PermissionsHint = "publish needs " + PermProfile + " (the profile) and " + PermApp + " (the app, its content and assignment); " +
		PermRemediation + " with --remediation; " + PermGroup + " (or Group.Read.All) to find --assign-group by name and check it holds devices"
)

// PermissionFor names the permission a request to path needs.
func PermissionFor(path string) string {
	switch {
	case strings.Contains(path, "/deviceManagement/deviceHealthScripts"):
		return PermRemediation + " (--remediation)"
	case strings.Contains(path, "/deviceManagement/configurationPolicies"):
		return PermProfile
	case strings.Contains(path, "/deviceAppManagement/"):
		return PermApp
	case strings.Contains(path, "/groups"):
		return PermGroup + " or Group.Read.All"
	}
	return PermProfile + ", " + PermApp
}

func (c *client) bearer(ctx context.Context) (string, error) {
	if c.token.Token == "" || c.now().Add(2*time.Minute).After(c.token.ExpiresOn) {
		tok, err := c.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{c.scope}})
		if err != nil {
			return "", fmt.Errorf("getting a token for %s: %w", c.scope, err)
		}
		c.token = tok
	}
	return c.token.Token, nil
}

// resolve turns a path ("/beta/...") or an @odata.nextLink into a URL on
// the Graph host; a nextLink to any other host is refused (the token must
// not leave Graph).
func (c *client) resolve(path string) (string, error) {
	if strings.HasPrefix(path, "/") {
		return c.base + path, nil
	}
	u, err := url.Parse(path)
	b, _ := url.Parse(c.base)
	if err != nil || u.Scheme != b.Scheme || u.Host != b.Host {
		return "", fmt.Errorf("Graph returned a link to another host (%q); refusing to send the token there", path)
	}
	return path, nil
}

// do sends one request and decodes a JSON answer into out (when not nil).
func (c *client) do(ctx context.Context, method, path string, body, out any) error {
	target, err := c.resolve(path)
	if err != nil {
		return err
	}
	var payload []byte
	if body != nil {
		if payload, err = json.Marshal(body); err != nil {
			return err
		}
	}
	shown := path
	if u, err := url.Parse(target); err == nil {
		shown = u.Path
	}
	for try := 1; ; try++ {
		tok, err := c.bearer(ctx)
		if err != nil {
			return err
		}
		req, err := http.NewRequestWithContext(ctx, method, target, bytes.NewReader(payload))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Accept", "application/json")
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		c.requests++
		if method != http.MethodGet {
			c.writes++
		}
		resp, err := c.hc.Do(req)
		if err != nil {
			// A POST that got no answer may have created something: only
			// idempotent requests are sent again.
			if idempotent(method) && try < maxTries && ctx.Err() == nil {
				c.retries++
				if err := c.sleep(ctx, backoff(try)); err != nil {
					return err
				}
				continue
			}
			return fmt.Errorf("Graph %s %s: %w", method, shown, err)
		}
		data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("Graph %s %s: reading the answer: %w", method, shown, err)
		}
		if retryable(method, resp.StatusCode) && try < maxTries {
			delay := retryAfter(resp.Header.Get("Retry-After"), c.now())
			if delay <= 0 {
				delay = backoff(try)
			}
			if delay > maxRetryAfter {
				delay = maxRetryAfter
			}
			c.retries++
			if err := c.sleep(ctx, delay); err != nil {
				return err
			}
			continue
		}
		if resp.StatusCode >= 300 {
			ge := &GraphError{Method: method, Path: shown, Status: resp.StatusCode}
			var e struct {
				Error struct{ Code, Message string }
			}
			if json.Unmarshal(data, &e) == nil {
				ge.Code, ge.Message = e.Error.Code, e.Error.Message
			}
			return ge
		}
		if out != nil && len(bytes.TrimSpace(data)) > 0 {
			if err := json.Unmarshal(data, out); err != nil {
				return fmt.Errorf("Graph %s %s: answer is not the expected JSON: %w", method, shown, err)
			}
		}
		return nil
	}
}

// retryable: 429 and 503 mean the request was not carried out, so any
// request is sent again; other 5xx and 408 only for idempotent ones (a POST
// may have created its object before the error).
func retryable(method string, status int) bool {
	switch {
	case status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable:
		return true
	case status == http.StatusRequestTimeout || status >= 500:
		return idempotent(method)
	}
	return false
}

func idempotent(method string) bool {
	return method == http.MethodGet || method == http.MethodPut || method == http.MethodPatch || method == http.MethodDelete
}

// backoff is 1s, 2s, 4s, 8s, 16s for the tries after the first.
func backoff(try int) time.Duration {
	return time.Second << min(try-1, 4)
}

// retryAfter reads Retry-After: seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return t.Sub(now)
	}
	return 0
}

// list GETs every page of a collection, following @odata.nextLink.
func list[T any](ctx context.Context, c *client, path string) ([]T, error) {
	var all []T
	for next := path; next != ""; {
		var page struct {
			Value    []T    `json:"value"`
			NextLink string `json:"@odata.nextLink"`
		}
		if err := c.do(ctx, http.MethodGet, next, nil, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Value...)
		if page.NextLink == next {
			return nil, errors.New("Graph returned the same @odata.nextLink twice")
		}
		next = page.NextLink
	}
	return all, nil
}
