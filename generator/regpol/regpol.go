// Package regpol writes registry.pol ([MS-GPREG] 2.2.1 "PReg") files the way
// GPMC writes them, and maps the spec's Session Time Limits onto them.
package regpol

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf16"

	"github.com/avdgen/avdgen/generator/spec"
)

// Registry value types used in PReg records.
const (
	RegSZ    uint32 = 1
	RegDWORD uint32 = 4
)

// Entry is one PReg record.
type Entry struct {
	Key, Value string
	Type       uint32
	Data       []byte
}

// DWORD is a REG_DWORD entry.
func DWORD(key, name string, v uint32) Entry {
	b := make([]byte, 4)
	binary.LittleEndian.PutUint32(b, v)
	return Entry{Key: key, Value: name, Type: RegDWORD, Data: b}
}

// SZ is a REG_SZ entry; the data includes the terminating NUL.
func SZ(key, name, s string) Entry {
	return Entry{Key: key, Value: name, Type: RegSZ, Data: utf16z(s)}
}

// Delete is GPMC's "delete this value" record: **del.<name>, REG_SZ, one space.
func Delete(key, name string) Entry {
	return Entry{Key: key, Value: "**del." + name, Type: RegSZ, Data: []byte{0x20, 0x00, 0x00, 0x00}}
}

// header is "PReg" and version 1.
var header = []byte{'P', 'R', 'e', 'g', 1, 0, 0, 0}

func utf16z(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 0, 2*len(u)+2)
	for _, c := range u {
		b = binary.LittleEndian.AppendUint16(b, c)
	}
	return append(b, 0, 0)
}

func char(c rune) []byte { return []byte{byte(c), 0} }

// Encode writes a complete registry.pol.
func Encode(entries []Entry) []byte {
	var buf bytes.Buffer
	buf.Write(header)
	for _, e := range entries {
		buf.Write(char('['))
		buf.Write(utf16z(e.Key))
		buf.Write(char(';'))
		buf.Write(utf16z(e.Value))
		buf.Write(char(';'))
		binary.Write(&buf, binary.LittleEndian, e.Type)
		buf.Write(char(';'))
		binary.Write(&buf, binary.LittleEndian, uint32(len(e.Data)))
		buf.Write(char(';'))
		buf.Write(e.Data)
		buf.Write(char(']'))
	}
	return buf.Bytes()
}

// Decode parses a registry.pol; it exists for round-trip tests of Encode.
func Decode(b []byte) ([]Entry, error) {
	if !bytes.HasPrefix(b, header) {
		return nil, errors.New("not a PReg version 1 file")
	}
	b = b[len(header):]
	var out []Entry
	readStr := func() (string, error) {
		var u []uint16
		for {
			if len(b) < 2 {
				return "", errors.New("truncated string")
			}
			c := binary.LittleEndian.Uint16(b)
			b = b[2:]
			if c == 0 {
				return string(utf16.Decode(u)), nil
			}
			u = append(u, c)
		}
	}
	expect := func(c rune) error {
		if len(b) < 2 || b[0] != byte(c) || b[1] != 0 {
			return fmt.Errorf("expected %q", c)
		}
		b = b[2:]
		return nil
	}
	for len(b) > 0 {
		var e Entry
		var err error
		if err = expect('['); err != nil {
			return nil, err
		}
		if e.Key, err = readStr(); err != nil {
			return nil, err
		}
		if err = expect(';'); err != nil {
			return nil, err
		}
		if e.Value, err = readStr(); err != nil {
			return nil, err
		}
		if err = expect(';'); err != nil || len(b) < 4 {
			return nil, errors.New("truncated type")
		}
		e.Type = binary.LittleEndian.Uint32(b)
		b = b[4:]
		if err = expect(';'); err != nil || len(b) < 4 {
			return nil, errors.New("truncated size")
		}
		size := binary.LittleEndian.Uint32(b)
		b = b[4:]
		if err = expect(';'); err != nil || uint32(len(b)) < size {
			return nil, errors.New("truncated data")
		}
		e.Data = append([]byte(nil), b[:size]...)
		b = b[size:]
		if err = expect(']'); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// PolicyKey is the Terminal Services policy key as GPMC spells it.
const PolicyKey = `Software\Policies\Microsoft\Windows NT\Terminal Services`

// SessionLimits maps the spec to the Computer-side (_2) Session Time Limits
// policies exactly as GPMC writes them when each is Enabled (FORMATS.md §1).
// An unset limit writes nothing (Not Configured). "never" is Enabled with 0.
// endSessionOnLimit is always explicit: Enabled writes fResetBroken=1,
// false writes fResetBroken=0 (GPMC's Disabled form), so a stray setting
// elsewhere cannot turn disconnects into logoffs unnoticed.
// The order is the one the policies have in TerminalServer.admx.
func SessionLimits(l spec.Limits) []Entry {
	var out []Entry
	if l.Active.Set {
		out = append(out, DWORD(PolicyKey, "MaxConnectionTime", l.Active.Ms))
	}
	if l.Disconnected.Set {
		out = append(out, DWORD(PolicyKey, "MaxDisconnectionTime", l.Disconnected.Ms))
	}
	if l.Idle.Set {
		out = append(out, DWORD(PolicyKey, "MaxIdleTime", l.Idle.Ms))
	}
	reset := uint32(0)
	if l.EndSessionOnLimit {
		reset = 1
	}
	return append(out, DWORD(PolicyKey, "fResetBroken", reset))
}
