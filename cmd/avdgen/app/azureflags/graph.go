package azureflags

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/spf13/cobra"

	"github.com/avdgen/avdgen/agent/azure"
	"github.com/avdgen/avdgen/cmd/avdgen/app/cmdutil"
	"github.com/avdgen/avdgen/fleet/azcred"
)

// Auth is --auth and --cloud alone, for commands that talk to Microsoft
// Graph rather than to a host pool (`avdgen intune publish`).
type Auth struct {
	Auth  string
	Cloud string
}

// GraphAuthKinds are the --auth values that can carry Intune's Graph
// permissions: an app registration (env) or a managed identity, granted
// application permissions. cli and device-code sign in through the Azure
// CLI's own app, which Intune's scopes (DeviceManagement*) are not granted
// to: every request would end in 403, so they are refused up front.
var GraphAuthKinds = []string{"default", "env", "managed-identity"}

// AddAuth registers --auth and --cloud for Microsoft Graph.
func AddAuth(cmd *cobra.Command, a *Auth) {
	fs := cmd.Flags()
	fs.StringVar(&a.Auth, "auth", "default", "credential `KIND`: "+strings.Join(GraphAuthKinds, ", ")+
		" (the kinds that can carry Intune's Graph permissions; default tries env, workload identity and managed identity, never az login)")
	fs.StringVar(&a.Cloud, "cloud", "public", "Azure `CLOUD`: "+strings.Join(CloudNames(), ", ")+" (its Microsoft Graph is used; usgov-dod is dod-graph.microsoft.us)")
	cmd.RegisterFlagCompletionFunc("auth", cobra.FixedCompletions(GraphAuthKinds, cobra.ShellCompDirectiveNoFileComp))
	cmd.RegisterFlagCompletionFunc("cloud", cobra.FixedCompletions(CloudNames(), cobra.ShellCompDirectiveNoFileComp))
}

// Validate checks both flags before any request is made.
func (a *Auth) Validate() error {
	if _, err := azure.CloudByName(a.Cloud); err != nil {
		return cmdutil.Usagef("%v", err)
	}
	for _, k := range GraphAuthKinds {
		if k == a.Auth {
			return nil
		}
	}
	if a.Auth == "cli" || a.Auth == "device-code" {
		return cmdutil.Usagef("--auth %s cannot publish to Intune: it signs in through the Azure CLI's own app, which is not granted Intune's Graph permissions (DeviceManagement*), so every request would end in 403. Use --auth env (an app registration granted them, with AZURE_TENANT_ID, AZURE_CLIENT_ID and a secret or certificate) or --auth managed-identity; allowed: %s", a.Auth, strings.Join(GraphAuthKinds, ", "))
	}
	return cmdutil.Usagef("--auth %q: allowed values are %s", a.Auth, strings.Join(GraphAuthKinds, ", "))
}

// Credential builds the credential for the chosen cloud (after Validate).
func (a *Auth) Credential(fac *cmdutil.Factory) (azcore.TokenCredential, azure.Cloud, error) {
	cloud, _ := azure.CloudByName(a.Cloud)
	var cred azcore.TokenCredential
	var err error
	switch {
	case fac.Credential != nil:
		cred, err = fac.Credential(a.Auth, cloud)
	case a.Auth == "default":
		cred, err = azcred.AppOnly(cloud, &http.Client{Transport: fac.Transport})
	default:
		cred, err = azcred.Credential(a.Auth, cloud, &http.Client{Transport: fac.Transport}, func(msg string) { fmt.Fprintln(fac.IO.ErrOut, msg) })
	}
	if err != nil {
		return nil, cloud, fmt.Errorf("credential (--auth %s): %w", a.Auth, err)
	}
	return cred, cloud, nil
}
