// Package sweepdeploy renders what runs the tenant-wide sweep in Azure:
// an ARM template (and parameters) for a user-assigned identity, a Log
// Analytics workspace, a Container Apps managed environment and a scheduled
// Container Apps job running `avdgen sweep`, and a second template, deployed
// at the sweep's scope, for the minimal custom role and its assignment to
// that identity. Apply deploys both through ARM. Rendering touches nothing;
// the templates are JSON from typed structs, byte-identical for the same
// options.
package sweepdeploy

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/google/uuid"
)

// API versions of the resources in the templates (each must be in the
// published schema the tests validate against).
const (
	AppAPIVersion                 = "2025-07-01"
	ManagedIdentityAPIVersion     = "2024-11-30"
	OperationalInsightsAPIVersion = "2025-07-01"
	AuthorizationAPIVersion       = "2022-04-01"
)

// Template schemas, by deployment scope.
const (
	ResourceGroupSchema   = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"
	SubscriptionSchema    = "https://schema.management.azure.com/schemas/2018-05-01/subscriptionDeploymentTemplate.json#"
	ManagementGroupSchema = "https://schema.management.azure.com/schemas/2019-08-01/managementGroupDeploymentTemplate.json#"
	ParametersSchema      = "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#"
)

// RoleName is the custom role's name.
const RoleName = "avdgen tenant sweeper"

// RoleActions are everything the sweep needs, and nothing else: read VMs
// and their instance view, deallocate them, and read host pools, session
// hosts and scaling plans (Resource Graph returns only what the identity
// may read; the scaling plan carries the pool's exclusion tag). No wildcard.
var RoleActions = []string{
	"Microsoft.Compute/virtualMachines/read",
	"Microsoft.Compute/virtualMachines/instanceView/read",
	"Microsoft.Compute/virtualMachines/deallocate/action",
	"Microsoft.DesktopVirtualization/hostpools/read",
	"Microsoft.DesktopVirtualization/hostpools/sessionhosts/read",
	"Microsoft.DesktopVirtualization/scalingplans/read",
}

// DefaultSchedule is every 15 minutes (Container Apps job cron, UTC).
const DefaultSchedule = "*/15 * * * *"

// Options say what to deploy where.
type Options struct {
	// The sweep's scope: one management group, or one subscription.
	ManagementGroup   string
	ScopeSubscription string
	// Where the job lives.
	Subscription, ResourceGroup, Location string
	Image                                 string
	Schedule                              string
	// Name prefixes every resource (default avdgen-sweep).
	Name string
}

var (
	guidRe     = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	mgRe       = regexp.MustCompile(`^[A-Za-z0-9_().-]{0,89}[A-Za-z0-9_()-]$`)
	rgRe       = regexp.MustCompile(`^[-\w._()]{0,89}[-\w_()]$`)
	locationRe = regexp.MustCompile(`^[a-z0-9]{2,40}$`)
	// A reference with a registry host, a repository and a tag or digest.
	imageRe   = regexp.MustCompile(`^[a-z0-9.-]+(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)+(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[0-9a-f]{64})$`)
	cronField = regexp.MustCompile(`^(\*|[0-9]{1,2}(-[0-9]{1,2})?)(/[0-9]{1,2})?(,(\*|[0-9]{1,2}(-[0-9]{1,2})?)(/[0-9]{1,2})?)*$`)
)

// Validate checks every option and names the flag.
func (o *Options) Validate(apply bool) error {
	var errs []string
	add := func(format string, a ...any) { errs = append(errs, fmt.Sprintf(format, a...)) }
	switch {
	case o.ManagementGroup != "" && !mgRe.MatchString(o.ManagementGroup):
		add("--management-group %q: must be a management group id (1-90 letters, digits, '-', '_', '(', ')', '.', not ending in '.')", o.ManagementGroup)
	case o.ManagementGroup == "" && o.ScopeSubscription == "":
		add("give the sweep's scope: --management-group MG, or --subscription S")
	}
	if o.ScopeSubscription != "" && !guidRe.MatchString(o.ScopeSubscription) {
		add("--subscription %q: must be a subscription id (GUID)", o.ScopeSubscription)
	}
	if !guidRe.MatchString(o.Subscription) {
		add("--subscription %q: the job's subscription must be a subscription id (GUID)", o.Subscription)
	}
	if !rgRe.MatchString(o.ResourceGroup) {
		add("--resource-group %q: must be a resource group name (1-90 letters, digits, '.', '_', '-', '(', ')')", o.ResourceGroup)
	}
	if o.Location == "" && apply {
		add("--location: --apply needs the job's Azure region (e.g. westeurope): the resource group and the scope-level deployment are created there")
	} else if o.Location != "" && !locationRe.MatchString(o.Location) {
		add("--location %q: must be an Azure region name such as westeurope (lowercase letters and digits)", o.Location)
	}
	if !imageRe.MatchString(o.Image) {
		add("--image %q: must be a full image reference with a registry, a repository and a tag or digest (e.g. myregistry.azurecr.io/avdgen:1.4.0 or …@sha256:<64 hex>), so every run pulls the same image", o.Image)
	}
	if f := strings.Fields(o.Schedule); len(f) != 5 || !allCron(f) {
		add("--schedule %q: must be a 5-field cron expression (minute hour day month weekday, UTC), e.g. %q", o.Schedule, DefaultSchedule)
	}
	if o.Name != "" && !regexp.MustCompile(`^[a-z][a-z0-9-]{1,20}[a-z0-9]$`).MatchString(o.Name) {
		add("--name %q: must be 3-22 lowercase letters, digits and '-', starting with a letter", o.Name)
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

func allCron(fields []string) bool {
	for _, f := range fields {
		if !cronField.MatchString(f) {
			return false
		}
	}
	return true
}

func (o *Options) name() string {
	if o.Name == "" {
		return "avdgen-sweep"
	}
	return o.Name
}

// Scope is the sweep's scope as an ARM id.
func (o *Options) Scope() string {
	if o.ManagementGroup != "" {
		return "/providers/Microsoft.Management/managementGroups/" + o.ManagementGroup
	}
	return "/subscriptions/" + o.ScopeSubscription
}

// RoleID is the custom role's GUID: stable for a scope, so a rerun finds it.
func (o *Options) RoleID() string {
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte("avdgen:"+RoleName+":"+strings.ToLower(o.Scope()))).String()
}

// RoleDefinitionID is the custom role's full id.
func (o *Options) RoleDefinitionID() string {
	return o.Scope() + "/providers/Microsoft.Authorization/roleDefinitions/" + o.RoleID()
}

// Template is an ARM deployment template.
type Template struct {
	Schema         string               `json:"$schema"`
	ContentVersion string               `json:"contentVersion"`
	Metadata       map[string]string    `json:"metadata,omitempty"`
	Parameters     map[string]Parameter `json:"parameters"`
	Resources      []Resource           `json:"resources"`
	Outputs        map[string]Output    `json:"outputs,omitempty"`
}

// Parameter is a template parameter.
type Parameter struct {
	Type         string `json:"type"`
	DefaultValue any    `json:"defaultValue,omitempty"`
	Metadata     *struct {
		Description string `json:"description"`
	} `json:"metadata,omitempty"`
}

// Output is a template output.
type Output struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// Resource is one template resource.
type Resource struct {
	Type       string    `json:"type"`
	APIVersion string    `json:"apiVersion"`
	Name       string    `json:"name"`
	Location   string    `json:"location,omitempty"`
	Identity   *Identity `json:"identity,omitempty"`
	Properties any       `json:"properties,omitempty"`
	DependsOn  []string  `json:"dependsOn,omitempty"`
}

// Identity is a resource's managed identity block.
type Identity struct {
	Type                   string              `json:"type"`
	UserAssignedIdentities map[string]struct{} `json:"userAssignedIdentities,omitempty"`
}

// ParametersFile is an ARM deployment parameters file.
type ParametersFile struct {
	Schema         string                    `json:"$schema"`
	ContentVersion string                    `json:"contentVersion"`
	Parameters     map[string]ParameterValue `json:"parameters"`
}

// ParameterValue is one value of a parameters file.
type ParameterValue struct {
	Value any `json:"value"`
}

type workspaceProps struct {
	SKU struct {
		Name string `json:"name"`
	} `json:"sku"`
	RetentionInDays int `json:"retentionInDays"`
}

type environmentProps struct {
	AppLogsConfiguration struct {
		Destination               string `json:"destination"`
		LogAnalyticsConfiguration struct {
			CustomerID string `json:"customerId"`
			SharedKey  string `json:"sharedKey"`
		} `json:"logAnalyticsConfiguration"`
	} `json:"appLogsConfiguration"`
}

type jobProps struct {
	EnvironmentID string `json:"environmentId"`
	Configuration struct {
		TriggerType           string `json:"triggerType"`
		ReplicaTimeout        int    `json:"replicaTimeout"`
		ReplicaRetryLimit     int    `json:"replicaRetryLimit"`
		ScheduleTriggerConfig struct {
			CronExpression         string `json:"cronExpression"`
			Parallelism            int    `json:"parallelism"`
			ReplicaCompletionCount int    `json:"replicaCompletionCount"`
		} `json:"scheduleTriggerConfig"`
	} `json:"configuration"`
	Template struct {
		Containers []container `json:"containers"`
	} `json:"template"`
}

type container struct {
	Name      string   `json:"name"`
	Image     string   `json:"image"`
	Command   []string `json:"command"`
	Args      []string `json:"args"`
	Resources struct {
		// CPU is an expression: the published schema types cpu as an
		// integer, and json('0.25') is how a template passes a fraction.
		CPU    string `json:"cpu"`
		Memory string `json:"memory"`
	} `json:"resources"`
}

type roleDefinitionProps struct {
	RoleName         string       `json:"roleName"`
	Description      string       `json:"description"`
	Type             string       `json:"type"`
	Permissions      []permission `json:"permissions"`
	AssignableScopes []string     `json:"assignableScopes"`
}

type permission struct {
	Actions    []string `json:"actions"`
	NotActions []string `json:"notActions"`
}

type roleAssignmentProps struct {
	RoleDefinitionID string `json:"roleDefinitionId"`
	PrincipalID      string `json:"principalId"`
	PrincipalType    string `json:"principalType"`
	Description      string `json:"description"`
}

// Job timings: a sweep run must end well before the next one starts.
const (
	ReplicaTimeoutSeconds = 600
	ReplicaRetryLimit     = 1
)

const identityID = "[resourceId('Microsoft.ManagedIdentity/userAssignedIdentities', parameters('identityName'))]"

// SweepArgs are the job's arguments: a tenant-wide sweep of the scope as
// the job's identity; the client id is filled in by ARM.
func (o *Options) SweepArgs() []string {
	args := []string{"sweep"}
	if o.ManagementGroup != "" {
		args = append(args, "--management-group", o.ManagementGroup)
	} else {
		args = append(args, "--subscription", o.ScopeSubscription)
	}
	return append(args, "--auth", "managed-identity",
		"--identity-client-id", "[reference("+strings.Trim(identityID, "[]")+", '"+ManagedIdentityAPIVersion+"').clientId]", "--json")
}

// JobTemplate is the resource group deployment: identity, workspace,
// environment, job.
func (o *Options) JobTemplate() Template {
	desc := func(s string) *struct {
		Description string `json:"description"`
	} {
		return &struct {
			Description string `json:"description"`
		}{s}
	}
	var ws workspaceProps
	ws.SKU.Name, ws.RetentionInDays = "PerGB2018", 30
	var env environmentProps
	env.AppLogsConfiguration.Destination = "log-analytics"
	wsID := "resourceId('Microsoft.OperationalInsights/workspaces', parameters('workspaceName'))"
	env.AppLogsConfiguration.LogAnalyticsConfiguration.CustomerID = "[reference(" + wsID + ", '" + OperationalInsightsAPIVersion + "').customerId]"
	env.AppLogsConfiguration.LogAnalyticsConfiguration.SharedKey = "[listKeys(" + wsID + ", '" + OperationalInsightsAPIVersion + "').primarySharedKey]"
	var job jobProps
	job.EnvironmentID = "[resourceId('Microsoft.App/managedEnvironments', parameters('environmentName'))]"
	job.Configuration.TriggerType = "Schedule"
	job.Configuration.ReplicaTimeout = ReplicaTimeoutSeconds
	job.Configuration.ReplicaRetryLimit = ReplicaRetryLimit
	job.Configuration.ScheduleTriggerConfig.CronExpression = "[parameters('schedule')]"
	job.Configuration.ScheduleTriggerConfig.Parallelism = 1
	job.Configuration.ScheduleTriggerConfig.ReplicaCompletionCount = 1
	c := container{Name: "sweep", Image: "[parameters('image')]", Command: []string{"/avdgen"}, Args: o.SweepArgs()}
	c.Resources.CPU, c.Resources.Memory = "[json('0.25')]", "0.5Gi"
	job.Template.Containers = []container{c}
	return Template{
		Schema: ResourceGroupSchema, ContentVersion: "1.0.0.0",
		Metadata: map[string]string{"generator": "avdgen sweep deploy"},
		Parameters: map[string]Parameter{
			"location":        {Type: "string", DefaultValue: "[resourceGroup().location]", Metadata: desc("Azure region of every resource")},
			"identityName":    {Type: "string", Metadata: desc("the job's user-assigned managed identity")},
			"workspaceName":   {Type: "string", Metadata: desc("Log Analytics workspace for the job's logs")},
			"environmentName": {Type: "string", Metadata: desc("Container Apps managed environment")},
			"jobName":         {Type: "string", Metadata: desc("Container Apps job running avdgen sweep")},
			"image":           {Type: "string", Metadata: desc("the avdgen image (avdgen sweep image), with a tag or digest")},
			"schedule":        {Type: "string", DefaultValue: DefaultSchedule, Metadata: desc("cron expression, UTC")},
		},
		Resources: []Resource{
			{Type: "Microsoft.ManagedIdentity/userAssignedIdentities", APIVersion: ManagedIdentityAPIVersion, Name: "[parameters('identityName')]", Location: "[parameters('location')]",
				Properties: struct{}{}}, // the schema requires properties, even empty
			{Type: "Microsoft.OperationalInsights/workspaces", APIVersion: OperationalInsightsAPIVersion, Name: "[parameters('workspaceName')]", Location: "[parameters('location')]", Properties: ws},
			{Type: "Microsoft.App/managedEnvironments", APIVersion: AppAPIVersion, Name: "[parameters('environmentName')]", Location: "[parameters('location')]", Properties: env,
				DependsOn: []string{"[" + wsID + "]"}},
			{Type: "Microsoft.App/jobs", APIVersion: AppAPIVersion, Name: "[parameters('jobName')]", Location: "[parameters('location')]",
				Identity:   &Identity{Type: "UserAssigned", UserAssignedIdentities: map[string]struct{}{identityID: {}}},
				Properties: job,
				DependsOn:  []string{identityID, "[resourceId('Microsoft.App/managedEnvironments', parameters('environmentName'))]"}},
		},
		Outputs: map[string]Output{
			"principalId": {Type: "string", Value: "[reference(" + strings.Trim(identityID, "[]") + ", '" + ManagedIdentityAPIVersion + "').principalId]"},
			"clientId":    {Type: "string", Value: "[reference(" + strings.Trim(identityID, "[]") + ", '" + ManagedIdentityAPIVersion + "').clientId]"},
		},
	}
}

// JobParameters are the job template's values.
func (o *Options) JobParameters() ParametersFile {
	n := o.name()
	p := map[string]ParameterValue{
		"identityName": {n + "-id"}, "workspaceName": {n + "-logs"}, "environmentName": {n + "-env"},
		"jobName": {n}, "image": {o.Image}, "schedule": {o.Schedule},
	}
	if o.Location != "" {
		p["location"] = ParameterValue{o.Location}
	}
	return ParametersFile{Schema: ParametersSchema, ContentVersion: "1.0.0.0", Parameters: p}
}

// RoleTemplate is the deployment at the sweep's scope: the custom role and
// its assignment to the job's identity.
func (o *Options) RoleTemplate() Template {
	schema := SubscriptionSchema
	if o.ManagementGroup != "" {
		schema = ManagementGroupSchema
	}
	return Template{
		Schema: schema, ContentVersion: "1.0.0.0",
		Metadata: map[string]string{"generator": "avdgen sweep deploy"},
		Parameters: map[string]Parameter{
			"principalId": {Type: "string", Metadata: &struct {
				Description string `json:"description"`
			}{"principal id of the job's identity (the job template's output principalId)"}},
		},
		Resources: []Resource{
			{Type: "Microsoft.Authorization/roleDefinitions", APIVersion: AuthorizationAPIVersion, Name: o.RoleID(),
				Properties: roleDefinitionProps{RoleName: RoleName, Type: "CustomRole",
					Description: "Lets avdgen's scheduled sweep find stopped (still billed) personal AVD session hosts and deallocate them; nothing else.",
					Permissions: []permission{{Actions: RoleActions, NotActions: []string{}}}, AssignableScopes: []string{o.Scope()}}},
			{Type: "Microsoft.Authorization/roleAssignments", APIVersion: AuthorizationAPIVersion,
				Name: "[guid(parameters('principalId'), '" + o.RoleDefinitionID() + "')]",
				Properties: roleAssignmentProps{RoleDefinitionID: o.RoleDefinitionID(), PrincipalID: "[parameters('principalId')]", PrincipalType: "ServicePrincipal",
					Description: "avdgen sweep job"},
				DependsOn: []string{o.RoleDefinitionID()}},
		},
	}
}

// RoleParameters are the role template's values (principalId "" when not
// known yet: --apply fills it from the job deployment's output).
func (o *Options) RoleParameters(principalID string) ParametersFile {
	return ParametersFile{Schema: ParametersSchema, ContentVersion: "1.0.0.0", Parameters: map[string]ParameterValue{"principalId": {principalID}}}
}

// File is one rendered file.
type File struct {
	Name string
	Data []byte
}

// Render returns the four files, in a fixed order.
func (o *Options) Render() ([]File, error) {
	var out []File
	for _, f := range []struct {
		name string
		v    any
	}{
		{"sweep-job.json", o.JobTemplate()}, {"sweep-job.parameters.json", o.JobParameters()},
		{"sweep-role.json", o.RoleTemplate()}, {"sweep-role.parameters.json", o.RoleParameters("")},
	} {
		b, err := json.MarshalIndent(f.v, "", "  ")
		if err != nil {
			return nil, err
		}
		out = append(out, File{Name: f.name, Data: append(b, '\n')})
	}
	return out, nil
}

// hash is a content hash (deployment tag: a rerun with the same content
// sends nothing).
func hash(vs ...any) string {
	h := sha256.New()
	for _, v := range vs {
		b, _ := json.Marshal(v)
		h.Write(b)
		h.Write([]byte{0})
	}
	return fmt.Sprintf("%x", h.Sum(nil))[:32]
}
