package sweepdeploy

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/avdgen/avdgen/internal/armtest"
	"github.com/avdgen/avdgen/internal/fakedeploy"
)

func noSleep(context.Context, time.Duration) error { return nil }

// --apply creates the resource group, deploys the job, then the role at the
// management group with the job identity's principal id, waiting for each;
// a rerun makes no change.
func TestApplyIsIdempotent(t *testing.T) {
	fake := fakedeploy.New(t)
	o := testOptions()
	c := armtest.Client(t, fake.URL)
	res, err := Apply(context.Background(), c, o, noSleep)
	if err != nil {
		t.Fatal(err)
	}
	if res.Writes != 3 || fake.Writes() != 3 || res.PrincipalID != fake.PrincipalID {
		t.Errorf("first apply: %+v, fake writes %d", res, fake.Writes())
	}
	deps := fake.Deployments()
	role := deps["/providers/microsoft.management/managementgroups/mg-avd/providers/microsoft.resources/deployments/avdgen-sweep-role"]
	job := deps["/subscriptions/00000000-1111-2222-3333-444444444444/resourcegroups/rg-avdgen-sweep/providers/microsoft.resources/deployments/avdgen-sweep-job"]
	if role == nil || job == nil {
		t.Fatalf("deployments %v", deps)
	}
	if v := role.Parameters["principalId"].(map[string]any)["value"]; v != fake.PrincipalID || role.Location != "westeurope" {
		t.Errorf("role deployment parameters %v, location %q", role.Parameters, role.Location)
	}
	res, err = Apply(context.Background(), armtest.Client(t, fake.URL), o, noSleep)
	if err != nil {
		t.Fatal(err)
	}
	if res.Writes != 0 || fake.Writes() != 3 {
		t.Errorf("rerun wrote %d (fake %d): %+v", res.Writes, fake.Writes(), res.Steps)
	}
	for _, s := range res.Steps {
		if s.Action != "unchanged" {
			t.Errorf("rerun step %+v", s)
		}
	}
	// A new image redeploys the job only.
	o.Image = "contoso.azurecr.io/avdgen:1.5.0"
	res, err = Apply(context.Background(), armtest.Client(t, fake.URL), o, noSleep)
	if err != nil || res.Writes != 1 {
		t.Errorf("image change: %d writes, %v (%+v)", res.Writes, err, res.Steps)
	}
}

// The subscription scope deploys the role at the subscription.
func TestApplyAtSubscriptionScope(t *testing.T) {
	fake := fakedeploy.New(t)
	o := testOptions()
	o.ManagementGroup, o.ScopeSubscription = "", "00000000-1111-2222-3333-444444444444"
	if _, err := Apply(context.Background(), armtest.Client(t, fake.URL), o, noSleep); err != nil {
		t.Fatal(err)
	}
	if fake.Deployments()["/subscriptions/00000000-1111-2222-3333-444444444444/providers/microsoft.resources/deployments/avdgen-sweep-role"] == nil {
		t.Errorf("no subscription-scope role deployment: %v", fake.Deployments())
	}
}

func TestApplyReportsAFailedDeployment(t *testing.T) {
	fake := fakedeploy.New(t)
	fake.FailNext = "InvalidTemplateDeployment: quota exceeded"
	_, err := Apply(context.Background(), armtest.Client(t, fake.URL), testOptions(), noSleep)
	if err == nil || !strings.Contains(err.Error(), "quota exceeded") || !strings.Contains(err.Error(), "avdgen-sweep-job") {
		t.Errorf("err = %v", err)
	}
}
