package adpublish

import (
	"bytes"
	"encoding/binary"
	"fmt"
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

// dsToFSACL derives the GPO folder's ACL from the GPO's directory security
// descriptor, as Samba's dsacl2fsacl and GPMC do: allowed ACEs only (not
// for Pre-Windows 2000 Compatible Access), inherited by files and folders,
// CREATOR OWNER only on children, directory rights mapped to file rights.
func dsToFSACL(ds []byte) ([]byte, error) {
	d, err := parseDescriptor(ds)
	if err != nil {
		return nil, fmt.Errorf("GPO's nTSecurityDescriptor: %w", err)
	}
	fs := descriptor{control: d.control, owner: d.owner, group: d.group}
	for _, ace := range d.aces {
		if ace[0] != aceAccessAllowed && ace[0] != aceAccessAllowedObject {
			continue
		}
		who := aceTrustee(ace)
		if bytes.Equal(who, sidPreW2K) {
			continue
		}
		a := bytes.Clone(ace)
		a[1] |= aceObjectInherit | aceContainerInherit
		if bytes.Equal(who, sidCreatorOwner) {
			a[1] |= aceInheritOnly
		}
		binary.LittleEndian.PutUint32(a[4:], ldapMaskToFileMask(binary.LittleEndian.Uint32(a[4:])))
		fs.aces = append(fs.aces, a)
	}
	return fs.encode(), nil
}

// sameACL compares what aclcheck compares: owner, group, the DACL's
// protected/auto-inherited bits and its ACEs in order.
func sameACL(a, b []byte) bool {
	da, errA := parseDescriptor(a)
	db, errB := parseDescriptor(b)
	if errA != nil || errB != nil {
		return false
	}
	const bits = seDACLProtected | seDACLAutoInherited
	if !bytes.Equal(da.owner, db.owner) || !bytes.Equal(da.group, db.group) ||
		da.control&bits != db.control&bits || len(da.aces) != len(db.aces) {
		return false
	}
	for i := range da.aces {
		if !bytes.Equal(da.aces[i], db.aces[i]) {
			return false
		}
	}
	return true
}
