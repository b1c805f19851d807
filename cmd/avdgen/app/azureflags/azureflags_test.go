package azureflags

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/avdgen/avdgen/cmd/avdgen/app/cmdutil"
	"github.com/avdgen/avdgen/internal/cmdtest"
	"github.com/avdgen/avdgen/internal/testnet"
)

const sub = "00000000-1111-2222-3333-444444444444"

// blackHole accepts TCP connections on loopback and never answers, like
// 169.254.169.254 off Azure (where packets are dropped).
func blackHole(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return "http://" + ln.Addr().String()
}

func factory(t *testing.T, probe func(context.Context) error) *cmdutil.Factory {
	f, _, _ := cmdtest.Factory(t)
	f.ProbeIMDS = probe
	return f
}

func flags(auth string) Flags {
	f := Flags{Auth: auth, Cloud: "public", Concurrency: 8}
	f.Pool.Subscription, f.Pool.ResourceGroup, f.Pool.HostPool = sub, "rg-avd", "hp1"
	return f
}

// withWatchdog runs fn and fails the test if it has not returned after
// limit: without a bounded probe, azidentity retries IMDS for ~95 s.
func withWatchdog(t *testing.T, limit time.Duration, fn func() error) error {
	t.Helper()
	ch := make(chan error, 1)
	go func() { ch <- fn() }()
	select {
	case err := <-ch:
		return err
	case <-time.After(limit):
		t.Fatalf("still waiting after %s", limit)
		return nil
	}
}

// TestManagedIdentityOffAzureFailsFast: IMDS not answering (a black hole,
// or nothing listening) ends --auth managed-identity within the probe's
// timeout, with the --auth values and `az login` in the message.
func TestManagedIdentityOffAzureFailsFast(t *testing.T) {
	if IMDSProbeTimeout > 5*time.Second {
		t.Fatalf("IMDSProbeTimeout = %s; managed identity off Azure must fail within 5 s", IMDSProbeTimeout)
	}
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()
	for name, base := range map[string]string{"black hole": blackHole(t), "connection refused": closedURL} {
		fac := factory(t, ProbeIMDS(base, testnet.Guard(t, nil), IMDSProbeTimeout))
		f := flags("managed-identity")
		err := withWatchdog(t, 4*IMDSProbeTimeout, func() error { _, err := f.Client(fac); return err })
		if !errors.Is(err, ErrNoIMDS) {
			t.Fatalf("%s: err = %v, want ErrNoIMDS", name, err)
		}
		for _, want := range []string{"az login", "--auth values: default", "managed-identity", "device-code", "not an Azure VM"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: %q lacks %q", name, err, want)
			}
		}
	}
}

func TestProbeIMDSAcceptsAnAnswer(t *testing.T) {
	var gotHeader string
	imds := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotHeader = r.Header.Get("Metadata")
		// IMDS refuses a version its documentation does not list (issue 20
		// item 8), with this answer (instance-metadata-service.md).
		if v := r.URL.Query().Get("api-version"); !slices.Contains([]string{"2025-04-07", "2024-07-17", "2024-03-15", "2023-11-15", "2023-07-01", "2021-12-13", "2021-11-15", "2021-11-01", "2021-10-01", "2021-08-01", "2021-05-01", "2021-03-01", "2021-02-01"}, v) {
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"error":"Bad request. api-version is invalid or was not specified in the request. For more information refer to aka.ms/azureimds","newest-versions":["2025-04-07","2024-07-17","2024-03-15"]}`))
			return
		}
		w.Write([]byte(`{}`))
	}))
	defer imds.Close()
	if err := ProbeIMDS(imds.URL, testnet.Guard(t, nil), IMDSProbeTimeout)(context.Background()); err != nil {
		t.Fatalf("probe: %v", err)
	}
	if gotHeader != "true" {
		t.Errorf("Metadata header = %q, want true (IMDS refuses requests without it)", gotHeader)
	}
}

type failingCred struct{}

func (failingCred) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{}, errors.New("AzureCLICredential: ERROR: Please run 'az login' to setup account")
}

// TestCredentialFailuresSayWhatToDo: a credential that cannot be built, or
// cannot get a token, names the --auth values and suggests az login.
func TestCredentialFailuresSayWhatToDo(t *testing.T) {
	for _, v := range []string{"AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_USERNAME"} {
		t.Setenv(v, "")
		os.Unsetenv(v)
	}
	fac := factory(t, nil)
	f := flags("env")
	_, err := f.Client(fac)
	if err == nil {
		t.Fatal("--auth env without AZURE_* variables: no error")
	}
	for _, want := range []string{"az login", "--auth values: default", "cli (az login)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("--auth env: %q lacks %q", err, want)
		}
	}

	_, err = hintCredential{cred: failingCred{}, auth: "cli"}.GetToken(context.Background(), policy.TokenRequestOptions{})
	var se *SignInError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "signing in (--auth cli) failed") || !strings.Contains(err.Error(), "--auth values") {
		t.Errorf("token failure: %v", err)
	}
}

// TestCLITokenFailureThroughTheClient: az failing (not signed in) surfaces
// from a real request with the hint.
func TestCLITokenFailureThroughTheClient(t *testing.T) {
	dir := t.TempDir()
	script := "#!/bin/sh\necho \"ERROR: Please run 'az login' to setup account.\" >&2\nexit 1\n"
	if err := os.WriteFile(filepath.Join(dir, "az"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	arm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("request reached ARM without a token: %s", r.URL)
	}))
	defer arm.Close()
	fac := factory(t, nil)
	f := flags("cli")
	f.ARMEndpoint = arm.URL
	c, err := f.Client(fac)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Do(context.Background(), http.MethodGet, c.URL("/subscriptions/"+sub, "api-version=2022-12-01"), nil, nil)
	if err == nil || !strings.Contains(err.Error(), "--auth values") || !strings.Contains(err.Error(), "az login") {
		t.Errorf("err = %v", err)
	}
}

// TestValidateReportsEveryMissingFlag: all missing required flags in one
// message; empty strings count as missing.
func TestValidateReportsEveryMissingFlag(t *testing.T) {
	f := Flags{Auth: "default", Cloud: "public", Concurrency: 8}
	err := f.Validate()
	if !cmdutil.IsUsage(err) || !strings.Contains(err.Error(), "--subscription, --resource-group, --host-pool") {
		t.Errorf("nothing given: %v", err)
	}
	f = flags("default")
	f.Pool.HostPool = ""
	f.Pool.ResourceGroup = " "
	if err := f.Validate(); err == nil || !strings.Contains(err.Error(), "--resource-group, --host-pool") {
		t.Errorf("empty --host-pool and --resource-group: %v", err)
	}
	f = flags("nope")
	f.Cloud = "mars"
	f.Concurrency = 0
	err = f.Validate()
	for _, want := range []string{`--auth "nope"`, `--cloud "mars"`, "--concurrency 0"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("several bad values: %v lacks %s", err, want)
		}
	}
}
