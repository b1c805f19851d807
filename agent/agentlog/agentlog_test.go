package agentlog

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type recordedEvent struct {
	kind string
	id   uint32
	msg  string
}

type fakeEvents struct{ got []recordedEvent }

func (f *fakeEvents) Info(id uint32, m string) error {
	f.got = append(f.got, recordedEvent{"info", id, m})
	return nil
}
func (f *fakeEvents) Warning(id uint32, m string) error {
	f.got = append(f.got, recordedEvent{"warn", id, m})
	return nil
}
func (f *fakeEvents) Error(id uint32, m string) error {
	f.got = append(f.got, recordedEvent{"error", id, m})
	return nil
}
func (f *fakeEvents) Close() error { return nil }

func fixedNow() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }

func TestLogWritesEventAndFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "avd-agent.log")
	ev := &fakeEvents{}
	var stderr bytes.Buffer
	l := New(path, ev, &stderr, false, fixedNow)
	l.Log(Info, 1102, "still signed in: %s", `CONTOSO\ann`)
	l.Log(Error, 1202, "not authorized")

	if len(ev.got) != 2 || ev.got[0] != (recordedEvent{"info", 1102, `still signed in: CONTOSO\ann`}) || ev.got[1].kind != "error" || ev.got[1].id != 1202 {
		t.Errorf("events = %+v", ev.got)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := "2026-01-02T03:04:05Z INFO  1102 still signed in: CONTOSO\\ann\n2026-01-02T03:04:05Z ERROR 1202 not authorized\n"
	if string(b) != want {
		t.Errorf("file = %q, want %q", b, want)
	}
	// Not verbose: only the error reaches stderr.
	if got := stderr.String(); strings.Contains(got, "1102") || !strings.Contains(got, "1202") {
		t.Errorf("stderr = %q", got)
	}
}

func TestLogFileIsCapped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "avd-agent.log")
	l := New(path, nil, nil, false, fixedNow)
	line := strings.Repeat("x", 1000)
	for i := 0; i < 3000; i++ { // ~3 MB written in all
		l.Log(Info, 1000, "%s", line)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > MaxFileSize {
		t.Errorf("log file is %d bytes, cap is %d", fi.Size(), MaxFileSize)
	}
	old, err := os.Stat(path + ".1")
	if err != nil || old.Size() > MaxFileSize {
		t.Errorf("rotated file: %v, %v", old, err)
	}
}
