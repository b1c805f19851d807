package testnet

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

// recorder captures Errorf instead of failing the real test.
type recorder struct {
	testing.TB
	errors []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func TestGuardBlocksNonLoopback(t *testing.T) {
	rec := &recorder{TB: t}
	sent := 0
	base := roundTripFunc(func(*http.Request) (*http.Response, error) { sent++; return nil, fmt.Errorf("should not be reached") })
	c := &http.Client{Transport: Guard(rec, base)}
	for _, u := range []string{"http://169.254.169.254/metadata/instance", "https://management.azure.com/", "https://login.microsoftonline.com/x", "http://10.0.0.1/"} {
		if _, err := c.Get(u); err == nil {
			t.Errorf("%s: no error", u)
		}
	}
	if sent != 0 || len(rec.errors) != 4 {
		t.Errorf("sent %d, errors %d (%v); want 0 sent and 4 test failures", sent, len(rec.errors), rec.errors)
	}
}

func TestGuardPassesLoopback(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
	defer srv.Close()
	c := &http.Client{Transport: Guard(t, nil)}
	resp, err := c.Get(srv.URL)
	if err != nil || resp.StatusCode != 204 {
		t.Fatalf("%v %v", resp, err)
	}
	resp.Body.Close()
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
