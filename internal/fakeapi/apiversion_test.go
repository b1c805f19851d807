package fakeapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/avdgen/avdgen/internal/fakeazure"
	"github.com/avdgen/avdgen/internal/fakepool"
)

// Issue 20 item 8: the fakes refuse a missing or unknown api-version as the
// services do; before, a deallocate with api-version=1999-01-01 passed.
// The versions here are written out from Azure's documentation.
func TestFakesRefuseUnknownAPIVersions(t *testing.T) {
	az := fakeazure.New(t, fakeazure.DefaultVM())
	vm := fakeazure.DefaultVM().ID()
	pool := fakepool.New(t, "sub", "rg-pool", "hp", fakepool.Pool(3, 1))
	for _, c := range []struct {
		name, method, url string
		status            int
		want              string
	}{
		{"deallocate, unknown version", "POST", az.URL + vm + "/deallocate?api-version=1999-01-01", 400,
			`{"error":{"code":"InvalidApiVersionParameter","message":"The api-version '1999-01-01' is invalid. The supported versions are '2025-04-01,2024-11-01,2024-07-01,`},
		{"deallocate, no version", "POST", az.URL + vm + "/deallocate", 400,
			`{"error":{"code":"MissingApiVersionParameter","message":"The api-version query parameter (?api-version=) is required for all requests."}}`},
		{"deallocate, documented", "POST", az.URL + vm + "/deallocate?api-version=2024-07-01", 202, ""},
		{"permissions, Compute's version", "GET", az.URL + vm + "/providers/Microsoft.Authorization/permissions?api-version=2024-07-01", 400, `"code":"InvalidApiVersionParameter"`},
		{"permissions, documented", "GET", az.URL + vm + "/providers/Microsoft.Authorization/permissions?api-version=2022-04-01", 200, `"value"`},
		{"IMDS, no version", "GET", az.URL + "/metadata/instance", 400,
			`{"error":"Bad request. api-version is invalid or was not specified in the request. For more information refer to aka.ms/azureimds","newest-versions":["2025-04-07","2024-07-17","2024-03-15"]}`},
		{"IMDS, unknown version", "GET", az.URL + "/metadata/instance?api-version=2021-12-14", 400, `"error":"Bad request. api-version is invalid`},
		{"IMDS, documented", "GET", az.URL + "/metadata/instance?api-version=2021-12-13", 200, `"compute"`},
		{"token, instance version", "GET", az.URL + "/metadata/identity/oauth2/token?api-version=2021-12-13&resource=https://management.azure.com", 400, `api-version is invalid`},
		{"token, documented", "GET", az.URL + "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://management.azure.com", 200, `"access_token"`},
		{"session hosts, unknown", "GET", pool.URL + "/subscriptions/sub/resourceGroups/rg-pool/providers/Microsoft.DesktopVirtualization/hostPools/hp/sessionHosts?api-version=1999-01-01", 400, `"code":"InvalidApiVersionParameter"`},
		{"session hosts, documented", "GET", pool.URL + "/subscriptions/sub/resourceGroups/rg-pool/providers/Microsoft.DesktopVirtualization/hostPools/hp/sessionHosts?api-version=2024-04-03", 200, `"value"`},
		{"VM list, none", "GET", pool.URL + "/subscriptions/sub/resourceGroups/rg-avd-00/providers/Microsoft.Compute/virtualMachines", 400, `"code":"MissingApiVersionParameter"`},
		{"host pool, unknown", "GET", pool.URL + "/subscriptions/sub/resourceGroups/rg-pool/providers/Microsoft.DesktopVirtualization/hostPools/hp?api-version=2024-07-01", 400, `"code":"InvalidApiVersionParameter"`},
		{"host pool, documented", "GET", pool.URL + "/subscriptions/sub/resourceGroups/rg-pool/providers/Microsoft.DesktopVirtualization/hostPools/hp?api-version=2024-04-03", 200, `"hostPoolType"`},
		{"instance view, unknown", "GET", pool.URL + "/subscriptions/sub/resourceGroups/rg-avd-00/providers/Microsoft.Compute/virtualMachines/avd-0/instanceView?api-version=2024-04-03", 400, `"code":"InvalidApiVersionParameter"`},
		{"role assignments, Compute's version", "GET", pool.URL + "/subscriptions/sub/resourceGroups/rg-avd-00/providers/Microsoft.Authorization/roleAssignments?api-version=2024-07-01", 400, `"code":"InvalidApiVersionParameter"`},
	} {
		req, _ := http.NewRequest(c.method, c.url, nil)
		req.Header.Set("Metadata", "true")
		req.Header.Set("Authorization", "Bearer fake-token-for-test")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status || !strings.Contains(string(body), c.want) {
			t.Errorf("%s: %d %s\nwant %d containing %s", c.name, resp.StatusCode, body, c.status, c.want)
		}
		if c.status == 400 && !json.Valid(body) {
			t.Errorf("%s: body is not JSON: %s", c.name, body)
		}
	}
}
