// Package identity decides whose managed identity the agent may use, and
// hands an already obtained token to the ARM client. The token itself comes
// from this VM's IMDS (imds.Client.Token), asked directly with one GET: no
// SDK credential chain, whose source detection a standard user could steer
// (MSAL treats a file anyone can create under %ProgramData% as "this is Azure
// Arc"), is involved.
package identity

import (
	"context"
	"fmt"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// CheckArc refuses to run on an Azure Arc-enabled machine: there the
// identity that matters is the Arc one, not this VM's, and the agent would be
// acting for the wrong machine. signals come from host.Probe.ArcSignals,
// which reads only what a standard user cannot forge.
func CheckArc(signals []string, err error) error {
	if err != nil {
		return fmt.Errorf("could not tell whether this machine is Azure Arc-enabled (%v); refusing to run", err)
	}
	if len(signals) > 0 {
		return fmt.Errorf("this machine is Azure Arc-enabled (%s): the managed identity would not be this VM's; refusing to run (remove the Azure Connected Machine agent from AVD session hosts)", strings.Join(signals, "; "))
	}
	return nil
}

// Describe names the identity in use, for logs and `avd-agent check`.
func Describe(clientID, resourceID string) string {
	switch {
	case clientID != "":
		return "user-assigned managed identity (client id " + clientID + ")"
	case resourceID != "":
		return "user-assigned managed identity " + resourceID
	}
	return "system-assigned managed identity"
}

// StaticCredential wraps a token that was already obtained, so the ARM
// client does not ask for one again.
type StaticCredential struct{ Token azcore.AccessToken }

// GetToken returns the stored token.
func (s StaticCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return s.Token, nil
}
