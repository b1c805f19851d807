package logoff

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// StateFile is the state file's name inside the protected folder.
const StateFile = "avd-agent.state.json"

// Record is what one run leaves for the next.
type Record struct {
	// The last logoff decision: which session, when, what.
	DecidedSession string    `json:"decidedSession,omitempty"`
	DecidedAt      time.Time `json:"decidedAt,omitempty"`
	DecidedOutcome uint32    `json:"decidedOutcome,omitempty"`
	DecidedReason  string    `json:"decidedReason,omitempty"`
	// LastSessionSeen: the last time a run saw a user session (an idle run
	// that found one, or a logoff, whose session just ended).
	LastSessionSeen time.Time `json:"lastSessionSeen,omitempty"`
}

// State is the state file. Only use it in a folder that passed the
// protected-folder check: SYSTEM reads it to decide.
type State struct{ Path string }

// Load reads the record; found is false when there is no file yet.
func (s *State) Load() (rec Record, found bool, err error) {
	fi, err := os.Lstat(s.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return Record{}, false, nil
	}
	if err != nil {
		return Record{}, false, err
	}
	if !fi.Mode().IsRegular() {
		return Record{}, false, fmt.Errorf("%s is not a regular file (%s); refusing to use it", s.Path, fi.Mode().Type())
	}
	b, err := os.ReadFile(s.Path)
	if err != nil {
		return Record{}, false, err
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		return Record{}, false, fmt.Errorf("%s: %w", s.Path, err)
	}
	return rec, true, nil
}

// Save replaces the record: a new file beside it, then a rename, so a
// reader never sees half a record. The logoff and idle tasks may run at the
// same time, so Save merges with what is on disk: the later LastSessionSeen
// and the later decision win.
func (s *State) Save(rec Record) error {
	if cur, found, err := s.Load(); err == nil && found {
		if cur.LastSessionSeen.After(rec.LastSessionSeen) {
			rec.LastSessionSeen = cur.LastSessionSeen
		}
		if cur.DecidedAt.After(rec.DecidedAt) {
			rec.DecidedSession, rec.DecidedAt, rec.DecidedOutcome, rec.DecidedReason = cur.DecidedSession, cur.DecidedAt, cur.DecidedOutcome, cur.DecidedReason
		}
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if fi, err := os.Lstat(s.Path); err == nil && !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file (%s); refusing to replace it", s.Path, fi.Mode().Type())
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
	if err := os.Rename(tmp.Name(), s.Path); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return nil
}
