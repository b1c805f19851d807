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
	procQueryUnbiasedInterruptTime  = windows.NewLazySystemDLL("kernel32.dll").NewProc("QueryUnbiasedInterruptTime")
	procEvtQuery                    = modwevtapi.NewProc("EvtQuery")
	procEvtNext                     = modwevtapi.NewProc("EvtNext")
	procEvtRender                   = modwevtapi.NewProc("EvtRender")
	procEvtClose                    = modwevtapi.NewProc("EvtClose")
)

const (
	smShuttingDown           = 0x2000 // SM_SHUTTINGDOWN
	wtsUserName              = 5      // WTS_INFO_CLASS WTSUserName
	wtsDomainName            = 7      // WTSDomainName
	wtsSessionInfo           = 24     // WTSSessionInfo: a WTSINFOW
	evtQueryChannelPath      = 0x1
	evtQueryReverseDirection = 0x200
	evtRenderEventXML        = 1
	errorNoMoreItems         = windows.Errno(259)
	fileNameNormalized       = 0x0 // GetFinalPathNameByHandle: FILE_NAME_NORMALIZED
	volumeNameDOS            = 0x0 // VOLUME_NAME_DOS
)

// System returns the probe backed by Windows APIs.
func System() Probe { return winProbe{} }

// SystemReadiness returns the registry and Task Scheduler backed checks.
func SystemReadiness() Readiness { return winProbe{} }

type winProbe struct{}

// Sessions lists every session but session 0 with WTSEnumerateSessionsW,
// with its WinStation name; CollectSessions decides which to ask for their
// user and what a failed query means.
func (winProbe) Sessions() ([]Session, error) {
	var infos *windows.WTS_SESSION_INFO
	var count uint32
	if err := windows.WTSEnumerateSessions(0, 0, 1, &infos, &count); err != nil {
		return nil, fmt.Errorf("WTSEnumerateSessions: %w", err)
	}
	defer windows.WTSFreeMemory(uintptr(unsafe.Pointer(infos)))
	rows := make([]Enumerated, 0, count)
	for _, si := range unsafe.Slice(infos, count) {
		var station string
		if si.WindowStationName != nil {
			station = windows.UTF16PtrToString(si.WindowStationName)
		}
		rows = append(rows, Enumerated{ID: si.SessionID, Station: station, State: SessionState(si.State)})
	}
	sessions, err := CollectSessions(rows, sessionUser)
	if err != nil {
		return nil, err
	}
	for i := range sessions {
		if sessions[i].User != "" {
			// Only tells one logon from the next with the same id; its
			// failure never makes a session count less (sessionLogonTime).
			sessions[i].LogonTime, _ = sessionLogonTime(sessions[i].ID)
		}
	}
	return sessions, nil
}

// sessionUser is DOMAIN\user of a session, empty when nobody is signed in.
func sessionUser(id uint32) (string, error) {
	user, err := sessionString(id, wtsUserName)
	if err != nil || user == "" {
		return user, err
	}
	domain, err := sessionString(id, wtsDomainName)
	return joinUser(domain, user), err
}

// wtsInfo is WTSINFOW (wtsapi32.h): WINSTATIONNAME_LENGTH 32,
// DOMAIN_LENGTH 17, USERNAME_LENGTH 20; the LARGE_INTEGERs are FILETIMEs.
type wtsInfo struct {
	State, SessionID                                                   uint32
	IncomingBytes, OutgoingBytes                                       uint32
	IncomingFrames, OutgoingFrames                                     uint32
	IncomingCompressedBytes, OutgoingCompressedBytes                   uint32
	WinStationName                                                     [32]uint16
	Domain                                                             [17]uint16
	UserName                                                           [21]uint16
	ConnectTime, DisconnectTime, LastInputTime, LogonTime, CurrentTime int64
}

// WTSINFOW is 216 bytes on 64-bit Windows; the build fails if the layout drifts.
var _ [216]byte = [unsafe.Sizeof(wtsInfo{})]byte{}

// sessionLogonTime is the session's WTSINFO LogonTime (zero when nobody
// signed in). It only tells one logon from the next with the same id (the
// one-decision-per-logoff rule), never whether a session holds the VM, so
// Sessions ignores its errors.
func sessionLogonTime(id uint32) (time.Time, error) {
	var buf *wtsInfo
	var n uint32
	r, _, err := procWTSQuerySessionInformationW.Call(0, uintptr(id), wtsSessionInfo, uintptr(unsafe.Pointer(&buf)), uintptr(unsafe.Pointer(&n)))
	if r == 0 {
		if sessionGone(err) {
			return time.Time{}, fmt.Errorf("%w: %v", ErrSessionGone, err)
		}
		return time.Time{}, fmt.Errorf("WTSQuerySessionInformation(session %d, WTSSessionInfo): %v", id, err)
	}
	defer windows.WTSFreeMemory(uintptr(unsafe.Pointer(buf)))
	if buf == nil || n < uint32(unsafe.Sizeof(wtsInfo{})) {
		return time.Time{}, fmt.Errorf("WTSQuerySessionInformation(session %d, WTSSessionInfo): %d bytes, want %d", id, n, unsafe.Sizeof(wtsInfo{}))
	}
	return FiletimeToTime(buf.LogonTime), nil
}

func sessionString(id uint32, class uint32) (string, error) {
	var buf *uint16
	var n uint32
	r, _, err := procWTSQuerySessionInformationW.Call(0, uintptr(id), uintptr(class), uintptr(unsafe.Pointer(&buf)), uintptr(unsafe.Pointer(&n)))
	if r == 0 {
		if sessionGone(err) {
			return "", fmt.Errorf("%w: %v", ErrSessionGone, err)
		}
		return "", err
	}
	defer windows.WTSFreeMemory(uintptr(unsafe.Pointer(buf)))
	return windows.UTF16PtrToString(buf), nil
}

// LogonTime is WTSQuerySessionInformationW(WTSSessionInfo).LogonTime.
func (winProbe) LogonTime(id uint32) (time.Time, error) { return sessionLogonTime(id) }

// ShuttingDown reports GetSystemMetrics(SM_SHUTTINGDOWN).
func (winProbe) ShuttingDown() bool {
	r, _, _ := procGetSystemMetrics.Call(smShuttingDown)
	return r != 0
}

// LastShutdownInitiated finds the newest System event 1074 within `within`
// by its id and time only: its text (param5, "restart"/"power off") is
// localized, so it is never read. It asks the Windows Event Log API
// (EvtQuery) first; when that fails or times out it reads the same log
// through the classic event log API (ReadEventLogW), a second reader that
// every Windows and Wine implement. Only when both fail is the answer unknown.
func (p winProbe) LastShutdownInitiated(within time.Duration) (time.Time, bool, error) {
	up, _ := p.Uptime()
	window := SinceBoot(within, up)
	at, ok, err := evtShutdown(window)
	if err == nil {
		return at, ok, nil
	}
	at, ok, legacyErr := legacyShutdown(window)
	if legacyErr == nil {
		return at, ok, nil
	}
	return time.Time{}, false, fmt.Errorf("%w: %v; classic API: %v", ErrEventLogUnavailable, err, legacyErr)
}

func evtShutdown(window time.Duration) (time.Time, bool, error) {
	if err := procEvtQuery.Find(); err != nil {
		return time.Time{}, false, err
	}
	q, err := windows.UTF16PtrFromString(ShutdownQuery(window))
	if err != nil {
		return time.Time{}, false, err
	}
	ch, _ := windows.UTF16PtrFromString("System")
	h, _, callErr := procEvtQuery.Call(0, uintptr(unsafe.Pointer(ch)), uintptr(unsafe.Pointer(q)), evtQueryChannelPath|evtQueryReverseDirection)
	if h == 0 {
		return time.Time{}, false, fmt.Errorf("EvtQuery: %v", callErr)
	}
	defer procEvtClose.Call(h)
	var ev uintptr
	var returned uint32
	r, _, callErr := procEvtNext.Call(h, 1, uintptr(unsafe.Pointer(&ev)), 5000, 0, uintptr(unsafe.Pointer(&returned)))
	if r == 0 {
		if errors.Is(callErr, errorNoMoreItems) {
			return time.Time{}, false, nil
		}
		// ERROR_TIMEOUT included: a slow log is an unknown answer.
		return time.Time{}, false, fmt.Errorf("EvtNext: %v", callErr)
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

const (
	eventlogSequentialRead = 0x1
	eventlogBackwardsRead  = 0x8
	errorHandleEOF         = windows.Errno(38)
	errorInsufficientBuf   = windows.Errno(122)
)

var (
	modadvapi32       = windows.NewLazySystemDLL("advapi32.dll")
	procOpenEventLogW = modadvapi32.NewProc("OpenEventLogW")
	procReadEventLogW = modadvapi32.NewProc("ReadEventLogW")
	procCloseEventLog = modadvapi32.NewProc("CloseEventLog")
)

// legacyShutdown reads the System log newest first with ReadEventLogW until
// a record older than the window, at most 64 MiB of records.
func legacyShutdown(window time.Duration) (time.Time, bool, error) {
	name, _ := windows.UTF16PtrFromString("System")
	h, _, err := procOpenEventLogW.Call(0, uintptr(unsafe.Pointer(name)))
	if h == 0 {
		return time.Time{}, false, fmt.Errorf("OpenEventLogW: %v", err)
	}
	defer procCloseEventLog.Call(h)
	cutoff := time.Now().Add(-window)
	buf := make([]byte, 64<<10)
	for total := 0; total < 64<<20; {
		var read, needed uint32
		r, _, err := procReadEventLogW.Call(h, eventlogSequentialRead|eventlogBackwardsRead, 0,
			uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), uintptr(unsafe.Pointer(&read)), uintptr(unsafe.Pointer(&needed)))
		if r == 0 {
			switch {
			case errors.Is(err, errorHandleEOF):
				return time.Time{}, false, nil // every record read
			case errors.Is(err, errorInsufficientBuf) && needed > uint32(len(buf)) && needed < 16<<20:
				buf = make([]byte, needed)
				continue
			}
			return time.Time{}, false, fmt.Errorf("ReadEventLogW: %v", err)
		}
		total += int(read)
		at, found, done, perr := ScanEventRecords(buf[:read], cutoff)
		switch {
		case perr != nil:
			return time.Time{}, false, perr
		case found:
			return at, true, nil
		case done:
			return time.Time{}, false, nil
		}
	}
	return time.Time{}, false, errors.New("ReadEventLogW: window not covered within 64 MiB of records")
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

// Uptime is GetTickCount64.
func (winProbe) Uptime() (time.Duration, error) {
	up, _, _ := procGetTickCount64.Call()
	return time.Duration(up) * time.Millisecond, nil
}

// Awake is QueryUnbiasedInterruptTime: 100 ns units since boot, time in
// sleep and hibernation left out.
func (winProbe) Awake() (time.Duration, error) {
	if err := procQueryUnbiasedInterruptTime.Find(); err != nil {
		return 0, err
	}
	var t uint64
	r, _, err := procQueryUnbiasedInterruptTime.Call(uintptr(unsafe.Pointer(&t)))
	if r == 0 {
		return 0, fmt.Errorf("QueryUnbiasedInterruptTime: %v", err)
	}
	return time.Duration(t) * 100, nil
}

// Servicing: TrustedInstaller (Windows Modules Installer, which installs
// Windows updates and features) running means installing; the usual pending
// reboot markers mean a reboot is pending.
func (winProbe) Servicing() (string, string, error) {
	var installing string
	state, err := serviceState("TrustedInstaller")
	switch {
	case err != nil:
		return "", "", fmt.Errorf("querying the TrustedInstaller service: %w", err)
	case state != 0 && state != windows.SERVICE_STOPPED:
		installing = "TrustedInstaller (Windows Modules Installer) is running"
	}
	if installing == "" {
		// Windows Update hands its packages to Component Based Servicing, which
		// marks a servicing session in progress here.
		k, err := registry.OpenKey(registry.LOCAL_MACHINE, cbsSessionsPendingKey, registry.QUERY_VALUE|registry.WOW64_64KEY)
		switch {
		case err == nil:
			v, _, verr := k.GetIntegerValue("Exclusive")
			k.Close()
			if verr == nil && v != 0 {
				installing = "Component Based Servicing has a servicing session in progress (SessionsPending\\Exclusive)"
			} else if verr != nil && !errors.Is(verr, registry.ErrNotExist) {
				return "", "", fmt.Errorf("reading HKLM\\%s\\Exclusive: %w", cbsSessionsPendingKey, verr)
			}
		case !errors.Is(err, registry.ErrNotExist):
			return "", "", fmt.Errorf("reading HKLM\\%s: %w", cbsSessionsPendingKey, err)
		}
	}
	var pending []string
	for _, k := range rebootPendingKeys {
		key, err := registry.OpenKey(registry.LOCAL_MACHINE, k, registry.QUERY_VALUE|registry.WOW64_64KEY)
		switch {
		case err == nil:
			key.Close()
			pending = append(pending, `HKLM\`+k)
		case !errors.Is(err, registry.ErrNotExist):
			return "", "", fmt.Errorf("reading HKLM\\%s: %w", k, err)
		}
	}
	key, err := registry.OpenKey(registry.LOCAL_MACHINE, sessionManagerKey, registry.QUERY_VALUE|registry.WOW64_64KEY)
	if err != nil {
		return "", "", fmt.Errorf("reading HKLM\\%s: %w", sessionManagerKey, err)
	}
	defer key.Close()
	ops, _, err := key.GetStringsValue("PendingFileRenameOperations")
	switch {
	case err == nil && len(ops) > 0:
		pending = append(pending, "PendingFileRenameOperations")
	case err != nil && !errors.Is(err, registry.ErrNotExist):
		return "", "", fmt.Errorf("reading PendingFileRenameOperations: %w", err)
	}
	return installing, strings.Join(pending, ", "), nil
}

const cbsSessionsPendingKey = `SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\SessionsPending`

const sessionManagerKey = `SYSTEM\CurrentControlSet\Control\Session Manager`

var rebootPendingKeys = []string{
	`SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\RebootPending`,
	`SOFTWARE\Microsoft\Windows\CurrentVersion\WindowsUpdate\Auto Update\RebootRequired`,
}

// serviceState returns the service's current state, 0 when it is not installed.
func serviceState(name string) (uint32, error) {
	m, err := windows.OpenSCManager(nil, nil, windows.SC_MANAGER_CONNECT)
	if err != nil {
		return 0, err
	}
	defer windows.CloseServiceHandle(m)
	n, _ := windows.UTF16PtrFromString(name)
	s, err := windows.OpenService(m, n, windows.SERVICE_QUERY_STATUS)
	if errors.Is(err, windows.ERROR_SERVICE_DOES_NOT_EXIST) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer windows.CloseServiceHandle(s)
	var st windows.SERVICE_STATUS
	if err := windows.QueryServiceStatus(s, &st); err != nil {
		return 0, err
	}
	return st.CurrentState, nil
}

// SessionHost reads IsRegistered, which the AVD agent (RDInfraAgent) sets to 1
// once the VM joined a host pool.
func (winProbe) SessionHost() (bool, error) {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, SessionHostKey, registry.QUERY_VALUE|registry.WOW64_64KEY)
	if errors.Is(err, registry.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading HKLM\\%s: %w", SessionHostKey, err)
	}
	defer k.Close()
	v, _, err := k.GetIntegerValue("IsRegistered")
	if errors.Is(err, registry.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading HKLM\\%s\\IsRegistered: %w", SessionHostKey, err)
	}
	return v == 1, nil
}

// ArcSignals: the himds service (Azure Connected Machine agent) registered
// with the service control manager, and the endpoint variables in the system
// environment. Files under %ProgramData% and the process environment are not
// consulted: a standard user can create the one, and the other is ours.
func (winProbe) ArcSignals() ([]string, error) {
	var out []string
	state, err := serviceState("himds")
	if err != nil {
		return nil, fmt.Errorf("querying the himds service: %w", err)
	}
	if state != 0 {
		out = append(out, "service himds (Azure Connected Machine agent) is registered")
	}
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, sessionManagerKey+`\Environment`, registry.QUERY_VALUE|registry.WOW64_64KEY)
	if err != nil {
		return nil, fmt.Errorf("reading the system environment: %w", err)
	}
	defer k.Close()
	for _, name := range []string{"IDENTITY_ENDPOINT", "IMDS_ENDPOINT"} {
		if v, _, err := k.GetStringValue(name); err == nil && v != "" {
			out = append(out, name+" is set in the system environment")
		}
	}
	return out, nil
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

// TaskDefinition reads the task's definition file: Task Scheduler 2.0
// stores every registered task as XML under %SystemRoot%\System32\Tasks,
// which SYSTEM can read, so no COM is needed.
func (winProbe) TaskDefinition(path string) ([]byte, error) {
	root := os.Getenv("SystemRoot")
	if root == "" {
		root = `C:\Windows`
	}
	return os.ReadFile(filepath.Join(root, "System32", "Tasks", strings.TrimPrefix(path, `\`)))
}

// ResolveInstallDir expands dir with this process's environment (the
// agent's, as SYSTEM: a name it does not know is an error, not left as
// text) and resolves the real path of the folder it names.
func (winProbe) ResolveInstallDir(dir string) (string, string, error) {
	expanded, err := contract.ExpandWindowsVars(dir, os.LookupEnv)
	if err != nil {
		return "", "", err
	}
	p, err := windows.UTF16PtrFromString(expanded)
	if err != nil {
		return expanded, "", err
	}
	h, err := windows.CreateFile(p, 0, windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE, nil,
		windows.OPEN_EXISTING, windows.FILE_FLAG_BACKUP_SEMANTICS, 0)
	if err != nil {
		return expanded, "", fmt.Errorf("opening %s: %w", expanded, err)
	}
	defer windows.CloseHandle(h)
	buf := make([]uint16, windows.MAX_LONG_PATH)
	n, err := windows.GetFinalPathNameByHandle(h, &buf[0], uint32(len(buf)), fileNameNormalized|volumeNameDOS)
	if err != nil {
		return expanded, "", fmt.Errorf("resolving %s: %w", expanded, err)
	}
	if int(n) > len(buf) {
		return expanded, "", fmt.Errorf("resolving %s: path longer than %d characters", expanded, len(buf))
	}
	return expanded, FinalPathToDOS(windows.UTF16ToString(buf[:n])), nil
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
