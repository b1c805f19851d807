package host

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf16"
)

// record builds an EVENTLOGRECORD as ReadEventLogW returns it.
func record(id uint32, source string, generated time.Time) []byte {
	name := utf16.Encode([]rune(source + "\x00\x00")) // source, then computer name (empty)
	body := make([]byte, 2*len(name))
	for i, c := range name {
		binary.LittleEndian.PutUint16(body[2*i:], c)
	}
	length := eventRecordHeader + len(body) + 4
	length += (8 - length%8) % 8
	b := make([]byte, length)
	binary.LittleEndian.PutUint32(b[0:], uint32(length))
	binary.LittleEndian.PutUint32(b[4:], eventRecordSignature)
	binary.LittleEndian.PutUint32(b[12:], uint32(generated.Unix()))
	binary.LittleEndian.PutUint32(b[16:], uint32(generated.Unix()))
	binary.LittleEndian.PutUint32(b[20:], id)
	copy(b[eventRecordHeader:], body)
	binary.LittleEndian.PutUint32(b[length-4:], uint32(length))
	return b
}

func TestScanEventRecords(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	cutoff := now.Add(-10 * time.Minute)
	cat := func(recs ...[]byte) []byte {
		var out []byte
		for _, r := range recs {
			out = append(out, r...)
		}
		return out
	}
	// 1074 from User32 with the qualifier bits Windows sets (0x80000432).
	restart := record(0x80000000|1074, "User32", now.Add(-2*time.Minute))
	at, found, done, err := ScanEventRecords(cat(record(7036, "Service Control Manager", now.Add(-time.Minute)), restart), cutoff)
	if err != nil || !found || done || !at.Equal(now.Add(-2*time.Minute)) {
		t.Errorf("restart: %v %v %v %v", at, found, done, err)
	}
	// 1074 from another source is not the shutdown event.
	_, found, done, err = ScanEventRecords(record(1074, "Other", now.Add(-time.Minute)), cutoff)
	if found || done || err != nil {
		t.Errorf("other source: %v %v %v", found, done, err)
	}
	// An old record ends the scan: nothing newer follows backwards.
	_, found, done, err = ScanEventRecords(cat(record(7036, "x", now.Add(-time.Minute)), record(1074, "User32", now.Add(-time.Hour))), cutoff)
	if found || !done || err != nil {
		t.Errorf("old: %v %v %v", found, done, err)
	}
	// Exactly at the cutoff still counts.
	if _, found, _, _ := ScanEventRecords(record(1074, "user32", cutoff), cutoff); !found {
		t.Error("record at the cutoff not found")
	}
	if _, _, _, err := ScanEventRecords(nil, cutoff); err != nil {
		t.Errorf("empty: %v", err)
	}
	bad := record(1074, "User32", now)
	binary.LittleEndian.PutUint32(bad[4:], 0)
	for name, b := range map[string][]byte{"truncated": restart[:40], "signature": bad, "length": append(record(1, "a", now)[:8], make([]byte, 60)...)} {
		if _, _, _, err := ScanEventRecords(b, cutoff); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// Defect 7: only "session not found" means gone; every other query error
// fails the list.
func TestSessionGone(t *testing.T) {
	if !sessionGone(fmt.Errorf("wrapped: %w", syscall.Errno(7022))) {
		t.Error("ERROR_CTX_WINSTATION_NOT_FOUND is gone")
	}
	for _, err := range []error{syscall.Errno(5), syscall.Errno(1), errors.New("x"), nil} {
		if sessionGone(err) {
			t.Errorf("%v treated as gone", err)
		}
	}
}

func TestJudgeSecurity(t *testing.T) {
	ok := Security{Owner: SIDAdministrators, ACEs: []ACE{{SID: SIDSystem, Allow: true, Mask: 0x1f01ff}, {SID: SIDAdministrators, Allow: true, Mask: 0x1f01ff},
		{SID: "S-1-5-32-545", Allow: true, Mask: 0x1200a9}, {SID: sidCreatorOwner, Allow: true, Mask: 0x10000000, InheritOnly: true},
		{SID: "S-1-1-0", Allow: false, Mask: 0x1f01ff}}}
	if err := JudgeSecurity("d", ok); err != nil {
		t.Errorf("protected folder refused: %v", err)
	}
	for name, c := range map[string]struct {
		s    Security
		want string
	}{
		"reparse":        {Security{Owner: SIDSystem, Reparse: true}, "reparse point"},
		"user owner":     {Security{Owner: "S-1-5-21-1-2-3-1001"}, "owned by S-1-5-21-1-2-3-1001"},
		"null dacl":      {Security{Owner: SIDSystem, NullDACL: true}, "no DACL"},
		"users create":   {Security{Owner: SIDSystem, ACEs: []ACE{{SID: "S-1-5-32-545", Allow: true, Mask: 0x4}}}, "writable by S-1-5-32-545"},
		"users append":   {Security{Owner: SIDSystem, ACEs: []ACE{{SID: "S-1-5-11", Allow: true, Mask: 0x2}}}, "S-1-5-11"},
		"generic write":  {Security{Owner: SIDSystem, ACEs: []ACE{{SID: "S-1-1-0", Allow: true, Mask: 0x40000000}}}, "S-1-1-0"},
		"inherit to new": {Security{Owner: SIDSystem, ACEs: []ACE{{SID: "S-1-5-32-545", Allow: true, Mask: 0x10000000, InheritOnly: true}}}, "S-1-5-32-545"},
		"write dac":      {Security{Owner: SIDSystem, ACEs: []ACE{{SID: "S-1-5-32-545", Allow: true, Mask: 0x40000}}}, "S-1-5-32-545"},
		"creator owner":  {Security{Owner: SIDSystem, ACEs: []ACE{{SID: sidCreatorOwner, Allow: true, Mask: 0x10000000}}}, "S-1-3-0"},
	} {
		err := JudgeSecurity(`C:\ProgramData\avdgen`, c.s)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), `C:\ProgramData\avdgen`) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
}

// Defect 10 (POSIX stand-in of the Windows check).
func TestProtectFolder(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "avdgen")
	if err := ProtectFolder(dir); err != nil {
		t.Fatalf("new folder: %v", err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("created %v %v", fi.Mode(), err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	// Issue 20 (5): a folder it did not create is judged, never changed.
	if err := ProtectFolder(dir); err == nil || !strings.Contains(err.Error(), "writable by") {
		t.Fatalf("lax folder accepted: %v", err)
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o777 {
		t.Errorf("mode %v: the folder was changed", fi.Mode())
	}
	os.Chmod(dir, 0o700)
	link := filepath.Join(base, "link")
	if err := os.Symlink(dir, link); err != nil {
		t.Skip(err)
	}
	if err := ProtectFolder(link); err == nil || !strings.Contains(err.Error(), "reparse point") {
		t.Errorf("link accepted: %v", err)
	}
	file := filepath.Join(base, "file")
	os.WriteFile(file, nil, 0o600)
	if err := ProtectFolder(file); err == nil {
		t.Error("a file accepted as the folder")
	}
	if err := ProtectFolder(filepath.Join(base, "no", "such")); err == nil {
		t.Error("missing parent accepted")
	}
}

func TestSafeFile(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "a.log")
	if err := SafeFile(f); err != nil {
		t.Errorf("missing file: %v", err)
	}
	os.WriteFile(f, []byte("x"), 0o600)
	if err := SafeFile(f); err != nil {
		t.Errorf("regular file: %v", err)
	}
	os.Link(f, filepath.Join(dir, "hard"))
	if err := SafeFile(f); err == nil || !strings.Contains(err.Error(), "hard links") {
		t.Errorf("hard link: %v", err)
	}
	os.Symlink(f, filepath.Join(dir, "sym"))
	if err := SafeFile(filepath.Join(dir, "sym")); err == nil {
		t.Error("symbolic link accepted")
	}
	os.Mkdir(filepath.Join(dir, "d"), 0o700)
	if err := SafeFile(filepath.Join(dir, "d")); err == nil {
		t.Error("folder accepted as a file")
	}
	g := filepath.Join(dir, "g.log")
	os.WriteFile(g, nil, 0o600)
	os.Chmod(g, 0o622)
	if err := SafeFile(g); err == nil {
		t.Error("group/other-writable file accepted")
	}
}

func TestFiletimeToTime(t *testing.T) {
	// 2024-12-27T00:00:00Z is 133797312000000000 100 ns ticks after 1601-01-01.
	if got, want := FiletimeToTime(133797312000000000), time.Date(2024, 12, 27, 0, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("got %s, want %s", got, want)
	}
	if got := FiletimeToTime(116444736000000001); !got.Equal(time.Unix(0, 100)) {
		t.Errorf("one tick after 1970: %s", got)
	}
	for _, zero := range []int64{0, -1, 116444736000000000} {
		if got := FiletimeToTime(zero); !got.IsZero() {
			t.Errorf("FiletimeToTime(%d) = %s, want zero", zero, got)
		}
	}
}

func TestFinalPathToDOS(t *testing.T) {
	for in, want := range map[string]string{
		`\\?\C:\Program Files\avdgen`: `C:\Program Files\avdgen`,
		`\\?\UNC\srv\share\avdgen`:    `\\srv\share\avdgen`,
		`C:\x`:                        `C:\x`,
	} {
		if got := FinalPathToDOS(in); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
}
