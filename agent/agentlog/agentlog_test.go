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
	l.Log(Info, 202, "still signed in: %s", `CONTOSO\ann`)
	l.Log(Error, 302, "not authorized")

	if len(ev.got) != 2 || ev.got[0] != (recordedEvent{"info", 202, `still signed in: CONTOSO\ann`}) || ev.got[1].kind != "error" || ev.got[1].id != 302 {
		t.Errorf("events = %+v", ev.got)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := "2026-01-02T03:04:05Z INFO  202 still signed in: CONTOSO\\ann\n2026-01-02T03:04:05Z ERROR 302 not authorized\n"
	if string(b) != want {
		t.Errorf("file = %q, want %q", b, want)
	}
	// Not verbose: only the error reaches stderr.
	if got := stderr.String(); strings.Contains(got, " 202 ") || !strings.Contains(got, " 302 ") {
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

// Defect 10: the log folder must be SYSTEM's (here: this account's) alone.
func TestRefusesLinkedFolderButStillLogsEvents(t *testing.T) {
	base := t.TempDir()
	target := filepath.Join(base, "target")
	os.Mkdir(target, 0o700)
	link := filepath.Join(base, "avdgen")
	if err := os.Symlink(target, link); err != nil {
		t.Skip(err)
	}
	ev := &fakeEvents{}
	var stderr bytes.Buffer
	l := New(filepath.Join(link, "avd-agent.log"), ev, &stderr, false, fixedNow)
	l.Log(Info, 100, "deallocated")
	if l.Refused == nil {
		t.Fatal("a linked folder was accepted")
	}
	if entries, _ := os.ReadDir(target); len(entries) != 0 {
		t.Errorf("wrote through the link: %v", entries)
	}
	if len(ev.got) != 2 || ev.got[0].id != RefusedID || !strings.Contains(ev.got[0].msg, "reparse point") || ev.got[1].id != 100 {
		t.Errorf("events %+v", ev.got)
	}
	if !strings.Contains(stderr.String(), "not writing the log file") {
		t.Errorf("stderr %q", stderr.String())
	}
}

func TestRotationNeverFollowsALink(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "avd-agent.log")
	victim := filepath.Join(t.TempDir(), "victim")
	os.WriteFile(victim, []byte("precious"), 0o600)
	if err := os.Symlink(victim, path+".1"); err != nil {
		t.Skip(err)
	}
	os.WriteFile(path, bytes.Repeat([]byte("x"), MaxFileSize), 0o600)
	var stderr bytes.Buffer
	l := New(path, nil, &stderr, false, fixedNow)
	l.Log(Info, 100, "one more line")
	if b, _ := os.ReadFile(victim); string(b) != "precious" {
		t.Errorf("victim changed: %q", b)
	}
	if fi, err := os.Lstat(path + ".1"); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("link replaced: %v %v", fi, err)
	}
	if !strings.Contains(stderr.String(), "not rotating") {
		t.Errorf("stderr %q", stderr.String())
	}
}

func TestRotationBlockedByAFolderIsReported(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "avd-agent.log")
	os.Mkdir(path+".1", 0o700)
	os.WriteFile(path, bytes.Repeat([]byte("x"), MaxFileSize), 0o600)
	var stderr bytes.Buffer
	New(path, nil, &stderr, false, fixedNow).Log(Info, 100, "x")
	if !strings.Contains(stderr.String(), "not rotating") {
		t.Errorf("stderr %q", stderr.String())
	}
	if fi, _ := os.Stat(path); fi.Size() != MaxFileSize {
		t.Errorf("log grew past the cap: %d", fi.Size())
	}
}

func TestLogFileThatIsALinkIsNotWritten(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(t.TempDir(), "victim")
	os.WriteFile(victim, []byte("precious"), 0o600)
	path := filepath.Join(dir, "avd-agent.log")
	if err := os.Symlink(victim, path); err != nil {
		t.Skip(err)
	}
	var stderr bytes.Buffer
	New(path, nil, &stderr, false, fixedNow).Log(Info, 100, "x")
	if b, _ := os.ReadFile(victim); string(b) != "precious" {
		t.Errorf("victim changed: %q", b)
	}
}

// Issue 20 (5): a lax folder is refused and left as it is, never re-permissioned.
func TestLaxFolderIsRefusedNotChanged(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "avdgen")
	os.Mkdir(dir, 0o777)
	os.Chmod(dir, 0o777)
	l := New(filepath.Join(dir, "avd-agent.log"), nil, nil, false, fixedNow)
	if l.Refused == nil {
		t.Fatal("a folder others may write accepted")
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o777 {
		t.Errorf("mode %v: the folder was changed", fi.Mode())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("wrote into it: %v", entries)
	}
}
