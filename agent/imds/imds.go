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

// SleepContext waits d or until ctx ends.
func SleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// retryable lists the statuses IMDS documents as transient.
func retryable(code int) bool {
	return code == http.StatusGone || code == http.StatusTooManyRequests || code >= 500
}

// Instance fetches and validates the compute metadata.
func (c *Client) Instance(ctx context.Context) (Instance, error) {
	deadline := c.Deadline
	if deadline <= 0 {
		deadline = 60 * time.Second
	}
	sleep := c.Sleep
	if sleep == nil {
		sleep = SleepContext
	}
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()

	url := strings.TrimRight(c.Base, "/") + "/metadata/instance?api-version=" + APIVersion
	delay := 250 * time.Millisecond // ≥ 200 ms keeps us under IMDS's 5 requests/s
	var lastErr error
	for attempt := 1; ; attempt++ {
		body, status, err := c.get(ctx, url)
		switch {
		case err == nil && status == http.StatusOK:
			return Parse(body)
		case err == nil && !retryable(status):
			return Instance{}, fmt.Errorf("IMDS answered %d: %s", status, snippet(body))
		case err != nil:
			lastErr = err
		default:
			lastErr = fmt.Errorf("IMDS answered %d: %s", status, snippet(body))
		}
		if err := sleep(ctx, delay); err != nil {
			return Instance{}, fmt.Errorf("IMDS not reachable after %d attempts within %s: %w", attempt, deadline, lastErr)
		}
		if delay < 5*time.Second {
			delay *= 2
		}
	}
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

// HasTag reports whether the instance carries tag name=value; tag names are
// case-insensitive in Azure, values are compared exactly after trimming.
func (in Instance) HasTag(name, value string) bool {
	for k, v := range in.Tags {
		if strings.EqualFold(k, name) && strings.TrimSpace(v) == value {
			return true
		}
	}
	return false
}
