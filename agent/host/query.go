package host

import (
	"encoding/binary"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"syscall"
	"time"
	"unicode/utf16"
)

// ErrEventLogUnavailable means the System log could not be queried (the
// Event Log service is down, or Wine, whose EvtQuery returns NULL).
var ErrEventLogUnavailable = errors.New("System event log unavailable")

// PolicyValueNames are the Session Time Limits values `check` reads.
var PolicyValueNames = []string{"MaxIdleTime", "MaxDisconnectionTime", "MaxConnectionTime", "fResetBroken"}

// ShutdownQuery is the XPath for System event 1074 ("shutdown or restart
// initiated") newer than within. It selects by id and time only, so it works
// whatever the language of the event's text.
func ShutdownQuery(within time.Duration) string {
	return fmt.Sprintf("*[System[(EventID=1074) and TimeCreated[timediff(@SystemTime) <= %d]]]", within.Milliseconds())
}

// SinceBoot limits the event 1074 window to the current boot: a restart
// initiated before this boot is over, and must not stop a later logoff from
// deallocating.
func SinceBoot(within, uptime time.Duration) time.Duration {
	if uptime > 0 && uptime < within {
		return uptime
	}
	return within
}

var systemTime = regexp.MustCompile(`<TimeCreated SystemTime=['"]([^'"]+)['"]`)

// EventTime extracts TimeCreated/@SystemTime from an event rendered as XML.
func EventTime(eventXML string) (time.Time, error) {
	m := systemTime.FindStringSubmatch(eventXML)
	if m == nil {
		return time.Time{}, errors.New("event XML has no TimeCreated SystemTime")
	}
	return time.Parse(time.RFC3339Nano, m[1])
}

// joinUser formats DOMAIN\user (just user when there is no domain).
func joinUser(domain, user string) string {
	if domain == "" {
		return user
	}
	return domain + `\` + user
}

// SessionHostKey is where the AVD agent records its registration (HKLM).
const SessionHostKey = `SOFTWARE\Microsoft\RDInfraAgent`

// errCtxWinstationNotFound is ERROR_CTX_WINSTATION_NOT_FOUND ("the specified
// session cannot be found"): the one answer that means a session is gone.
const errCtxWinstationNotFound = 7022

// sessionGone reports whether a WTSQuerySessionInformation error means the
// session ended between listing and query; every other error is a failure.
func sessionGone(err error) bool {
	var errno syscall.Errno
	return errors.As(err, &errno) && uintptr(errno) == errCtxWinstationNotFound
}

// EVENTLOGRECORD layout (winnt.h): fixed header of 56 bytes, then the
// source name as NUL-terminated UTF-16.
const (
	eventRecordHeader    = 56
	eventRecordSignature = 0x654c664c // "LfLe"
	shutdownEventID      = 1074
	shutdownSource       = "User32"
)

// ScanEventRecords walks EVENTLOGRECORDs read newest first (ReadEventLogW
// with EVENTLOG_BACKWARDS_READ). It reports the time of the first event
// 1074 from User32 generated at or after cutoff (found), or done when it met
// a record older than cutoff (nothing newer can follow).
func ScanEventRecords(buf []byte, cutoff time.Time) (at time.Time, found, done bool, err error) {
	for off := 0; off < len(buf); {
		if len(buf)-off < eventRecordHeader {
			return time.Time{}, false, false, fmt.Errorf("event record at offset %d truncated", off)
		}
		rec := buf[off:]
		length := int(binary.LittleEndian.Uint32(rec[0:]))
		if binary.LittleEndian.Uint32(rec[4:]) != eventRecordSignature || length < eventRecordHeader || length > len(rec) {
			return time.Time{}, false, false, fmt.Errorf("event record at offset %d malformed", off)
		}
		generated := time.Unix(int64(binary.LittleEndian.Uint32(rec[12:])), 0)
		if generated.Before(cutoff) {
			return time.Time{}, false, true, nil
		}
		id := binary.LittleEndian.Uint32(rec[20:]) & 0xFFFF
		if id == shutdownEventID && strings.EqualFold(recordSource(rec[eventRecordHeader:length]), shutdownSource) {
			return generated, true, false, nil
		}
		off += length
	}
	return time.Time{}, false, false, nil
}

func recordSource(b []byte) string {
	var u []uint16
	for i := 0; i+1 < len(b); i += 2 {
		c := binary.LittleEndian.Uint16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u))
}

// Enumerated is one row of WTSEnumerateSessions: what Windows says before
// the agent asks who is signed in.
type Enumerated struct {
	ID      uint32
	Station string
	State   SessionState
}

// CollectSessions turns WTSEnumerateSessions rows into the agent's session
// list, asking userOf (WTSQuerySessionInformation: user and domain) for each
// session that can have a user. The services session (0) is left out. A
// listener or a down session is not asked: it has no user, and a listener
// in state Down fails the query. A session that ended between listing and
// query (ErrSessionGone) is left out; any other failure is an error for the
// whole list, because a session whose user is unknown may be someone's.
func CollectSessions(rows []Enumerated, userOf func(id uint32) (string, error)) ([]Session, error) {
	var out []Session
	for _, r := range rows {
		if r.ID == 0 {
			continue
		}
		s := Session{ID: r.ID, Station: r.Station, State: r.State}
		if r.State == StateListen || r.State == StateDown {
			out = append(out, s)
			continue
		}
		user, err := userOf(r.ID)
		switch {
		case errors.Is(err, ErrSessionGone):
			continue
		case err != nil:
			return nil, fmt.Errorf("WTSQuerySessionInformation(session %d, %s): %w", r.ID, r.State, err)
		}
		s.User = user
		out = append(out, s)
	}
	return out, nil
}
