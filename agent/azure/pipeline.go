package azure

import (
	"net/http"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// ARM describes how to reach Resource Manager: the cloud, an optional
// (already validated) endpoint override and the HTTP transport.
type ARM struct {
	Cloud Cloud
	// Endpoint overrides Cloud.ARMEndpoint when not empty; validate it with
	// ParseARMOverride first.
	Endpoint string
	// HTTPClient sends every request; tests pass one whose transport is a
	// loopback fake behind testnet.Guard. nil means http.DefaultClient.
	HTTPClient *http.Client
	// Retry tunes azcore's retry policy (it honours Retry-After on 429/503 and
	// retries 408/429/5xx). Zero values take DefaultRetry.
	Retry policy.RetryOptions
	// PerRetry policies run before every attempt, retries included (the
	// agent re-checks the host there before each deallocate POST).
	PerRetry []policy.Policy
}

// DefaultRetry is the retry policy avdgen uses against ARM.
var DefaultRetry = policy.RetryOptions{MaxRetries: 5, RetryDelay: 2 * time.Second, MaxRetryDelay: 60 * time.Second}

// BaseURL is the Resource Manager base URL in force.
func (a ARM) BaseURL() string {
	if a.Endpoint != "" {
		return a.Endpoint
	}
	return a.Cloud.ARMEndpoint
}

// ClientOptions returns azcore ARM client options for a. Bearer tokens may go
// over plain http only to a loopback endpoint (tests).
func (a ARM) ClientOptions() *arm.ClientOptions {
	retry := a.Retry
	if retry.MaxRetries == 0 && retry.RetryDelay == 0 {
		retry = DefaultRetry
	}
	opts := &arm.ClientOptions{
		ClientOptions: policy.ClientOptions{
			Cloud:                           a.Cloud.Configuration(a.Endpoint),
			Retry:                           retry,
			InsecureAllowCredentialWithHTTP: IsLoopbackURL(a.BaseURL()),
			Telemetry:                       policy.TelemetryOptions{ApplicationID: "avdgen"},
		},
		DisableRPRegistration: true,
	}
	opts.PerRetryPolicies = a.PerRetry
	if a.HTTPClient != nil {
		opts.Transport = a.HTTPClient
	}
	return opts
}
