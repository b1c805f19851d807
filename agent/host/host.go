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

// Session is one session on the host, as WTSEnumerateSessions reports it.
type Session struct {
	ID uint32
	// Station is the WinStation name (WTS_SESSION_INFO.pWinStationName) as
	// Windows spells it: "Console", "Services", a listener ("RDP-Tcp",
	// "rdp-sxs240705700", Hyper-V's VMBus listener "31C5CE94259D4006A9E4"),
	// a connection through one ("RDP-Tcp#3", "rdp-sxs240705700#1"), and
	// empty for a disconnected session. qwinsta prints it lower-cased.
	Station string
	User    string // DOMAIN\user, empty when nobody is signed in (yet)
	State   SessionState
	// LogonTime is when the user signed in to this session (WTSINFO
	// LogonTime); zero when nobody has or Windows did not say. Session ids
	// are reused: (ID, LogonTime) names one logon.
	LogonTime time.Time
}

// Probe answers the agent's questions about the machine. Every question that
// can fail says so: the agent treats an error as "unknown", never as "no".
type Probe interface {
	// Sessions lists every session but the services session (0), with its
	// station name. Listeners and down sessions come with an empty User (they
	// are not asked); a session that vanished between listing and query is
	// left out; any other failure to query one session is an error for the
	// whole list (CollectSessions).
	Sessions() ([]Session, error)
	// LogonTime is the logon time of session id (as in Session.LogonTime);
	// zero when nobody is signed in there, ErrSessionGone when the session
	// no longer exists.
	LogonTime(id uint32) (time.Time, error)
	// ShuttingDown reports GetSystemMetrics(SM_SHUTTINGDOWN).
	ShuttingDown() bool
	// LastShutdownInitiated returns the time of the newest System event 1074
	// (shutdown or restart initiated, any language) within the last `within`;
	// ok is false when there is none.
	LastShutdownInitiated(within time.Duration) (at time.Time, ok bool, err error)
	// Servicing reports Windows servicing at work (installing names what,
	// empty when idle) and a pending reboot (the marker found, empty when none).
	Servicing() (installing, rebootPending string, err error)
	// SessionHost reports whether the AVD agent registered this VM as a
	// session host (HKLM\SOFTWARE\Microsoft\RDInfraAgent, IsRegistered = 1).
	SessionHost() (bool, error)
	// Uptime is the time since this boot, time asleep or hibernated included
	// (GetTickCount64).
	Uptime() (time.Duration, error)
	// Awake is the time since this boot the machine was running: sleep and
	// hibernation not counted (QueryUnbiasedInterruptTime). A resume from
	// hibernation is not a boot, so only this clock tells how long a
	// resumed VM has really been up.
	Awake() (time.Duration, error)
	// ArcSignals lists the signals a standard user cannot forge that this
	// machine is Azure Arc-enabled: the himds service registered with the
	// service control manager, IDENTITY_ENDPOINT or IMDS_ENDPOINT in the
	// system environment (HKLM). Empty means not Arc.
	ArcSignals() ([]string, error)
}

// ErrSessionGone is what a single-session query returns when the session
// ended between listing and query.
var ErrSessionGone = errors.New("session no longer exists")

// Readiness answers `avd-agent check`'s questions about local configuration.
type Readiness interface {
	// PolicyValues reads the DWORD values under HKLM\<contract.PolicyKey>
	// that exist (MaxIdleTime, MaxDisconnectionTime, MaxConnectionTime, fResetBroken).
	PolicyValues() (map[string]uint32, error)
	// TaskDefinition returns the registered task's XML as Task Scheduler
	// stores it (UTF-16 with BOM); an error wrapping fs.ErrNotExist when the
	// task is not registered.
	TaskDefinition(path string) ([]byte, error)
	// ResolveInstallDir expands the variables in a task's program folder as
	// the host has them and resolves the folder's real path (junctions,
	// links and short names followed: GetFinalPathNameByHandle), so check
	// judges where the agent really runs from (contract.JudgeInstallDir).
	ResolveInstallDir(dir string) (expanded, real string, err error)
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
