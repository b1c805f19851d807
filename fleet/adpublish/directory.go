package adpublish

import (
	"errors"
	"io"
	"strings"
)

// Directory is the part of LDAP publishing needs. The real one is
// go-ldap over TLS (Dial); tests use an in-memory fake.
type Directory interface {
	// Read returns the entry at dn (base scope), or ErrNoSuchObject.
	// dn "" is the rootDSE. nTSecurityDescriptor, when asked for, carries
	// owner, group and DACL.
	Read(dn string, attrs ...string) (*Entry, error)
	// Children lists the entries of objectClass directly below dn that
	// have any of the attribute values in anyOf (compared without case; the
	// server filters, so a domain with thousands of GPOs returns only these).
	Children(dn, objectClass string, anyOf []Attr, attrs ...string) ([]Entry, error)
	// Search returns the entries in the subtree below base whose attr
	// contains substring (compared without case): the OUs that link a GPO.
	Search(base, attr, substring string, attrs ...string) ([]Entry, error)
	// Add creates dn with attributes in the given order.
	Add(dn string, attrs []Attr) error
	// Modify applies changes to dn atomically: all or none.
	Modify(dn string, changes []Mod) error
	// Delete removes the leaf dn.
	Delete(dn string) error
}

// Share is the part of SMB publishing needs, on the SYSVOL share. Names are
// slash-separated, relative to the share root. Missing files are reported
// with errors that match fs.ErrNotExist.
type Share interface {
	ReadFile(name string) ([]byte, error)
	// SHA256 is the hex digest of a file's content (the agents: compared
	// without keeping 15 MB in memory).
	SHA256(name string) (string, error)
	// WriteFile creates or truncates name with the content of r.
	WriteFile(name string, r io.Reader) error
	// Rename replaces newname with oldname.
	Rename(oldname, newname string) error
	Remove(name string) error
	// Mkdir creates one folder; an existing folder is not an error.
	Mkdir(name string) error
	// ReadDir lists a folder: names of files, and of folders with a
	// trailing slash.
	ReadDir(name string) ([]string, error)
	// SecurityDescriptor returns owner, group and DACL of name.
	SecurityDescriptor(name string) ([]byte, error)
	// SetSecurityDescriptor sets the DACL of sd (protected when sd's
	// control says so), and the owner only when sd has one.
	SetSecurityDescriptor(name string, sd []byte) error
}

// Attr is one attribute with its values.
type Attr struct {
	Name   string
	Values []string
}

// ModOp is an LDAP modify operation.
type ModOp int

// The LDAP modify operations (RFC 4511 4.6).
const (
	ModAdd ModOp = iota
	ModDelete
	ModReplace
)

// Mod is one change of a modify request. Delete with values deletes those
// values only, and fails when one is gone: a delete of the old value plus an
// add of the new one is a compare-and-swap.
type Mod struct {
	Op     ModOp
	Attr   string
	Values []string
}

// Entry is one directory object; attribute names are lower case.
type Entry struct {
	DN    string
	Attrs map[string][]string
}

// Get returns the first value of attr, or "".
func (e *Entry) Get(attr string) string {
	if e == nil {
		return ""
	}
	if v := e.Attrs[strings.ToLower(attr)]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Has reports whether attr has a value.
func (e *Entry) Has(attr string) bool {
	return e != nil && len(e.Attrs[strings.ToLower(attr)]) > 0
}

// Errors a Directory or Share returns; the publisher turns them into advice.
var (
	ErrNoSuchObject       = errors.New("no such object")
	ErrAccessDenied       = errors.New("access denied")
	ErrInvalidCredentials = errors.New("invalid credentials")
	// ErrConflict: a compare-and-swap failed because someone else changed
	// the value between our read and our write.
	ErrConflict = errors.New("changed by someone else meanwhile")
)
