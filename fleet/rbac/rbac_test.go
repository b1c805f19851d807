package rbac

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/avdgen/avdgen/fleet/pool"
	"github.com/avdgen/avdgen/internal/armtest"
	"github.com/avdgen/avdgen/internal/fakepool"
)

const sub = "00000000-1111-2222-3333-444444444444"

func ref() pool.Ref { return pool.Ref{Subscription: sub, ResourceGroup: "rg-avd", HostPool: "hp1"} }

func TestRoleHasOnlyTheAgentsPermission(t *testing.T) {
	r := DeallocateRole("/subscriptions/" + sub)
	b, _ := json.Marshal(r.CLI())
	if got := strings.Join(r.Actions, ","); got != "Microsoft.Compute/virtualMachines/deallocate/action" {
		t.Errorf("actions %s", got)
	}
	if !strings.Contains(string(b), `"AssignableScopes":["/subscriptions/`+sub+`"]`) || !strings.Contains(string(b), `"IsCustom":true`) {
		t.Errorf("CLI JSON %s", b)
	}
	if r.ID() != DeallocateRole("/subscriptions/"+sub).ID() || r.ID() == DeallocateRole("/subscriptions/"+sub+"/resourceGroups/x").ID() {
		t.Error("role GUID is not stable per name and scope")
	}
	if sw := SweeperRole("/subscriptions/" + sub); len(sw.Actions) != 6 {
		t.Errorf("sweeper actions %v", sw.Actions)
	}
}

func TestApplyFirstRunWritesThenSecondRunWritesNothing(t *testing.T) {
	vms := fakepool.Pool(250, 3)
	vms[0].SystemPrincipal = "11111111-0000-4000-8000-000000000001" // already has an identity
	fake := fakepool.New(t, sub, "rg-avd", "hp1", vms)
	c := armtest.Client(t, fake.URL)
	rep, err := Apply(context.Background(), c, Options{Pool: ref(), Concurrency: 8})
	if err != nil {
		t.Fatal(err)
	}
	if rep.RoleOp != "created" || rep.Failed != 0 || rep.Changed != 250 {
		t.Fatalf("first run: role %s, failed %d, changed %d", rep.RoleOp, rep.Failed, rep.Changed)
	}
	if fake.Count("patchVM") != 249 || fake.Count("putAssignment") != 250 || fake.Count("putRoleDefinition") != 1 {
		t.Errorf("writes: patch %d, assignments %d, role %d", fake.Count("patchVM"), fake.Count("putAssignment"), fake.Count("putRoleDefinition"))
	}
	if per := float64(fake.Total()) / 250; per > 3 {
		t.Errorf("%.2f requests per VM on the first run, target ≤ 3", per)
	}
	for _, a := range fake.Assignments() {
		if !strings.HasSuffix(a.Scope, "/virtualMachines/"+a.Scope[strings.LastIndex(a.Scope, "/")+1:]) || !strings.Contains(a.RoleDefinition, DeallocateRole("/subscriptions/"+sub).ID()) {
			t.Fatalf("assignment %+v is not at a VM's own scope with our role", a)
		}
	}

	fake.ResetCounts()
	rep, err = Apply(context.Background(), c, Options{Pool: ref(), Concurrency: 8})
	if err != nil {
		t.Fatal(err)
	}
	if fake.Writes() != 0 || rep.RoleOp != "unchanged" || rep.Changed != 0 {
		t.Errorf("second run: %d writes, role %s, changed %d", fake.Writes(), rep.RoleOp, rep.Changed)
	}
	// Only list pages: 3 session-host pages, per group 1 VM page and 1 assignment page, 1 role GET.
	if got := fake.Total(); got != 3+3+3+1 {
		t.Errorf("second run made %d requests, want 10 (one per list page)", got)
	}
}

func TestIdentityPatchKeepsUserAssigned(t *testing.T) {
	ua := "/subscriptions/" + sub + "/resourceGroups/rg-id/providers/Microsoft.ManagedIdentity/userAssignedIdentities/fslogix"
	vms := []*fakepool.VM{{ResourceGroup: "rg-a", Name: "vm1", Power: "running", UserAssigned: []string{ua}}}
	fake := fakepool.New(t, sub, "rg-avd", "hp1", vms)
	if _, err := Apply(context.Background(), armtest.Client(t, fake.URL), Options{Pool: ref()}); err != nil {
		t.Fatal(err)
	}
	v := fake.Find("vm1")
	if v.SystemPrincipal == "" || len(v.UserAssigned) != 1 || v.UserAssigned[0] != ua {
		t.Errorf("after PATCH: system %q, user-assigned %v", v.SystemPrincipal, v.UserAssigned)
	}
}

func TestOneVMFailingDoesNotStopTheOthers(t *testing.T) {
	fake := fakepool.New(t, sub, "rg-avd", "hp1", fakepool.Pool(20, 2))
	fake.FailPatch("avd-00004")
	fake.FailAssign("avd-00007")
	rep, err := Apply(context.Background(), armtest.Client(t, fake.URL), Options{Pool: ref(), Concurrency: 3})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failed != 2 || rep.Changed != 18 || len(fake.Assignments()) != 18 {
		t.Errorf("failed %d, changed %d, assignments %d", rep.Failed, rep.Changed, len(fake.Assignments()))
	}
	for _, r := range rep.VMs {
		if r.Status == "failed" && !strings.Contains(r.Message, "injected failure") {
			t.Errorf("failure message %q", r.Message)
		}
	}
}

func TestDryRunListsWritesAndMakesNone(t *testing.T) {
	fake := fakepool.New(t, sub, "rg-avd", "hp1", fakepool.Pool(10, 1))
	rep, err := Apply(context.Background(), armtest.Client(t, fake.URL), Options{Pool: ref(), DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if fake.Writes() != 0 || rep.RoleOp != "would be created" || len(rep.VMs[0].Writes) != 2 {
		t.Errorf("writes %d, role %s, planned %v", fake.Writes(), rep.RoleOp, rep.VMs[0].Writes)
	}
}

func TestApplyHonoursRetryAfter(t *testing.T) {
	fake := fakepool.New(t, sub, "rg-avd", "hp1", fakepool.Pool(5, 1))
	fake.Throttle("putAssignment", 2)
	rep, err := Apply(context.Background(), armtest.Client(t, fake.URL), Options{Pool: ref(), Concurrency: 1})
	if err != nil || rep.Failed != 0 || len(fake.Assignments()) != 5 {
		t.Fatalf("err %v failed %d assignments %d", err, rep.Failed, len(fake.Assignments()))
	}
	if fake.Count("putAssignment") != 7 {
		t.Errorf("%d assignment PUTs, want 5 + 2 throttled", fake.Count("putAssignment"))
	}
}
