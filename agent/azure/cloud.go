// Package azure holds what every avdgen component that talks to Azure shares:
// the sovereign clouds, endpoint overrides (loopback only) and the ARM
// pipeline options. The agent, `avdgen rbac` and `avdgen sweep` all use it.
package azure

import (
	"fmt"
	"sort"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
)

// Cloud is one Azure cloud avdgen supports.
type Cloud struct {
	// Name is avdgen's short name: public, usgov, china (the --cloud values).
	Name string
	// Environment is the azEnvironment value IMDS reports.
	Environment string
	// ARMEndpoint is the Resource Manager base URL, without a trailing slash.
	ARMEndpoint string
	// ARMAudience is the token resource/audience for Resource Manager.
	ARMAudience string
	// AuthorityHost is the Entra ID login host for that cloud.
	AuthorityHost string
	// GraphEndpoint is Microsoft Graph's base URL (no version, no trailing
	// slash); it is also the token audience for Graph.
	GraphEndpoint string
	// BlobHostSuffix is the storage blob endpoint suffix: Intune's upload
	// URLs must be https on <account>.<suffix>.
	BlobHostSuffix string
}

// Clouds are the supported clouds. AzureGermanCloud closed in 2021 and is
// refused like any unknown value.
var Clouds = []Cloud{
	{Name: "public", Environment: "AzurePublicCloud", ARMEndpoint: "https://management.azure.com", ARMAudience: "https://management.azure.com/", AuthorityHost: "https://login.microsoftonline.com/",
		GraphEndpoint: "https://graph.microsoft.com", BlobHostSuffix: "blob.core.windows.net"},
	{Name: "usgov", Environment: "AzureUSGovernmentCloud", ARMEndpoint: "https://management.usgovcloudapi.net", ARMAudience: "https://management.usgovcloudapi.net/", AuthorityHost: "https://login.microsoftonline.us/",
		GraphEndpoint: "https://graph.microsoft.us", BlobHostSuffix: "blob.core.usgovcloudapi.net"},
	// US Government L5 (DoD) shares usgov's Resource Manager, sign-in and
	// storage; only Microsoft Graph has a host of its own. IMDS reports
	// AzureUSGovernmentCloud there too, so CloudByEnvironment picks usgov,
	// which is right for everything the agent calls.
	{Name: "usgov-dod", Environment: "AzureUSGovernmentCloud", ARMEndpoint: "https://management.usgovcloudapi.net", ARMAudience: "https://management.usgovcloudapi.net/", AuthorityHost: "https://login.microsoftonline.us/",
		GraphEndpoint: "https://dod-graph.microsoft.us", BlobHostSuffix: "blob.core.usgovcloudapi.net"},
	{Name: "china", Environment: "AzureChinaCloud", ARMEndpoint: "https://management.chinacloudapi.cn", ARMAudience: "https://management.chinacloudapi.cn/", AuthorityHost: "https://login.chinacloudapi.cn/",
		GraphEndpoint: "https://microsoftgraph.chinacloudapi.cn", BlobHostSuffix: "blob.core.chinacloudapi.cn"},
}

// CloudByEnvironment maps IMDS's azEnvironment (case-insensitive) to a Cloud.
func CloudByEnvironment(env string) (Cloud, error) {
	for _, c := range Clouds {
		if strings.EqualFold(c.Environment, strings.TrimSpace(env)) {
			return c, nil
		}
	}
	return Cloud{}, fmt.Errorf("azEnvironment %q is not a supported cloud (supported: %s)", env, strings.Join(names(func(c Cloud) string { return c.Environment }), ", "))
}

// CloudByName maps a --cloud value to a Cloud.
func CloudByName(name string) (Cloud, error) {
	for _, c := range Clouds {
		if strings.EqualFold(c.Name, strings.TrimSpace(name)) {
			return c, nil
		}
	}
	return Cloud{}, fmt.Errorf("--cloud %q is not known (allowed: %s)", name, strings.Join(names(func(c Cloud) string { return c.Name }), ", "))
}

func names(f func(Cloud) string) []string {
	out := make([]string, 0, len(Clouds))
	seen := map[string]bool{}
	for _, c := range Clouds {
		if !seen[f(c)] {
			seen[f(c)] = true
			out = append(out, f(c))
		}
	}
	sort.Strings(out)
	return out
}

// Configuration is the azcore cloud configuration for c, with the ARM
// endpoint replaced by armEndpoint when that is not empty (an override).
func (c Cloud) Configuration(armEndpoint string) cloud.Configuration {
	ep := c.ARMEndpoint
	if armEndpoint != "" {
		ep = armEndpoint
	}
	return cloud.Configuration{
		ActiveDirectoryAuthorityHost: c.AuthorityHost,
		Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
			cloud.ResourceManager: {Endpoint: ep, Audience: c.ARMAudience},
		},
	}
}

// Scope is the token scope for Resource Manager in cloud c.
func (c Cloud) Scope() string { return strings.TrimRight(c.ARMAudience, "/") + "/.default" }

// GraphScope is the token scope for Microsoft Graph in cloud c.
func (c Cloud) GraphScope() string { return c.GraphEndpoint + "/.default" }
