//go:build windows

package host

import "time"

// IsWindows is true here.
const IsWindows = true

// System returns the probe backed by Windows APIs. (Being implemented.)
func System() Probe { return winProbe{} }

// SystemReadiness returns the registry and Task Scheduler backed readiness checks.
func SystemReadiness() Readiness { return winProbe{} }

// OpenEventLog opens the Application log under contract.EventSource.
func OpenEventLog() (EventLog, error) { return nil, ErrUnsupported }

type winProbe struct{}

func (winProbe) Sessions() ([]Session, error) { return nil, ErrUnsupported }
func (winProbe) ShuttingDown() bool           { return false }
func (winProbe) LastShutdownInitiated(time.Duration) (time.Time, bool, error) {
	return time.Time{}, false, ErrUnsupported
}
func (winProbe) PolicyValues() (map[string]uint32, error) { return nil, ErrUnsupported }
func (winProbe) TaskRegistered(string) (bool, error)      { return false, ErrUnsupported }
