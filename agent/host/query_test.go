package host

import (
	"fmt"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestShutdownQuerySelectsByIDAndTimeOnly(t *testing.T) {
	got := ShutdownQuery(10 * time.Minute)
	want := "*[System[(EventID=1074) and TimeCreated[timediff(@SystemTime) <= 600000]]]"
	if got != want {
		t.Errorf("query = %q, want %q", got, want)
	}
}

func TestEventTime(t *testing.T) {
	// Shape of EvtRender(EvtRenderEventXml) output for a German 1074 event:
	// the text is localized, the time is not.
	xml := `<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='User32'/><EventID Qualifiers='32768'>1074</EventID>` +
		`<TimeCreated SystemTime='2026-11-22T11:58:03.1234567Z'/></System><EventData><Data Name='param5'>Neu starten</Data></EventData></Event>`
	at, err := EventTime(xml)
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 11, 22, 11, 58, 3, 123456700, time.UTC); !at.Equal(want) {
		t.Errorf("time %v, want %v", at, want)
	}
	if _, err := EventTime("<Event/>"); err == nil {
		t.Error("want an error without TimeCreated")
	}
}

func TestJoinUserAndStates(t *testing.T) {
	if joinUser("CONTOSO", "ann") != `CONTOSO\ann` || joinUser("", "ann") != "ann" {
		t.Error("joinUser")
	}
	if StateDisconnected.String() != "Disconnected" || StateActive != 0 || StateDisconnected != 4 || SessionState(42).String() != "Unknown" {
		t.Error("WTS state numbering")
	}
}

func TestSinceBoot(t *testing.T) {
	if got := SinceBoot(10*time.Minute, 3*time.Minute); got != 3*time.Minute {
		t.Errorf("booted 3 min ago: window %s, want 3m (a restart before this boot is over)", got)
	}
	if got := SinceBoot(10*time.Minute, 2*time.Hour); got != 10*time.Minute {
		t.Errorf("window %s, want 10m", got)
	}
	if got := SinceBoot(10*time.Minute, 0); got != 10*time.Minute {
		t.Errorf("unknown uptime: window %s, want 10m", got)
	}
}

// The "one failed session query" rule of the Windows probe (CollectSessions
// is its loop): who is asked, what a gone session and a failed query mean.
func TestCollectSessions(t *testing.T) {
	rows := []Enumerated{
		{ID: 0, Station: "Services", State: StateDisconnected},
		{ID: 1, Station: "Console", State: StateConnected},
		{ID: 2, Station: "", State: StateDisconnected},
		{ID: 3, Station: "rdp-sxs240705700#1", State: StateActive},
		{ID: 4, Station: "rdp-sxs240705700#2", State: StateInit},
		{ID: 5, Station: "RDP-Tcp#7", State: StateActive}, // ends between listing and query
		{ID: 65536, Station: "31C5CE94259D4006A9E4", State: StateListen},
		{ID: 65537, Station: "rdp-sxs240705700", State: StateDown},
	}
	users := map[uint32]string{1: "", 2: `CONTOSO\ann`, 3: `CONTOSO\bob`, 4: ""}
	var asked []uint32
	userOf := func(id uint32) (string, error) {
		asked = append(asked, id)
		if id == 5 {
			return "", fmt.Errorf("%w: %v", ErrSessionGone, syscall.Errno(errCtxWinstationNotFound))
		}
		u, ok := users[id]
		if !ok {
			t.Errorf("session %d asked for its user", id)
		}
		return u, nil
	}
	got, err := CollectSessions(rows, userOf)
	if err != nil {
		t.Fatal(err)
	}
	want := []Session{
		{ID: 1, Station: "Console", State: StateConnected},
		{ID: 2, User: `CONTOSO\ann`, State: StateDisconnected},
		{ID: 3, Station: "rdp-sxs240705700#1", User: `CONTOSO\bob`, State: StateActive},
		{ID: 4, Station: "rdp-sxs240705700#2", State: StateInit},
		{ID: 65536, Station: "31C5CE94259D4006A9E4", State: StateListen},
		{ID: 65537, Station: "rdp-sxs240705700", State: StateDown},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("sessions\n got %+v\nwant %+v", got, want)
	}
	if !reflect.DeepEqual(asked, []uint32{1, 2, 3, 4, 5}) {
		t.Errorf("asked for the users of %v, want 1 2 3 4 5 (never session 0, a listener or a down session)", asked)
	}

	// One failed query (not "session gone") fails the whole list: that
	// session may be someone's.
	denied := func(id uint32) (string, error) {
		if id == 3 {
			return "", syscall.Errno(5) // ERROR_ACCESS_DENIED
		}
		return users[id], nil
	}
	if got, err := CollectSessions(rows, denied); err == nil || got != nil || !strings.Contains(err.Error(), "session 3") {
		t.Errorf("a failed query: %v, %v; want no list and an error naming session 3", got, err)
	}
	if !sessionGone(fmt.Errorf("x: %w", syscall.Errno(errCtxWinstationNotFound))) || sessionGone(syscall.Errno(5)) {
		t.Error("sessionGone: only ERROR_CTX_WINSTATION_NOT_FOUND means gone")
	}
	if got, err := CollectSessions(nil, denied); err != nil || len(got) != 0 {
		t.Errorf("no rows: %v, %v", got, err)
	}
}
