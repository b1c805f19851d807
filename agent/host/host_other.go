//go:build !windows

package host

import "time"

// System returns the stand-in probe of non-Windows builds: no sessions, no
// shutdown, no servicing, a registered session host up for an hour. Such builds exist only for tests and benchmarks; the agent refuses
// to run them against anything but loopback endpoints.
func System() Probe { return none{} }

// SystemReadiness reports ErrUnsupported for every question.
func SystemReadiness() Readiness { return none{} }

// OpenEventLog returns a no-op event log.
func OpenEventLog() (EventLog, error) { return none{}, nil }

// IsWindows is false here.
const IsWindows = false

type none struct{}

func (none) Sessions() ([]Session, error) { return nil, nil }
func (none) ShuttingDown() bool           { return false }
func (none) LogonTime(uint32) (time.Time, error) {
	return time.Time{}, ErrSessionGone
}
func (none) LastShutdownInitiated(time.Duration) (time.Time, bool, error) {
	return time.Time{}, false, nil
}
func (none) Servicing() (string, string, error)       { return "", "", nil }
func (none) SessionHost() (bool, error)               { return true, nil }
func (none) Uptime() (time.Duration, error)           { return time.Hour, nil }
func (none) Awake() (time.Duration, error)            { return time.Hour, nil }
func (none) ArcSignals() ([]string, error)            { return nil, nil }
func (none) PolicyValues() (map[string]uint32, error) { return nil, ErrUnsupported }
func (none) TaskDefinition(string) ([]byte, error)    { return nil, ErrUnsupported }
func (none) ResolveInstallDir(string) (string, string, error) {
	return "", "", ErrUnsupported
}
func (none) Info(uint32, string) error    { return nil }
func (none) Warning(uint32, string) error { return nil }
func (none) Error(uint32, string) error   { return nil }
func (none) Close() error                 { return nil }
