// Package cmdutil holds what every avdgen command is given instead of reaching
// for globals: IO streams, the clock, the environment, the HTTP transport and
// the bundled agent binaries. Tests build a Factory of fakes.
package cmdutil

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/avdgen/avdgen/agent/azure"
	"github.com/avdgen/avdgen/dist"
)

// IOStreams are the standard streams of one invocation.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
	// IsTerminal is true when Out is an interactive terminal (progress output).
	IsTerminal bool
	// ErrIsTerminal is true when ErrOut is an interactive terminal (progress
	// lines on stderr, as `avdgen report` prints them).
	ErrIsTerminal bool
}

// Factory is injected into every command constructor.
type Factory struct {
	IO *IOStreams
	// Now is the clock; generators never call time.Now themselves.
	Now func() time.Time
	// Sleep waits (sweep's confirm delay); tests make it instant.
	Sleep func(context.Context, time.Duration) error
	// Getenv reads the environment (SOURCE_DATE_EPOCH, AVDGEN_* and the like).
	Getenv func(string) string
	// Transport sends every HTTP request a command makes; tests put a loopback
	// fake or a guard here.
	Transport http.RoundTripper
	// Agents returns the agent binaries to bundle.
	Agents func() (dist.Agents, error)
	// LookPath finds external programs (az for --auth cli); tests stub it.
	LookPath func(string) (string, error)
	// ProbeIMDS checks that the Azure Instance Metadata Service answers
	// before --auth managed-identity is used (nil: no check). Tests point
	// it at a loopback fake, never at 169.254.169.254.
	ProbeIMDS func(context.Context) error
	// Credential, when set, replaces the azidentity credential for --auth
	// (in-process tests); nil means azidentity.
	Credential func(auth string, cloud azure.Cloud) (azcore.TokenCredential, error)
}

// Exit codes shared by every avdgen command.
const (
	ExitOK      = 0
	ExitFailure = 1 // the command ran and something failed
	ExitUsage   = 2 // bad input: nothing was done
)

// UsageError marks bad input. Main prints it on one line and exits with 2.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Usagef builds a UsageError; name the field, the value and what is allowed.
func Usagef(format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...)}
}

// IsUsage reports whether err is (or wraps) a UsageError.
func IsUsage(err error) bool {
	var u *UsageError
	return errors.As(err, &u)
}

// SilentError ends a command with ExitFailure after it has already printed
// its own report (sweep and rbac summaries).
var SilentError = errors.New("silent failure")
