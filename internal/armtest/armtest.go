// Package armtest builds an ARM client pointed at a loopback fake, with a
// static token, short retry delays and the non-loopback guard. Test support.
package armtest

import (
	"net/http"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/avdgen/avdgen/agent/armclient"
	"github.com/avdgen/avdgen/agent/azure"
	"github.com/avdgen/avdgen/agent/identity"
	"github.com/avdgen/avdgen/internal/testnet"
)

// Client returns an armclient.Client for the fake at endpoint.
func Client(t testing.TB, endpoint string) *armclient.Client {
	t.Helper()
	pub, _ := azure.CloudByName("public")
	c, err := armclient.New(azure.ARM{
		Cloud: pub, Endpoint: endpoint,
		HTTPClient: &http.Client{Transport: testnet.Guard(t, nil)},
		Retry:      policy.RetryOptions{MaxRetries: 3, RetryDelay: 10 * time.Millisecond, MaxRetryDelay: 2 * time.Second},
	}, identity.StaticCredential{Token: azcore.AccessToken{Token: "fake", ExpiresOn: time.Now().Add(time.Hour)}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
