package graphpublish

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/avdgen/avdgen/generator/intune"
)

// Remediation is the Intune Remediations pair (a deviceHealthScript).
type Remediation struct {
	DisplayName string
	Description string
	Publisher   string
	Detect      []byte
	Remediate   []byte
}

func (r Remediation) body() map[string]any {
	b64 := base64.StdEncoding.EncodeToString
	return map[string]any{
		"@odata.type": "#microsoft.graph.deviceHealthScript", "displayName": r.DisplayName, "description": r.Description,
		"publisher": r.Publisher, "runAsAccount": "system", "runAs32Bit": false, "enforceSignatureCheck": false,
		"detectionScriptContent": b64(r.Detect), "remediationScriptContent": b64(r.Remediate), "roleScopeTagIds": []any{"0"},
	}
}

// remediation creates or patches the script pair, found by exact name.
func (p *publisher) remediation(ctx context.Context) (string, error) {
	want := p.in.Remediation.body()
	name := p.in.Remediation.DisplayName
	step := Step{What: "remediation script pair", Name: name}
	defer func() { p.rep.Remediation = &step }()
	all, err := list[struct{ ID, DisplayName, Description string }](ctx, p.c, scriptsPath+"?$select=id,displayName,description&$top=100")
	if err != nil {
		return "", fmt.Errorf("listing remediation scripts: %w", err)
	}
	cands := make([]candidate, 0, len(all))
	for _, x := range all {
		cands = append(cands, candidate{x.ID, x.DisplayName, x.Description})
	}
	ids, renamed, err := pick("remediation scripts", name, intune.KeyFrom(p.in.Remediation.Description), cands)
	if err != nil {
		return "", err
	}
	if renamed != "" {
		want["displayName"] = renamed
		step.Detail = renamedDetail(name, renamed)
	}
	if len(ids) == 0 {
		step.Action = would(p.in.DryRun, Created)
		if p.in.DryRun {
			return "", nil
		}
		var made struct{ ID string }
		if err := p.c.do(ctx, http.MethodPost, scriptsPath, want, &made); err != nil {
			return "", fmt.Errorf("creating the remediation scripts: %w", err)
		}
		step.ID = made.ID
		return made.ID, nil
	}
	id := ids[0]
	step.ID = id
	var have map[string]any
	if err := p.c.do(ctx, http.MethodGet, scriptsPath+"/"+url.PathEscape(id), nil, &have); err != nil {
		return "", err
	}
	diffs := drift(want, have, sortedKeys(want))
	if len(diffs) == 0 {
		step.Action = Unchanged
		return id, nil
	}
	step.Action = would(p.in.DryRun, Updated)
	step.Detail = strings.TrimPrefix(step.Detail+"; differs in "+strings.Join(diffs, ", "), "; ")
	if !p.in.DryRun {
		if err := p.c.do(ctx, http.MethodPatch, scriptsPath+"/"+url.PathEscape(id), want, nil); err != nil {
			return "", fmt.Errorf("updating the remediation scripts: %w", err)
		}
	}
	return id, nil
}

// assignRemediation runs the pair hourly on the group, keeping others'.
func (p *publisher) assignRemediation(ctx context.Context, id, group string) error {
	step := Step{What: "remediation assignment", Name: group}
	defer func() { p.rep.Assignments = append(p.rep.Assignments, step) }()
	if id == "" {
		step.Action = would(true, Assigned)
		return nil
	}
	have, err := list[assignment](ctx, p.c, scriptsPath+"/"+url.PathEscape(id)+"/assignments")
	if err != nil {
		return err
	}
	keep := []any{}
	for _, a := range have {
		if excludes(a, group) {
			return refuseExclusion("Remediations pair", group)
		}
	}
	for _, a := range have {
		if targetsGroup(a, group) {
			step.Action = Unchanged
			return nil
		}
		keep = append(keep, kept(a))
	}
	step.Action = would(p.in.DryRun, Assigned)
	if p.in.DryRun {
		return nil
	}
	keep = append(keep, map[string]any{"target": groupTarget(group), "runRemediationScript": true,
		"runSchedule": map[string]any{"@odata.type": "#microsoft.graph.deviceHealthScriptHourlySchedule", "interval": 1}})
	if err := p.c.do(ctx, http.MethodPost, scriptsPath+"/"+url.PathEscape(id)+"/assign", map[string]any{"deviceHealthScriptAssignments": keep}, nil); err != nil {
		return fmt.Errorf("assigning the remediation scripts to group %s: %w", group, err)
	}
	return nil
}
