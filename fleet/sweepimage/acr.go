package sweepimage

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/google/go-containerregistry/pkg/authn"
)

// ACRSuffixes are the Azure Container Registry login server suffixes of
// the public, US Government and China clouds.
var ACRSuffixes = []string{".azurecr.io", ".azurecr.us", ".azurecr.cn"}

// IsACR reports an Azure Container Registry login server.
func IsACR(host string) bool {
	for _, s := range ACRSuffixes {
		if strings.HasSuffix(strings.ToLower(host), s) {
			return true
		}
	}
	return false
}

// ACRUser is the user name ACR expects with an exchanged refresh token.
const ACRUser = "00000000-0000-0000-0000-000000000000"

// ACRKeychain answers for Azure Container Registries with a refresh token
// exchanged for the Azure credential's Resource Manager token (POST
// /oauth2/exchange, grant_type=access_token), and asks fallback for every
// other registry (the Docker config).
type ACRKeychain struct {
	Credential azcore.TokenCredential
	// Scope is the Resource Manager token scope of the cloud.
	Scope    string
	Fallback authn.Keychain
	// Client sends the exchange; Scheme is https except for a loopback
	// registry in tests.
	Client *http.Client
	Scheme string
	// IsRegistry decides which hosts get the exchange (IsACR by default).
	IsRegistry func(host string) bool
}

// Resolve implements authn.Keychain.
func (k ACRKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	is := k.IsRegistry
	if is == nil {
		is = IsACR
	}
	if !is(r.RegistryStr()) || k.Credential == nil {
		if k.Fallback == nil {
			return authn.Anonymous, nil
		}
		return k.Fallback.Resolve(r)
	}
	refresh, err := k.exchange(context.Background(), r.RegistryStr())
	if err != nil {
		return nil, err
	}
	return &authn.Basic{Username: ACRUser, Password: refresh}, nil
}

func (k ACRKeychain) exchange(ctx context.Context, host string) (string, error) {
	tok, err := k.Credential.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{k.Scope}})
	if err != nil {
		return "", fmt.Errorf("Azure token for the registry %s: %w", host, err)
	}
	scheme := k.Scheme
	if scheme == "" {
		scheme = "https"
	}
	form := url.Values{"grant_type": {"access_token"}, "service": {host}, "access_token": {tok.Token}}
	client := k.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.PostForm(scheme+"://"+host+"/oauth2/exchange", form)
	if err != nil {
		return "", fmt.Errorf("ACR token exchange at %s: %w", host, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("ACR token exchange at %s answered %d: %s (the identity needs AcrPush on the registry)", host, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	var out struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal(b, &out); err != nil || out.RefreshToken == "" {
		return "", fmt.Errorf("ACR token exchange at %s: no refresh_token in the answer", host)
	}
	return out.RefreshToken, nil
}
