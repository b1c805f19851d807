// Package testnet keeps tests off the real network: every HTTP request a test
// makes goes through Guard, which fails the test for any non-loopback host
// (169.254.169.254, management.azure.com, login.microsoftonline.com, ...).
package testnet

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/avdgen/avdgen/agent/azure"
)

// Guard wraps base (http.DefaultTransport when nil) and fails t on any
// request whose host is not loopback; the request is not sent.
func Guard(t testing.TB, base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return guard{t: t, base: base}
}

type guard struct {
	t    testing.TB
	base http.RoundTripper
}

func (g guard) RoundTrip(r *http.Request) (*http.Response, error) {
	if !azure.IsLoopbackHost(r.URL.Host) {
		g.t.Errorf("test tried to reach non-loopback host %s (%s %s): every Azure call in a test must go to a loopback fake", r.URL.Host, r.Method, r.URL.Redacted())
		return nil, fmt.Errorf("testnet: blocked request to non-loopback host %s", r.URL.Host)
	}
	return g.base.RoundTrip(r)
}

// GuardDefault replaces http.DefaultTransport with a guard for the test's
// duration, catching code that forgot to use the injected transport.
func GuardDefault(t *testing.T) {
	orig := http.DefaultTransport
	http.DefaultTransport = Guard(t, orig)
	t.Cleanup(func() { http.DefaultTransport = orig })
}
