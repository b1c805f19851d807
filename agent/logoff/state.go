package logoff

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/avdgen/avdgen/agent/host"
)

// StateFile is the state file's name inside the protected folder.
const StateFile = "avd-agent.state.json"

// stateClockSkew is how far in the future a time in the state file may lie
// (the clock may be stepped back a little by time sync) before the file is
// judged corrupt.
const stateClockSkew = time.Minute

// ErrCorrupt marks a state file that must not be believed: unparsable, a
// time in the future, a negative duration, or not a plain file that only
// SYSTEM and Administrators own and write (a link, a hard link, another
// owner). Save replaces such a file (the entry itself, never a link's
// target), so the next run starts from a clean record.
var ErrCorrupt = errors.New("state file corrupt")

// Record is what one run leaves for the next.
type Record struct {
	// The last logoff decision: which session (its id and, when Windows
	// listed it, its logon time: ids are reused), when, what.
	DecidedSession string    `json:"decidedSession,omitempty"`
	DecidedLogon   time.Time `json:"decidedLogon,omitempty"`
	DecidedAt      time.Time `json:"decidedAt,omitempty"`
	DecidedOutcome uint32    `json:"decidedOutcome,omitempty"`
	DecidedReason  string    `json:"decidedReason,omitempty"`
	// LastSessionSeen: the last time a run saw a user session (an idle run
	// that found one, or a logoff, whose session just ended).
	LastSessionSeen time.Time `json:"lastSessionSeen,omitempty"`
	// The idle clock, kept by idle runs: when the last one ran (wall clock),
	// the awake clock then (time since boot without sleep or hibernation),
	// and how long no session had existed by then, counted on the awake
	// clock (docs/agent.md, "The idle clock across hibernation").
	IdleCheckedAt    time.Time     `json:"idleCheckedAt,omitempty"`
	IdleCheckedAwake time.Duration `json:"idleCheckedAwake,omitempty"`
	IdleFor          time.Duration `json:"idleFor,omitempty"`
}

// validate says why a record read from disk cannot be believed at now.
func (r Record) validate(now time.Time) error {
	limit := now.Add(stateClockSkew)
	for _, t := range []struct {
		name string
		at   time.Time
	}{{"decidedAt", r.DecidedAt}, {"decidedLogon", r.DecidedLogon}, {"lastSessionSeen", r.LastSessionSeen}, {"idleCheckedAt", r.IdleCheckedAt}} {
		if t.at.After(limit) {
			return fmt.Errorf("%s %s is in the future (now %s)", t.name, t.at.Format(time.RFC3339), now.UTC().Format(time.RFC3339))
		}
	}
	if r.IdleCheckedAwake < 0 || r.IdleFor < 0 {
		return fmt.Errorf("negative idle clock (awake %s, idle %s)", r.IdleCheckedAwake, r.IdleFor)
	}
	return nil
}

// State is the state file. Only use it in a folder that passed the
// protected-folder check: SYSTEM reads it to decide.
type State struct {
	Path string
	// Now is the clock the times in the file are judged against (default
	// time.Now).
	Now func() time.Time
}

func (s *State) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

// Load reads the record; found is false when there is no file yet. A file
// that cannot be believed is an error wrapping ErrCorrupt.
func (s *State) Load() (rec Record, found bool, err error) {
	fi, err := os.Lstat(s.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return Record{}, false, nil
	}
	if err != nil {
		return Record{}, false, err
	}
	if !fi.Mode().IsRegular() {
		return Record{}, false, fmt.Errorf("%w: %s is not a regular file (%s); refusing to read it", ErrCorrupt, s.Path, fi.Mode().Type())
	}
	if err := host.SafeFile(s.Path); err != nil {
		return Record{}, false, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	b, err := os.ReadFile(s.Path)
	if err != nil {
		return Record{}, false, err
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		return Record{}, false, fmt.Errorf("%w: %s: %v", ErrCorrupt, s.Path, err)
	}
	if err := rec.validate(s.now()); err != nil {
		return Record{}, false, fmt.Errorf("%w: %s: %v", ErrCorrupt, s.Path, err)
	}
	return rec, true, nil
}

// Save replaces the record: a new file beside it, then a rename, so a
// reader never sees half a record. The logoff and idle tasks may run at the
// same time, so Save merges with what is on disk: the later LastSessionSeen,
// the later decision and the later idle check win. A corrupt file on disk
// is not merged but replaced; a link there is removed (the link itself),
// never written through.
func (s *State) Save(rec Record) error {
	if cur, found, err := s.Load(); err == nil && found {
		if cur.LastSessionSeen.After(rec.LastSessionSeen) {
			rec.LastSessionSeen = cur.LastSessionSeen
		}
		if cur.DecidedAt.After(rec.DecidedAt) {
			rec.DecidedSession, rec.DecidedLogon, rec.DecidedAt, rec.DecidedOutcome, rec.DecidedReason = cur.DecidedSession, cur.DecidedLogon, cur.DecidedAt, cur.DecidedOutcome, cur.DecidedReason
		}
		if cur.IdleCheckedAt.After(rec.IdleCheckedAt) {
			rec.IdleCheckedAt, rec.IdleCheckedAwake, rec.IdleFor = cur.IdleCheckedAt, cur.IdleCheckedAwake, cur.IdleFor
		}
	}
	if err := rec.validate(s.now()); err != nil {
		return fmt.Errorf("not saving the state: %w", err)
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(s.Path), StateFile+".*.tmp")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(append(b, '\n'))
	if err := errors.Join(werr, tmp.Close()); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if fi, err := os.Lstat(s.Path); err == nil && !fi.Mode().IsRegular() {
		// A link or a folder: remove the entry itself (a link, never its
		// target; a folder only when empty).
		if err := os.Remove(s.Path); err != nil {
			os.Remove(tmp.Name())
			return fmt.Errorf("%s is not a regular file (%s) and cannot be removed: %w", s.Path, fi.Mode().Type(), err)
		}
	}
	if err := os.Rename(tmp.Name(), s.Path); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return nil
}
