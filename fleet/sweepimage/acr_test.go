package sweepimage

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

type scopeCred struct{ scopes []string }

func (c *scopeCred) GetToken(_ context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.scopes = append(c.scopes, o.Scopes...)
	return azcore.AccessToken{Token: "aad-token", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// The ACR exchange: the Azure token goes to /oauth2/exchange as
// grant_type=access_token for the registry's service, and the refresh token
// comes back as the password of the all-zero user.
func TestACRKeychainExchangesTheAzureToken(t *testing.T) {
	var form map[string]string
	acr := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != "POST" || r.URL.Path != "/oauth2/exchange" {
			t.Errorf("unexpected %s %s", r.Method, r.URL)
		}
		r.ParseForm()
		form = map[string]string{"grant_type": r.PostForm.Get("grant_type"), "service": r.PostForm.Get("service"), "access_token": r.PostForm.Get("access_token")}
		w.Write([]byte(`{"refresh_token":"acr-refresh"}`))
	}))
	defer acr.Close()
	host := strings.TrimPrefix(acr.URL, "http://")
	cred := &scopeCred{}
	k := ACRKeychain{Credential: cred, Scope: "https://management.azure.com/.default", Scheme: "http",
		IsRegistry: func(h string) bool { return h == host }, Fallback: authn.NewMultiKeychain()}
	reg, _ := name.NewRegistry(host, name.Insecure)
	a, err := k.Resolve(reg)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := a.Authorization()
	if cfg.Username != ACRUser || cfg.Password != "acr-refresh" {
		t.Errorf("auth %+v", cfg)
	}
	if form["grant_type"] != "access_token" || form["service"] != host || form["access_token"] != "aad-token" || strings.Join(cred.scopes, ",") != "https://management.azure.com/.default" {
		t.Errorf("exchange form %v, scopes %v", form, cred.scopes)
	}
	// Any other registry goes to the fallback (the Docker config), not to Azure.
	other, _ := name.NewRegistry("ghcr.io")
	if a, err := k.Resolve(other); err != nil || a != authn.Anonymous {
		t.Errorf("ghcr.io: %v %v", a, err)
	}
	if !IsACR("Contoso.AzureCR.io") || IsACR("azurecr.io.evil.example") {
		t.Error("IsACR")
	}
}
