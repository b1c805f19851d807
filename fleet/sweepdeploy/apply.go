package sweepdeploy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/avdgen/avdgen/agent/armclient"
)

// API versions of Resource Manager itself.
const (
	ResourcesAPIVersion = "2024-03-01"
	// HashTag on each deployment carries the content hash: a rerun that
	// finds a succeeded deployment with the same hash sends nothing.
	HashTag = "avdgen-content"
	// MaxPolls bounds the wait for one deployment (about an hour).
	MaxPolls = 130
)

// Step is one thing Apply did or found.
type Step struct {
	What   string `json:"what"`
	Action string `json:"action"` // created, deployed, unchanged
}

// Result is what Apply did.
type Result struct {
	Steps       []Step `json:"steps"`
	Writes      int    `json:"writes"`
	PrincipalID string `json:"principalId"`
}

type deployment struct {
	Location   string            `json:"location,omitempty"`
	Tags       map[string]string `json:"tags,omitempty"`
	Properties struct {
		Mode              string         `json:"mode"`
		Template          any            `json:"template,omitempty"`
		Parameters        map[string]any `json:"parameters,omitempty"`
		ProvisioningState string         `json:"provisioningState,omitempty"`
		Outputs           map[string]struct {
			Value any `json:"value"`
		} `json:"outputs,omitempty"`
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error,omitempty"`
	} `json:"properties"`
}

// Apply deploys the job (creating its resource group if missing) and then
// the role at the sweep's scope, waiting for each to finish. A deployment
// whose content is unchanged and succeeded is not sent again.
func Apply(ctx context.Context, c *armclient.Client, o Options, sleep func(context.Context, time.Duration) error) (Result, error) {
	var res Result
	rgPath := fmt.Sprintf("/subscriptions/%s/resourcegroups/%s", o.Subscription, o.ResourceGroup)
	status, err := c.Do(ctx, http.MethodGet, c.URL(rgPath, "api-version="+ResourcesAPIVersion), nil, nil)
	switch {
	case status == http.StatusNotFound:
		if _, err := c.Do(ctx, http.MethodPut, c.URL(rgPath, "api-version="+ResourcesAPIVersion), map[string]any{"location": o.Location}, nil); err != nil {
			return res, fmt.Errorf("creating resource group %s: %w", o.ResourceGroup, err)
		}
		res.Writes++
		res.Steps = append(res.Steps, Step{"resource group " + o.ResourceGroup, "created"})
	case err != nil:
		return res, fmt.Errorf("reading resource group %s: %w", o.ResourceGroup, err)
	default:
		res.Steps = append(res.Steps, Step{"resource group " + o.ResourceGroup, "unchanged"})
	}

	jobParams := map[string]any{}
	for k, v := range o.JobParameters().Parameters {
		jobParams[k] = map[string]any{"value": v.Value}
	}
	jobPath := rgPath + "/providers/Microsoft.Resources/deployments/" + o.name() + "-job"
	job, err := deploy(ctx, c, jobPath, "", o.JobTemplate(), jobParams, sleep, &res)
	if err != nil {
		return res, err
	}
	pid, _ := job.Properties.Outputs["principalId"].Value.(string)
	if pid == "" {
		return res, errors.New("the job deployment returned no principalId output: the role cannot be assigned")
	}
	res.PrincipalID = pid

	rolePath := o.Scope() + "/providers/Microsoft.Resources/deployments/" + o.name() + "-role"
	if _, err := deploy(ctx, c, rolePath, o.Location, o.RoleTemplate(), map[string]any{"principalId": map[string]any{"value": pid}}, sleep, &res); err != nil {
		return res, err
	}
	return res, nil
}

// deploy puts one deployment unless the same content already succeeded,
// then waits for it.
func deploy(ctx context.Context, c *armclient.Client, path, location string, tpl Template, params map[string]any, sleep func(context.Context, time.Duration) error, res *Result) (deployment, error) {
	name := path[strings.LastIndex(path, "/")+1:]
	url := c.URL(path, "api-version="+ResourcesAPIVersion)
	want := hash(tpl, params, location)
	var cur deployment
	status, err := c.Do(ctx, http.MethodGet, url, nil, &cur)
	if err != nil && status != http.StatusNotFound {
		return cur, fmt.Errorf("reading deployment %s: %w", name, err)
	}
	if err == nil && cur.Tags[HashTag] == want && cur.Properties.ProvisioningState == "Succeeded" {
		res.Steps = append(res.Steps, Step{"deployment " + name, "unchanged"})
		return cur, nil
	}
	var body deployment
	body.Location = location
	body.Tags = map[string]string{HashTag: want}
	body.Properties.Mode = "Incremental"
	body.Properties.Template = tpl
	body.Properties.Parameters = params
	if _, err := c.Do(ctx, http.MethodPut, url, body, &cur); err != nil {
		return cur, fmt.Errorf("deploying %s: %w", name, err)
	}
	res.Writes++
	for poll, wait := 0, 2*time.Second; ; poll, wait = poll+1, min(wait*2, 30*time.Second) {
		switch cur.Properties.ProvisioningState {
		case "Succeeded":
			res.Steps = append(res.Steps, Step{"deployment " + name, "deployed"})
			return cur, nil
		case "Failed", "Canceled":
			msg := cur.Properties.ProvisioningState
			if e := cur.Properties.Error; e != nil {
				msg += ": " + e.Code + ": " + e.Message
			}
			return cur, fmt.Errorf("deployment %s %s; see it in the portal (Deployments of %s)", name, msg, strings.TrimSuffix(path, "/providers/Microsoft.Resources/deployments/"+name))
		}
		if poll >= MaxPolls {
			return cur, fmt.Errorf("deployment %s still %s after %d polls; it goes on in Azure: rerun to wait again", name, cur.Properties.ProvisioningState, poll)
		}
		if err := sleep(ctx, wait); err != nil {
			return cur, err
		}
		if _, err := c.Do(ctx, http.MethodGet, url, nil, &cur); err != nil {
			return cur, fmt.Errorf("waiting for deployment %s: %w", name, err)
		}
	}
}
