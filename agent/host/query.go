package host

import (
	"errors"
	"fmt"
	"regexp"
	"time"
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
