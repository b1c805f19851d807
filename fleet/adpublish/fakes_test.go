package adpublish

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"sort"
	"strings"
)

// fakeDirectory is an in-memory directory with AD's modify semantics: a
// delete of a value that is not there fails (compare-and-swap), modifies
// are atomic. It records every write.
type fakeDirectory struct {
	entries map[string]*Entry // by lower-case DN
	writes  []string
	// deny makes writes below this DN fail with ErrAccessDenied.
	deny string
	// sd is the nTSecurityDescriptor given to new GPOs.
	sd []byte
}

func newFakeDirectory() *fakeDirectory {
	d := &fakeDirectory{entries: map[string]*Entry{}, sd: testDSDescriptor()}
	d.put("", map[string][]string{"defaultnamingcontext": {"DC=contoso,DC=local"}})
	d.put("CN=Policies,CN=System,DC=contoso,DC=local", map[string][]string{"objectclass": {"container"}})
	d.put("OU=AVD,DC=contoso,DC=local", map[string][]string{"objectclass": {"organizationalUnit"}})
	return d
}

func (d *fakeDirectory) put(dn string, attrs map[string][]string) {
	d.entries[strings.ToLower(dn)] = &Entry{DN: dn, Attrs: attrs}
}

func (d *fakeDirectory) get(dn string) *Entry { return d.entries[strings.ToLower(dn)] }

func pick(e *Entry, attrs []string) Entry {
	out := Entry{DN: e.DN, Attrs: map[string][]string{}}
	for _, a := range attrs {
		if v, ok := e.Attrs[strings.ToLower(a)]; ok {
			out.Attrs[strings.ToLower(a)] = append([]string(nil), v...)
		}
	}
	return out
}

func (d *fakeDirectory) Read(dn string, attrs ...string) (*Entry, error) {
	e := d.get(dn)
	if e == nil {
		return nil, fmt.Errorf("reading %s: %w", dn, ErrNoSuchObject)
	}
	p := pick(e, attrs)
	return &p, nil
}

func (d *fakeDirectory) Children(dn, oc string, anyOf []Attr, attrs ...string) ([]Entry, error) {
	if d.get(dn) == nil {
		return nil, fmt.Errorf("listing %s: %w", dn, ErrNoSuchObject)
	}
	var out []Entry
	suffix := "," + strings.ToLower(dn)
	for k, e := range d.entries {
		if !strings.HasSuffix(k, suffix) || strings.Contains(strings.TrimSuffix(k, suffix), ",") {
			continue
		}
		if indexFold(e.Attrs["objectclass"], oc) < 0 {
			continue
		}
		for _, a := range anyOf {
			if slices.ContainsFunc(a.Values, func(v string) bool { return indexFold(e.Attrs[strings.ToLower(a.Name)], v) >= 0 }) {
				out = append(out, pick(e, attrs))
				break
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].DN < out[j].DN })
	return out, nil
}

func (d *fakeDirectory) Search(base, attr, sub string, attrs ...string) ([]Entry, error) {
	var out []Entry
	suffix := strings.ToLower(base)
	for k, e := range d.entries {
		if k != suffix && !strings.HasSuffix(k, ","+suffix) {
			continue
		}
		for _, v := range e.Attrs[strings.ToLower(attr)] {
			if strings.Contains(strings.ToLower(v), strings.ToLower(sub)) {
				out = append(out, pick(e, attrs))
				break
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].DN < out[j].DN })
	return out, nil
}

func (d *fakeDirectory) Delete(dn string) error {
	if d.denied(dn) {
		return fmt.Errorf("deleting %s: %w", dn, ErrAccessDenied)
	}
	if d.get(dn) == nil {
		return fmt.Errorf("deleting %s: %w", dn, ErrNoSuchObject)
	}
	for k := range d.entries {
		if strings.HasSuffix(k, ","+strings.ToLower(dn)) {
			return fmt.Errorf("deleting %s: not a leaf (%s below it)", dn, k)
		}
	}
	delete(d.entries, strings.ToLower(dn))
	d.writes = append(d.writes, "delete "+dn)
	return nil
}

func (d *fakeDirectory) denied(dn string) bool {
	return d.deny != "" && strings.HasSuffix(strings.ToLower(dn), strings.ToLower(d.deny))
}

func (d *fakeDirectory) Add(dn string, attrs []Attr) error {
	if d.denied(dn) {
		return fmt.Errorf("creating %s: %w", dn, ErrAccessDenied)
	}
	if d.get(dn) != nil {
		return fmt.Errorf("creating %s: %w", dn, ErrConflict)
	}
	m := map[string][]string{}
	for _, a := range attrs {
		m[strings.ToLower(a.Name)] = append([]string(nil), a.Values...)
	}
	if strings.EqualFold(m["objectclass"][0], "groupPolicyContainer") {
		m["cn"] = []string{strings.TrimPrefix(strings.SplitN(dn, ",", 2)[0], "CN=")}
		m["ntsecuritydescriptor"] = []string{string(d.sd)}
	}
	d.put(dn, m)
	d.writes = append(d.writes, "add "+dn)
	return nil
}

func (d *fakeDirectory) Modify(dn string, mods []Mod) error {
	if d.denied(dn) {
		return fmt.Errorf("modifying %s: %w", dn, ErrAccessDenied)
	}
	e := d.get(dn)
	if e == nil {
		return fmt.Errorf("modifying %s: %w", dn, ErrNoSuchObject)
	}
	next := map[string][]string{}
	for k, v := range e.Attrs {
		next[k] = append([]string(nil), v...)
	}
	for _, m := range mods {
		k := strings.ToLower(m.Attr)
		switch m.Op {
		case ModReplace:
			next[k] = append([]string(nil), m.Values...)
		case ModAdd:
			next[k] = append(next[k], m.Values...)
		case ModDelete:
			for _, v := range m.Values {
				i := indexOf(next[k], v)
				if i < 0 {
					return fmt.Errorf("modifying %s: %s has no value %q: %w", dn, m.Attr, v, ErrConflict)
				}
				next[k] = append(next[k][:i], next[k][i+1:]...)
			}
		}
	}
	e.Attrs = next
	d.writes = append(d.writes, "modify "+dn)
	return nil
}

func indexFold(vs []string, v string) int {
	return slices.IndexFunc(vs, func(x string) bool { return strings.EqualFold(x, v) })
}

func indexOf(vs []string, v string) int {
	for i, x := range vs {
		if x == v {
			return i
		}
	}
	return -1
}

// fakeShare is an in-memory SYSVOL share; names are compared without case
// like SMB's. It records every write in order.
type fakeShare struct {
	names  map[string]string // key -> name as written
	files  map[string][]byte
	dirs   map[string]bool
	sds    map[string][]byte
	writes []string
	// failRename makes renames onto this name fail.
	failRename string
	// denyWrites makes every write fail with access denied.
	denyWrites bool
	// owners are the SIDs the caller may make an owner (its token's owner
	// SIDs, without SeRestorePrivilege); nil accepts any.
	owners [][]byte
}

func newFakeShare() *fakeShare {
	s := &fakeShare{names: map[string]string{}, files: map[string][]byte{}, dirs: map[string]bool{}, sds: map[string][]byte{}}
	for _, d := range []string{"contoso.local", "contoso.local/Policies", "contoso.local/scripts"} {
		s.dirs[strings.ToLower(d)] = true
		s.names[strings.ToLower(d)] = d
	}
	return s
}

func key(name string) string { return strings.ToLower(name) }

func parentOf(name string) string {
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		return name[:i]
	}
	return ""
}

func (s *fakeShare) ReadFile(name string) ([]byte, error) {
	b, ok := s.files[key(name)]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return bytes.Clone(b), nil
}

func (s *fakeShare) SHA256(name string) (string, error) {
	b, err := s.ReadFile(name)
	if err != nil {
		return "", err
	}
	return sha256Hex(b), nil
}

func (s *fakeShare) write(op, name string) error {
	if s.denyWrites {
		return fmt.Errorf("%s %s: %w", op, name, ErrAccessDenied)
	}
	target, _, _ := strings.Cut(name, " -> ")
	if !s.dirs[key(parentOf(target))] {
		return &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
	}
	s.writes = append(s.writes, op+" "+name)
	return nil
}

func (s *fakeShare) WriteFile(name string, r io.Reader) error {
	if err := s.write("write", name); err != nil {
		return err
	}
	b, err := io.ReadAll(r)
	s.files[key(name)] = b
	s.names[key(name)] = name
	return err
}

func (s *fakeShare) Rename(oldname, newname string) error {
	if newname == s.failRename {
		return fmt.Errorf("rename %s: %w", newname, ErrAccessDenied)
	}
	if err := s.write("rename", oldname+" -> "+newname); err != nil {
		return err
	}
	b, ok := s.files[key(oldname)]
	if !ok {
		return &fs.PathError{Op: "rename", Path: oldname, Err: fs.ErrNotExist}
	}
	delete(s.files, key(oldname))
	s.files[key(newname)] = b
	s.names[key(newname)] = newname
	return nil
}

func (s *fakeShare) Remove(name string) error {
	if s.denyWrites {
		return fmt.Errorf("remove %s: %w", name, ErrAccessDenied)
	}
	if _, ok := s.files[key(name)]; !ok {
		if !s.dirs[key(name)] {
			return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrNotExist}
		}
		for k := range s.files {
			if strings.HasPrefix(k, key(name)+"/") {
				return fmt.Errorf("remove %s: folder not empty", name)
			}
		}
		for k := range s.dirs {
			if strings.HasPrefix(k, key(name)+"/") {
				return fmt.Errorf("remove %s: folder not empty", name)
			}
		}
		delete(s.dirs, key(name))
	}
	s.writes = append(s.writes, "remove "+name)
	delete(s.files, key(name))
	return nil
}

func (s *fakeShare) Mkdir(name string) error {
	if s.dirs[key(name)] {
		return nil
	}
	if err := s.write("mkdir", name); err != nil {
		return err
	}
	s.dirs[key(name)] = true
	s.names[key(name)] = name
	return nil
}

// ReadDir lists the direct children, in the case they were written with
// (names put straight into the maps by tests show in lower case).
func (s *fakeShare) ReadDir(name string) ([]string, error) {
	if !s.dirs[key(name)] {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrNotExist}
	}
	var out []string
	show := func(k string) string {
		if n, ok := s.names[k]; ok {
			return n[strings.LastIndexByte(n, '/')+1:]
		}
		return k[strings.LastIndexByte(k, '/')+1:]
	}
	for k := range s.files {
		if parentOf(k) == key(name) {
			out = append(out, show(k))
		}
	}
	for k := range s.dirs {
		if parentOf(k) == key(name) {
			out = append(out, show(k)+"/")
		}
	}
	sort.Strings(out)
	return out, nil
}

func (s *fakeShare) SecurityDescriptor(name string) ([]byte, error) {
	if _, isFile := s.files[key(name)]; !s.dirs[key(name)] && !isFile {
		return nil, &fs.PathError{Op: "secinfo", Path: name, Err: fs.ErrNotExist}
	}
	return s.sds[key(name)], nil
}

// SetSecurityDescriptor behaves like Windows: an owner not among the
// caller's owner SIDs is STATUS_INVALID_OWNER, and a descriptor without an
// owner keeps the old one.
func (s *fakeShare) SetSecurityDescriptor(name string, sd []byte) error {
	d, err := parseDescriptor(sd)
	if err != nil {
		return err
	}
	if d.owner != nil && s.owners != nil && !slices.ContainsFunc(s.owners, func(o []byte) bool { return bytes.Equal(o, d.owner) }) {
		return fmt.Errorf("setacl %s: STATUS_INVALID_OWNER", name)
	}
	if err := s.write("setacl", name); err != nil {
		return err
	}
	if d.owner == nil {
		if old, err := parseDescriptor(s.sds[key(name)]); err == nil {
			d.owner = old.owner
		}
		sd = d.encode()
	}
	s.sds[key(name)] = bytes.Clone(sd)
	return nil
}

// testDSDescriptor is a GPO security descriptor shaped like AD's default
// for groupPolicyContainer: owner DA, group DA, an allowed ACE for
// Authenticated Users (read), an object ACE (Apply Group Policy), a
// CREATOR OWNER ACE, a Pre-Windows 2000 ACE and a deny ACE.
func testDSDescriptor() []byte {
	domainAdmins := sid(5, 21, 1, 2, 3, 512)
	ace := func(typ, flags byte, mask uint32, body ...[]byte) []byte {
		b := []byte{typ, flags, 0, 0, byte(mask), byte(mask >> 8), byte(mask >> 16), byte(mask >> 24)}
		for _, x := range body {
			b = append(b, x...)
		}
		b[2] = byte(len(b))
		return b
	}
	applyGP := []byte{0x8f, 0xfd, 0xac, 0xed, 0xb3, 0xff, 0xd1, 0x11, 0xb4, 0x1d, 0x00, 0xa0, 0xc9, 0x68, 0xf9, 0x39}
	d := descriptor{control: seDACLPresent | seDACLProtected | seDACLAutoInherited, owner: domainAdmins, group: domainAdmins, aces: [][]byte{
		ace(aceAccessAllowed, 0, 0x000F01FF, domainAdmins),
		ace(aceAccessAllowed, 0, 0x00020094, sid(5, 11)),                                    // AU: RC, RP, LC, LO
		ace(aceAccessAllowedObject, 0, 0x00000100, []byte{1, 0, 0, 0}, applyGP, sid(5, 11)), // AU: CR Apply GP
		ace(aceAccessAllowed, 0x02, 0x000F01FF, sidCreatorOwner),
		ace(aceAccessAllowed, 0, 0x00000014, sidPreW2K),
		ace(0x01, 0, 0x00000020, sid(5, 7)), // deny: dropped
	}}
	return d.encode()
}

// sid builds S-1-<auth>-<subs...>.
func sid(auth byte, subs ...uint32) []byte {
	b := []byte{1, byte(len(subs)), 0, 0, 0, 0, 0, auth}
	for _, s := range subs {
		b = append(b, byte(s), byte(s>>8), byte(s>>16), byte(s>>24))
	}
	return b
}
