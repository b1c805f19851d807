package intunecmd

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/avdgen/avdgen/agent/azure"
	"github.com/avdgen/avdgen/cmd/avdgen/app/cmdutil"
	"github.com/avdgen/avdgen/dist"
	"github.com/avdgen/avdgen/internal/cmdtest"
	"github.com/avdgen/avdgen/internal/fakegraph"
)

type recordingCred struct{ scopes []string }

func (r *recordingCred) GetToken(_ context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	r.scopes = append(r.scopes, o.Scopes...)
	return azcore.AccessToken{Token: "t", ExpiresOn: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)}, nil
}

func publishFactory(t *testing.T, cloud *string, cred *recordingCred) (*cmdutil.Factory, *bytes.Buffer) {
	f, out, _ := cmdtest.Factory(t)
	f.Agents = func() (dist.Agents, error) {
		return dist.Agents{Version: "v0", ByArch: map[dist.Arch]dist.Agent{
			dist.AMD64: {Arch: dist.AMD64, Binary: []byte("MZ a")}, dist.ARM64: {Arch: dist.ARM64, Binary: []byte("MZ b")}}}, nil
	}
	f.Credential = func(auth string, c azure.Cloud) (azcore.TokenCredential, error) {
		*cloud = c.Name
		return cred, nil
	}
	return f, out
}

// --cloud reaches the credential and the token audience; --json prints the
// report; the group can be given by name.
func TestPublishCommandUsesTheChosenCloud(t *testing.T) {
	fake := fakegraph.New(t, fakegraph.Options{})
	var cloud string
	cred := &recordingCred{}
	f, out := publishFactory(t, &cloud, cred)
	cmd := New(f)
	cmd.SetArgs([]string{"publish", "--disconnected", "15m", "--assign-group", "AVD session hosts", "--cloud", "usgov",
		"--auth", "env", "--graph-endpoint", fake.URL, "--json", "--remediation"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if cloud != "usgov" || len(cred.scopes) == 0 || cred.scopes[0] != "https://graph.microsoft.us/.default" {
		t.Errorf("cloud %q scopes %v", cloud, cred.scopes)
	}
	var rep struct {
		Group       string
		Policy, App struct{ Action string }
		Remediation struct{ Action string }
		GraphWrites int `json:"graphWrites"`
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if rep.Group != fakegraph.GroupID || rep.Policy.Action != "created" || rep.App.Action != "created" || rep.Remediation.Action != "created" || rep.GraphWrites == 0 {
		t.Errorf("report %+v", rep)
	}
}

func TestPublishCommandBadInputIsUsage(t *testing.T) {
	for args, want := range map[string]string{
		"--disconnected 15m":               "--assign-group is required",
		"--assign-group g --auth password": `--auth "password"`,
		// Issue 15 finding 5: refused before any request, saying why.
		"--assign-group g --auth cli":                                "--auth cli cannot publish to Intune: it signs in through the Azure CLI's own app",
		"--assign-group g --auth device-code":                        "--auth device-code cannot publish to Intune",
		"--assign-group g --graph-endpoint http://10.0.0.1:80":       "only a loopback http URL",
		"--assign-group g --bundle /nonexistent-avdgen-bundle":       "is it a folder written by avdgen intune",
		"--assign-group g --min-windows-release 11":                  `intune.minimumWindowsRelease "11"`,
		"--assign-group g --bundle /nonexistent --publisher Contoso": "leave out --publisher",
	} {
		var cloud string
		f, _ := publishFactory(t, &cloud, &recordingCred{})
		cmd := New(f)
		cmd.SilenceErrors, cmd.SilenceUsage = true, true
		cmd.SetArgs(append([]string{"publish"}, strings.Fields(args)...))
		err := cmd.Execute()
		if !cmdutil.IsUsage(err) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want usage error with %q", args, err, want)
		}
	}
}

// Issue 15 finding 2: the help names each permission with the flag that
// needs it, --remediation's DeviceManagementScripts.ReadWrite.All included.
func TestPublishHelpNamesPermissionsPerFlag(t *testing.T) {
	var cloud string
	f, _ := publishFactory(t, &cloud, &recordingCred{})
	cmd := NewCmdPublish(f, nil)
	for _, want := range []string{"--remediation     DeviceManagementScripts.ReadWrite.All", "DeviceManagementConfiguration.ReadWrite.All",
		"DeviceManagementApps.ReadWrite.All", "--assign-group    GroupMember.Read.All", "cli and device-code are refused"} {
		if !strings.Contains(cmd.Long, want) {
			t.Errorf("help lacks %q", want)
		}
	}
	if fl := cmd.Flags().Lookup("cloud"); !strings.Contains(fl.Usage, "usgov-dod") {
		t.Errorf("--cloud help: %s", fl.Usage)
	}
}
