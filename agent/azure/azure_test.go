package azure

import (
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
)

func TestCloudByEnvironment(t *testing.T) {
	for env, host := range map[string]string{
		"AzurePublicCloud":       "https://management.azure.com",
		"azureusgovernmentcloud": "https://management.usgovcloudapi.net",
		" AzureChinaCloud ":      "https://management.chinacloudapi.cn",
	} {
		c, err := CloudByEnvironment(env)
		if err != nil || c.ARMEndpoint != host {
			t.Errorf("%q: %v %v", env, c.ARMEndpoint, err)
		}
	}
	for _, env := range []string{"AzureGermanCloud", "", "AzureStackCloud"} {
		if _, err := CloudByEnvironment(env); err == nil || !strings.Contains(err.Error(), "not a supported cloud") {
			t.Errorf("%q: err = %v", env, err)
		}
	}
	if _, err := CloudByName("germany"); err == nil || !strings.Contains(err.Error(), "china, public, usgov") {
		t.Errorf("CloudByName error should list the allowed values: %v", err)
	}
}

func TestParseIMDSOverride(t *testing.T) {
	ok := map[string]string{
		"http://127.0.0.1:8080":  "http://127.0.0.1:8080",
		"http://127.3.4.5:1/":    "http://127.3.4.5:1",
		"http://[::1]:9":         "http://[::1]:9",
		"http://localhost:12345": "http://localhost:12345",
	}
	for in, want := range ok {
		got, err := ParseIMDSOverride("--imds-endpoint", in)
		if err != nil || got != want {
			t.Errorf("%q: got %q, %v", in, got, err)
		}
	}
	for _, bad := range []string{
		"http://169.254.169.254", "https://127.0.0.1:1", "http://10.0.0.1", "http://example.com",
		"127.0.0.1:80", "http://127.0.0.1:1/metadata", "http://user:pw@127.0.0.1:1", "http://127.0.0.1.nip.io",
	} {
		if _, err := ParseIMDSOverride("--imds-endpoint", bad); err == nil || !strings.Contains(err.Error(), "--imds-endpoint") {
			t.Errorf("%q accepted or error does not name the flag: %v", bad, err)
		}
	}
}

func TestParseARMOverride(t *testing.T) {
	for _, good := range []string{"https://management.azure.com", "https://arm.contoso.example", "http://127.0.0.1:5", "http://[::1]:5"} {
		if _, err := ParseARMOverride("--arm-endpoint", good); err != nil {
			t.Errorf("%q: %v", good, err)
		}
	}
	for _, bad := range []string{"http://management.azure.com", "http://192.168.1.1", "ftp://127.0.0.1", "https://x/y"} {
		if _, err := ParseARMOverride("--arm-endpoint", bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestClientOptionsAllowHTTPOnlyOnLoopback(t *testing.T) {
	pub, _ := CloudByName("public")
	o := ARM{Cloud: pub, Endpoint: "http://127.0.0.1:9"}.ClientOptions()
	if !o.InsecureAllowCredentialWithHTTP {
		t.Error("loopback override should allow bearer over http")
	}
	if got := o.Cloud.Services[cloud.ResourceManager].Endpoint; got != "http://127.0.0.1:9" {
		t.Errorf("endpoint %q", got)
	}
	o = ARM{Cloud: pub}.ClientOptions()
	if o.InsecureAllowCredentialWithHTTP || o.Cloud.Services[cloud.ResourceManager].Audience != "https://management.azure.com/" {
		t.Errorf("public options: %+v", o.Cloud)
	}
	if o.Retry.MaxRetries != DefaultRetry.MaxRetries || !o.DisableRPRegistration {
		t.Errorf("retry/registration defaults not applied")
	}
}

// Every cloud names its Graph endpoint and blob host suffix (publish needs
// both); a missing one would send tokens or uploads to the wrong cloud.
func TestCloudsHaveGraphAndBlob(t *testing.T) {
	for _, c := range Clouds {
		if !strings.HasPrefix(c.GraphEndpoint, "https://") || strings.HasSuffix(c.GraphEndpoint, "/") || !strings.HasPrefix(c.BlobHostSuffix, "blob.core.") {
			t.Errorf("%s: GraphEndpoint %q BlobHostSuffix %q", c.Name, c.GraphEndpoint, c.BlobHostSuffix)
		}
		if c.GraphScope() != c.GraphEndpoint+"/.default" {
			t.Errorf("%s: scope %q", c.Name, c.GraphScope())
		}
	}
}

func TestParseGraphOverrideAllowsOnlyLoopbackHTTP(t *testing.T) {
	for raw, ok := range map[string]bool{
		"http://127.0.0.1:8080": true, "http://[::1]:9/": true, "http://localhost:1": true,
		"https://127.0.0.1:8080": false, "https://graph.microsoft.com": false, "http://graph.microsoft.com": false,
		"http://127.0.0.1:8080/v1.0": false, "127.0.0.1:8080": false,
	} {
		got, err := ParseGraphOverride("--graph-endpoint", raw)
		if (err == nil) != ok {
			t.Errorf("%s: %q %v", raw, got, err)
		}
	}
}

// Issue 15 finding 5: US Government L5 (DoD) has a Graph of its own
// (dod-graph.microsoft.us); the rest is usgov's, and IMDS's
// AzureUSGovernmentCloud still means usgov.
func TestUSGovDoDGraph(t *testing.T) {
	c, err := CloudByName("usgov-dod")
	if err != nil {
		t.Fatal(err)
	}
	gov, _ := CloudByName("usgov")
	if c.GraphScope() != "https://dod-graph.microsoft.us/.default" || c.ARMEndpoint != gov.ARMEndpoint || c.AuthorityHost != gov.AuthorityHost || c.BlobHostSuffix != gov.BlobHostSuffix {
		t.Errorf("usgov-dod: %+v", c)
	}
	if byEnv, _ := CloudByEnvironment("AzureUSGovernmentCloud"); byEnv.Name != "usgov" {
		t.Errorf("AzureUSGovernmentCloud -> %s", byEnv.Name)
	}
}
