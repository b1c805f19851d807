// Package imds reads the Azure Instance Metadata Service: which VM this is,
// in which cloud, with which tags. The agent only ever acts on the VM that
// IMDS names, so every field it needs is validated before anything else runs.
package imds

import (
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

	"github.com/avdgen/avdgen/agent/azure"
	"github.com/avdgen/avdgen/agent/contract"
)

// APIVersion is the instance metadata api-version (hibernationEnabled needs ≥ 2021-11-01).
const APIVersion = "2021-12-13"

// Instance is what the agent needs to know about its own VM.
type Instance struct {
	SubscriptionID     string
	ResourceGroup      string
	Name               string
	ResourceID         string
	VMID               string
	Environment        string // azEnvironment, e.g. AzurePublicCloud
	Tags               map[string]string
	HibernationEnabled bool
}

// Client reads IMDS. Base is the IMDS root (http://169.254.169.254 or a
// loopback fake). HTTP must not use a proxy: IMDS is link-local.
type Client struct {
	Base string
	HTTP *http.Client
	// Deadline bounds all attempts together (default 60 s).
	Deadline time.Duration
	// Sleep waits between attempts; tests make it instant.
	Sleep func(context.Context, time.Duration) error
}

// NoProxyClient returns the agent's HTTP client: IMDS is never reached
// through a proxy (Go's ProxyFromEnvironment does not exempt
// 169.254.169.254), while Resource Manager still honours HTTPS_PROXY for
// hosts that must use one.
func NoProxyClient(base http.RoundTripper) *http.Client {
	if base == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.Proxy = ProxyExceptIMDS
		base = t
	}
	return &http.Client{Transport: base, Timeout: 60 * time.Second}
}

// envProxy is the proxy for every other host (a seam for tests: Go reads
// the proxy environment only once per process).
var envProxy = http.ProxyFromEnvironment

// ProxyExceptIMDS is http.ProxyFromEnvironment, except for IMDS.
func ProxyExceptIMDS(r *http.Request) (*url.URL, error) {
	if r.URL.Hostname() == "169.254.169.254" {
		return nil, nil
	}
	return envProxy(r)
}

// retryable lists the statuses IMDS documents as transient.
func retryable(code int) bool {
	return code == http.StatusGone || code == http.StatusTooManyRequests || code >= 500
}

// Instance fetches and validates the compute metadata.
func (c *Client) Instance(ctx context.Context) (Instance, error) {
	body, err := c.fetch(ctx, strings.TrimRight(c.Base, "/")+"/metadata/instance?api-version="+APIVersion, retryable)
	if err != nil {
		return Instance{}, err
	}
	return Parse(body)
}

// fetch GETs url with Metadata: true until it answers 200, a status retry
// does not accept, or the deadline passes; ≥ 250 ms between attempts keeps
// us under IMDS's 5 requests per second.
func (c *Client) fetch(ctx context.Context, url string, retry func(int) bool) ([]byte, error) {
	deadline := c.Deadline
	if deadline <= 0 {
		deadline = 60 * time.Second
	}
	sleep := c.Sleep
	if sleep == nil {
		sleep = azure.SleepContext
	}
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	delay := 250 * time.Millisecond
	var lastErr error
	for attempt := 1; ; attempt++ {
		body, status, err := c.get(ctx, url)
		switch {
		case err == nil && status == http.StatusOK:
			return body, nil
		case err == nil && !retry(status):
			return nil, fmt.Errorf("IMDS answered %d: %s", status, snippet(body))
		case err != nil:
			lastErr = err
		default:
			lastErr = fmt.Errorf("IMDS answered %d: %s", status, snippet(body))
		}
		if err := sleep(ctx, delay); err != nil {
			return nil, fmt.Errorf("IMDS not reachable after %d attempts within %s: %w", attempt, deadline, lastErr)
		}
		if delay < 5*time.Second {
			delay *= 2
		}
	}
}

// TokenAPIVersion is the managed-identity token endpoint's api-version.
const TokenAPIVersion = "2018-02-01"

// Token is a managed-identity access token.
type Token struct {
	AccessToken string
	ExpiresOn   time.Time
}

// tokenRetryable adds 404 (IMDS documents it while the identity is being
// set up) to the transient statuses.
func tokenRetryable(code int) bool { return code == http.StatusNotFound || retryable(code) }

// Token asks this VM's IMDS token endpoint for a token for resource (an ARM
// audience), for the system-assigned identity or the user-assigned one named
// by clientID or resourceID. Nothing else is consulted: no environment
// variable, no file can redirect the request.
func (c *Client) Token(ctx context.Context, resource, clientID, resourceID string) (Token, error) {
	if clientID != "" && resourceID != "" {
		return Token{}, errors.New("give either a client id or a resource id for the managed identity, not both")
	}
	q := url.Values{"api-version": {TokenAPIVersion}, "resource": {resource}}
	switch {
	case clientID != "":
		q.Set("client_id", clientID)
	case resourceID != "":
		q.Set("msi_res_id", resourceID)
	}
	body, err := c.fetch(ctx, strings.TrimRight(c.Base, "/")+"/metadata/identity/oauth2/token?"+q.Encode(), tokenRetryable)
	if err != nil {
		return Token{}, fmt.Errorf("managed identity token for %s: %w", resource, err)
	}
	var doc struct {
		AccessToken string          `json:"access_token"`
		ExpiresOn   json.RawMessage `json:"expires_on"`
		TokenType   string          `json:"token_type"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return Token{}, fmt.Errorf("managed identity token for %s: not JSON: %v", resource, err)
	}
	if doc.AccessToken == "" {
		return Token{}, fmt.Errorf("managed identity token for %s: IMDS answered without access_token", resource)
	}
	if doc.TokenType != "" && !strings.EqualFold(doc.TokenType, "Bearer") {
		return Token{}, fmt.Errorf("managed identity token for %s: token_type %q, want Bearer", resource, doc.TokenType)
	}
	secs, err := strconv.ParseInt(strings.Trim(string(doc.ExpiresOn), `"`), 10, 64)
	if err != nil {
		return Token{}, fmt.Errorf("managed identity token for %s: expires_on %s is not a Unix time", resource, doc.ExpiresOn)
	}
	return Token{AccessToken: doc.AccessToken, ExpiresOn: time.Unix(secs, 0)}, nil
}

func (c *Client) get(ctx context.Context, url string) ([]byte, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Metadata", "true")
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return body, resp.StatusCode, err
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

type document struct {
	Compute *struct {
		SubscriptionID         string                         `json:"subscriptionId"`
		ResourceGroupName      string                         `json:"resourceGroupName"`
		Name                   string                         `json:"name"`
		ResourceID             string                         `json:"resourceId"`
		VMID                   string                         `json:"vmId"`
		AzEnvironment          string                         `json:"azEnvironment"`
		TagsList               []struct{ Name, Value string } `json:"tagsList"`
		AdditionalCapabilities struct {
			HibernationEnabled string `json:"hibernationEnabled"`
		} `json:"additionalCapabilities"`
	} `json:"compute"`
}

// ErrMetadata marks metadata that is missing fields or inconsistent: the
// agent refuses to act on it.
var ErrMetadata = errors.New("instance metadata unusable")

// Parse decodes and validates an IMDS instance document. The resourceId must
// be exactly the VM named by subscription, resource group and name, so the
// agent can never be pointed at another VM.
func Parse(body []byte) (Instance, error) {
	var doc document
	if err := json.Unmarshal(body, &doc); err != nil {
		return Instance{}, fmt.Errorf("%w: not JSON: %v", ErrMetadata, err)
	}
	if doc.Compute == nil {
		return Instance{}, fmt.Errorf("%w: no compute section", ErrMetadata)
	}
	c := doc.Compute
	in := Instance{
		SubscriptionID: c.SubscriptionID,
		ResourceGroup:  c.ResourceGroupName,
		Name:           c.Name,
		ResourceID:     c.ResourceID,
		VMID:           c.VMID,
		Environment:    c.AzEnvironment,
		Tags:           map[string]string{},
	}
	for field, v := range map[string]string{
		"compute.subscriptionId": in.SubscriptionID, "compute.resourceGroupName": in.ResourceGroup,
		"compute.name": in.Name, "compute.resourceId": in.ResourceID, "compute.azEnvironment": in.Environment,
	} {
		if strings.TrimSpace(v) == "" {
			return Instance{}, fmt.Errorf("%w: %s is missing", ErrMetadata, field)
		}
	}
	want := "/subscriptions/" + in.SubscriptionID + "/resourceGroups/" + in.ResourceGroup +
		"/providers/Microsoft.Compute/virtualMachines/" + in.Name
	if !strings.EqualFold(in.ResourceID, want) {
		return Instance{}, fmt.Errorf("%w: resourceId %q does not match subscription/group/name (%s); refusing to act on it",
			ErrMetadata, in.ResourceID, want)
	}
	for _, t := range c.TagsList {
		in.Tags[t.Name] = t.Value
	}
	if h := c.AdditionalCapabilities.HibernationEnabled; h != "" {
		b, err := strconv.ParseBool(h)
		if err != nil {
			return Instance{}, fmt.Errorf("%w: additionalCapabilities.hibernationEnabled %q is not true/false", ErrMetadata, h)
		}
		in.HibernationEnabled = b
	}
	return in, nil
}

// HasTag reports whether the instance carries tag name=value, by the
// exclusion tag rule the sweep applies too (contract.HasTag).
func (in Instance) HasTag(name, value string) bool { return contract.HasTag(in.Tags, name, value) }
