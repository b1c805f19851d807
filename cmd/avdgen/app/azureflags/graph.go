package azureflags

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/spf13/cobra"

	"github.com/avdgen/avdgen/agent/azcred"
	"github.com/avdgen/avdgen/agent/azure"
	"github.com/avdgen/avdgen/cmd/avdgen/app/cmdutil"
)

// Auth is --auth and --cloud alone, for commands that talk to Microsoft
// Graph rather than to a host pool (`avdgen intune publish`).
type Auth struct {
	Auth  string
	Cloud string
}

// AddAuth registers --auth and --cloud with the same meaning as in rbac and sweep.
func AddAuth(cmd *cobra.Command, a *Auth) {
	fs := cmd.Flags()
	fs.StringVar(&a.Auth, "auth", "default", "credential `KIND`: "+strings.Join(azcred.AuthKinds, ", ")+" (default is the Azure SDK chain)")
	fs.StringVar(&a.Cloud, "cloud", "public", "Azure `CLOUD`: "+strings.Join(CloudNames(), ", ")+" (its Microsoft Graph is used)")
	cmd.RegisterFlagCompletionFunc("auth", cobra.FixedCompletions(azcred.AuthKinds, cobra.ShellCompDirectiveNoFileComp))
	cmd.RegisterFlagCompletionFunc("cloud", cobra.FixedCompletions(CloudNames(), cobra.ShellCompDirectiveNoFileComp))
}

// Validate checks both flags before any request is made.
func (a *Auth) Validate() error {
	if _, err := azure.CloudByName(a.Cloud); err != nil {
		return cmdutil.Usagef("%v", err)
	}
	for _, k := range azcred.AuthKinds {
		if k == a.Auth {
			return nil
		}
	}
	_, err := azcred.Credential(a.Auth, azure.Cloud{}, nil, nil)
	return cmdutil.Usagef("%v", err)
}

// Credential builds the credential for the chosen cloud (after Validate).
func (a *Auth) Credential(fac *cmdutil.Factory) (azcore.TokenCredential, azure.Cloud, error) {
	cloud, _ := azure.CloudByName(a.Cloud)
	var cred azcore.TokenCredential
	var err error
	if fac.Credential != nil {
		cred, err = fac.Credential(a.Auth, cloud)
	} else {
		cred, err = azcred.Credential(a.Auth, cloud, &http.Client{Transport: fac.Transport}, func(msg string) { fmt.Fprintln(fac.IO.ErrOut, msg) })
	}
	if err != nil {
		return nil, cloud, fmt.Errorf("credential (--auth %s): %w", a.Auth, err)
	}
	return cred, cloud, nil
}
