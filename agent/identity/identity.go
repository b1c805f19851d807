// Package identity gets the VM's managed-identity token for Resource Manager
// through azidentity, sending every request to the IMDS endpoint in force
// (the real one, or a loopback fake in tests).
package identity

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/managedidentity"

	"github.com/avdgen/avdgen/agent/azure"
	"github.com/avdgen/avdgen/agent/imds"
)

// Options pick the identity and where IMDS is.
type Options struct {
	// IMDSBase is azure.IMDSEndpoint or a validated loopback override.
	IMDSBase string
	// ClientID or ResourceID select a user-assigned identity; both empty
	// means the system-assigned one.
	ClientID, ResourceID string
	// Transport sends the token requests (tests wrap it in testnet.Guard).
	Transport http.RoundTripper
	// Getenv is consulted to refuse non-IMDS managed-identity sources.
	Getenv func(string) string
	// Source reports MSAL's managed-identity source; nil means managedidentity.GetSource.
	Source func() (managedidentity.Source, error)
}

// nonIMDSVariables make MSAL (and so azidentity) use another token source
// (Arc, App Service, Cloud Shell, Service Fabric, Azure ML) instead of IMDS.
var nonIMDSVariables = []string{"IDENTITY_ENDPOINT", "IMDS_ENDPOINT", "MSI_ENDPOINT", "IDENTITY_SERVER_THUMBPRINT", "IDENTITY_HEADER", "MSI_SECRET"}

// CheckSource refuses any managed-identity source but IMDS: on an Arc-enabled
// machine the token would belong to the Arc identity, not this VM's.
func CheckSource(o Options) error {
	if o.Getenv != nil {
		for _, v := range nonIMDSVariables {
			if o.Getenv(v) != "" {
				return fmt.Errorf("environment variable %s is set, so the managed identity would not come from this VM's IMDS; refusing to run (unset it for the SYSTEM account)", v)
			}
		}
	}
	source := o.Source
	if source == nil {
		source = managedidentity.GetSource
	}
	s, err := source()
	if err != nil {
		return fmt.Errorf("determining the managed identity source: %w", err)
	}
	if s != managedidentity.DefaultToIMDS {
		return fmt.Errorf("managed identity source is %s, not IMDS (is the Azure Arc agent installed?); refusing to run", s)
	}
	return nil
}

// NewCredential builds the ManagedIdentityCredential.
func NewCredential(o Options) (azcore.TokenCredential, error) {
	if o.ClientID != "" && o.ResourceID != "" {
		return nil, fmt.Errorf("give either --identity-client-id or --identity-resource-id, not both")
	}
	if err := CheckSource(o); err != nil {
		return nil, err
	}
	opts := &azidentity.ManagedIdentityCredentialOptions{}
	switch {
	case o.ClientID != "":
		opts.ID = azidentity.ClientID(o.ClientID)
	case o.ResourceID != "":
		opts.ID = azidentity.ResourceID(o.ResourceID)
	}
	base := o.Transport
	if base == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.Proxy = imds.ProxyExceptIMDS // IMDS is never reached through a proxy
		base = t
	}
	rt := base
	if o.IMDSBase != "" && o.IMDSBase != azure.IMDSEndpoint {
		target, err := url.Parse(o.IMDSBase)
		if err != nil {
			return nil, err
		}
		rt = redirect{to: target, base: base}
	}
	opts.Transport = &http.Client{Transport: rt}
	// Short retries: the overall deadline comes from the caller's context.
	opts.Retry = policy.RetryOptions{MaxRetries: 3, RetryDelay: 500 * time.Millisecond, MaxRetryDelay: 4 * time.Second}
	return azidentity.NewManagedIdentityCredential(opts)
}

// Token gets a token for the cloud's ARM audience within timeout.
func Token(ctx context.Context, cred azcore.TokenCredential, c azure.Cloud, timeout time.Duration) (azcore.AccessToken, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{c.Scope()}})
	if err != nil {
		return azcore.AccessToken{}, fmt.Errorf("managed identity token for %s: %w", c.ARMAudience, err)
	}
	return tok, nil
}

// redirect sends requests meant for the real IMDS to the loopback override.
type redirect struct {
	to   *url.URL
	base http.RoundTripper
}

func (r redirect) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host == "169.254.169.254" || req.URL.Host == "169.254.169.254:80" {
		req = req.Clone(req.Context())
		req.URL.Scheme = r.to.Scheme
		req.URL.Host = r.to.Host
		req.Host = r.to.Host
	}
	return r.base.RoundTrip(req)
}

// StaticCredential wraps a token that was already obtained, so the ARM
// client does not ask IMDS again.
type StaticCredential struct{ Token azcore.AccessToken }

// GetToken returns the stored token.
func (s StaticCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return s.Token, nil
}
