package sweepdeploy

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// The role allows exactly what the sweep does, and nothing else.
func TestRoleIsMinimal(t *testing.T) {
	want := []string{
		"Microsoft.Compute/virtualMachines/read",
		"Microsoft.Compute/virtualMachines/instanceView/read",
		"Microsoft.Compute/virtualMachines/deallocate/action",
		"Microsoft.DesktopVirtualization/hostpools/read",
		"Microsoft.DesktopVirtualization/hostpools/sessionhosts/read",
		"Microsoft.DesktopVirtualization/scalingplans/read",
	}
	o := testOptions()
	b, _ := json.Marshal(o.RoleTemplate())
	var tpl struct {
		Resources []struct {
			Type       string
			Properties struct {
				Permissions []struct {
					Actions, NotActions, DataActions []string
				}
				AssignableScopes []string
			}
		}
	}
	json.Unmarshal(b, &tpl)
	role := tpl.Resources[0]
	if role.Type != "Microsoft.Authorization/roleDefinitions" || len(role.Properties.Permissions) != 1 {
		t.Fatalf("role %+v", role)
	}
	got := role.Properties.Permissions[0].Actions
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("actions:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, a := range got {
		if strings.Contains(a, "*") {
			t.Errorf("wildcard action %s", a)
		}
	}
	if len(role.Properties.Permissions[0].DataActions) != 0 || strings.Join(role.Properties.AssignableScopes, ",") != "/providers/Microsoft.Management/managementGroups/mg-avd" {
		t.Errorf("permissions %+v, scopes %v", role.Properties.Permissions, role.Properties.AssignableScopes)
	}
	if tpl.Resources[1].Type != "Microsoft.Authorization/roleAssignments" {
		t.Errorf("second resource %s", tpl.Resources[1].Type)
	}
}

func TestJobRunsTheTenantSweepAsItsIdentity(t *testing.T) {
	o := testOptions()
	b, _ := json.Marshal(o.JobTemplate())
	s := string(b)
	for _, want := range []string{`"triggerType":"Schedule"`, `"cronExpression":"[parameters('schedule')]"`, `"replicaTimeout":600`, `"replicaRetryLimit":1`,
		`"args":["sweep","--management-group","mg-avd","--auth","managed-identity","--identity-client-id","[reference(resourceId('Microsoft.ManagedIdentity/userAssignedIdentities', parameters('identityName')), '2024-11-30').clientId]","--json"]`,
		`"type":"UserAssigned"`} {
		if !strings.Contains(s, want) {
			t.Errorf("job template lacks %s", want)
		}
	}
	p, _ := json.Marshal(o.JobParameters())
	if !strings.Contains(string(p), `"image":{"value":"contoso.azurecr.io/avdgen:1.4.0"}`) || !strings.Contains(string(p), `"schedule":{"value":"*/15 * * * *"}`) {
		t.Errorf("parameters %s", p)
	}
}

func TestRenderIsDeterministic(t *testing.T) {
	o := testOptions()
	a, _ := o.Render()
	b, _ := o.Render()
	for i := range a {
		if !bytes.Equal(a[i].Data, b[i].Data) {
			t.Errorf("%s differs between two renders", a[i].Name)
		}
	}
	o2 := testOptions()
	o2.ManagementGroup = "mg-other"
	if o.RoleID() == o2.RoleID() || o.RoleID() != func() string { o3 := testOptions(); return o3.RoleID() }() {
		t.Error("the role id is not a stable function of the scope")
	}
}

func TestValidateNamesTheFlag(t *testing.T) {
	for flag, mutate := range map[string]func(*Options){
		"--management-group": func(o *Options) { o.ManagementGroup = "mg/x" },
		"--subscription":     func(o *Options) { o.Subscription = "nope" },
		"--resource-group":   func(o *Options) { o.ResourceGroup = "" },
		"--location":         func(o *Options) { o.Location = "" },
		"--image":            func(o *Options) { o.Image = "contoso.azurecr.io/avdgen" },
		"--schedule":         func(o *Options) { o.Schedule = "every 15 minutes" },
	} {
		o := testOptions()
		mutate(&o)
		err := o.Validate(true)
		if err == nil || !strings.Contains(err.Error(), flag) {
			t.Errorf("%s: %v", flag, err)
		}
	}
	for _, img := range []string{"contoso.azurecr.io/avdgen:1.4.0", "127.0.0.1:5000/tools/avdgen@sha256:" + strings.Repeat("ab", 32), "ghcr.io/org/avdgen:v1"} {
		o := testOptions()
		o.Image = img
		if err := o.Validate(true); err != nil {
			t.Errorf("%s: %v", img, err)
		}
	}
	for _, img := range []string{"avdgen:1.0", "contoso.azurecr.io/avdgen:latest@", "CONTOSO.azurecr.io/avdgen:1", "contoso.azurecr.io/avdgen@sha256:abc"} {
		o := testOptions()
		o.Image = img
		if err := o.Validate(true); err == nil {
			t.Errorf("%s accepted", img)
		}
	}
	o := testOptions()
	o.Location = ""
	if err := o.Validate(false); err != nil {
		t.Errorf("without --apply the location may come from the resource group: %v", err)
	}
}
