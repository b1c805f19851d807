package sweep

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/avdgen/avdgen/agent/armclient"
)

// Azure Resource Graph, as the tenant-wide sweep uses it.
const (
	// ARGAPIVersion is the Resource Graph api-version (2021-03-01 or later
	// returns objectArray rows and $skipToken paging).
	ARGAPIVersion = "2022-10-01"
	// ARGPageSize is options.$top: Resource Graph returns at most 1,000 rows a page.
	ARGPageSize = 1000
	// ARGMaxSubscriptions is how many subscriptions one request may name;
	// more are sent in batches.
	ARGMaxSubscriptions = 1000
	// ARGMaxAttempts bounds the tries of one page when Resource Graph throttles.
	ARGMaxAttempts = 6
)

// DiscoveryQuery is the one Resource Graph query of the tenant-wide sweep:
// every session host in scope, joined with its host pool (for the pool type)
// and its VM (for the power state Resource Graph last saw, and the tags),
// and with the exclusion tag of a native autoscale scaling plan enabled on
// the pool. Its rows carry exactly the columns Row decodes; docs/rbac-sweep.md
// prints it, and the fake (internal/fakearg) answers only this text.
const DiscoveryQuery = `desktopvirtualizationresources
| where type =~ 'microsoft.desktopvirtualization/hostpools/sessionhosts'
| project hostPoolId = tolower(substring(id, 0, indexof(tolower(id), '/sessionhosts/'))), vmKey = tolower(tostring(properties.resourceId))
| join kind=inner (
    resources
    | where type =~ 'microsoft.desktopvirtualization/hostpools'
    | project hostPoolId = tolower(id), hostPoolType = tostring(properties.hostPoolType)
  ) on hostPoolId
| join kind=inner (
    resources
    | where type =~ 'microsoft.compute/virtualmachines'
    | project vmKey = tolower(id), id, powerState = tostring(properties.extended.instanceView.powerState.code), tags
  ) on vmKey
| join kind=leftouter (
    resources
    | where type =~ 'microsoft.desktopvirtualization/scalingplans'
    | mv-expand ref = properties.hostPoolReferences
    | where tobool(ref.scalingPlanEnabled)
    | project hostPoolId = tolower(tostring(ref.hostPoolArmPath)), scalingPlanExclusionTag = tostring(properties.exclusionTag)
  ) on hostPoolId
| project id, powerState, hostPoolId, hostPoolType, tags, scalingPlanExclusionTag`

// Row is one row of DiscoveryQuery: a session host's VM.
type Row struct {
	// ID is the VM's resource id.
	ID string `json:"id"`
	// PowerState is what Resource Graph last saw, e.g. "PowerState/stopped";
	// minutes to hours old.
	PowerState   string            `json:"powerState"`
	HostPoolID   string            `json:"hostPoolId"`
	HostPoolType string            `json:"hostPoolType"`
	Tags         map[string]string `json:"tags"`
	// ScalingPlanExclusionTag is the exclusion tag name of a scaling plan
	// enabled on the pool ("" when none).
	ScalingPlanExclusionTag string `json:"scalingPlanExclusionTag"`
}

// Scope is what the tenant-wide sweep covers.
type Scope struct {
	Subscriptions    []string
	ManagementGroups []string
}

var guidRe = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// mgRe is a management group id: up to 90 letters, digits, '-', '_', '(',
// ')', '.', not ending in '.' (Azure's rule).
var mgRe = regexp.MustCompile(`^[A-Za-z0-9_().-]{0,89}[A-Za-z0-9_()-]$`)

// Validate checks the scope before anything is sent; errors name the flag.
func (s Scope) Validate() error {
	if len(s.Subscriptions) == 0 && len(s.ManagementGroups) == 0 {
		return errors.New("give --management-group or --subscription (each repeatable) for a tenant-wide sweep, or --subscription, --resource-group and --host-pool for one pool")
	}
	for _, sub := range s.Subscriptions {
		if !guidRe.MatchString(sub) {
			return fmt.Errorf("--subscription %q: must be a subscription id (GUID), e.g. 00000000-1111-2222-3333-444444444444", sub)
		}
	}
	for _, mg := range s.ManagementGroups {
		if !mgRe.MatchString(mg) {
			return fmt.Errorf("--management-group %q: must be a management group id (1-90 letters, digits, '-', '_', '(', ')', '.', not ending in '.'), e.g. mg-avd or a tenant root GUID", mg)
		}
	}
	return nil
}

// Discovery says how discovery went.
type Discovery struct {
	Rows []Row
	// Requests counts Resource Graph requests, throttled ones included.
	Requests int
	// Throttled counts 429 answers.
	Throttled int
	// Partial lists why the result may not cover the whole scope (Resource
	// Graph's subscription limit was hit).
	Partial []string
}

// argRequest is the body of POST /providers/Microsoft.ResourceGraph/resources.
type argRequest struct {
	Subscriptions    []string   `json:"subscriptions,omitempty"`
	ManagementGroups []string   `json:"managementGroups,omitempty"`
	Query            string     `json:"query"`
	Options          argOptions `json:"options"`
}

type argOptions struct {
	Top                int    `json:"$top"`
	SkipToken          string `json:"$skipToken,omitempty"`
	ResultFormat       string `json:"resultFormat"`
	AllowPartialScopes bool   `json:"allowPartialScopes"`
}

type argResponse struct {
	TotalRecords    int64  `json:"totalRecords"`
	Count           int64  `json:"count"`
	ResultTruncated string `json:"resultTruncated"`
	SkipToken       string `json:"$skipToken"`
	Data            []Row  `json:"data"`
}

// argRetry leaves 429 to Discover (Resource Graph says when its quota
// resets in its own header, which azcore does not read) and lets azcore
// retry transport errors and 5xx.
var argRetry = policy.RetryOptions{MaxRetries: 3, RetryDelay: time.Second, MaxRetryDelay: 30 * time.Second,
	StatusCodes: []int{http.StatusRequestTimeout, http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout}}

// Discover runs DiscoveryQuery over the scope: subscriptions in batches of
// ARGMaxSubscriptions, management groups together, each paged with
// $skipToken. It waits out throttling (429 with x-ms-user-quota-resets-after)
// and, when a page leaves no quota (x-ms-user-quota-remaining: 0), waits for
// the reset before the next page instead of provoking a 429.
func Discover(ctx context.Context, c *armclient.Client, s Scope, sleep func(context.Context, time.Duration) error) (Discovery, error) {
	var d Discovery
	var bodies []argRequest
	for i := 0; i < len(s.Subscriptions); i += ARGMaxSubscriptions {
		bodies = append(bodies, argRequest{Subscriptions: s.Subscriptions[i:min(i+ARGMaxSubscriptions, len(s.Subscriptions))]})
	}
	for i := 0; i < len(s.ManagementGroups); i += ARGMaxSubscriptions {
		bodies = append(bodies, argRequest{ManagementGroups: s.ManagementGroups[i:min(i+ARGMaxSubscriptions, len(s.ManagementGroups))]})
	}
	url := c.URL("/providers/Microsoft.ResourceGraph/resources", "api-version="+ARGAPIVersion)
	seen := map[string]bool{}
	for _, body := range bodies {
		body.Query = DiscoveryQuery
		body.Options = argOptions{Top: ARGPageSize, ResultFormat: "objectArray", AllowPartialScopes: len(body.ManagementGroups) > 0}
		for {
			page, hdr, err := argPage(ctx, c, url, body, sleep, &d)
			if err != nil {
				return d, err
			}
			if strings.EqualFold(page.ResultTruncated, "true") {
				// Only when the query lacks an id column; ours has one, so
				// this is a service change: stop rather than sweep half.
				return d, fmt.Errorf("Resource Graph truncated the result (%d of %d rows) without a $skipToken: cannot page through it", page.Count, page.TotalRecords)
			}
			if strings.EqualFold(hdr.Get("x-ms-tenant-subscription-limit-hit"), "true") {
				d.Partial = append(d.Partial, fmt.Sprintf("management group(s) %s: Resource Graph answered for only the first 10,000 subscriptions in scope (x-ms-tenant-subscription-limit-hit); sweep with several smaller --management-group or --subscription scopes", strings.Join(body.ManagementGroups, ", ")))
			}
			for _, r := range page.Data {
				// A VM appears once even when scopes overlap.
				if k := strings.ToLower(r.ID); !seen[k] {
					seen[k] = true
					d.Rows = append(d.Rows, r)
				}
			}
			if page.SkipToken == "" {
				break
			}
			body.Options.SkipToken = page.SkipToken
			if hdr.Get("x-ms-user-quota-remaining") == "0" {
				if err := sleep(ctx, quotaReset(hdr, time.Second)); err != nil {
					return d, err
				}
			}
		}
	}
	return d, nil
}

// argPage sends one page request, retrying 429 after the wait Resource Graph names.
func argPage(ctx context.Context, c *armclient.Client, url string, body argRequest, sleep func(context.Context, time.Duration) error, d *Discovery) (argResponse, http.Header, error) {
	for attempt := 1; ; attempt++ {
		var page argResponse
		var resp *http.Response
		rctx := policy.WithCaptureResponse(policy.WithRetryOptions(ctx, argRetry), &resp)
		d.Requests++
		status, err := c.Do(rctx, http.MethodPost, url, body, &page)
		var hdr http.Header
		if resp != nil {
			hdr = resp.Header
		}
		if err == nil {
			return page, hdr, nil
		}
		if status != http.StatusTooManyRequests {
			return page, hdr, fmt.Errorf("Resource Graph query: %w", err)
		}
		d.Throttled++
		if attempt >= ARGMaxAttempts {
			return page, hdr, fmt.Errorf("Resource Graph still throttles after %d tries: %w; run the sweep less often or with a smaller scope", attempt, err)
		}
		if err := sleep(ctx, quotaReset(hdr, time.Duration(attempt)*5*time.Second)); err != nil {
			return page, hdr, err
		}
	}
}

// quotaReset reads x-ms-user-quota-resets-after (hh:mm:ss), then
// Retry-After (seconds), else fallback.
func quotaReset(h http.Header, fallback time.Duration) time.Duration {
	if h == nil {
		return fallback
	}
	if v := h.Get("x-ms-user-quota-resets-after"); v != "" {
		if d, ok := parseHMS(v); ok {
			return max(d, 100*time.Millisecond)
		}
	}
	if v := h.Get("Retry-After"); v != "" {
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 {
			return time.Duration(n) * time.Second
		}
	}
	return fallback
}

// parseHMS parses hh:mm:ss (seconds may carry a fraction).
func parseHMS(v string) (time.Duration, bool) {
	p := strings.Split(strings.TrimSpace(v), ":")
	if len(p) != 3 {
		return 0, false
	}
	h, err1 := strconv.Atoi(p[0])
	m, err2 := strconv.Atoi(p[1])
	s, err3 := strconv.ParseFloat(p[2], 64)
	if err1 != nil || err2 != nil || err3 != nil || h < 0 || m < 0 || m > 59 || s < 0 || s >= 60 {
		return 0, false
	}
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(s*float64(time.Second)), true
}
