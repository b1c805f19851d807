package gpo

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// gpoACE is one entry of the DACL the backup declares. The same table gives
// Backup.xml's binary security descriptor and gpreport.xml's SDDL and
// permission list.
type gpoACE struct {
	sid, sddlAlias, name string
	flags                byte   // ACE flags: container inherit, inherit only
	mask                 uint32 // ADS rights
	objectType           string // extended right GUID for an object ACE
}

const (
	aceContainerInherit = 0x02
	aceInheritOnly      = 0x08
	rightsRead          = 0x20094 // LC RP LO RC
	rightsFull          = 0xF00FF // CC DC LC SW RP WP DT LO SD RC WD WO
	rightControlAccess  = 0x100   // CR
	// applyGroupPolicy is the Apply-Group-Policy extended right.
	applyGroupPolicy = "edacfd8f-ffb3-11d1-b41d-00a0c968f939"
)

// gpoDACL is GPMC's default DACL for a new GPO without the domain-specific
// Domain Admins / Enterprise Admins entries, which avdgen cannot know:
// Authenticated Users read + Apply Group Policy, Enterprise Domain
// Controllers read, SYSTEM full control, CREATOR OWNER full (inherit only).
// Import-GPO keeps the target GPO's own permissions anyway.
var gpoDACL = []gpoACE{
	{sid: "S-1-5-11", sddlAlias: "AU", name: `NT AUTHORITY\Authenticated Users`, flags: aceContainerInherit, mask: rightControlAccess, objectType: applyGroupPolicy},
	{sid: "S-1-5-9", sddlAlias: "ED", name: `NT AUTHORITY\ENTERPRISE DOMAIN CONTROLLERS`, flags: aceContainerInherit, mask: rightsRead},
	{sid: "S-1-5-11", sddlAlias: "AU", name: `NT AUTHORITY\Authenticated Users`, flags: aceContainerInherit, mask: rightsRead},
	{sid: "S-1-5-18", sddlAlias: "SY", name: `NT AUTHORITY\SYSTEM`, flags: aceContainerInherit, mask: rightsFull},
	{sid: "S-1-3-0", sddlAlias: "CO", name: `CREATOR OWNER`, flags: aceContainerInherit | aceInheritOnly, mask: rightsFull},
}

// sdControl: self-relative, DACL present, protected and auto-inherited,
// SACL auto-inherited, as GPMC writes it. Like GPMC's backups, no owner,
// group or SACL: those belong to the GPO the backup is imported into.
const sdControl = 0x9c04

func sidBytes(sid string) []byte {
	parts := strings.Split(sid, "-")
	auth, _ := strconv.ParseUint(parts[2], 10, 48)
	b := []byte{1, byte(len(parts) - 3), 0, 0, byte(auth >> 24), byte(auth >> 16), byte(auth >> 8), byte(auth)}
	for _, p := range parts[3:] {
		v, _ := strconv.ParseUint(p, 10, 32)
		b = binary.LittleEndian.AppendUint32(b, uint32(v))
	}
	return b
}

// guidBytes is a GUID in Windows' mixed-endian layout.
func guidBytes(g string) []byte {
	raw, _ := hex.DecodeString(strings.ReplaceAll(g, "-", ""))
	return []byte{raw[3], raw[2], raw[1], raw[0], raw[5], raw[4], raw[7], raw[6],
		raw[8], raw[9], raw[10], raw[11], raw[12], raw[13], raw[14], raw[15]}
}

// securityDescriptorHex is Backup.xml's <SecurityDescriptor>: the
// self-relative descriptor as space-separated hex bytes.
func securityDescriptorHex() string {
	var aces []byte
	for _, a := range gpoDACL {
		body := binary.LittleEndian.AppendUint32(nil, a.mask)
		typ := byte(0) // ACCESS_ALLOWED_ACE
		if a.objectType != "" {
			typ = 5                                          // ACCESS_ALLOWED_OBJECT_ACE
			body = binary.LittleEndian.AppendUint32(body, 1) // ACE_OBJECT_TYPE_PRESENT
			body = append(body, guidBytes(a.objectType)...)
		}
		body = append(body, sidBytes(a.sid)...)
		aces = append(aces, typ, a.flags)
		aces = binary.LittleEndian.AppendUint16(aces, uint16(4+len(body)))
		aces = append(aces, body...)
	}
	sd := []byte{1, 0}
	sd = binary.LittleEndian.AppendUint16(sd, sdControl)
	sd = append(sd, make([]byte, 12)...) // owner, group, SACL: none
	sd = binary.LittleEndian.AppendUint32(sd, 20)
	sd = append(sd, 4, 0) // ACL revision 4 (object ACEs)
	sd = binary.LittleEndian.AppendUint16(sd, uint16(8+len(aces)))
	sd = binary.LittleEndian.AppendUint16(sd, uint16(len(gpoDACL)))
	sd = append(sd, 0, 0)
	sd = append(sd, aces...)
	out := make([]string, len(sd))
	for i, b := range sd {
		out[i] = fmt.Sprintf("%02x", b)
	}
	return strings.Join(out, " ")
}

// sddlRights spells an access mask the way SDDL does, in SDDL's order.
func sddlRights(mask uint32) string {
	var b strings.Builder
	for _, r := range []struct {
		bit  uint32
		name string
	}{{0x1, "CC"}, {0x2, "DC"}, {0x4, "LC"}, {0x8, "SW"}, {0x10, "RP"}, {0x20, "WP"}, {0x40, "DT"}, {0x80, "LO"},
		{0x100, "CR"}, {0x10000, "SD"}, {0x20000, "RC"}, {0x40000, "WD"}, {0x80000, "WO"}} {
		if mask&r.bit != 0 {
			b.WriteString(r.name)
		}
	}
	return b.String()
}

// sddl is the same descriptor in SDDL, as gpreport.xml shows it.
func sddl() string {
	var b strings.Builder
	b.WriteString("D:PAI")
	for _, a := range gpoDACL {
		flags := ""
		if a.flags&aceContainerInherit != 0 {
			flags += "CI"
		}
		if a.flags&aceInheritOnly != 0 {
			flags += "IO"
		}
		typ := "A"
		if a.objectType != "" {
			typ = "OA"
		}
		fmt.Fprintf(&b, "(%s;%s;%s;%s;;%s)", typ, flags, sddlRights(a.mask), a.objectType, a.sddlAlias)
	}
	return b.String()
}

// trusteePermission is one row of GPMC's delegation list.
type trusteePermission struct{ sid, name, access string }

// permissions groups the DACL per trustee as GPMC's report does; an
// inherit-only entry (CREATOR OWNER) applies to no GPO and is not listed.
func permissions() []trusteePermission {
	var order []string
	masks := map[string]uint32{}
	apply := map[string]bool{}
	names := map[string]string{}
	for _, a := range gpoDACL {
		if a.flags&aceInheritOnly != 0 {
			continue
		}
		if _, seen := masks[a.sid]; !seen {
			order = append(order, a.sid)
		}
		names[a.sid] = a.name
		if a.objectType == applyGroupPolicy {
			apply[a.sid] = true
			masks[a.sid] |= 0
			continue
		}
		masks[a.sid] |= a.mask
	}
	var out []trusteePermission
	for _, sid := range order {
		access := "Custom"
		switch {
		case masks[sid] == rightsFull:
			access = "Edit, delete, modify security"
		case masks[sid] == rightsRead && apply[sid]:
			access = "Apply Group Policy"
		case masks[sid] == rightsRead:
			access = "Read"
		}
		out = append(out, trusteePermission{sid, names[sid], access})
	}
	return out
}
