package host

import (
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
