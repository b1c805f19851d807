package intune

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/avdgen/avdgen/dist"
	"github.com/avdgen/avdgen/generator/intune/csdl"
	"github.com/avdgen/avdgen/generator/spec"
)

// Graph's schemas, trimmed from microsoftgraph/msgraph-metadata
// (testdata/PROVENANCE.md at the repository root).
var (
	graphBeta = csdl.Beta()
	graphV1   = csdl.V1()
)

// GraphBodies maps each Graph JSON file of the bundle to the type of the
// collection it is POSTed to; all go to beta (the README says so).
var graphBodies = map[string]string{
	"session-time-limits.settings-catalog.json": "deviceManagementConfigurationPolicy", // POST /beta/deviceManagement/configurationPolicies
	"session-time-limits.oma-uri.json":          "deviceConfiguration",                 // POST /beta/deviceManagement/deviceConfigurations
	"avd-agent.win32app.json":                   "mobileApp",                           // POST /beta/deviceAppManagement/mobileApps
	"avd-agent.encryption.json":                 "fileEncryptionInfo",                  // commit action parameter
}

// Every Graph body of the bundle matches beta's CSDL: @odata.type values,
// property names including inherited ones, enum members, value kinds.
func TestGraphBodiesMatchBetaCSDL(t *testing.T) {
	for _, y := range []string{example, "limits:\n  disconnected: 15m\n", "limits:\n  idle: never\n  active: 8h\n  endSessionOnLimit: false\n  allowNoLogoff: true\n"} {
		files := build(t, y)
		for name, typ := range graphBodies {
			if err := graphBeta.Validate(file(t, files, name), typ); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
	}
}

// arm64 must be in allowedArchitectures only: applicableArchitectures takes
// only the members v1.0's windowsArchitecture has (Graph beta answers 400
// "Only x86, x64 are supported with this property" otherwise). This fails on
// the old body, which sent "x64,arm64" in applicableArchitectures.
func TestWin32AppArchitectures(t *testing.T) {
	var app map[string]any
	if err := json.Unmarshal(file(t, build(t, example), "avd-agent.win32app.json"), &app); err != nil {
		t.Fatal(err)
	}
	legacy := map[string]bool{}
	for _, m := range graphV1.EnumMembers("windowsArchitecture") {
		legacy[m] = true
	}
	if legacy["arm64"] || !legacy["x64"] {
		t.Fatalf("v1.0 windowsArchitecture members %v: the oracle changed", graphV1.EnumMembers("windowsArchitecture"))
	}
	applicable, _ := app["applicableArchitectures"].(string)
	for _, m := range strings.Split(applicable, ",") {
		if !legacy[m] {
			t.Errorf("applicableArchitectures %q: %q is not accepted there (only %v); put arm64 in allowedArchitectures", applicable, m, graphV1.EnumMembers("windowsArchitecture"))
		}
	}
	allowed, _ := app["allowedArchitectures"].(string)
	if allowed != "x64,arm64" {
		t.Errorf("allowedArchitectures = %q, want x64,arm64", allowed)
	}
	if applicable != "none" {
		t.Errorf("applicableArchitectures = %q, want none when allowedArchitectures is set", applicable)
	}
	// v1.0's windowsArchitecture has no arm64 at all: the app must go to beta.
	if err := graphV1.Validate(file(t, build(t, example), "avd-agent.win32app.json"), "mobileApp"); err == nil || !strings.Contains(err.Error(), `"arm64" is not a member of windowsArchitecture`) {
		t.Errorf("v1.0 should refuse arm64: %v", err)
	}
}

// The OMA-URI profile carries roleScopeTagIds, which v1.0's deviceConfiguration
// lacks: it must be sent to beta, as the README says.
func TestOMAURIProfileNeedsBeta(t *testing.T) {
	body := file(t, build(t, example), "session-time-limits.oma-uri.json")
	if err := graphV1.Validate(body, "deviceConfiguration"); err == nil || !strings.Contains(err.Error(), `"roleScopeTagIds" is not declared`) {
		t.Errorf("v1.0 validation: %v", err)
	}
	readme := string(file(t, build(t, example), "README.md"))
	if !strings.Contains(readme, "POST https://graph.microsoft.com/beta/deviceManagement/deviceConfigurations") {
		t.Errorf("README does not give the OMA-URI endpoint and version")
	}
	// The portal steps include the custom profile, the permissions are named,
	// and the old garbled Settings Catalog step is gone.
	for _, want := range []string{"Templates > Custom", "DeviceManagementConfiguration.ReadWrite.All", "DeviceManagementApps.ReadWrite.All", "Group.Read.All", "avdgen intune publish"} {
		if !strings.Contains(readme, want) {
			t.Errorf("README lacks %q", want)
		}
	}
	if strings.Contains(readme, "easiest is") {
		t.Errorf("README still has the garbled portal step")
	}
}

// The validator itself catches the mistakes it is there for.
func TestCSDLValidatorCatches(t *testing.T) {
	cases := map[string]struct{ body, typ, want string }{
		"unknown property":  {`{"@odata.type":"#microsoft.graph.win32LobApp","displayNme":"x"}`, "mobileApp", `"displayNme" is not declared`},
		"bad enum":          {`{"@odata.type":"#microsoft.graph.win32LobApp","allowedArchitectures":"x64,arm65"}`, "mobileApp", `"arm65" is not a member of windowsArchitecture`},
		"bad odata type":    {`{"@odata.type":"#microsoft.graph.win32LobAppX"}`, "mobileApp", `no such type`},
		"no hash":           {`{"@odata.type":"microsoft.graph.win32LobApp"}`, "mobileApp", `want "#microsoft.graph.<type>"`},
		"abstract":          {`{"displayName":"x"}`, "mobileApp", `mobileApp is abstract`},
		"wrong family":      {`{"@odata.type":"#microsoft.graph.windows10CustomConfiguration"}`, "mobileApp", `is not mobileApp or derived`},
		"nested kind":       {`{"@odata.type":"#microsoft.graph.win32LobApp","returnCodes":[{"returnCode":"0","type":"success"}]}`, "mobileApp", `$.returnCodes[0].returnCode: want a number`},
		"inherited ok+bad":  {`{"@odata.type":"#microsoft.graph.win32LobApp","publisher":"p","committedContentVersion":"1","rules":[{"@odata.type":"#microsoft.graph.win32LobAppRegistryRule","operator":"eq"}]}`, "mobileApp", `"eq" is not a member of win32LobAppRuleOperator`},
		"policy technology": {`{"name":"n","platforms":"windows10","technologies":"mdmx"}`, "deviceManagementConfigurationPolicy", `"mdmx" is not a member`},
		// Issue 15 finding 7: string-encoded primitives have formats.
		"date time":         {`{"@odata.type":"#microsoft.graph.mobileAppContentFile","azureStorageUriExpirationDateTime":"tomorrow"}`, "mobileAppContentFile", `"tomorrow" is not an Edm.DateTimeOffset`},
		"date time no zone": {`{"@odata.type":"#microsoft.graph.mobileAppContentFile","azureStorageUriExpirationDateTime":"2026-01-01T12:00:00"}`, "mobileAppContentFile", `is not an Edm.DateTimeOffset`},
	}
	for name, c := range cases {
		if err := graphBeta.Validate([]byte(c.body), c.typ); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", name, err, c.want)
		}
	}
}

// The pre-21H2 release names are windowsMinimumOperatingSystem's v10_*
// properties in Graph's schema (so "2H20", not "20H2").
func TestWindowsReleasesMatchGraph(t *testing.T) {
	props := map[string]bool{}
	for _, p := range graphBeta.Properties("windowsMinimumOperatingSystem") {
		props[p] = true
	}
	for _, r := range spec.WindowsReleases {
		if strings.HasPrefix(r, "Windows") {
			continue
		}
		if !props["v10_"+r] {
			t.Errorf("release %q: Graph has no windowsMinimumOperatingSystem.v10_%s", r, r)
		}
	}
	if props["v10_20H2"] || !props["v10_2H20"] {
		t.Errorf("oracle changed: %v", graphBeta.Properties("windowsMinimumOperatingSystem"))
	}
}

// The notes line is the same on every build of the same inputs (the keys
// differ, the content does not), changes with the agents, and reads back.
func TestNotesRecordContent(t *testing.T) {
	app := func(in Input) map[string]any {
		files, err := Build(in)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(file(t, files, "avd-agent.win32app.json"), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	in := input(t, example)
	a := app(in)["notes"].(string)
	in2 := input(t, example)
	in2.Rand = strings.NewReader(strings.Repeat("other keys ", 20))
	if b := app(in2)["notes"].(string); a != b {
		t.Errorf("notes differ between builds with other keys:\n%s\n%s", a, b)
	}
	agent, pkg, ok := ContentFromNotes("written by hand\n" + a)
	if !ok || agent != AgentDigest(in.Agents) || len(pkg) != 64 {
		t.Errorf("ContentFromNotes(%q) = %q %q %v", a, agent, pkg, ok)
	}
	in3 := input(t, example)
	in3.Agents.ByArch[dist.ARM64] = dist.Agent{Arch: dist.ARM64, Binary: []byte("MZ other arm64 agent")}
	if c := app(in3)["notes"].(string); c == a {
		t.Errorf("notes unchanged after the agent changed: %s", c)
	}
	if _, _, ok := ContentFromNotes("Managed by avdgen; do not edit this line. agent-sha256=x"); ok {
		t.Errorf("half a line accepted")
	}
}

// Issue 15 finding 7: an Edm.Guid member takes only a GUID.
func TestCSDLGuidFormat(t *testing.T) {
	s, err := csdl.Parse([]byte(`<edmx:Edmx xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx" Version="4.0"><edmx:DataServices>
<Schema xmlns="http://docs.oasis-open.org/odata/ns/edm" Namespace="microsoft.graph"><ComplexType Name="t"><Property Name="g" Type="Edm.Guid" /></ComplexType></Schema>
</edmx:DataServices></edmx:Edmx>`), "test")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate([]byte(`{"g":"5b0e7c1a-3d2f-4c6b-9a8e-1f2d3c4b5a69"}`), "t"); err != nil {
		t.Error(err)
	}
	if err := s.Validate([]byte(`{"g":"AVD session hosts"}`), "t"); err == nil || !strings.Contains(err.Error(), "is not an Edm.Guid") {
		t.Errorf("err = %v", err)
	}
}
