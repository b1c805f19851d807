package adpublish

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
)

// Security descriptor handling, on the self-relative binary form
// ([MS-DTYP] 2.4.6) that LDAP's nTSecurityDescriptor and SMB's
// QUERY_INFO/SET_INFO both carry.

const (
	seDACLPresent       = 0x0004
	seSACLPresent       = 0x0010
	seDACLAutoInherited = 0x0400
	seDACLProtected     = 0x1000
	seSelfRelative      = 0x8000

	aceAccessAllowed       = 0x00
	aceAccessAllowedObject = 0x05

	aceObjectInherit    = 0x01
	aceContainerInherit = 0x02
	aceInheritOnly      = 0x08
)

// Well-known trustees dsToFSACL treats specially.
var (
	sidCreatorOwner = []byte{1, 1, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0}               // S-1-3-0
	sidPreW2K       = []byte{1, 2, 0, 0, 0, 0, 0, 5, 32, 0, 0, 0, 42, 2, 0, 0} // S-1-5-32-554
)

// descriptor is a parsed security descriptor: owner and group SIDs, the
// control bits, and the DACL's ACEs as raw bytes.
type descriptor struct {
	control      uint16
	owner, group []byte
	aces         [][]byte
}

func sidAt(b []byte, off uint32) ([]byte, error) {
	if off == 0 {
		return nil, nil
	}
	if int(off)+8 > len(b) {
		return nil, fmt.Errorf("security descriptor: SID offset %d beyond %d bytes", off, len(b))
	}
	n := 8 + 4*int(b[off+1])
	if int(off)+n > len(b) {
		return nil, fmt.Errorf("security descriptor: SID at %d overruns %d bytes", off, len(b))
	}
	return bytes.Clone(b[off : int(off)+n]), nil
}

func parseDescriptor(b []byte) (descriptor, error) {
	var d descriptor
	if len(b) < 20 || b[0] != 1 {
		return d, fmt.Errorf("security descriptor: not a self-relative descriptor (%d bytes)", len(b))
	}
	d.control = binary.LittleEndian.Uint16(b[2:])
	var err error
	if d.owner, err = sidAt(b, binary.LittleEndian.Uint32(b[4:])); err != nil {
		return d, err
	}
	if d.group, err = sidAt(b, binary.LittleEndian.Uint32(b[8:])); err != nil {
		return d, err
	}
	daclOff := binary.LittleEndian.Uint32(b[16:])
	if d.control&seDACLPresent == 0 || daclOff == 0 {
		return d, nil
	}
	if int(daclOff)+8 > len(b) {
		return d, fmt.Errorf("security descriptor: DACL offset %d beyond %d bytes", daclOff, len(b))
	}
	count := int(binary.LittleEndian.Uint16(b[daclOff+4:]))
	p := int(daclOff) + 8
	for i := 0; i < count; i++ {
		if p+4 > len(b) {
			return d, fmt.Errorf("security descriptor: ACE %d beyond %d bytes", i, len(b))
		}
		size := int(binary.LittleEndian.Uint16(b[p+2:]))
		if size < 8 || p+size > len(b) {
			return d, fmt.Errorf("security descriptor: ACE %d has size %d", i, size)
		}
		d.aces = append(d.aces, bytes.Clone(b[p:p+size]))
		p += size
	}
	return d, nil
}

// encode writes the descriptor self-relative: owner, group, then the DACL.
func (d descriptor) encode() []byte {
	aclLen := 8
	for _, a := range d.aces {
		aclLen += len(a)
	}
	out := make([]byte, 20, 20+len(d.owner)+len(d.group)+aclLen)
	out[0] = 1
	binary.LittleEndian.PutUint16(out[2:], (d.control|seSelfRelative|seDACLPresent)&^seSACLPresent)
	off := uint32(20)
	if d.owner != nil {
		binary.LittleEndian.PutUint32(out[4:], off)
		out = append(out, d.owner...)
		off += uint32(len(d.owner))
	}
	if d.group != nil {
		binary.LittleEndian.PutUint32(out[8:], off)
		out = append(out, d.group...)
		off += uint32(len(d.group))
	}
	binary.LittleEndian.PutUint32(out[16:], off)
	acl := make([]byte, 8)
	acl[0] = 4 // ACL_REVISION_DS: object ACEs may be present
	binary.LittleEndian.PutUint16(acl[2:], uint16(aclLen))
	binary.LittleEndian.PutUint16(acl[4:], uint16(len(d.aces)))
	out = append(out, acl...)
	for _, a := range d.aces {
		out = append(out, a...)
	}
	return out
}

// aceTrustee returns the SID an allowed ACE grants to.
func aceTrustee(ace []byte) []byte {
	p := 8
	if ace[0] == aceAccessAllowedObject {
		if len(ace) < 12 {
			return nil
		}
		flags := binary.LittleEndian.Uint32(ace[8:])
		p = 12
		if flags&1 != 0 {
			p += 16
		}
		if flags&2 != 0 {
			p += 16
		}
	}
	if p >= len(ace) {
		return nil
	}
	return ace[p:]
}

// ldapMaskToFileMask maps directory rights to file rights exactly as
// Samba's ntacls.ldapmask2filemask does, so `samba-tool gpo aclcheck` (and
// GPMC's consistency check) agree with what we set.
func ldapMaskToFileMask(m uint32) uint32 {
	const (
		dsCreateChild  = 0x01
		dsDeleteChild  = 0x02
		dsListContents = 0x04
		dsReadProperty = 0x10
		dsWriteProp    = 0x20
		fileRead       = 0x0001
		fileWrite      = 0x0002
		fileAppend     = 0x0004
		fileReadEA     = 0x0008
		fileWriteEA    = 0x0010
		fileExecute    = 0x0020
		fileDeleteCh   = 0x0040
		fileReadAttr   = 0x0080
		fileWriteAttr  = 0x0100
		synchronize    = 0x00100000
		standardAll    = 0x001F0000
	)
	f := m & standardAll
	if m&dsReadProperty != 0 && m&dsListContents != 0 {
		f |= synchronize | fileRead | fileReadAttr | fileReadEA | fileExecute
	}
	if m&dsWriteProp != 0 {
		f |= synchronize | fileWrite | fileAppend | fileWriteEA | fileWriteAttr
	}
	if m&dsCreateChild != 0 {
		f |= fileAppend | fileWrite
	}
	if m&dsDeleteChild != 0 {
		f |= fileDeleteCh
	}
	return f
}

// dsToFSACL derives the GPO folder's DACL from the GPO's directory
// security descriptor, as GPMC keeps them in step ([MS-GPOL] 2.3; GPMC
// "Sysvol permissions"): allowed ACEs only (not for Pre-Windows 2000
// Compatible Access), inherited by files and folders, CREATOR OWNER only
// on children, directory rights mapped to file rights. Object ACEs (Apply
// Group Policy, rights on one property) are for directory objects and
// have no file meaning: they are left out. The result carries the DACL,
// protected, and an owner only when the GPO's owner is the caller:
// Windows lets a caller set any other owner only with SeRestorePrivilege
// (STATUS_INVALID_OWNER), and a new folder is the caller's anyway.
func dsToFSACL(ds, caller []byte) ([]byte, error) {
	d, err := parseDescriptor(ds)
	if err != nil {
		return nil, fmt.Errorf("GPO's nTSecurityDescriptor: %w", err)
	}
	fs := descriptor{control: seDACLProtected | seDACLAutoInherited}
	if caller != nil && bytes.Equal(d.owner, caller) {
		fs.owner = d.owner
	}
	for _, ace := range d.aces {
		if ace[0] != aceAccessAllowed {
			continue
		}
		who := aceTrustee(ace)
		if bytes.Equal(who, sidPreW2K) {
			continue
		}
		mask := ldapMaskToFileMask(binary.LittleEndian.Uint32(ace[4:]))
		if mask == 0 {
			continue
		}
		a := bytes.Clone(ace)
		a[1] = a[1]&^(aceInherited|aceNoPropagate) | aceObjectInherit | aceContainerInherit
		if bytes.Equal(who, sidCreatorOwner) {
			a[1] |= aceInheritOnly
		}
		binary.LittleEndian.PutUint32(a[4:], mask)
		fs.aces = append(fs.aces, a)
	}
	return fs.encode(), nil
}

// ACE flags beyond the inherit ones.
const (
	aceInherited   = 0x10
	aceNoPropagate = 0x04
)

// expandGeneric maps generic file rights to specific ones (FILE_GENERIC_*).
func expandGeneric(m uint32) uint32 {
	const (
		genericAll     = 0x10000000
		genericExecute = 0x20000000
		genericWrite   = 0x40000000
		genericRead    = 0x80000000
	)
	out := m &^ (genericAll | genericExecute | genericWrite | genericRead)
	if m&genericAll != 0 {
		out |= 0x1F01FF
	}
	if m&genericRead != 0 {
		out |= 0x120089
	}
	if m&genericWrite != 0 {
		out |= 0x120116
	}
	if m&genericExecute != 0 {
		out |= 0x1200A0
	}
	return out
}

// rightsClass names a file access mask as icacls' simple rights do: F, M
// (read and write), RX, R, or the hex mask when it is none of those.
// Read, write and WRITE_DAC count as F: whoever may rewrite the DACL may
// grant itself the rest (Windows gives Administrators "M,WDAC,WO" on
// SYSVOL folders where a derivation says F).
func rightsClass(m uint32) string {
	m = expandGeneric(m)
	switch {
	case m&0x1F01FF == 0x1F01FF, m&0x40003 == 0x40003:
		return "F"
	case m&0x3 == 0x3:
		return "M"
	case m&0x21 == 0x21:
		return "RX"
	case m&0x1 == 0x1:
		return "R"
	}
	return fmt.Sprintf("%#x", m)
}

// effectiveRights is, per trustee, the rights a DACL gives on the folder
// itself, on the files below it and on the folders below it: what a
// person (or GPMC) compares, not the bytes, which differ between writers
// (ACE order, split or generic ACEs, the Apply Group Policy object ACE
// copied or not, inherited flags).
func effectiveRights(sd []byte) (map[string]string, error) {
	d, err := parseDescriptor(sd)
	if err != nil {
		return nil, err
	}
	type scopes struct{ folder, files, folders uint32 }
	allow, deny := map[string]*scopes{}, map[string]*scopes{}
	for _, ace := range d.aces {
		var set map[string]*scopes
		switch ace[0] {
		case aceAccessAllowed:
			set = allow
		case 0x01: // ACCESS_DENIED_ACE
			set = deny
		default:
			continue // object ACEs: no meaning for files
		}
		who := hex.EncodeToString(aceTrustee(ace))
		sc := set[who]
		if sc == nil {
			sc = &scopes{}
			set[who] = sc
		}
		m := binary.LittleEndian.Uint32(ace[4:])
		if ace[1]&aceInheritOnly == 0 {
			sc.folder |= m
		}
		if ace[1]&aceObjectInherit != 0 {
			sc.files |= m
		}
		if ace[1]&aceContainerInherit != 0 {
			sc.folders |= m
		}
	}
	out := map[string]string{}
	for prefix, set := range map[string]map[string]*scopes{"allow": allow, "deny": deny} {
		for who, sc := range set {
			for scope, m := range map[string]uint32{"folder": sc.folder, "files": sc.files, "folders": sc.folders} {
				if expandGeneric(m) != 0 {
					out[prefix+" "+who+" "+scope] = rightsClass(m)
				}
			}
		}
	}
	return out, nil
}

// sameRights reports whether two DACLs grant every trustee the same
// effective rights on the folder, its files and its subfolders.
func sameRights(have, want []byte) bool {
	a, errA := effectiveRights(have)
	b, errB := effectiveRights(want)
	if errA != nil || errB != nil || len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// rightsText shows a DACL's effective rights, one trustee per entry.
func rightsText(sd []byte) string {
	r, err := effectiveRights(sd)
	if err != nil {
		return err.Error()
	}
	keys := make([]string, 0, len(r))
	for k := range r {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		f := strings.Fields(k)
		sid, _ := hex.DecodeString(f[1])
		parts = append(parts, fmt.Sprintf("%s %s %s:%s", f[0], sidString(sid), f[2], r[k]))
	}
	return strings.Join(parts, ", ")
}

// sidString spells a binary SID as S-1-...
func sidString(b []byte) string {
	if len(b) < 8 {
		return "S-?"
	}
	var auth uint64
	for _, x := range b[2:8] {
		auth = auth<<8 | uint64(x)
	}
	s := fmt.Sprintf("S-%d-%d", b[0], auth)
	for i := 8; i+4 <= len(b) && i < 8+4*int(b[1]); i += 4 {
		s += fmt.Sprintf("-%d", binary.LittleEndian.Uint32(b[i:]))
	}
	return s
}

// inheritedACL is the DACL a child of a folder with DACL parent gets by
// inheritance ([MS-DTYP] 2.5.3.4.2, simplified): a file takes the
// object-inherit ACEs, a folder the container-inherit ones (and the
// object-inherit-only ones as inherit-only, to pass on to its files);
// all marked inherited. CREATOR OWNER stays inherit-only on folders and
// is left out on files (Windows would name the file's owner instead).
func inheritedACL(parent []byte, isDir bool) ([]byte, error) {
	d, err := parseDescriptor(parent)
	if err != nil {
		return nil, err
	}
	out := descriptor{control: seDACLAutoInherited}
	for _, ace := range d.aces {
		f := ace[1]
		if f&aceNoPropagate != 0 {
			continue // applies one level down only: kept simple, dropped
		}
		a := bytes.Clone(ace)
		creatorOwner := bytes.Equal(aceTrustee(ace), sidCreatorOwner)
		switch {
		case !isDir && f&aceObjectInherit != 0:
			if creatorOwner {
				continue
			}
			a[1] = aceInherited
		case isDir && f&aceContainerInherit != 0:
			a[1] = f&(aceObjectInherit|aceContainerInherit) | aceInherited
			if creatorOwner {
				a[1] |= aceInheritOnly
			}
		case isDir && f&aceObjectInherit != 0:
			a[1] = aceObjectInherit | aceInheritOnly | aceInherited
		default:
			continue
		}
		out.aces = append(out.aces, a)
	}
	return out.encode(), nil
}

// applyTrustees lists the trustees the GPO's security descriptor grants
// Apply Group Policy: GPMC's security filtering.
func applyTrustees(ds []byte) []string {
	out := []string{}
	d, err := parseDescriptor(ds)
	if err != nil {
		return out
	}
	applyGP := []byte{0x8f, 0xfd, 0xac, 0xed, 0xb3, 0xff, 0xd1, 0x11, 0xb4, 0x1d, 0x00, 0xa0, 0xc9, 0x68, 0xf9, 0x39}
	seen := map[string]bool{}
	for _, ace := range d.aces {
		if ace[1]&aceInheritOnly != 0 || binary.LittleEndian.Uint32(ace[4:])&0x100 == 0 {
			continue
		}
		switch ace[0] {
		case aceAccessAllowed: // all extended rights
		case aceAccessAllowedObject:
			if len(ace) < 28 || binary.LittleEndian.Uint32(ace[8:])&1 == 0 || !bytes.Equal(ace[12:28], applyGP) {
				continue
			}
		default:
			continue
		}
		if bytes.Equal(aceTrustee(ace), sidCreatorOwner) {
			continue // a placeholder for the owner of children
		}
		s := sidString(aceTrustee(ace))
		if name := wellKnown[s]; name != "" {
			s = name + " (" + s + ")"
		}
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

var wellKnown = map[string]string{"S-1-5-11": "Authenticated Users", "S-1-1-0": "Everyone", "S-1-5-9": "Enterprise Domain Controllers",
	"S-1-5-18": "SYSTEM", "S-1-5-32-544": "Administrators"}
