// Package azureflags holds the flags `avdgen rbac apply` and `avdgen sweep`
// share: the host pool, the cloud, the endpoint override and credentials.
package azureflags

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/spf13/cobra"

	"github.com/avdgen/avdgen/agent/armclient"
	"github.com/avdgen/avdgen/agent/azure"
	"github.com/avdgen/avdgen/cmd/avdgen/app/cmdutil"
	"github.com/avdgen/avdgen/fleet/azcred"
	"github.com/avdgen/avdgen/fleet/pool"
)

// Flags are the raw values.
type Flags struct {
	Pool        pool.Ref
	Auth        string
	Cloud       string
	ARMEndpoint string
	Concurrency int
	// IdentityClientID picks a user-assigned managed identity for --auth
	// managed-identity (only commands that register --identity-client-id).
	IdentityClientID string
}

// Add registers the flags.
func Add(cmd *cobra.Command, f *Flags) {
	fs := cmd.Flags()
	fs.StringVar(&f.Pool.Subscription, "subscription", "", "subscription `ID` of the host pool (required)")
	fs.StringVar(&f.Pool.ResourceGroup, "resource-group", "", "resource group `NAME` of the host pool (required)")
	fs.StringVar(&f.Pool.HostPool, "host-pool", "", "host pool `NAME` (required)")
	AddConnection(cmd, f)
}

// AddConnection registers the flags besides the host pool: --auth, --cloud,
// --arm-endpoint and --concurrency (`avdgen sweep` registers its own scope flags).
func AddConnection(cmd *cobra.Command, f *Flags) {
	fs := cmd.Flags()
	fs.StringVar(&f.Auth, "auth", "default", "credential `KIND`: "+strings.Join(azcred.AuthKinds, ", ")+" (default is the Azure SDK chain: environment, workload identity, managed identity, az login)")
	fs.StringVar(&f.Cloud, "cloud", "public", "Azure `CLOUD`: "+strings.Join(CloudNames(), ", "))
	fs.StringVar(&f.ARMEndpoint, "arm-endpoint", "", "Resource Manager endpoint `URL` override (https, or http on loopback for tests)")
	fs.IntVar(&f.Concurrency, "concurrency", 8, "`N` requests in flight at once (1-64)")
	cmd.RegisterFlagCompletionFunc("auth", cobra.FixedCompletions(azcred.AuthKinds, cobra.ShellCompDirectiveNoFileComp))
	cmd.RegisterFlagCompletionFunc("cloud", cobra.FixedCompletions(CloudNames(), cobra.ShellCompDirectiveNoFileComp))
}

// CloudNames are the --cloud values.
func CloudNames() []string {
	out := make([]string, len(azure.Clouds))
	for i, c := range azure.Clouds {
		out[i] = c.Name
	}
	return out
}

// Validate checks every flag before any request is made, and reports every
// missing or bad one at once.
func (f *Flags) Validate() error {
	var missing []string
	for _, r := range []struct{ flag, v string }{
		{"--subscription", f.Pool.Subscription}, {"--resource-group", f.Pool.ResourceGroup}, {"--host-pool", f.Pool.HostPool},
	} {
		if strings.TrimSpace(r.v) == "" {
			missing = append(missing, r.flag)
		}
	}
	if len(missing) > 0 {
		return cmdutil.Usagef("missing required flag(s) %s: the host pool's subscription id, resource group and name, e.g. --subscription 00000000-1111-2222-3333-444444444444 --resource-group rg-avd --host-pool hp1", strings.Join(missing, ", "))
	}
	var errs []string
	if err := f.Pool.Validate(); err != nil {
		errs = append(errs, err.Error())
	}
	if err := f.ValidateConnection(); err != nil {
		errs = append(errs, err.Error())
	}
	if len(errs) > 0 {
		return cmdutil.Usagef("%s", strings.Join(errs, "; "))
	}
	return nil
}

// ValidateConnection checks the flags AddConnection registers.
func (f *Flags) ValidateConnection() error {
	var errs []string
	if f.IdentityClientID != "" && !guidRe.MatchString(f.IdentityClientID) {
		errs = append(errs, fmt.Sprintf("--identity-client-id %q: must be a managed identity's client id (GUID)", f.IdentityClientID))
	}
	if f.Concurrency < 1 || f.Concurrency > 64 {
		errs = append(errs, fmt.Sprintf("--concurrency %d: must be between 1 and 64", f.Concurrency))
	}
	if _, err := azure.CloudByName(f.Cloud); err != nil {
		errs = append(errs, err.Error())
	}
	if f.ARMEndpoint != "" {
		if _, err := azure.ParseARMOverride("--arm-endpoint", f.ARMEndpoint); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if !knownAuth(f.Auth) {
		errs = append(errs, fmt.Sprintf("--auth %q: allowed values are %s", f.Auth, strings.Join(azcred.AuthKinds, ", ")))
	}
	if len(errs) > 0 {
		return cmdutil.Usagef("%s", strings.Join(errs, "; "))
	}
	return nil
}

var guidRe = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func knownAuth(a string) bool {
	for _, k := range azcred.AuthKinds {
		if k == a {
			return true
		}
	}
	return false
}

// SignInHint ends every credential failure: what the choices are and the
// usual fix.
func SignInHint() string {
	return "sign in with `az login` and use --auth cli (or --auth default, which also tries az); " +
		"--auth values: default (environment, workload identity, managed identity, az login), cli (az login), " +
		"managed-identity (on an Azure VM), env (AZURE_TENANT_ID, AZURE_CLIENT_ID and a secret or certificate), device-code (sign in from a browser)"
}

// Client builds the ARM client (after Validate). With --auth
// managed-identity it first makes sure IMDS answers, so that off Azure it
// fails within seconds instead of retrying for minutes.
func (f *Flags) Client(fac *cmdutil.Factory) (*armclient.Client, error) {
	cloud, _ := azure.CloudByName(f.Cloud)
	endpoint := ""
	if f.ARMEndpoint != "" {
		endpoint, _ = azure.ParseARMOverride("--arm-endpoint", f.ARMEndpoint)
	}
	hc := &http.Client{Transport: fac.Transport}
	if f.Auth == "managed-identity" && fac.ProbeIMDS != nil && !otherIdentitySource(fac.Getenv) {
		if err := fac.ProbeIMDS(context.Background()); err != nil {
			return nil, fmt.Errorf("--auth managed-identity: %w: this machine has no managed identity (it is not an Azure VM, or IMDS is blocked); %s", err, SignInHint())
		}
	}
	var cred azcore.TokenCredential
	var err error
	if fac.Credential != nil {
		cred, err = fac.Credential(f.Auth, cloud)
	} else {
		cred, err = azcred.CredentialWithClientID(f.Auth, f.IdentityClientID, cloud, hc, func(msg string) { fmt.Fprintln(fac.IO.ErrOut, msg) })
	}
	if err != nil {
		return nil, fmt.Errorf("credential (--auth %s): %w; %s", f.Auth, err, SignInHint())
	}
	return armclient.New(azure.ARM{Cloud: cloud, Endpoint: endpoint, HTTPClient: hc}, hintCredential{cred: cred, auth: f.Auth})
}

// otherIdentitySource reports environment variables that make azidentity
// get managed identity tokens somewhere else than IMDS (App Service, Arc,
// Cloud Shell, Service Fabric); the IMDS probe would then be wrong.
func otherIdentitySource(getenv func(string) string) bool {
	if getenv == nil {
		return false
	}
	for _, v := range []string{"IDENTITY_ENDPOINT", "MSI_ENDPOINT"} {
		if getenv(v) != "" {
			return true
		}
	}
	return false
}

// hintCredential adds SignInHint to every token failure.
type hintCredential struct {
	cred azcore.TokenCredential
	auth string
}

func (h hintCredential) GetToken(ctx context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	tok, err := h.cred.GetToken(ctx, o)
	if err != nil {
		return tok, &SignInError{Auth: h.auth, Err: err}
	}
	return tok, nil
}

// SignInError is a credential that could not get a token.
type SignInError struct {
	Auth string
	Err  error
}

func (e *SignInError) Error() string {
	return fmt.Sprintf("signing in (--auth %s) failed: %v; %s", e.Auth, e.Err, SignInHint())
}

func (e *SignInError) Unwrap() error { return e.Err }

// IMDSBase is the Azure Instance Metadata Service.
const IMDSBase = "http://169.254.169.254"

// IMDSProbeTimeout bounds the managed identity check: off Azure the
// link-local address usually drops packets, and azidentity alone retries
// for about 95 seconds.
const IMDSProbeTimeout = 3 * time.Second

// ErrNoIMDS says IMDS did not answer.
var ErrNoIMDS = errors.New("no Azure Instance Metadata Service answered")

// ProbeIMDS returns a check that IMDS at base answers at all within
// timeout. rt nil means a direct connection (never through a proxy: IMDS is
// link-local).
func ProbeIMDS(base string, rt http.RoundTripper, timeout time.Duration) func(context.Context) error {
	if rt == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.Proxy = nil
		rt = t
	}
	client := &http.Client{Transport: rt, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metadata/instance?api-version=2021-02-01", nil)
		if err != nil {
			return err
		}
		req.Header.Set("Metadata", "true")
		resp, err := client.Do(req)
		if err != nil {
			host := strings.TrimPrefix(strings.TrimPrefix(base, "http://"), "https://")
			if ctx.Err() != nil {
				return fmt.Errorf("%w at %s within %s", ErrNoIMDS, host, timeout)
			}
			return fmt.Errorf("%w at %s (%v)", ErrNoIMDS, host, err)
		}
		resp.Body.Close()
		return nil
	}
}
