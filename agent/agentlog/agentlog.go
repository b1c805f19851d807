// Package agentlog records every agent decision with its reason: in the
// Windows Application event log (stable ids) and in a size-capped log file.
package agentlog

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/avdgen/avdgen/agent/host"
)

// MaxFileSize caps the log file; the previous file is kept as <name>.1.
const MaxFileSize = 1 << 20

// Level of an entry.
type Level int

// Levels.
const (
	Info Level = iota
	Warning
	Error
)

func (l Level) String() string { return [...]string{"INFO", "WARN", "ERROR"}[l] }

// Logger fans entries out to the event log, the file and (verbose) stderr.
type Logger struct {
	mu      sync.Mutex
	events  host.EventLog // may be nil
	path    string        // may be empty
	stderr  io.Writer     // may be nil
	verbose bool
	now     func() time.Time
	// Refused says why the log file is not written (nil when it is).
	Refused error
}

// RefusedID is the event id of the "log file not written" warning
// (decide.WarnLogFileRefused; agentlog cannot import decide).
const RefusedID = 401

// New builds a Logger. path "" disables the file; events nil disables the
// event log. The log file's folder must pass host.ProtectFolder (created
// with a protected DACL when missing): otherwise no file is written, and the
// event log and stderr say why.
func New(path string, events host.EventLog, stderr io.Writer, verbose bool, now func() time.Time) *Logger {
	l := &Logger{events: events, stderr: stderr, verbose: verbose, now: now}
	if path != "" {
		if err := host.ProtectFolder(filepath.Dir(path)); err != nil {
			l.Refused = err
			l.Log(Warning, RefusedID, "not writing the log file %s: %v. Fix: delete the folder as an administrator; the agent recreates it with SYSTEM and Administrators only", path, err)
			return l
		}
		l.path = path
	}
	return l
}

// Log writes one entry with its event id.
func (l *Logger) Log(level Level, id uint32, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	l.mu.Lock()
	defer l.mu.Unlock()
	line := fmt.Sprintf("%s %-5s %d %s\n", l.now().UTC().Format(time.RFC3339), level, id, msg)
	if l.events != nil && id != 0 {
		var err error
		switch level {
		case Info:
			err = l.events.Info(id, msg)
		case Warning:
			err = l.events.Warning(id, msg)
		default:
			err = l.events.Error(id, msg)
		}
		if err != nil && l.stderr != nil && l.verbose {
			fmt.Fprintf(l.stderr, "avd-agent: event log: %v\n", err)
		}
	}
	if l.path != "" {
		if err := appendCapped(l.path, []byte(line)); err != nil && l.stderr != nil {
			fmt.Fprintf(l.stderr, "avd-agent: log file %s: %v\n", l.path, err)
		}
	}
	if l.stderr != nil && (l.verbose || level != Info) {
		io.WriteString(l.stderr, line)
	}
}

// Close closes the event log.
func (l *Logger) Close() error {
	if l.events != nil {
		return l.events.Close()
	}
	return nil
}

// appendCapped appends b to path, rotating to path.1 once the file would
// exceed MaxFileSize. Neither the file nor the rotated one may be a link,
// a folder or a file someone else owns: rotation never follows a link.
func appendCapped(path string, b []byte) error {
	if err := host.SafeFile(path); err != nil {
		return err
	}
	if fi, err := os.Lstat(path); err == nil && fi.Size()+int64(len(b)) > MaxFileSize {
		old := path + ".1"
		if err := host.SafeFile(old); err != nil {
			return fmt.Errorf("not rotating: %w", err)
		}
		if err := os.Remove(old); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("not rotating: %w", err)
		}
		if err := os.Rename(path, old); err != nil {
			return err
		}
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
