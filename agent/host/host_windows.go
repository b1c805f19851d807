//go:build windows

package host

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"
	"golang.org/x/sys/windows/svc/eventlog"

	"github.com/avdgen/avdgen/agent/contract"
)

// IsWindows is true here.
const IsWindows = true

var (
	modwtsapi32 = windows.NewLazySystemDLL("wtsapi32.dll")
	moduser32   = windows.NewLazySystemDLL("user32.dll")
	modwevtapi  = windows.NewLazySystemDLL("wevtapi.dll")

	procWTSQuerySessionInformationW = modwtsapi32.NewProc("WTSQuerySessionInformationW")
	procGetSystemMetrics            = moduser32.NewProc("GetSystemMetrics")
	procGetTickCount64              = windows.NewLazySystemDLL("kernel32.dll").NewProc("GetTickCount64")
	procEvtQuery                    = modwevtapi.NewProc("EvtQuery")
	procEvtNext                     = modwevtapi.NewProc("EvtNext")
	procEvtRender                   = modwevtapi.NewProc("EvtRender")
	procEvtClose                    = modwevtapi.NewProc("EvtClose")
)

const (
	smShuttingDown           = 0x2000 // SM_SHUTTINGDOWN
	wtsUserName              = 5      // WTS_INFO_CLASS WTSUserName
	wtsDomainName            = 7      // WTSDomainName
	evtQueryChannelPath      = 0x1
	evtQueryReverseDirection = 0x200
	evtRenderEventXML        = 1
	errorNoMoreItems         = windows.Errno(259)
)

// System returns the probe backed by Windows APIs.
func System() Probe { return winProbe{} }

// SystemReadiness returns the registry and Task Scheduler backed checks.
func SystemReadiness() Readiness { return winProbe{} }

type winProbe struct{}

// Sessions lists user sessions with WTSEnumerateSessionsW, skipping session 0
// (services) and sessions nobody is attached to (listeners, idle RDP stacks).
func (winProbe) Sessions() ([]Session, error) {
	var infos *windows.WTS_SESSION_INFO
	var count uint32
	if err := windows.WTSEnumerateSessions(0, 0, 1, &infos, &count); err != nil {
		return nil, fmt.Errorf("WTSEnumerateSessions: %w", err)
	}
	defer windows.WTSFreeMemory(uintptr(unsafe.Pointer(infos)))
	var out []Session
	for _, si := range unsafe.Slice(infos, count) {
		if si.SessionID == 0 {
			continue
		}
		user, err := sessionString(si.SessionID, wtsUserName)
		if err != nil {
			return nil, fmt.Errorf("WTSQuerySessionInformation(session %d): %w", si.SessionID, err)
		}
		if user == "" {
			continue
		}
		domain, _ := sessionString(si.SessionID, wtsDomainName)
		out = append(out, Session{ID: si.SessionID, User: joinUser(domain, user), State: SessionState(si.State)})
	}
	return out, nil
}

func sessionString(id uint32, class uint32) (string, error) {
	var buf *uint16
	var n uint32
	r, _, err := procWTSQuerySessionInformationW.Call(0, uintptr(id), uintptr(class), uintptr(unsafe.Pointer(&buf)), uintptr(unsafe.Pointer(&n)))
	if r == 0 {
		return "", err
	}
	defer windows.WTSFreeMemory(uintptr(unsafe.Pointer(buf)))
	return windows.UTF16PtrToString(buf), nil
}

// ShuttingDown reports GetSystemMetrics(SM_SHUTTINGDOWN).
func (winProbe) ShuttingDown() bool {
	r, _, _ := procGetSystemMetrics.Call(smShuttingDown)
	return r != 0
}

// LastShutdownInitiated finds the newest System event 1074 within `within`
// by its id and time only: its text (param5, "restart"/"power off") is
// localized, so it is never read.
func (winProbe) LastShutdownInitiated(within time.Duration) (time.Time, bool, error) {
	if err := procEvtQuery.Find(); err != nil {
		return time.Time{}, false, fmt.Errorf("%w: %v", ErrEventLogUnavailable, err)
	}
	up, _, _ := procGetTickCount64.Call()
	q, err := windows.UTF16PtrFromString(ShutdownQuery(SinceBoot(within, time.Duration(up)*time.Millisecond)))
	if err != nil {
		return time.Time{}, false, err
	}
	ch, _ := windows.UTF16PtrFromString("System")
	h, _, callErr := procEvtQuery.Call(0, uintptr(unsafe.Pointer(ch)), uintptr(unsafe.Pointer(q)), evtQueryChannelPath|evtQueryReverseDirection)
	if h == 0 {
		return time.Time{}, false, fmt.Errorf("%w: EvtQuery: %v", ErrEventLogUnavailable, callErr)
	}
	defer procEvtClose.Call(h)
	var ev uintptr
	var returned uint32
	r, _, callErr := procEvtNext.Call(h, 1, uintptr(unsafe.Pointer(&ev)), 2000, 0, uintptr(unsafe.Pointer(&returned)))
	if r == 0 {
		if errors.Is(callErr, errorNoMoreItems) {
			return time.Time{}, false, nil
		}
		return time.Time{}, false, fmt.Errorf("%w: EvtNext: %v", ErrEventLogUnavailable, callErr)
	}
	defer procEvtClose.Call(ev)
	xml, err := renderXML(ev)
	if err != nil {
		// The query matched an event in the window: that is the answer.
		return time.Now(), true, nil
	}
	at, err := EventTime(xml)
	if err != nil {
		return time.Now(), true, nil
	}
	return at, true, nil
}

func renderXML(ev uintptr) (string, error) {
	var used, props uint32
	procEvtRender.Call(0, ev, evtRenderEventXML, 0, 0, uintptr(unsafe.Pointer(&used)), uintptr(unsafe.Pointer(&props)))
	if used == 0 {
		return "", errors.New("EvtRender returned no size")
	}
	buf := make([]uint16, used/2+1)
	r, _, err := procEvtRender.Call(0, ev, evtRenderEventXML, uintptr(used), uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&used)), uintptr(unsafe.Pointer(&props)))
	if r == 0 {
		return "", err
	}
	return windows.UTF16ToString(buf), nil
}

// PolicyValues reads the Session Time Limits DWORDs under HKLM.
func (winProbe) PolicyValues() (map[string]uint32, error) {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, contract.PolicyKey, registry.QUERY_VALUE)
	if errors.Is(err, registry.ErrNotExist) {
		return map[string]uint32{}, nil
	}
	if err != nil {
		return nil, err
	}
	defer k.Close()
	out := map[string]uint32{}
	for _, name := range PolicyValueNames {
		v, _, err := k.GetIntegerValue(name)
		if err == nil {
			out[name] = uint32(v)
		}
	}
	return out, nil
}

// TaskRegistered looks for the task's definition file: Task Scheduler 2.0
// stores every registered task as XML under %SystemRoot%\System32\Tasks,
// which SYSTEM can read, so no COM is needed.
func (winProbe) TaskRegistered(path string) (bool, error) {
	root := os.Getenv("SystemRoot")
	if root == "" {
		root = `C:\Windows`
	}
	file := filepath.Join(root, "System32", "Tasks", strings.TrimPrefix(path, `\`))
	_, err := os.Stat(file)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, os.ErrNotExist):
		return false, nil
	}
	return false, err
}

// OpenEventLog opens the Application log under contract.EventSource,
// registering the source on first use (the agent runs as SYSTEM).
func OpenEventLog() (EventLog, error) {
	if err := eventlog.InstallAsEventCreate(contract.EventSource, eventlog.Error|eventlog.Warning|eventlog.Info); err != nil &&
		!strings.Contains(err.Error(), "exists") {
		return nil, fmt.Errorf("registering event source %s: %w", contract.EventSource, err)
	}
	l, err := eventlog.Open(contract.EventSource)
	if err != nil {
		return nil, err
	}
	return l, nil
}
