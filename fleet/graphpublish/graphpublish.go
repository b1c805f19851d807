// Package graphpublish publishes an `avdgen intune` bundle through Microsoft
// Graph (beta): the Settings Catalog profile, the Win32 app with its
// encrypted content, the optional Remediations script pair, and their
// assignments to one device group. It creates what is missing, updates what
// differs and writes nothing when Intune already matches the bundle.
// Admin-side only: cmd/avd-agent never imports it.
package graphpublish

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/avdgen/avdgen/agent/azure"
	"github.com/avdgen/avdgen/generator/intune"
)

// Config is how to reach Graph and what to report progress to.
type Config struct {
	Cloud azure.Cloud
	// Endpoint overrides Cloud.GraphEndpoint (tests: a loopback fake).
	Endpoint   string
	Credential azcore.TokenCredential
	HTTPClient *http.Client
	// Sleep waits between polls and retries; Now is the clock.
	Sleep func(context.Context, time.Duration) error
	Now   func() time.Time
	// Progress receives upload progress; Terminal draws a bar on one line.
	Progress io.Writer
	Terminal bool
	// BlockSize is the upload chunk (default 8 MiB).
	BlockSize int
	// BlobRetry tunes the azblob client's retries (zero: SDK defaults).
	BlobRetry policy.RetryOptions
	// PollLimit bounds the polls of one upload state (default 60, about
	// nine minutes with the backoff).
	PollLimit int
}

// Input is the bundle to publish.
type Input struct {
	// Policy is session-time-limits.settings-catalog.json.
	Policy []byte
	// App is avd-agent.win32app.json.
	App []byte
	// Package is the encrypted content and its encryption info.
	Package Package
	// Remediation, when set, is published as a Remediations script pair.
	Remediation *Remediation
	// Group is the Entra group: an object id, or a display name.
	Group string
	// DryRun reads only and reports what would change.
	DryRun bool
}

// Report says what was (or would be) done.
type Report struct {
	DryRun      bool   `json:"dryRun"`
	Group       string `json:"group"`
	Policy      Step   `json:"policy"`
	App         Step   `json:"app"`
	Content     Step   `json:"content"`
	Remediation *Step  `json:"remediation,omitempty"`
	Assignments []Step `json:"assignments"`
	Requests    int    `json:"graphRequests"`
	Writes      int    `json:"graphWrites"`
	BlobWrites  int    `json:"blobWrites"`
	Retries     int    `json:"retries"`
	// Warnings are things publish did not stop for but the admin should see.
	Warnings []string `json:"warnings,omitempty"`
}

// Step is one object and what happened to it.
type Step struct {
	What   string `json:"what"`
	ID     string `json:"id,omitempty"`
	Name   string `json:"name,omitempty"`
	Action string `json:"action"`
	Detail string `json:"detail,omitempty"`
}

// Actions a Step reports.
const (
	Created   = "created"
	Updated   = "updated"
	Unchanged = "unchanged"
	Uploaded  = "uploaded"
	Assigned  = "assigned"
)

func would(dry bool, action string) string {
	if dry {
		return "would be " + action
	}
	return action
}

type publisher struct {
	cfg   Config
	c     *client
	in    Input
	rep   *Report
	base  string
	blobs int
}

var guidRe = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// Publish makes Intune match in. On error the report says how far it got.
func Publish(ctx context.Context, cfg Config, in Input) (*Report, error) {
	if cfg.Credential == nil {
		return nil, errors.New("graphpublish: no credential")
	}
	base := cfg.Cloud.GraphEndpoint
	if cfg.Endpoint != "" {
		base = strings.TrimRight(cfg.Endpoint, "/")
	}
	if base == "" {
		return nil, fmt.Errorf("cloud %q has no Graph endpoint", cfg.Cloud.Name)
	}
	if u, err := url.Parse(base); err != nil || !(u.Scheme == "https" || u.Scheme == "http" && azure.IsLoopbackHost(u.Host)) {
		// The bearer token goes in every request: plain http only to a loopback fake.
		return nil, fmt.Errorf("graph endpoint %q: want https, or http on a loopback address", base)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = http.DefaultClient
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = func(ctx context.Context, d time.Duration) error {
			select {
			case <-time.After(d):
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	if cfg.BlockSize <= 0 {
		cfg.BlockSize = 8 << 20
	}
	if cfg.PollLimit <= 0 {
		cfg.PollLimit = 60
	}
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	p := &publisher{cfg: cfg, in: in, base: base, rep: &Report{DryRun: in.DryRun, Assignments: []Step{}},
		// The token is always for the cloud's Graph, also when a loopback
		// fake stands in for it (--graph-endpoint).
		c: &client{base: base, hc: cfg.HTTPClient, cred: cfg.Credential, scope: cfg.Cloud.GraphScope(), sleep: cfg.Sleep, now: cfg.Now}}
	err := p.run(ctx)
	p.rep.Requests, p.rep.Writes, p.rep.Retries, p.rep.BlobWrites = p.c.requests, p.c.writes, p.c.retries, p.blobs
	return p.rep, err
}

func (p *publisher) run(ctx context.Context) error {
	group, err := p.group(ctx)
	if err != nil {
		return err
	}
	p.rep.Group = group
	p.checkMembers(ctx, group)
	policyID, err := p.policy(ctx)
	if err != nil {
		return err
	}
	appID, err := p.app(ctx)
	if err != nil {
		return err
	}
	var scriptID string
	if p.in.Remediation != nil {
		if scriptID, err = p.remediation(ctx); err != nil {
			return err
		}
	}
	if err := p.assignPolicy(ctx, policyID, group); err != nil {
		return err
	}
	if err := p.assignApp(ctx, appID, group); err != nil {
		return err
	}
	if p.in.Remediation != nil {
		if err := p.assignRemediation(ctx, scriptID, group); err != nil {
			return err
		}
	}
	return nil
}

// group resolves --assign-group: an object id is used as given; a name
// must match exactly one group's displayName.
func (p *publisher) group(ctx context.Context) (string, error) {
	g := strings.TrimSpace(p.in.Group)
	if g == "" {
		return "", errors.New("no group to assign to")
	}
	if guidRe.MatchString(g) {
		return strings.ToLower(g), nil
	}
	q := url.Values{"$filter": {"displayName eq '" + strings.ReplaceAll(g, "'", "''") + "'"}, "$select": {"id,displayName"}}
	groups, err := list[struct{ ID, DisplayName string }](ctx, p.c, "/v1.0/groups?"+q.Encode())
	if err != nil {
		return "", fmt.Errorf("finding group %q: %w", g, err)
	}
	var ids []string
	for _, x := range groups {
		if x.DisplayName == g { // $filter may match case-insensitively
			ids = append(ids, x.ID)
		}
	}
	switch len(ids) {
	case 0:
		return "", fmt.Errorf("--assign-group %q: no Entra group has exactly this display name; give its object id", g)
	case 1:
		return ids[0], nil
	}
	return "", fmt.Errorf("--assign-group %q: %d groups have this display name (%s); give the object id of the one to use", g, len(ids), strings.Join(ids, ", "))
}

// checkMembers warns when the group holds users: the profile and the app
// are device-targeted, and a user in the group is not the host's device.
// One page is read; no answer (no GroupMember.Read.All) is only a warning.
func (p *publisher) checkMembers(ctx context.Context, group string) {
	var page struct {
		Value []map[string]any `json:"value"`
	}
	if err := p.c.do(ctx, http.MethodGet, "/v1.0/groups/"+url.PathEscape(group)+"/members?$select=id&$top=100", nil, &page); err != nil {
		p.rep.Warnings = append(p.rep.Warnings, fmt.Sprintf("could not check that group %s holds devices: %v", group, err))
		return
	}
	users, devices := 0, 0
	for _, m := range page.Value {
		switch m["@odata.type"] {
		case "#microsoft.graph.user":
			users++
		case "#microsoft.graph.device":
			devices++
		}
	}
	if users > 0 {
		p.rep.Warnings = append(p.rep.Warnings, fmt.Sprintf("group %s holds %d user(s) and %d device(s) among its first %d members: the profile, the app and the Remediations pair are meant for the session hosts' devices; a user in the group gets the app on every device they sign in to", group, users, devices, len(page.Value)))
	} else if devices == 0 {
		p.rep.Warnings = append(p.rep.Warnings, fmt.Sprintf("group %s has no device members yet: nothing is installed until the session hosts are in it", group))
	}
}

const (
	policiesPath = "/beta/deviceManagement/configurationPolicies"
	appsPath     = "/beta/deviceAppManagement/mobileApps"
	scriptsPath  = "/beta/deviceManagement/deviceHealthScripts"
	win32Type    = "#microsoft.graph.win32LobApp"
)

// policy finds the Settings Catalog policy by exact name over all pages and
// creates it, replaces it (PUT) when its settings differ, or leaves it.
func (p *publisher) policy(ctx context.Context) (string, error) {
	var want map[string]any
	if err := json.Unmarshal(p.in.Policy, &want); err != nil {
		return "", fmt.Errorf("settings catalog body: %w", err)
	}
	name, _ := want["name"].(string)
	description, _ := want["description"].(string)
	p.rep.Policy = Step{What: "settings catalog profile", Name: name}
	all, err := list[struct{ ID, Name, Description string }](ctx, p.c, policiesPath+"?$select=id,name,description&$top=100")
	if err != nil {
		return "", fmt.Errorf("listing configuration policies: %w", err)
	}
	cands := make([]candidate, 0, len(all))
	for _, x := range all {
		cands = append(cands, candidate{x.ID, x.Name, x.Description})
	}
	ids, renamed, err := pick("configuration policies", name, intune.KeyFrom(description), cands)
	if err != nil {
		return "", err
	}
	if renamed != "" {
		// Renamed in the portal: ours by its key; the admin's name stays.
		want["name"] = renamed
		p.rep.Policy.Detail = renamedDetail(name, renamed)
	}
	if len(ids) == 0 {
		p.rep.Policy.Action = would(p.in.DryRun, Created)
		if p.in.DryRun {
			return "", nil
		}
		var made struct{ ID string }
		if err := p.c.do(ctx, http.MethodPost, policiesPath, want, &made); err != nil {
			return "", fmt.Errorf("creating the settings catalog profile: %w", err)
		}
		p.rep.Policy.ID = made.ID
		return made.ID, nil
	}
	id := ids[0]
	p.rep.Policy.ID = id
	var have map[string]any
	if err := p.c.do(ctx, http.MethodGet, policiesPath+"/"+url.PathEscape(id), nil, &have); err != nil {
		return "", err
	}
	settings, err := list[map[string]any](ctx, p.c, policiesPath+"/"+url.PathEscape(id)+"/settings")
	if err != nil {
		return "", err
	}
	diffs := drift(want, have, []string{"name", "description", "platforms", "technologies", "roleScopeTagIds"})
	wantSettings, _ := want["settings"].([]any)
	if !equalSettings(wantSettings, settings) {
		diffs = append(diffs, "settings")
	}
	if len(diffs) == 0 {
		p.rep.Policy.Action = Unchanged
		return id, nil
	}
	p.rep.Policy.Action = would(p.in.DryRun, Updated)
	p.rep.Policy.Detail = strings.TrimPrefix(p.rep.Policy.Detail+"; differs in "+strings.Join(diffs, ", "), "; ")
	if p.in.DryRun {
		return id, nil
	}
	if err := p.c.do(ctx, http.MethodPut, policiesPath+"/"+url.PathEscape(id), want, nil); err != nil {
		return "", fmt.Errorf("updating the settings catalog profile: %w", err)
	}
	return id, nil
}

// app finds the Win32 app by exact display name (win32LobApp only) and
// creates or patches it; it uploads new content only when the content
// receipt in the notes differs from the bundle's.
func (p *publisher) app(ctx context.Context) (string, error) {
	var want map[string]any
	if err := json.Unmarshal(p.in.App, &want); err != nil {
		return "", fmt.Errorf("win32 app body: %w", err)
	}
	name, _ := want["displayName"].(string)
	wantNotes, _ := want["notes"].(string)
	if _, _, ok := intune.ContentFromNotes(wantNotes); !ok {
		return "", errors.New("the app body has no avdgen content line in its notes: rebuild the bundle with this avdgen")
	}
	p.rep.App = Step{What: "win32 app", Name: name}
	p.rep.Content = Step{What: "app content"}
	all, err := list[map[string]any](ctx, p.c, appsPath+"?$select=id,displayName,notes&$top=100")
	if err != nil {
		return "", fmt.Errorf("listing apps: %w", err)
	}
	var cands []candidate
	for _, x := range all {
		if x["@odata.type"] == win32Type {
			id, _ := x["id"].(string)
			dn, _ := x["displayName"].(string)
			notes, _ := x["notes"].(string)
			cands = append(cands, candidate{id, dn, notes})
		}
	}
	ids, renamed, err := pick("Win32 apps", name, intune.KeyFrom(wantNotes), cands)
	if err != nil {
		return "", err
	}
	if renamed != "" {
		want["displayName"] = renamed
		p.rep.App.Detail = renamedDetail(name, renamed)
	}
	// What depends on the content - the detection rule (its value is the
	// package digest), the description naming that value and the notes
	// (the receipt of committed content) - is written only in the PATCH that
	// sets committedContentVersion, after commitFileSuccess: a rule changed
	// earlier makes every host reinstall the old content while the upload
	// runs, and for good when it fails. Everything else may go up front.
	upFront := withoutKeys(want, contentBound...)
	var id string
	needContent := true
	var have map[string]any
	var diffs []string
	if len(ids) == 0 {
		p.rep.App.Action = would(p.in.DryRun, Created)
		p.rep.Content.Detail = "new app"
		if !p.in.DryRun {
			// A new app has no content hosts could install: it is created
			// with its rule (Intune requires one), and notes holding only
			// its avdgen key: the receipt comes with committed content.
			var made struct{ ID string }
			create := withoutKeys(want, "notes")
			if key := intune.KeyFrom(wantNotes); key != "" {
				create["notes"] = key
			}
			if err := p.c.do(ctx, http.MethodPost, appsPath, create, &made); err != nil {
				return "", fmt.Errorf("creating the Win32 app: %w", err)
			}
			id = made.ID
		}
	} else {
		id = ids[0]
		if err := p.c.do(ctx, http.MethodGet, appsPath+"/"+url.PathEscape(id), nil, &have); err != nil {
			return "", err
		}
		diffs = drift(upFront, have, sortedKeys(upFront))
		haveNotes, _ := have["notes"].(string)
		committed, _ := have["committedContentVersion"].(string)
		_, havePkg, _ := intune.ContentFromNotes(haveNotes)
		_, wantPkg, _ := intune.ContentFromNotes(wantNotes)
		needContent = havePkg != wantPkg || committed == ""
		switch {
		case committed == "":
			p.rep.Content.Detail = "no committed content"
		case needContent:
			p.rep.Content.Detail = "agent or package changed"
		}
		p.rep.App.Action = Unchanged
		if len(diffs) > 0 && !p.in.DryRun {
			{
				if err := p.c.do(ctx, http.MethodPatch, appsPath+"/"+url.PathEscape(id), upFront, nil); err != nil {
					return "", fmt.Errorf("updating the Win32 app: %w", err)
				}
			}
		}
	}
	p.rep.App.ID = id
	bound := map[string]any{"@odata.type": win32Type}
	for _, k := range contentBound {
		bound[k] = want[k]
	}
	var boundDrift []string
	if have != nil {
		boundDrift = drift(bound, have, contentBound)
		shown := append(diffs, drift(bound, have, []string{"description", "rules"})...)
		if len(shown) > 0 {
			sort.Strings(shown)
			p.rep.App.Action = would(p.in.DryRun, Updated)
			detail := "differs in " + strings.Join(shown, ", ")
			if needContent && len(shown) > len(diffs) {
				detail += " (the rule and description with the new content's commit)"
			}
			p.rep.App.Detail = strings.TrimPrefix(p.rep.App.Detail+"; "+detail, "; ")
		}
	}
	if !needContent {
		p.rep.Content.Action = Unchanged
		// The content is the bundle's: its rule, description and notes may
		// be put right at once (someone edited them in the portal).
		if len(boundDrift) > 0 {
			if !p.in.DryRun {
				if err := p.c.do(ctx, http.MethodPatch, appsPath+"/"+url.PathEscape(id), bound, nil); err != nil {
					return "", fmt.Errorf("updating the Win32 app: %w", err)
				}
			}
		}
		return id, nil
	}
	p.rep.Content.Action = would(p.in.DryRun, Uploaded)
	if p.in.DryRun {
		return id, nil
	}
	if have != nil {
		if err := p.dropUncommitted(ctx, id, have); err != nil {
			return "", err
		}
	}
	version, err := p.upload(ctx, id)
	if err != nil {
		return "", err
	}
	p.rep.Content.ID = version
	bound["committedContentVersion"] = version
	if err := p.c.do(ctx, http.MethodPatch, appsPath+"/"+url.PathEscape(id), bound, nil); err != nil {
		return "", fmt.Errorf("setting the committed content version %s with its detection rule: %w", version, err)
	}
	return id, nil
}

// contentBound are the app members that describe its content: written with
// committedContentVersion, never before it.
var contentBound = []string{"description", "notes", "rules"}

// assignments of a policy or app: keep everyone else's, add ours.
type assignment = map[string]any

func targetsGroup(a assignment, group string) bool {
	t, _ := a["target"].(map[string]any)
	return t != nil && t["@odata.type"] == "#microsoft.graph.groupAssignmentTarget" && strings.EqualFold(fmt.Sprint(t["groupId"]), group)
}

// excludes reports an exclusion of the group: the admin said these hosts
// must not get it, and publish will not override that.
func excludes(a assignment, group string) bool {
	t, _ := a["target"].(map[string]any)
	return t != nil && t["@odata.type"] == "#microsoft.graph.exclusionGroupAssignmentTarget" && strings.EqualFold(fmt.Sprint(t["groupId"]), group)
}

// fromPolicySet reports an assignment a Policy Set made: the set owns it,
// so it is never sent back through the assign action (which would turn it
// into a direct one).
func fromPolicySet(a assignment) bool {
	return a["source"] == "policySets"
}

// refuseExclusion is the error for an exclusion of the group.
func refuseExclusion(what, group string) error {
	return fmt.Errorf("group %s is excluded from the %s (an exclusion assignment): publish does not override an exclusion; remove it in Intune if these hosts should get it, then rerun", group, what)
}

func groupTarget(group string) map[string]any {
	return map[string]any{"@odata.type": "#microsoft.graph.groupAssignmentTarget", "groupId": group}
}

// kept strips what Graph adds to an assignment it returns, so it can be
// sent back through the assign action unchanged.
func kept(a assignment, drop ...string) assignment {
	out := assignment{}
	for k, v := range a {
		if k == "id" || strings.HasPrefix(k, "@odata.") && k != "@odata.type" || v == nil {
			continue
		}
		if contains(drop, k) {
			continue
		}
		out[k] = v
	}
	return out
}

func (p *publisher) assignPolicy(ctx context.Context, id, group string) error {
	step := Step{What: "profile assignment", Name: group}
	defer func() { p.rep.Assignments = append(p.rep.Assignments, step) }()
	if id == "" { // dry run of a new policy
		step.Action = would(true, Assigned)
		return nil
	}
	have, err := list[assignment](ctx, p.c, policiesPath+"/"+url.PathEscape(id)+"/assignments")
	if err != nil {
		return err
	}
	keep := []any{}
	for _, a := range have {
		if excludes(a, group) {
			return refuseExclusion("profile", group)
		}
	}
	for _, a := range have {
		if targetsGroup(a, group) && !fromPolicySet(a) {
			step.Action = Unchanged
			return nil
		}
		if !fromPolicySet(a) {
			keep = append(keep, kept(a, "source", "sourceId"))
		}
	}
	step.Action = would(p.in.DryRun, Assigned)
	if len(keep) > 0 {
		step.Detail = fmt.Sprintf("keeping %d other assignment(s)", len(keep))
	}
	if p.in.DryRun {
		return nil
	}
	keep = append(keep, map[string]any{"target": groupTarget(group)})
	if err := p.c.do(ctx, http.MethodPost, policiesPath+"/"+url.PathEscape(id)+"/assign", map[string]any{"assignments": keep}, nil); err != nil {
		return fmt.Errorf("assigning the profile to group %s: %w", group, err)
	}
	return nil
}

func (p *publisher) assignApp(ctx context.Context, id, group string) error {
	step := Step{What: "app assignment (required)", Name: group}
	defer func() { p.rep.Assignments = append(p.rep.Assignments, step) }()
	if id == "" {
		step.Action = would(true, Assigned)
		return nil
	}
	have, err := list[assignment](ctx, p.c, appsPath+"/"+url.PathEscape(id)+"/assignments")
	if err != nil {
		return err
	}
	keep := []any{}
	for _, a := range have {
		if excludes(a, group) {
			return refuseExclusion("app", group)
		}
		if targetsGroup(a, group) && a["intent"] == "uninstall" {
			return fmt.Errorf("group %s has an uninstall assignment of the app: publish does not turn an uninstall into an install; remove that assignment in Intune if these hosts should get the agent, then rerun", group)
		}
	}
	for _, a := range have {
		if fromPolicySet(a) {
			continue
		}
		if targetsGroup(a, group) {
			if a["intent"] == "required" {
				step.Action = Unchanged
				return nil
			}
			step.Detail = fmt.Sprintf("was %v", a["intent"])
			continue // replaced by the required one below
		}
		keep = append(keep, kept(a, "source", "sourceId"))
	}
	step.Action = would(p.in.DryRun, Assigned)
	if p.in.DryRun {
		return nil
	}
	keep = append(keep, map[string]any{
		"@odata.type": "#microsoft.graph.mobileAppAssignment", "intent": "required", "target": groupTarget(group),
		"settings": map[string]any{"@odata.type": "#microsoft.graph.win32LobAppAssignmentSettings", "notifications": "hideAll", "deliveryOptimizationPriority": "notConfigured"},
	})
	if err := p.c.do(ctx, http.MethodPost, appsPath+"/"+url.PathEscape(id)+"/assign", map[string]any{"mobileAppAssignments": keep}, nil); err != nil {
		return fmt.Errorf("assigning the app to group %s: %w", group, err)
	}
	return nil
}

// equalSettings compares the wanted settings with Graph's, by instance,
// order-insensitively; Graph adds ids and null template references, which
// covers ignores.
func equalSettings(want []any, have []map[string]any) bool {
	w := make([]any, 0, len(want))
	for _, x := range want {
		m, _ := x.(map[string]any)
		w = append(w, m["settingInstance"])
	}
	h := make([]any, 0, len(have))
	for _, x := range have {
		h = append(h, x["settingInstance"])
	}
	return covers(w, h)
}

func withoutKeys(m map[string]any, keys ...string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if !contains(keys, k) {
			out[k] = v
		}
	}
	return out
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// candidate is an object of one kind as listed: its id, name, and the
// text (description or notes) that carries its avdgen key.
type candidate struct{ ID, Name, Text string }

// pick finds publish's object among cands: by its avdgen key first (it
// survives a rename in the portal), by exact name second, never one that
// carries another pool's key. renamed is the object's name when it was
// found by key under another name.
func pick(kind, name, key string, cands []candidate) (ids []string, renamed string, err error) {
	var byKey, byName []string
	var keyName string
	for _, c := range cands {
		have := intune.KeyFrom(c.Text)
		if key != "" && have == key {
			byKey, keyName = append(byKey, c.ID), c.Name
		} else if c.Name == name && (have == "" || key == "") {
			byName = append(byName, c.ID)
		}
	}
	if len(byKey) > 1 {
		return nil, "", fmt.Errorf("%d %s carry the avdgen key %q (%s): delete all but one (or remove the key line from the others' description or notes), then rerun", len(byKey), kind, strings.TrimPrefix(key, intune.KeyPrefix), strings.Join(byKey, ", "))
	}
	if len(byKey) == 1 {
		if keyName != name {
			renamed = keyName
		}
		return byKey, renamed, nil
	}
	return byName, "", atMostOne(kind, name, byName)
}

func renamedDetail(name, renamed string) string {
	return fmt.Sprintf("found by its avdgen key; named %q in Intune, not %q (the name is left as is)", renamed, name)
}

// atMostOne refuses a name that several objects of one kind share: publish
// never guesses which of them the admin meant.
func atMostOne(kind, name string, ids []string) error {
	if len(ids) > 1 {
		return fmt.Errorf("%d %s are named %q (%s): delete or rename all but one, then rerun", len(ids), kind, name, strings.Join(ids, ", "))
	}
	return nil
}
