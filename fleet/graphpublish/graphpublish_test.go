package graphpublish

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/avdgen/avdgen/agent/azure"
	"github.com/avdgen/avdgen/dist"
	"github.com/avdgen/avdgen/generator/intune"
	"github.com/avdgen/avdgen/generator/spec"
	"github.com/avdgen/avdgen/internal/fakegraph"
	"github.com/avdgen/avdgen/internal/testnet"
)

type staticToken struct{ scopes []string }

func (s *staticToken) GetToken(_ context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	s.scopes = o.Scopes
	return azcore.AccessToken{Token: "fake-graph-token", ExpiresOn: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)}, nil
}

var serviceNow = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// bundle renders an `avdgen intune` bundle (fresh random keys, like a real
// run) for the spec and agent bytes.
func bundle(t testing.TB, yaml, agent string) map[string][]byte {
	t.Helper()
	s, err := spec.Decode("t.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	files, err := intune.Build(intune.Input{Spec: s.WithDefaults(), Time: time.Unix(1700000000, 0).UTC(), AvdgenVersion: "v1.0.0", Rand: rand.Reader,
		Agents: dist.Agents{Version: "v1.0.0", ByArch: map[dist.Arch]dist.Agent{
			dist.AMD64: {Arch: dist.AMD64, Binary: []byte("MZ amd64 " + agent + strings.Repeat("x", 3000))},
			dist.ARM64: {Arch: dist.ARM64, Binary: []byte("MZ arm64 " + agent + strings.Repeat("y", 3000))},
		}}})
	if err != nil {
		t.Fatal(err)
	}
	m := map[string][]byte{}
	for _, f := range files {
		m[f.Path] = f.Data
	}
	return m
}

const (
	spec15m  = "hostPool: hp-entra\nlimits:\n  disconnected: 15m\n  idle: 2h\n"
	spec30m  = "hostPool: hp-entra\nlimits:\n  disconnected: 30m\n  idle: 2h\n"
	appName  = "avdgen agent (hp-entra)"
	polName  = "avdgen - hp-entra - session time limits"
	agentOne = "agent build one"
	agentTwo = "agent build two"
)

type harness struct {
	t      *testing.T
	fake   *fakegraph.Fake
	cred   *staticToken
	mu     sync.Mutex
	sleeps []time.Duration
	out    strings.Builder
}

func newHarness(t *testing.T, o fakegraph.Options) *harness {
	testnet.GuardDefault(t)
	o.Now = func() time.Time { return serviceNow }
	return &harness{t: t, fake: fakegraph.New(t, o), cred: &staticToken{}}
}

func (h *harness) config() Config {
	return Config{Cloud: azure.Clouds[0], Endpoint: h.fake.URL, Credential: h.cred,
		HTTPClient: &http.Client{Transport: testnet.Guard(h.t, nil)},
		Sleep: func(_ context.Context, d time.Duration) error {
			h.mu.Lock()
			h.sleeps = append(h.sleeps, d)
			h.mu.Unlock()
			return nil
		},
		Now: func() time.Time { return serviceNow }, Progress: &h.out, BlockSize: 1024,
		BlobRetry: policy.RetryOptions{MaxRetries: 2, RetryDelay: time.Millisecond, MaxRetryDelay: time.Millisecond}}
}

func (h *harness) publish(files map[string][]byte, group string, dry, remediation bool) (*Report, error) {
	h.t.Helper()
	in, err := FromBundle(files, remediation)
	if err != nil {
		h.t.Fatal(err)
	}
	in.Group, in.DryRun = group, dry
	return Publish(context.Background(), h.config(), in)
}

func (h *harness) mustPublish(files map[string][]byte, dry bool) *Report {
	h.t.Helper()
	rep, err := h.publish(files, fakegraph.GroupID, dry, false)
	if err != nil {
		h.t.Fatalf("publish: %v\nreport: %+v", err, rep)
	}
	return rep
}

// packageDigest is what the bundle's notes say the content is.
func packageDigest(t testing.TB, files map[string][]byte) string {
	var app struct{ Notes string }
	json.Unmarshal(files[AppFile], &app)
	_, pkg, ok := intune.ContentFromNotes(app.Notes)
	if !ok {
		t.Fatal("no notes in the app body")
	}
	return pkg
}

func TestFirstPublishThenRerunWritesNothing(t *testing.T) {
	h := newHarness(t, fakegraph.Options{})
	files := bundle(t, spec15m, agentOne)
	policiesBefore, appsBefore := h.fake.Policies(), h.fake.Apps()
	rep := h.mustPublish(files, false)
	if rep.Policy.Action != Created || rep.App.Action != Created || rep.Content.Action != Uploaded {
		t.Errorf("first publish: %+v", rep)
	}
	if h.fake.Policies() != policiesBefore+1 || h.fake.Apps() != appsBefore+1 {
		t.Errorf("objects: %d policies (was %d), %d apps (was %d)", h.fake.Policies(), policiesBefore, h.fake.Apps(), appsBefore)
	}
	app := h.fake.App(appName)
	if app == nil || app.Body["committedContentVersion"] != "1" {
		t.Fatalf("app after publish: %+v", app)
	}
	// The fake decrypted the committed blob with the commit's keys; its
	// digest is the one the app's notes now carry.
	sum := sha256.Sum256(h.fake.Committed[app.ID])
	if got := hex.EncodeToString(sum[:]); got != packageDigest(t, files) {
		t.Errorf("committed content digest %s, notes say %s", got, packageDigest(t, files))
	}
	if app.Body["notes"] != rep.App.Name && !strings.Contains(app.Body["notes"].(string), packageDigest(t, files)) {
		t.Errorf("notes not written after commit: %v", app.Body["notes"])
	}
	if got := fakegraph.Assignments(h.fake.Policy(polName)); !reflect.DeepEqual(got, []string{fakegraph.GroupID}) {
		t.Errorf("policy assignments %v", got)
	}
	if got := fakegraph.Assignments(app); !reflect.DeepEqual(got, []string{fakegraph.GroupID + ":required"}) {
		t.Errorf("app assignments %v", got)
	}
	if h.cred.scopes[0] != "https://graph.microsoft.com/.default" {
		t.Errorf("token scope %v", h.cred.scopes)
	}
	if !strings.Contains(h.out.String(), "upload: ") {
		t.Errorf("no plain progress lines: %q", h.out.String())
	}

	// Same spec and agents, rebuilt (new keys): nothing to write.
	h.fake.ResetCounts()
	rep = h.mustPublish(bundle(t, spec15m, agentOne), false)
	c := h.fake.Counts()
	if c.Writes != 0 || c.BlobWrites != 0 || rep.Writes != 0 {
		t.Errorf("rerun wrote: %+v\n%v", c, h.fake.Log)
	}
	for _, s := range append([]Step{rep.Policy, rep.App, rep.Content}, rep.Assignments...) {
		if s.Action != Unchanged {
			t.Errorf("rerun: %s %s", s.What, s.Action)
		}
	}
	if rep.Requests != c.Requests {
		t.Errorf("report counts %d requests, the fake saw %d", rep.Requests, c.Requests)
	}
}

func TestChangedLimitUpdatesThePolicyOnly(t *testing.T) {
	h := newHarness(t, fakegraph.Options{})
	first := h.mustPublish(bundle(t, spec15m, agentOne), false)
	h.fake.ResetCounts()
	rep := h.mustPublish(bundle(t, spec30m, agentOne), false)
	if rep.Policy.Action != Updated || rep.Policy.ID != first.Policy.ID || rep.Policy.Detail != "differs in settings" {
		t.Errorf("policy: %+v (first %s)", rep.Policy, first.Policy.ID)
	}
	if rep.App.Action != Unchanged || rep.Content.Action != Unchanged {
		t.Errorf("app %+v content %+v", rep.App, rep.Content)
	}
	if c := h.fake.Counts(); c.Writes != 1 || c.BlobWrites != 0 {
		t.Errorf("want exactly the PUT of the policy: %+v %v", c, h.fake.Log)
	}
	p := h.fake.Policy(polName)
	found := false
	for _, s := range p.Settings {
		if strings.Contains(toJSON(s), "ts_sessions_enddisconnected_1800000") {
			found = true
		}
	}
	if !found {
		t.Errorf("policy settings not updated to 30m: %s", toJSON(p.Settings))
	}
	if app := h.fake.App(appName); app.Versions != 1 {
		t.Errorf("content versions %d, want 1", app.Versions)
	}
}

func TestChangedAgentUploadsANewContentVersion(t *testing.T) {
	h := newHarness(t, fakegraph.Options{})
	h.mustPublish(bundle(t, spec15m, agentOne), false)
	h.fake.ResetCounts()
	files := bundle(t, spec15m, agentTwo)
	rep := h.mustPublish(files, false)
	app := h.fake.App(appName)
	if rep.Content.Action != Uploaded || rep.Content.ID != "2" || app.Versions != 2 || app.Body["committedContentVersion"] != "2" {
		t.Errorf("content %+v, versions %d, committed %v", rep.Content, app.Versions, app.Body["committedContentVersion"])
	}
	if rep.Policy.Action != Unchanged {
		t.Errorf("policy %+v", rep.Policy)
	}
	sum := sha256.Sum256(h.fake.Committed[app.ID])
	if hex.EncodeToString(sum[:]) != packageDigest(t, files) {
		t.Errorf("committed content is not the new package")
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	h := newHarness(t, fakegraph.Options{})
	rep := h.mustPublish(bundle(t, spec15m, agentOne), true)
	if c := h.fake.Counts(); c.Writes != 0 || c.BlobWrites != 0 {
		t.Errorf("dry run wrote: %+v %v", c, h.fake.Log)
	}
	if rep.Policy.Action != "would be created" || rep.App.Action != "would be created" || rep.Content.Action != "would be uploaded" {
		t.Errorf("dry run plan: %+v", rep)
	}
	h.mustPublish(bundle(t, spec15m, agentOne), false)
	h.fake.ResetCounts()
	rep = h.mustPublish(bundle(t, spec30m, agentTwo), true)
	if c := h.fake.Counts(); c.Writes != 0 || c.BlobWrites != 0 {
		t.Errorf("dry run wrote: %+v %v", c, h.fake.Log)
	}
	if rep.Policy.Action != "would be updated" || rep.Content.Action != "would be uploaded" || rep.App.Action != "would be updated" {
		t.Errorf("dry run plan: %+v", rep)
	}
}

func TestThrottlingAndServerErrorsAreRetried(t *testing.T) {
	h := newHarness(t, fakegraph.Options{RetryAfter: "7",
		Throttle:     map[string]int{"GET policies": 1, "POST apps": 2, "GET file": 1},
		ServerErrors: map[string]int{"PATCH app": 1, "POST policy assign": 1, "PUT block": 2}})
	rep := h.mustPublish(bundle(t, spec15m, agentOne), false)
	if c := h.fake.Counts(); c.Throttled != 4 || rep.Retries != 6 {
		t.Errorf("throttled %d, retries %d", c.Throttled, rep.Retries)
	}
	sevens := 0
	for _, d := range h.sleeps {
		if d == 7*time.Second {
			sevens++
		}
	}
	if sevens != 4 {
		t.Errorf("Retry-After 7 honoured %d times, want 4: %v", sevens, h.sleeps)
	}
	if c := h.fake.Counts(); c.BlobWrites < 2 {
		t.Errorf("blob writes %d", c.BlobWrites)
	}
	if h.fake.Apps() != 6 { // 5 seeded + ours, once, although its POST was throttled twice
		t.Errorf("apps %d, want 6", h.fake.Apps())
	}
}

func TestExpiredOrRevokedSASIsRenewed(t *testing.T) {
	for name, o := range map[string]fakegraph.Options{"expired": {ExpireFirstSAS: true}, "revoked": {RevokeFirstSAS: true}} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, o)
			rep := h.mustPublish(bundle(t, spec15m, agentOne), false)
			if rep.Content.Action != Uploaded || !strings.Contains(strings.Join(h.fake.Log, "\n"), "/renewUpload") {
				t.Errorf("no renewal: %+v\n%v", rep.Content, h.fake.Log)
			}
		})
	}
	h := newHarness(t, fakegraph.Options{ExpireFirstSAS: true, FailRenewal: true})
	_, err := h.publish(bundle(t, spec15m, agentOne), fakegraph.GroupID, false, false)
	if err == nil || !strings.Contains(err.Error(), "the upload URL expired") || !strings.Contains(err.Error(), "azureStorageUriRenewalFailed") {
		t.Errorf("renewal failure: %v", err)
	}
}

func TestFailedCommitIsAClearErrorAndARerunRecovers(t *testing.T) {
	h := newHarness(t, fakegraph.Options{FailCommit: true})
	files := bundle(t, spec15m, agentOne)
	_, err := h.publish(files, fakegraph.GroupID, false, false)
	if err == nil || !strings.Contains(err.Error(), "commitFileFailed") || !strings.Contains(err.Error(), "rerun avdgen intune publish") {
		t.Fatalf("failed commit: %v", err)
	}
	if notes, _ := h.fake.App(appName).Body["notes"].(string); notes != "avdgen-key: hp-entra/agent" {
		t.Errorf("notes before the content was committed: %q, want the avdgen key and no content receipt", notes)
	}
	rep := h.mustPublish(files, false)
	if rep.App.Action != Unchanged || rep.Content.Action != Uploaded || rep.Content.ID != "2" {
		t.Errorf("rerun after failed commit: app %+v content %+v", rep.App, rep.Content)
	}
}

func TestExactNamesOverAllPagesAndOthersKept(t *testing.T) {
	h := newHarness(t, fakegraph.Options{PageSize: 2})
	// Near misses a $filter or a case-insensitive match would take.
	h.fake.AddPolicy(strings.ToUpper(polName))
	h.fake.AddPolicy(polName + " (old)")
	h.fake.AddApp("#microsoft.graph.webApp", appName)
	h.fake.AddApp("#microsoft.graph.win32LobApp", strings.ToUpper(appName))
	// The real one, on a late page, assigned to someone else's group.
	id := h.fake.AddPolicy(polName)
	h.fake.Policy(polName).Assignments = []map[string]any{{"id": "x", "target": map[string]any{"@odata.type": "#microsoft.graph.groupAssignmentTarget", "groupId": fakegraph.OtherGroupID}}}
	rep := h.mustPublish(bundle(t, spec15m, agentOne), false)
	if rep.Policy.ID != id || rep.Policy.Action != Updated {
		t.Errorf("policy %+v, want update of %s", rep.Policy, id)
	}
	if got := fakegraph.Assignments(h.fake.Policy(polName)); !reflect.DeepEqual(got, []string{fakegraph.OtherGroupID, fakegraph.GroupID}) && !reflect.DeepEqual(got, []string{fakegraph.GroupID, fakegraph.OtherGroupID}) {
		t.Errorf("assignments %v: someone else's was dropped", got)
	}
	if rep.App.Action != Created {
		t.Errorf("app %+v: a near-miss was taken", rep.App)
	}
	// Ours now carries its avdgen key: a new namesake without it is not ours.
	h.fake.AddPolicy(polName)
	if rep, err := h.publish(bundle(t, spec15m, agentOne), fakegraph.GroupID, false, false); err != nil || rep.Policy.ID != id {
		t.Errorf("namesake without a key: %v %+v", err, rep)
	}
	// Two without a key, none with: publish does not guess.
	h2 := newHarness(t, fakegraph.Options{})
	h2.fake.AddPolicy(polName)
	h2.fake.AddPolicy(polName)
	if _, err := h2.publish(bundle(t, spec15m, agentOne), fakegraph.GroupID, false, false); err == nil || !strings.Contains(err.Error(), "2 configuration policies are named") {
		t.Errorf("duplicate names: %v", err)
	}
}

func TestGroupByExactDisplayName(t *testing.T) {
	h := newHarness(t, fakegraph.Options{})
	rep, err := h.publish(bundle(t, spec15m, agentOne), "AVD session hosts", true, false)
	if err != nil || rep.Group != fakegraph.GroupID {
		t.Errorf("group by name: %v %+v", err, rep)
	}
	if _, err := h.publish(bundle(t, spec15m, agentOne), "AVD SESSION HOSTS", true, false); err == nil || !strings.Contains(err.Error(), "exactly this display name") {
		t.Errorf("case-insensitive match accepted: %v", err)
	}
}

func TestRemediationPublishedOnceAndAssigned(t *testing.T) {
	h := newHarness(t, fakegraph.Options{})
	files := bundle(t, spec15m, agentOne)
	rep, err := h.publish(files, fakegraph.GroupID, false, true)
	if err != nil || rep.Remediation == nil || rep.Remediation.Action != Created {
		t.Fatalf("remediation: %v %+v", err, rep)
	}
	s := h.fake.Script(appName + " - logoff task")
	if s == nil || !reflect.DeepEqual(fakegraph.Assignments(s), []string{fakegraph.GroupID}) {
		t.Fatalf("script %+v", s)
	}
	h.fake.ResetCounts()
	rep, err = h.publish(bundle(t, spec15m, agentOne), fakegraph.GroupID, false, true)
	if err != nil || rep.Remediation.Action != Unchanged || h.fake.Counts().Writes != 0 {
		t.Errorf("rerun: %v %+v %v", err, rep.Remediation, h.fake.Log)
	}
}

func TestStorageURIMustBeTheCloudsBlobHost(t *testing.T) {
	for _, c := range []struct {
		cloud, base, uri string
		ok               bool
	}{
		{"public", "https://graph.microsoft.com", "https://acct.blob.core.windows.net/c/b?sig=x", true},
		{"public", "https://graph.microsoft.com", "http://acct.blob.core.windows.net/c/b?sig=x", false},
		{"public", "https://graph.microsoft.com", "https://acct.blob.core.windows.net.evil.example/c", false},
		{"public", "https://graph.microsoft.com", "https://127.0.0.1:9/c", false},
		{"usgov", "https://graph.microsoft.us", "https://acct.blob.core.windows.net/c", false},
		{"usgov", "https://graph.microsoft.us", "https://acct.blob.core.usgovcloudapi.net/c", true},
		{"china", "https://microsoftgraph.chinacloudapi.cn", "https://acct.blob.core.chinacloudapi.cn/c", true},
		{"public", "http://127.0.0.1:8080", "http://127.0.0.1:8080/blob/c", true},
		{"public", "http://127.0.0.1:8080", "https://example.com/blob/c", false},
	} {
		cl, _ := azure.CloudByName(c.cloud)
		p := &publisher{cfg: Config{Cloud: cl}, base: c.base}
		if err := p.checkStorageURI(c.uri); (err == nil) != c.ok {
			t.Errorf("%s %s %s: %v", c.cloud, c.base, c.uri, err)
		}
	}
}

func TestReadPackageRefusesMismatchedFiles(t *testing.T) {
	a, b := bundle(t, spec15m, agentOne), bundle(t, spec15m, agentOne)
	if _, err := ReadPackage(a[IntunewinFile], b[EncryptionFile]); err == nil || !strings.Contains(err.Error(), "does not belong") {
		t.Errorf("mismatched encryption info: %v", err)
	}
	if _, err := ReadPackage(a[IntunewinFile], a[EncryptionFile]); err != nil {
		t.Error(err)
	}
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// --cloud picks the token audience: usgov's Graph, not the public one.
func TestTokenIsForTheChosenCloudsGraph(t *testing.T) {
	h := newHarness(t, fakegraph.Options{})
	cfg := h.config()
	cfg.Cloud, _ = azure.CloudByName("usgov")
	in, _ := FromBundle(bundle(t, spec15m, agentOne), false)
	in.Group, in.DryRun = fakegraph.GroupID, true
	if _, err := Publish(context.Background(), cfg, in); err != nil {
		t.Fatal(err)
	}
	if len(h.cred.scopes) != 1 || h.cred.scopes[0] != "https://graph.microsoft.us/.default" {
		t.Errorf("scopes %v", h.cred.scopes)
	}
}

// On a terminal the progress is one redrawn bar line.
func TestProgressBarOnTerminal(t *testing.T) {
	h := newHarness(t, fakegraph.Options{})
	cfg := h.config()
	cfg.Terminal = true
	in, _ := FromBundle(bundle(t, spec15m, agentOne), false)
	in.Group = fakegraph.GroupID
	if _, err := Publish(context.Background(), cfg, in); err != nil {
		t.Fatal(err)
	}
	out := h.out.String()
	if !strings.HasPrefix(out, "\rupload [") || !strings.Contains(out, "100%") || strings.Count(out, "\n") != 1 {
		t.Errorf("terminal progress %q", out)
	}
}

// Polling is bounded: an upload state that never moves ends with a clear
// error after PollLimit polls, with growing waits capped at 10s.
func TestPollingIsBounded(t *testing.T) {
	h := newHarness(t, fakegraph.Options{Polls: 1000})
	cfg := h.config()
	cfg.PollLimit = 8
	in, _ := FromBundle(bundle(t, spec15m, agentOne), false)
	in.Group = fakegraph.GroupID
	_, err := Publish(context.Background(), cfg, in)
	if err == nil || !strings.Contains(err.Error(), "did not reach azureStorageUriRequestSuccess after 8 polls") {
		t.Fatalf("err = %v", err)
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second, 10 * time.Second, 10 * time.Second}
	if !reflect.DeepEqual(h.sleeps, want) {
		t.Errorf("waits %v, want %v", h.sleeps, want)
	}
}

// A POST that failed with 500 may have created its object: it is not sent
// again; 503 and 429 are (Graph did not carry them out).
func TestRetryPolicyByMethod(t *testing.T) {
	for _, c := range []struct {
		method string
		status int
		want   bool
	}{
		{"POST", 429, true}, {"POST", 503, true}, {"POST", 500, false}, {"POST", 504, false},
		{"GET", 500, true}, {"PATCH", 502, true}, {"PUT", 408, true}, {"GET", 404, false}, {"POST", 400, false},
	} {
		if got := retryable(c.method, c.status); got != c.want {
			t.Errorf("%s %d: retryable %v", c.method, c.status, got)
		}
	}
	h := newHarness(t, fakegraph.Options{ServerErrors: map[string]int{}})
	h.fake.SetStatusOnce("POST apps", 500)
	_, err := h.publish(bundle(t, spec15m, agentOne), fakegraph.GroupID, false, false)
	if err == nil || !strings.Contains(err.Error(), "HTTP 500") {
		t.Errorf("POST 500: %v", err)
	}
}

// The token is never sent over plain http to anything but loopback.
func TestPlainHTTPOnlyToLoopback(t *testing.T) {
	testnet.GuardDefault(t)
	in, _ := FromBundle(bundle(t, spec15m, agentOne), false)
	in.Group = fakegraph.GroupID
	cfg := Config{Cloud: azure.Clouds[0], Endpoint: "http://graph.example.com", Credential: &staticToken{}, HTTPClient: &http.Client{Transport: testnet.Guard(t, nil)}}
	if _, err := Publish(context.Background(), cfg, in); err == nil || !strings.Contains(err.Error(), "want https, or http on a loopback address") {
		t.Errorf("err = %v", err)
	}
}

const spec15mHibernate = spec15m + "agent:\n  action: hibernate\n"

func ruleValue(t testing.TB, body map[string]any) string {
	t.Helper()
	rules, _ := body["rules"].([]any)
	if len(rules) != 1 {
		t.Fatalf("rules %v", body["rules"])
	}
	return rules[0].(map[string]any)["comparisonValue"].(string)
}

func bundleRule(t testing.TB, files map[string][]byte) string {
	var app map[string]any
	if err := json.Unmarshal(files[AppFile], &app); err != nil {
		t.Fatal(err)
	}
	return ruleValue(t, app)
}

// Issue 15 findings 1 and 3, and what the issue asks to show: a change only
// install.ps1 carries (--action hibernate) uploads new content, and the
// detection rule changes in the PATCH that commits it, after the commit,
// never before; the profile is left alone.
func TestInstallOnlyChangeMovesTheRuleWithTheCommit(t *testing.T) {
	h := newHarness(t, fakegraph.Options{})
	h.mustPublish(bundle(t, spec15m, agentOne), false)
	app := h.fake.App(appName)
	before := ruleValue(t, app.Body)
	h.fake.ResetCounts()
	app.Patches = nil
	files := bundle(t, spec15mHibernate, agentOne)
	rep := h.mustPublish(files, false)
	if rep.Policy.Action != Unchanged || rep.Content.Action != Uploaded || rep.App.Action != Updated {
		t.Errorf("policy %+v app %+v content %+v", rep.Policy, rep.App, rep.Content)
	}
	after := ruleValue(t, app.Body)
	if after == before || after != bundleRule(t, files) {
		t.Fatalf("detection rule %s -> %s, bundle says %s", before, after, bundleRule(t, files))
	}
	if sum := sha256.Sum256(h.fake.Committed[app.ID]); hex.EncodeToString(sum[:]) != packageDigest(t, files) {
		t.Error("the committed content is not the --action hibernate package")
	}
	commit := -1
	for i, l := range h.fake.Log {
		if strings.HasSuffix(l, "/commit") {
			commit = i
		}
	}
	patchesAfterCommit := 0
	for _, l := range h.fake.Log[commit+1:] {
		if strings.HasPrefix(l, "PATCH ") {
			patchesAfterCommit++
		}
	}
	for i, p := range app.Patches {
		_, rules := p["rules"]
		_, committed := p["committedContentVersion"]
		if rules && !committed {
			t.Errorf("PATCH %d changes the rule without committing content: %v", i, p)
		}
		if rules && i != len(app.Patches)-1 {
			t.Errorf("PATCH %d with the rule is not the last one", i)
		}
	}
	if commit < 0 || patchesAfterCommit != 1 || len(app.Patches) == 0 {
		t.Errorf("want exactly the committing PATCH after the commit: %v", h.fake.Log)
	}
}

// Issue 15 finding 3: a failed upload leaves hosts on the old rule (they
// keep the old content installed); the next run removes the uncommitted
// content version and uploads again.
func TestFailedUploadKeepsTheOldRuleAndIsCleanedUp(t *testing.T) {
	h := newHarness(t, fakegraph.Options{})
	h.mustPublish(bundle(t, spec15m, agentOne), false)
	app := h.fake.App(appName)
	before := ruleValue(t, app.Body)
	h.fake.FailNextCommit()
	files := bundle(t, spec15mHibernate, agentOne)
	if _, err := h.publish(files, fakegraph.GroupID, false, false); err == nil || !strings.Contains(err.Error(), "commitFileFailed") {
		t.Fatalf("failed commit: %v", err)
	}
	if got := ruleValue(t, app.Body); got != before {
		t.Errorf("detection rule changed to %s although the content was not committed (was %s)", got, before)
	}
	if got := app.Body["committedContentVersion"]; got != "1" {
		t.Errorf("committed %v", got)
	}
	rep := h.mustPublish(files, false)
	if rep.Content.Action != Uploaded || !strings.Contains(rep.Content.Detail, "removed 1 uncommitted content version") {
		t.Errorf("rerun: %+v", rep.Content)
	}
	if got := h.fake.ContentVersions(app.ID); !reflect.DeepEqual(got, []string{"1", "3"}) {
		t.Errorf("content versions %v, want 1 (history) and 3 (committed), not the orphan 2", got)
	}
	if ruleValue(t, app.Body) != bundleRule(t, files) || app.Body["committedContentVersion"] != "3" {
		t.Errorf("after rerun: rule %s, committed %v", ruleValue(t, app.Body), app.Body["committedContentVersion"])
	}
}

// Issue 15 finding 4: Graph returns members the body never sent; they
// are not drift. The fake's GET carries the recorded service-filled
// members (maxRunTimeInMinutes among them), and a rerun still writes nothing.
func TestServiceFilledMembersAreNotDrift(t *testing.T) {
	h := newHarness(t, fakegraph.Options{})
	h.mustPublish(bundle(t, spec15m, agentOne), false)
	c := &client{base: h.fake.URL, hc: &http.Client{Transport: testnet.Guard(t, nil)}, cred: h.cred, scope: "x", sleep: h.config().Sleep, now: h.config().Now}
	var got map[string]any
	if err := c.do(context.Background(), http.MethodGet, appsPath+"/"+h.fake.App(appName).ID, nil, &got); err != nil {
		t.Fatal(err)
	}
	ie, _ := got["installExperience"].(map[string]any)
	if ie["maxRunTimeInMinutes"] != float64(60) || got["isFeatured"] != false || got["minimumSupportedOperatingSystem"] == nil {
		t.Fatalf("the fake's GET lacks the service-filled members: %v", got)
	}
	h.fake.ResetCounts()
	rep := h.mustPublish(bundle(t, spec15m, agentOne), false)
	if c := h.fake.Counts(); c.Writes != 0 || rep.App.Action != Unchanged {
		t.Errorf("rerun wrote %d: app %+v\n%v", c.Writes, rep.App, h.fake.Log)
	}
	// A member avdgen sets, changed in the portal, is drift.
	h.fake.App(appName).Body["installExperience"].(map[string]any)["deviceRestartBehavior"] = "allow"
	rep = h.mustPublish(bundle(t, spec15m, agentOne), false)
	if rep.App.Action != Updated || rep.App.Detail != "differs in installExperience" {
		t.Errorf("portal edit: %+v", rep.App)
	}
}

// Issue 15 finding 2: a 403 names the permission the refused request
// needs: DeviceManagementScripts.ReadWrite.All for --remediation.
func TestForbiddenNamesThePermissionOfTheRequest(t *testing.T) {
	h := newHarness(t, fakegraph.Options{})
	h.fake.SetStatusOnce("GET scripts", http.StatusForbidden)
	_, err := h.publish(bundle(t, spec15m, agentOne), fakegraph.GroupID, false, true)
	if err == nil || !strings.Contains(err.Error(), "missing Graph permission: DeviceManagementScripts.ReadWrite.All (--remediation)") {
		t.Errorf("403 on scripts: %v", err)
	}
	for path, want := range map[string]string{
		"/beta/deviceManagement/configurationPolicies/x/assign": "permission: DeviceManagementConfiguration.ReadWrite.All;",
		"/beta/deviceAppManagement/mobileApps":                  "permission: DeviceManagementApps.ReadWrite.All;",
		"/v1.0/groups":                                          "permission: GroupMember.Read.All or Group.Read.All;",
	} {
		if msg := (&GraphError{Method: "GET", Path: path, Status: http.StatusForbidden}).Error(); !strings.Contains(msg, want) {
			t.Errorf("%s: %s", path, msg)
		}
	}
}

// Issue 15 finding 5: renamed in the portal, the profile, the app and the
// Remediations pair are still found (by their avdgen key), not created and
// assigned a second time; the report says so and the names are left alone.
func TestRenamedInThePortalIsStillOurs(t *testing.T) {
	h := newHarness(t, fakegraph.Options{})
	first, err := h.publish(bundle(t, spec15m, agentOne), fakegraph.GroupID, false, true)
	if err != nil {
		t.Fatal(err)
	}
	h.fake.Policy(polName).Body["name"] = "AVD time limits (renamed)"
	h.fake.App(appName).Body["displayName"] = "AVD agent (renamed)"
	h.fake.Script(appName + " - logoff task").Body["displayName"] = "AVD remediation (renamed)"
	policies, apps := h.fake.Policies(), h.fake.Apps()
	h.fake.ResetCounts()
	rep, err := h.publish(bundle(t, spec15m, agentOne), fakegraph.GroupID, false, true)
	if err != nil {
		t.Fatal(err)
	}
	if h.fake.Policies() != policies || h.fake.Apps() != apps || rep.Policy.ID != first.Policy.ID || rep.App.ID != first.App.ID || rep.Remediation.ID != first.Remediation.ID {
		t.Errorf("a second object was created: %+v", rep)
	}
	if c := h.fake.Counts(); c.Writes != 0 {
		t.Errorf("rerun after renames wrote: %v", h.fake.Log)
	}
	for _, s := range []Step{rep.Policy, rep.App, *rep.Remediation} {
		if s.Action != Unchanged || !strings.Contains(s.Detail, "found by its avdgen key; named ") {
			t.Errorf("%s: %+v", s.What, s)
		}
	}
	if h.fake.App("AVD agent (renamed)") == nil {
		t.Error("the admin's name was not kept")
	}
}

func target(group string) map[string]any {
	return map[string]any{"@odata.type": "#microsoft.graph.groupAssignmentTarget", "groupId": group}
}

// Issue 15 finding 5: a Policy Set's assignments stay the set's (never
// re-sent as direct ones); an exclusion or an uninstall assignment of the
// group is the admin's decision, which publish refuses to override.
func TestAssignmentsOfPolicySetsKeptExclusionsAndUninstallRefused(t *testing.T) {
	h := newHarness(t, fakegraph.Options{})
	h.fake.AddPolicy(polName)
	pol := h.fake.Policy(polName)
	pol.Assignments = []map[string]any{{"id": "ps", "source": "policySets", "sourceId": "policy-set-1", "target": target(fakegraph.OtherGroupID)}}
	h.mustPublish(bundle(t, spec15m, agentOne), false)
	var sources []string
	for _, a := range pol.Assignments {
		if a["target"].(map[string]any)["groupId"] == fakegraph.OtherGroupID {
			sources = append(sources, fmt.Sprint(a["source"], " ", a["sourceId"]))
		}
	}
	if !reflect.DeepEqual(sources, []string{"policySets policy-set-1"}) {
		t.Errorf("the Policy Set's assignment became %v", sources)
	}
	app := h.fake.App(appName)
	app.Assignments = []map[string]any{
		{"id": "ps", "intent": "required", "source": "policySets", "sourceId": "policy-set-1", "target": target(fakegraph.OtherGroupID)},
		{"id": "a", "intent": "available", "source": "direct", "target": target(fakegraph.GroupID)},
	}
	if rep := h.mustPublish(bundle(t, spec15m, agentOne), false); rep.Assignments[1].Action != Assigned {
		t.Errorf("available -> required: %+v", rep.Assignments)
	}
	if got := fakegraph.Assignments(app); !reflect.DeepEqual(got, []string{fakegraph.OtherGroupID + ":required", fakegraph.GroupID + ":required"}) {
		t.Errorf("app assignments %v", got)
	}
	if app.Assignments[0]["source"] != "policySets" {
		t.Errorf("the Policy Set's app assignment became %v", app.Assignments[0])
	}

	app.Assignments = []map[string]any{{"id": "u", "intent": "uninstall", "source": "direct", "target": target(fakegraph.GroupID)}}
	h.fake.ResetCounts()
	if _, err := h.publish(bundle(t, spec15m, agentOne), fakegraph.GroupID, false, false); err == nil || !strings.Contains(err.Error(), "has an uninstall assignment of the app") {
		t.Errorf("uninstall overridden: %v", err)
	}
	for _, l := range h.fake.Log {
		if strings.HasSuffix(l, "/assign") {
			t.Errorf("assigned although refused: %v", h.fake.Log)
		}
	}
	pol.Assignments = append(pol.Assignments, map[string]any{"id": "x", "source": "direct", "target": map[string]any{"@odata.type": "#microsoft.graph.exclusionGroupAssignmentTarget", "groupId": fakegraph.GroupID}})
	if _, err := h.publish(bundle(t, spec15m, agentOne), fakegraph.GroupID, false, false); err == nil || !strings.Contains(err.Error(), "is excluded from the profile") {
		t.Errorf("exclusion overridden: %v", err)
	}
}

// Issue 15 finding 5: the group should hold the hosts' devices; users in
// it are a warning, and so is a group publish could not read.
func TestGroupHoldingUsersIsAWarning(t *testing.T) {
	h := newHarness(t, fakegraph.Options{})
	rep := h.mustPublish(bundle(t, spec15m, agentOne), true)
	if len(rep.Warnings) != 0 {
		t.Errorf("device group: %v", rep.Warnings)
	}
	rep, err := h.publish(bundle(t, spec15m, agentOne), fakegraph.MixedGroupID, true, false)
	if err != nil || len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0], "holds 1 user(s) and 1 device(s)") {
		t.Errorf("mixed group: %v %v", err, rep.Warnings)
	}
	h.fake.SetStatusOnce("GET group members", http.StatusForbidden)
	rep, err = h.publish(bundle(t, spec15m, agentOne), fakegraph.GroupID, true, false)
	if err != nil || len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0], "could not check") || !strings.Contains(rep.Warnings[0], "GroupMember.Read.All") {
		t.Errorf("unreadable group: %v %v", err, rep.Warnings)
	}
}
