package report

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/avdgen/avdgen/agent/armclient"
	"github.com/avdgen/avdgen/fleet/pool"
)

// ActivityLogAPIVersion is the Activity Log's (Microsoft.Insights
// eventtypes/management/values) only stable api-version.
const ActivityLogAPIVersion = "2015-04-01"

// The operations that change what a VM bills.
const (
	OpStart      = "microsoft.compute/virtualmachines/start/action"
	OpDeallocate = "microsoft.compute/virtualmachines/deallocate/action"
	OpPowerOff   = "microsoft.compute/virtualmachines/poweroff/action"
)

// Event is one Activity Log record about a pool VM's power.
type Event struct {
	Time      time.Time
	Op        string // one of the Op constants (lower case)
	Status    string // Started, Accepted, Succeeded, Failed, ...
	SubStatus string
	Caller    string
	ObjectID  string // claims' objectidentifier
	AppID     string // claims' appid
}

// selectFields keeps Activity Log pages small: only what the report reads.
const selectFields = "eventTimestamp,operationName,status,subStatus,resourceId,caller,claims"

// readActivityLog reads every page of the Activity Log of each resource
// group between o.From and o.To and returns the power events of each VM
// (by pool.Key), oldest first.
func readActivityLog(ctx context.Context, c *armclient.Client, o Options, groups []string, progress func(string, ...any)) (map[string][]Event, int, error) {
	out := map[string][]Event{}
	n := 0
	for _, rg := range groups {
		filter := fmt.Sprintf("eventTimestamp ge '%s' and eventTimestamp le '%s' and resourceGroupName eq '%s'",
			o.From.UTC().Format(time.RFC3339), o.To.UTC().Format(time.RFC3339), rg)
		q := url.Values{}
		q.Set("api-version", ActivityLogAPIVersion)
		q.Set("$filter", filter)
		q.Set("$select", selectFields)
		u := c.URL(fmt.Sprintf("/subscriptions/%s/providers/Microsoft.Insights/eventtypes/management/values", o.Pool.Subscription), q.Encode())
		err := c.Pages(ctx, u, func(raw json.RawMessage) error {
			n++
			progress("Activity Log pages fetched: %d", n)
			var page []rawEvent
			if err := json.Unmarshal(raw, &page); err != nil {
				return err
			}
			for _, e := range page {
				op := strings.ToLower(e.OperationName.Value)
				if op != OpStart && op != OpDeallocate && op != OpPowerOff {
					continue
				}
				ts, err := time.Parse(time.RFC3339Nano, e.EventTimestamp)
				if err != nil {
					return fmt.Errorf("event %s: eventTimestamp %q: %w", e.ResourceID, e.EventTimestamp, err)
				}
				if ts.Before(o.From) || !ts.Before(o.To) {
					continue
				}
				sub := e.SubStatus.LocalizedValue
				if sub == "" {
					sub = e.SubStatus.Value
				}
				out[pool.Key(e.ResourceID)] = append(out[pool.Key(e.ResourceID)], Event{
					Time: ts.UTC(), Op: op, Status: e.Status.Value, SubStatus: sub, Caller: e.Caller,
					ObjectID: claim(e.Claims, "http://schemas.microsoft.com/identity/claims/objectidentifier"), AppID: claim(e.Claims, "appid"),
				})
			}
			return nil
		})
		if err != nil {
			return nil, n, fmt.Errorf("reading the Activity Log of resource group %s: %w", rg, readerHint(err, "Microsoft.Insights/eventtypes/values/read"))
		}
	}
	for k := range out {
		ev := out[k]
		// The service answers newest first; the timeline wants oldest first.
		sort.SliceStable(ev, func(i, j int) bool { return ev[i].Time.Before(ev[j].Time) })
	}
	return out, n, nil
}

type rawEvent struct {
	EventTimestamp string         `json:"eventTimestamp"`
	ResourceID     string         `json:"resourceId"`
	Caller         string         `json:"caller"`
	Claims         map[string]any `json:"claims"`
	OperationName  struct {
		Value string `json:"value"`
	} `json:"operationName"`
	Status struct {
		Value string `json:"value"`
	} `json:"status"`
	SubStatus struct {
		Value          string `json:"value"`
		LocalizedValue string `json:"localizedValue"`
	} `json:"subStatus"`
}

func claim(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

// readerHint replaces armclient's authorization advice (which is about the
// agent's deallocate role) with what the report needs: read access.
func readerHint(err error, action string) error {
	var ae *armclient.AuthorizationError
	if errors.As(err, &ae) {
		return fmt.Errorf("not authorized (%s): the identity running avdgen report needs %s, e.g. the Reader role, on the host pool's and the VMs' resource groups (az role assignment create --assignee <you> --role Reader --scope /subscriptions/<sub>/resourceGroups/<rg>)", ae.Message, action)
	}
	return err
}
