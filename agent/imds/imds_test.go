package imds

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/avdgen/avdgen/internal/testnet"
)

const good = `{"compute":{"azEnvironment":"AzureUSGovernmentCloud","name":"vm1","resourceGroupName":"RG1","subscriptionId":"sub1",
"resourceId":"/subscriptions/sub1/resourceGroups/rg1/providers/Microsoft.Compute/virtualMachines/VM1","vmId":"id1",
"tagsList":[{"name":"AVDGEN-EXCLUDE","value":"true"},{"name":"team","value":"x"}],"additionalCapabilities":{"hibernationEnabled":"true"}}}`

func TestParse(t *testing.T) {
	in, err := Parse([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if in.Environment != "AzureUSGovernmentCloud" || !in.HibernationEnabled || in.Name != "vm1" {
		t.Errorf("parsed %+v", in)
	}
	if !in.HasTag("avdgen-exclude", "true") || in.HasTag("avdgen-exclude", "false") || in.HasTag("team", "y") {
		t.Errorf("HasTag wrong for %v", in.Tags)
	}
}

func TestParseRejects(t *testing.T) {
	for name, body := range map[string]string{
		"not json":        `<html>`,
		"no compute":      `{}`,
		"missing name":    strings.Replace(good, `"name":"vm1",`, ``, 1),
		"missing env":     strings.Replace(good, `"azEnvironment":"AzureUSGovernmentCloud",`, ``, 1),
		"other vm":        strings.Replace(good, `virtualMachines/VM1`, `virtualMachines/VM2`, 1),
		"other group":     strings.Replace(good, `resourceGroups/rg1`, `resourceGroups/rg2`, 1),
		"bad hibernation": strings.Replace(good, `"hibernationEnabled":"true"`, `"hibernationEnabled":"yes"`, 1),
	} {
		if _, err := Parse([]byte(body)); !errors.Is(err, ErrMetadata) {
			t.Errorf("%s: err = %v, want ErrMetadata", name, err)
		}
	}
}

// documentedWithHibernation are the IMDS api-versions the documentation
// lists (MicrosoftDocs/azure-compute-docs instance-metadata-service.md,
// "Supported API versions") that carry additionalCapabilities.hibernationEnabled.
var documentedWithHibernation = []string{"2025-04-07", "2024-07-17", "2024-03-15", "2023-11-15", "2023-07-01", "2021-12-13", "2021-11-15", "2021-11-01"}

func TestInstanceRetriesTransientStatuses(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A version the IMDS documentation lists, with hibernationEnabled
		// (introduced 2021-11-01): written out here, not the constant.
		if v := r.URL.Query().Get("api-version"); r.Header.Get("Metadata") != "true" || !slices.Contains(documentedWithHibernation, v) {
			t.Errorf("request %s headers %v", r.URL, r.Header)
		}
		switch calls.Add(1) {
		case 1:
			w.WriteHeader(500)
		case 2:
			w.WriteHeader(429)
		case 3:
			w.WriteHeader(410)
		default:
			w.Write([]byte(good))
		}
	}))
	defer srv.Close()
	var slept []time.Duration
	c := &Client{Base: srv.URL, HTTP: &http.Client{Transport: testnet.Guard(t, nil)},
		Sleep: func(_ context.Context, d time.Duration) error { slept = append(slept, d); return nil }}
	in, err := c.Instance(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if in.Name != "vm1" || calls.Load() != 4 {
		t.Errorf("name %q after %d calls", in.Name, calls.Load())
	}
	if len(slept) != 3 || slept[0] < 200*time.Millisecond || slept[1] <= slept[0] {
		t.Errorf("backoff %v: want 3 growing waits ≥ 200ms (IMDS allows 5 req/s)", slept)
	}
}

func TestInstanceDoesNotRetryClientErrors(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(400)
	}))
	defer srv.Close()
	c := &Client{Base: srv.URL, HTTP: &http.Client{Transport: testnet.Guard(t, nil)}, Sleep: func(context.Context, time.Duration) error { return nil }}
	if _, err := c.Instance(context.Background()); err == nil || calls.Load() != 1 {
		t.Errorf("err %v after %d calls; want an error after 1", err, calls.Load())
	}
}

func TestInstanceDeadline(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }))
	defer srv.Close()
	c := &Client{Base: srv.URL, HTTP: &http.Client{Transport: testnet.Guard(t, nil)}, Deadline: 300 * time.Millisecond}
	_, err := c.Instance(context.Background())
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("err = %v, want the last 503 reported after the deadline", err)
	}
}

func TestNoProxyForIMDS(t *testing.T) {
	proxy, _ := url.Parse("http://proxy.example:3128")
	orig := envProxy
	envProxy = http.ProxyURL(proxy)
	defer func() { envProxy = orig }()
	tr := NoProxyClient(nil).Transport.(*http.Transport)
	imdsReq, _ := http.NewRequest("GET", "http://169.254.169.254/metadata/instance", nil)
	if p, _ := tr.Proxy(imdsReq); p != nil {
		t.Errorf("IMDS would go through proxy %s", p)
	}
	armReq, _ := http.NewRequest("POST", "https://management.azure.com/x", nil)
	if p, _ := tr.Proxy(armReq); p == nil || p.Host != "proxy.example:3128" {
		t.Errorf("ARM proxy = %v, want the configured proxy", p)
	}
}

// Defect 4: avdgen-exclude=True excludes as well as =true.
func TestHasTagValueIgnoresCase(t *testing.T) {
	in := Instance{Tags: map[string]string{"AVDGEN-EXCLUDE": " True "}}
	if !in.HasTag("avdgen-exclude", "true") || !in.HasTag("avdgen-exclude", "TRUE") || in.HasTag("avdgen-exclude", "yes") {
		t.Errorf("HasTag case handling wrong for %v", in.Tags)
	}
}

// Defect 5: the token comes from this VM's IMDS with one GET per attempt.
func TestTokenFromIMDS(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if r.Method != http.MethodGet || r.URL.Path != "/metadata/identity/oauth2/token" || r.Header.Get("Metadata") != "true" ||
			q.Get("api-version") != "2018-02-01" || q.Get("resource") != "https://management.azure.com" || q.Get("client_id") != "cid" {
			t.Errorf("request %s %s %v", r.Method, r.URL, r.Header)
		}
		if calls.Add(1) == 1 {
			w.WriteHeader(404) // identity not ready yet: retried
			return
		}
		w.Write([]byte(`{"access_token":"tok","expires_on":"4102444800","token_type":"Bearer"}`))
	}))
	defer srv.Close()
	c := &Client{Base: srv.URL, HTTP: &http.Client{Transport: testnet.Guard(t, nil)}, Sleep: func(context.Context, time.Duration) error { return nil }}
	tok, err := c.Token(context.Background(), "https://management.azure.com", "cid", "")
	if err != nil || tok.AccessToken != "tok" || tok.ExpiresOn.Unix() != 4102444800 || calls.Load() != 2 {
		t.Fatalf("%+v %v after %d calls", tok, err, calls.Load())
	}
	if _, err := c.Token(context.Background(), "r", "a", "b"); err == nil {
		t.Error("both identities accepted")
	}
}

func TestTokenRejectsBadAnswers(t *testing.T) {
	for name, body := range map[string]string{
		"not json":   `{`,
		"no token":   `{"expires_on":"1"}`,
		"pop token":  `{"access_token":"t","expires_on":"1","token_type":"PoP"}`,
		"bad expiry": `{"access_token":"t","expires_on":"soon"}`,
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("msi_res_id") != "/x" {
				t.Errorf("%s: query %v", name, r.URL.Query())
			}
			w.Write([]byte(body))
		}))
		c := &Client{Base: srv.URL, HTTP: &http.Client{Transport: testnet.Guard(t, nil)}}
		if _, err := c.Token(context.Background(), "r", "", "/x"); err == nil {
			t.Errorf("%s accepted", name)
		}
		srv.Close()
	}
}
