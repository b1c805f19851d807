// Package azcred builds the admin-side credentials of `avdgen rbac` and
// `avdgen sweep` through azidentity. It is kept apart from agent/azure so the
// on-host agent, which gets its token from IMDS itself, links no SDK
// credential chain.
package azcred

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/avdgen/avdgen/agent/azure"
)

// AuthKinds are the --auth values of `avdgen rbac` and `avdgen sweep`.
var AuthKinds = []string{"default", "cli", "managed-identity", "env", "device-code"}

// Credential builds the azidentity credential named by kind for cloud c.
// "default" is the SDK's DefaultAzureCredential chain.
func Credential(kind string, c azure.Cloud, httpClient *http.Client, prompt func(string)) (azcore.TokenCredential, error) {
	return CredentialWithClientID(kind, "", c, httpClient, prompt)
}

// CredentialWithClientID is Credential with a user-assigned managed
// identity's client id for --auth managed-identity (the sweep's Container
// Apps job); "" means the system-assigned identity.
func CredentialWithClientID(kind, clientID string, c azure.Cloud, httpClient *http.Client, prompt func(string)) (azcore.TokenCredential, error) {
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
		o := &azidentity.ManagedIdentityCredentialOptions{ClientOptions: co}
		if clientID != "" {
			o.ID = azidentity.ClientID(clientID)
		}
		return azidentity.NewManagedIdentityCredential(o)
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

// AppOnly is the SDK's default chain without the developer sign-ins (Azure
// CLI, Azure Developer CLI): environment (an app registration), workload
// identity, managed identity. Microsoft Graph's Intune permissions are
// granted to an application; the CLI's own app has none of them.
func AppOnly(c azure.Cloud, httpClient *http.Client) (azcore.TokenCredential, error) {
	co := azcore.ClientOptions{Cloud: c.Configuration("")}
	if httpClient != nil {
		co.Transport = httpClient
	}
	var chain []azcore.TokenCredential
	var errs []string
	if cred, err := azidentity.NewEnvironmentCredential(&azidentity.EnvironmentCredentialOptions{ClientOptions: co}); err == nil {
		chain = append(chain, cred)
	} else {
		errs = append(errs, err.Error())
	}
	if cred, err := azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{ClientOptions: co}); err == nil {
		chain = append(chain, cred)
	} else {
		errs = append(errs, err.Error())
	}
	if cred, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{ClientOptions: co}); err == nil {
		chain = append(chain, cred)
	} else {
		errs = append(errs, err.Error())
	}
	if len(chain) == 0 {
		return nil, fmt.Errorf("no application credential: %s", strings.Join(errs, "; "))
	}
	return azidentity.NewChainedTokenCredential(chain, nil)
}
