// Package host is the agent's view of the Windows machine it runs on: user
// sessions, shutdown signals, the event log and the settings `avd-agent check`
// verifies. host_windows.go talks to Windows; host_other.go is the stand-in
// for tests and benchmarks on other systems, which reports no sessions and no
// shutdown.
package host

import (
	"errors"
	"time"
)

// SessionState is a WTS_CONNECTSTATE_CLASS value.
type SessionState int

// WTS connect states, numbered as Windows numbers them.
const (
	StateActive SessionState = iota
	StateConnected
	StateConnectQuery
	StateShadow
	StateDisconnected
	StateIdle
	StateListen
	StateReset
	StateDown
	StateInit
)

func (s SessionState) String() string {
	names := [...]string{"Active", "Connected", "ConnectQuery", "Shadow", "Disconnected", "Idle", "Listen", "Reset", "Down", "Init"}
	if s >= 0 && int(s) < len(names) {
		return names[s]
	}
	return "Unknown"
}

// Session is one user session on the host.
type Session struct {
	ID    uint32
	User  string // DOMAIN\user, empty when nobody is attached
	State SessionState
}

// Probe answers the agent's questions about the machine.
type Probe interface {
	// Sessions lists sessions (session 0 and those without a user excluded).
	Sessions() ([]Session, error)
	// ShuttingDown reports GetSystemMetrics(SM_SHUTTINGDOWN).
	ShuttingDown() bool
	// LastShutdownInitiated returns the time of the newest System event 1074
	// (shutdown or restart initiated, any language) within the last `within`;
	// ok is false when there is none.
	LastShutdownInitiated(within time.Duration) (at time.Time, ok bool, err error)
}

// Readiness answers `avd-agent check`'s questions about local configuration.
type Readiness interface {
	// PolicyValues reads the DWORD values under HKLM\<contract.PolicyKey>
	// that exist (MaxIdleTime, MaxDisconnectionTime, MaxConnectionTime, fResetBroken).
	PolicyValues() (map[string]uint32, error)
	// TaskRegistered reports whether the scheduled task at path exists.
	TaskRegistered(path string) (bool, error)
}

// EventLog writes to the Windows Application log under contract.EventSource.
type EventLog interface {
	Info(id uint32, msg string) error
	Warning(id uint32, msg string) error
	Error(id uint32, msg string) error
	Close() error
}

// ErrUnsupported is returned by probes that cannot answer on this system.
var ErrUnsupported = errors.New("not supported on this system")
