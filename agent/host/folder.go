package host

import (
	"fmt"
	"strings"
)

// Trusted SIDs: the only accounts that may own or write the agent's folder.
const (
	SIDSystem         = "S-1-5-18"
	SIDAdministrators = "S-1-5-32-544"
	sidCreatorOwner   = "S-1-3-0"
)

// ProtectedSDDL is the folder's security: owned by Administrators, SYSTEM
// and Administrators full control, inherited by files and subfolders, no ACE
// inherited from above (P).
const ProtectedSDDL = "O:BAD:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)"

// ACE is one access control entry, reduced to what the judgement needs.
type ACE struct {
	SID   string
	Allow bool
	Mask  uint32
	// InheritOnly ACEs do not apply to the object itself but to what is
	// created in it.
	InheritOnly bool
}

// Security is an object's owner and DACL.
type Security struct {
	Owner    string
	Reparse  bool
	NullDACL bool // no DACL at all: everyone has full control
	ACEs     []ACE
}

// writeMask: any right that lets its holder create, change, delete or
// re-permission files in a folder or the file itself.
const writeMask = 0x2 | 0x4 | 0x10 | 0x40 | 0x100 | // write/add file, append/add subdir, write EA, delete child, write attributes
	0x10000 | 0x40000 | 0x80000 | // DELETE, WRITE_DAC, WRITE_OWNER
	0x10000000 | 0x40000000 // GENERIC_ALL, GENERIC_WRITE

func trusted(sid string) bool { return sid == SIDSystem || sid == SIDAdministrators }

// JudgeSecurity says why an object is not safe for SYSTEM to write into, or
// nil: it must not be a reparse point (junction, symbolic link, mount
// point), its owner must be SYSTEM or Administrators, and no one else may
// hold a write right, directly or for what is created inside (CREATOR OWNER
// is then SYSTEM or Administrators themselves).
func JudgeSecurity(path string, s Security) error {
	switch {
	case s.Reparse:
		return fmt.Errorf("%s is a reparse point (junction or link); a user may have created it to redirect SYSTEM's writes", path)
	case !trusted(s.Owner):
		return fmt.Errorf("%s is owned by %s, not SYSTEM or Administrators; a user may have created it", path, s.Owner)
	case s.NullDACL:
		return fmt.Errorf("%s has no DACL: everyone may write it", path)
	}
	var writers []string
	for _, a := range s.ACEs {
		if !a.Allow || a.Mask&writeMask == 0 || trusted(a.SID) || (a.SID == sidCreatorOwner && a.InheritOnly) {
			continue
		}
		writers = append(writers, a.SID)
	}
	if len(writers) > 0 {
		return fmt.Errorf("%s is writable by %s, not only SYSTEM and Administrators", path, strings.Join(writers, ", "))
	}
	return nil
}
