package azure

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// AuthKinds are the --auth values of `avdgen rbac` and `avdgen sweep`.
var AuthKinds = []string{"default", "cli", "managed-identity", "env", "device-code"}

// Credential builds the azidentity credential named by kind for cloud c.
// "default" is the SDK's DefaultAzureCredential chain.
func Credential(kind string, c Cloud, httpClient *http.Client, prompt func(string)) (azcore.TokenCredential, error) {
	co := azcore.ClientOptions{Cloud: c.Configuration("")}
	if httpClient != nil {
		co.Transport = httpClient
	}
	switch kind {
	case "", "default":
		return azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{ClientOptions: co})
	case "cli":
		return azidentity.NewAzureCLICredential(nil)
	case "managed-identity":
		return azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{ClientOptions: co})
	case "env":
		return azidentity.NewEnvironmentCredential(&azidentity.EnvironmentCredentialOptions{ClientOptions: co})
	case "device-code":
		return azidentity.NewDeviceCodeCredential(&azidentity.DeviceCodeCredentialOptions{ClientOptions: co,
			UserPrompt: func(_ context.Context, m azidentity.DeviceCodeMessage) error {
				if prompt != nil {
					prompt(m.Message)
				}
				return nil
			}})
	}
	return nil, fmt.Errorf("--auth %q: allowed values are %s", kind, strings.Join(AuthKinds, ", "))
}

// Scope is the token scope for Resource Manager in cloud c.
func (c Cloud) Scope() string { return strings.TrimRight(c.ARMAudience, "/") + "/.default" }

// GraphScope is the token scope for Microsoft Graph in cloud c.
func (c Cloud) GraphScope() string { return c.GraphEndpoint + "/.default" }
