package sweep

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// The envelope Discover decodes is the one Resource Graph really answers:
// Microsoft's own recorded examples (testdata/PROVENANCE.md), with
// resultTruncated a string and the continuation in "$skipToken".
func TestRealResourceGraphPagesDecode(t *testing.T) {
	for file, token := range map[string]string{
		"testdata/arg/ResourcesFirstPageQuery.json": "eyAibm8iOiAibHVjayIsICJidXQiOiAibmljZSIsICJ0cnkiOiAiISIgfQ==",
		"testdata/arg/ResourcesNextPageQuery.json":  "eyAibm8yIjogImx1Y2syIiwgImJ1dDIiOiAibmljZTIiLCAidHJ5MiI6ICIhIiB9",
	} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var ex struct {
			Parameters struct {
				Query map[string]json.RawMessage `json:"query"`
			} `json:"parameters"`
			Responses map[string]struct {
				Body argResponse `json:"body"`
			} `json:"responses"`
		}
		if err := json.Unmarshal(b, &ex); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		page := ex.Responses["200"].Body
		if page.SkipToken != token || page.Count != 3 || page.TotalRecords != 386 || page.ResultTruncated != "false" || len(page.Data) != 3 || page.Data[0].ID == "" {
			t.Errorf("%s decoded as %+v", file, page)
		}
		// Our request carries the same members the example's does.
		for _, k := range []string{"subscriptions", "query", "options"} {
			if _, ok := ex.Parameters.Query[k]; !ok {
				t.Errorf("%s: example request has no %q", file, k)
			}
		}
	}
	var opts map[string]any
	b, _ := json.Marshal(argOptions{Top: 1000, SkipToken: "x", ResultFormat: "objectArray"})
	json.Unmarshal(b, &opts)
	for _, k := range []string{"$top", "$skipToken", "resultFormat", "allowPartialScopes"} {
		if _, ok := opts[k]; !ok {
			t.Errorf("request options lack %q: %s", k, b)
		}
	}
}

func TestQuotaResetHeader(t *testing.T) {
	for v, want := range map[string]time.Duration{"00:00:03": 3 * time.Second, "00:01:00": time.Minute, "01:00:00.5": time.Hour + 500*time.Millisecond, "00:00:00": 100 * time.Millisecond} {
		if got := quotaReset(http.Header{"X-Ms-User-Quota-Resets-After": {v}}, time.Hour); got != want {
			t.Errorf("%s: %s, want %s", v, got, want)
		}
	}
	for _, bad := range []string{"3", "00:61:00", "a:b:c", ""} {
		if got := quotaReset(http.Header{"X-Ms-User-Quota-Resets-After": {bad}}, 7*time.Second); got != 7*time.Second {
			t.Errorf("%q: %s, want the fallback", bad, got)
		}
	}
	if got := quotaReset(http.Header{"Retry-After": {"4"}}, time.Hour); got != 4*time.Second {
		t.Errorf("Retry-After: %s", got)
	}
}

type virtualClock struct{ now time.Time }

func (c *virtualClock) Now() time.Time { return c.now }
func (c *virtualClock) Sleep(_ context.Context, d time.Duration) error {
	c.now = c.now.Add(d)
	return nil
}

// 1,000 writes to one subscription: the first 150 at once (ARM's bucket of
// 200 less the headroom), the rest at 10 a second; another subscription has
// a bucket of its own.
func TestBucketKeepsToARMWriteLimits(t *testing.T) {
	clk := &virtualClock{now: time.Unix(0, 0)}
	l := NewLimits(clk.Now, clk.Sleep)
	for i := 0; i < 150; i++ {
		l.Write(context.Background(), "a")
	}
	if clk.now != time.Unix(0, 0) {
		t.Errorf("the first 150 writes waited %s", clk.now.Sub(time.Unix(0, 0)))
	}
	for i := 150; i < 1000; i++ {
		l.Write(context.Background(), "a")
	}
	if got, want := clk.now.Sub(time.Unix(0, 0)), 85*time.Second; got < want-time.Second || got > want+time.Second {
		t.Errorf("1,000 writes took %s of virtual time, want about %s", got, want)
	}
	before := clk.now
	for i := 0; i < 150; i++ {
		l.Write(context.Background(), "b")
	}
	if clk.now != before {
		t.Error("subscription b waited for a's bucket")
	}
}

func TestScopeValidationNamesTheFlag(t *testing.T) {
	for s, flag := range map[*Scope]string{
		{Subscriptions: []string{"nope"}}:      "--subscription",
		{ManagementGroups: []string{"mg/avd"}}: "--management-group",
		{ManagementGroups: []string{"ends."}}:  "--management-group",
		{ManagementGroups: []string{""}}:       "--management-group",
		{}:                                     "--management-group",
	} {
		err := s.Validate()
		if err == nil || !strings.Contains(err.Error(), flag) {
			t.Errorf("%+v: %v", *s, err)
		}
	}
	if err := (Scope{ManagementGroups: []string{"mg-avd", "72f988bf-86f1-41af-91ab-2d7cd011db47"}, Subscriptions: []string{"00000000-1111-2222-3333-444444444444"}}).Validate(); err != nil {
		t.Error(err)
	}
}

func contains(s, sub string) bool {
	return len(sub) == 0 || (len(s) >= len(sub) && (s[:len(sub)] == sub || contains(s[1:], sub)))
}
