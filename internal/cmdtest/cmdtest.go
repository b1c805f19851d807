// Package cmdtest builds the cmdutil.Factory avdgen's command tests run
// with. Test support only: neither binary links it.
package cmdtest

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/avdgen/avdgen/cmd/avdgen/app/cmdutil"
	"github.com/avdgen/avdgen/dist"
	"github.com/avdgen/avdgen/internal/testnet"
)

// Now is the Factory's fixed clock.
var Now = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// Factory returns a Factory of fakes and its stdout and stderr buffers:
// empty stdin, a fixed clock (Now), an instant Sleep, an empty environment,
// every HTTP request behind testnet's non-loopback guard (the default
// transport too), and no bundled agents. Tests set the other fields
// (Agents, Credential, ProbeIMDS, ...) they need.
func Factory(t *testing.T) (*cmdutil.Factory, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	testnet.GuardDefault(t)
	var out, errOut bytes.Buffer
	return &cmdutil.Factory{
		IO:        &cmdutil.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut},
		Now:       func() time.Time { return Now },
		Sleep:     func(context.Context, time.Duration) error { return nil },
		Getenv:    func(string) string { return "" },
		Transport: testnet.Guard(t, nil),
		Agents:    func() (dist.Agents, error) { return dist.Agents{}, dist.ErrNotBundled },
	}, &out, &errOut
}
