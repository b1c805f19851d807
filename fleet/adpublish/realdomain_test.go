package adpublish

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"
)

// Issue 16: publishing on the domains admins run. One test (or more) per
// numbered finding; each fails on the code before the fix.

const gpoDN = "CN=%s,CN=Policies,CN=System,DC=contoso,DC=local"

func dnOf(tg Target) string { return strings.Replace(gpoDN, "%s", tg.GUID, 1) }

// --- finding 1: SYSVOL rights Windows accepts --------------------------

// A delegated account that is not the GPO's owner (Domain Admins owns it)
// repairs the folder ACL: Windows refuses an owner that is not in the
// caller's token (STATUS_INVALID_OWNER), so publish writes the DACL only.
func TestACLRepairWritesTheDACLOnly(t *testing.T) {
	d, s, tg := newFakeDirectory(), newFakeShare(), target(t, "2h")
	publish(t, d, s, tg, false)
	dir := "contoso.local/Policies/" + tg.GUID
	s.sds[key(dir)] = testDSDescriptor() // drifted
	delegate := sid(5, 21, 1, 2, 3, 1105)
	s.owners = [][]byte{delegate}
	res, err := Publish(d, s, tg, Options{CallerSID: delegate})
	if err != nil {
		t.Fatalf("repair as a delegated account: %v", err)
	}
	got, _ := parseDescriptor(s.sds[key(dir)])
	if !bytes.Equal(got.owner, sid(5, 21, 1, 2, 3, 512)) {
		t.Errorf("owner %x: a DACL-only write keeps the owner", got.owner)
	}
	if len(res.Changes) != 1 || res.Changes[0].Kind != "acl" {
		t.Errorf("changes %v, want the ACL only", res.Changes)
	}
	// When the GPO's owner is the caller (a delegated account created it),
	// the owner is set too.
	d.sd = func() []byte { x, _ := parseDescriptor(testDSDescriptor()); x.owner = delegate; return x.encode() }()
	d2, s2 := d, newFakeShare()
	s2.owners = [][]byte{delegate}
	d2.entries = newFakeDirectory().entries
	if _, err := Publish(d2, s2, tg, Options{CallerSID: delegate}); err != nil {
		t.Fatalf("create as the owner: %v", err)
	}
	if got, _ := parseDescriptor(s2.sds[key(dir)]); !bytes.Equal(got.owner, delegate) {
		t.Errorf("owner %x, want the caller who owns the GPO", got.owner)
	}
}

// The Apply Group Policy object ACE is a directory right: it is not
// copied into the folder's DACL (NTFS has no object ACEs for files).
func TestNoObjectACEsOnSYSVOL(t *testing.T) {
	d, s, tg := newFakeDirectory(), newFakeShare(), target(t, "2h")
	publish(t, d, s, tg, false)
	got, _ := parseDescriptor(s.sds[key("contoso.local/Policies/"+tg.GUID)])
	for _, a := range got.aces {
		if a[0] != aceAccessAllowed {
			t.Errorf("ACE type %d in the folder DACL, want plain allowed ACEs only", a[0])
		}
	}
}

// icaclsDACL builds a DACL from icacls lines (testdata: a real Windows
// SYSVOL listing): Windows splits a trustee's rights into a folder-only
// ACE with specific rights and an inherit-only ACE with generic ones.
func icaclsDACL(t *testing.T, text string) []byte {
	t.Helper()
	sids := map[string][]byte{
		`NT AUTHORITY\Authenticated Users`: sid(5, 11), `BUILTIN\Server Operators`: sid(5, 32, 549),
		`BUILTIN\Administrators`: sid(5, 32, 544), `NT AUTHORITY\SYSTEM`: sid(5, 18), `CREATOR OWNER`: sidCreatorOwner,
	}
	rights := map[string]uint32{"F": 0x1F01FF, "M": 0x1301BF, "RX": 0x1200A9, "R": 0x120089, "WDAC": 0x40000, "WO": 0x80000,
		"GR": 0x80000000, "GE": 0x20000000, "GA": 0x10000000}
	d := descriptor{control: seDACLProtected | seDACLAutoInherited}
	for _, line := range strings.Split(text, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		who, perm, _ := strings.Cut(line, ":(")
		var flags byte
		var mask uint32
		for _, part := range strings.Split(strings.TrimSuffix(perm, ")"), ")(") {
			switch part {
			case "OI":
				flags |= aceObjectInherit
			case "CI":
				flags |= aceContainerInherit
			case "IO":
				flags |= aceInheritOnly
			default:
				for _, r := range strings.Split(part, ",") {
					m, ok := rights[r]
					if !ok {
						t.Fatalf("icacls right %q in %q", r, line)
					}
					mask |= m
				}
			}
		}
		trustee, ok := sids[who]
		if !ok {
			t.Fatalf("trustee %q", who)
		}
		ace := []byte{aceAccessAllowed, flags, 0, 0}
		ace = binary.LittleEndian.AppendUint32(ace, mask)
		ace = append(ace, trustee...)
		binary.LittleEndian.PutUint16(ace[2:], uint16(len(ace)))
		d.aces = append(d.aces, ace)
	}
	return d.encode()
}

// A folder whose DACL Windows wrote in its own shape (split and generic
// ACEs, another order, no Apply Group Policy ACE) but granting the same
// as the GPO's security descriptor is consistent: no change, no write
// (which would need WRITE_DAC on every run).
func TestWindowsShapedACLIsConsistent(t *testing.T) {
	sample, err := os.ReadFile("testdata/sysvol-icacls-windows.txt")
	if err != nil {
		t.Fatal(err)
	}
	windows := icaclsDACL(t, string(sample))
	// The directory side granting the same: read (+ Apply) for
	// Authenticated Users, read for Server Operators, full control for
	// Administrators and SYSTEM, full for CREATOR OWNER on children.
	ace := func(typ, flags byte, mask uint32, body ...[]byte) []byte {
		b := []byte{typ, flags, 0, 0, byte(mask), byte(mask >> 8), byte(mask >> 16), byte(mask >> 24)}
		for _, x := range body {
			b = append(b, x...)
		}
		b[2] = byte(len(b))
		return b
	}
	applyGP := []byte{0x8f, 0xfd, 0xac, 0xed, 0xb3, 0xff, 0xd1, 0x11, 0xb4, 0x1d, 0x00, 0xa0, 0xc9, 0x68, 0xf9, 0x39}
	ds := descriptor{control: seDACLPresent | seDACLProtected, owner: sid(5, 32, 544), group: sid(5, 32, 544), aces: [][]byte{
		ace(aceAccessAllowedObject, 0, 0x100, []byte{1, 0, 0, 0}, applyGP, sid(5, 11)),
		ace(aceAccessAllowed, 0, 0x20094, sid(5, 11)),
		ace(aceAccessAllowed, 0, 0x20094, sid(5, 32, 549)),
		ace(aceAccessAllowed, 0, 0xF01FF, sid(5, 32, 544)),
		ace(aceAccessAllowed, 0, 0xF01FF, sid(5, 18)),
		ace(aceAccessAllowed, aceContainerInherit|aceInheritOnly, 0xF01FF, sidCreatorOwner),
	}}
	d, s, tg := newFakeDirectory(), newFakeShare(), target(t, "2h")
	d.sd = ds.encode()
	publish(t, d, s, tg, false)
	dir := "contoso.local/Policies/" + tg.GUID
	s.sds[key(dir)] = windows
	res := publish(t, d, s, tg, false)
	if res.Changed() {
		t.Fatalf("a Windows-written ACL granting the same counts as drift: %v", res.Changes)
	}
	// Taking Read from Server Operators is drift.
	d.get(dnOf(tg)).Attrs["ntsecuritydescriptor"] = []string{string(func() []byte { x := ds; x.aces = append(x.aces[:2:2], x.aces[3:]...); return x.encode() }())}
	if res := publish(t, d, s, tg, true); !res.Changed() {
		t.Fatal("a trustee missing from the GPO's descriptor is not drift")
	}
}

// A repair gives the files below the folder the new inherited ACEs: raw
// SET_INFO does not propagate, so they kept their old ones.
func TestACLRepairPropagatesToFiles(t *testing.T) {
	d, s, tg := newFakeDirectory(), newFakeShare(), target(t, "2h")
	publish(t, d, s, tg, false)
	dir := "contoso.local/Policies/" + tg.GUID
	stale := descriptor{control: seDACLAutoInherited, aces: [][]byte{
		append([]byte{aceAccessAllowed, aceInherited, 20, 0, 0xA9, 0, 0x12, 0}, sid(5, 7)...), // ANONYMOUS read
	}}
	for _, f := range []string{dir + "/GPT.INI", dir + "/Machine/registry.pol", dir + "/Machine"} {
		s.sds[key(f)] = stale.encode()
	}
	s.sds[key(dir)] = stale.encode()
	publish(t, d, s, tg, false)
	au, da := hexSID(sid(5, 11)), hexSID(sid(5, 21, 1, 2, 3, 512))
	for _, f := range []string{dir + "/GPT.INI", dir + "/Machine/registry.pol", dir + "/Machine"} {
		got := s.sds[key(f)]
		r, err := effectiveRights(got)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if r["allow "+au+" folder"] != "RX" || r["allow "+da+" folder"] != "F" || strings.Contains(rightsText(got), "S-1-5-7") {
			t.Errorf("%s has %s: want the folder's inherited ACEs (Authenticated Users RX, Domain Admins F), not the stale one", f, rightsText(got))
		}
	}
	if r, _ := effectiveRights(s.sds[key(dir+"/Machine")]); r["allow "+au+" files"] != "RX" {
		t.Errorf("subfolder Machine does not pass the ACEs on to its files: %v", r)
	}
}

func hexSID(b []byte) string { return hex.EncodeToString(b) }

// --- finding 4: race with a GPMC edit ----------------------------------

// GPMC bumps the version between our read and our write: nothing in
// SYSVOL may be written, or hosts get a mix of both.
func TestVersionCheckedBeforeAnyFileIsWritten(t *testing.T) {
	d, s := newFakeDirectory(), newFakeShare()
	publish(t, d, s, target(t, "2h"), false)
	tg := target(t, "3h")
	p := &publisher{dir: d, share: s, t: tg, res: &Result{}}
	if err := p.read(); err != nil {
		t.Fatal(err)
	}
	d.get(dnOf(tg)).Attrs["versionnumber"] = []string{"2"}
	sw := len(s.writes)
	if err := p.apply(); !errors.Is(err, ErrConflict) {
		t.Fatalf("apply = %v, want ErrConflict", err)
	}
	if len(s.writes) != sw {
		t.Fatalf("SYSVOL written before the version check: %v", s.writes[sw:])
	}
}

// conflictShare bumps the GPO's version in AD as GPT.INI is renamed into
// place: GPMC saving between our check and our compare-and-swap.
type conflictShare struct {
	*fakeShare
	dir *fakeDirectory
	dn  string
}

func (c *conflictShare) Rename(o, n string) error {
	if strings.HasSuffix(n, "/GPT.INI") && c.dn != "" {
		c.dir.get(c.dn).Attrs["versionnumber"] = []string{"2"}
		c.dn = ""
	}
	return c.fakeShare.Rename(o, n)
}

// When the compare-and-swap fails after SYSVOL was written, the rerun
// the error suggests finishes the publish with a new version: it never
// reports 0 changes over a mix of two writers' files.
func TestRerunAfterAConflictFinishesThePublish(t *testing.T) {
	d, fs := newFakeDirectory(), newFakeShare()
	publish(t, d, fs, target(t, "2h"), false)
	tg := target(t, "3h")
	s := &conflictShare{fakeShare: fs, dir: d, dn: dnOf(tg)}
	if _, err := Publish(d, s, tg, Options{}); !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "rerun") {
		t.Fatalf("publish = %v, want ErrConflict telling to rerun", err)
	}
	res := publish(t, d, fs, tg, false)
	if !res.Changed() || res.VersionAfter != 3 {
		t.Fatalf("rerun: %d changes, version %d; want it to finish with version 3 (past GPMC's 2)", len(res.Changes), res.VersionAfter)
	}
	if again := publish(t, d, fs, tg, false); again.Changed() {
		t.Fatalf("third run still changes %v", again.Changes)
	}
}

// --- finding 5: admin actions respected --------------------------------

// A GPO the admin disabled in GPMC (flags 3: an emergency stop) stays
// disabled, and publish says so; --enable enables it.
func TestDisabledGPOStaysDisabled(t *testing.T) {
	d, s, tg := newFakeDirectory(), newFakeShare(), target(t, "2h")
	publish(t, d, s, tg, false)
	d.get(dnOf(tg)).Attrs["flags"] = []string{"3"}
	res := publish(t, d, s, target(t, "3h"), false)
	if got := d.get(dnOf(tg)).Get("flags"); got != "3" {
		t.Fatalf("flags %s after publish, want the admin's 3", got)
	}
	if !strings.Contains(strings.Join(res.Notes, " "), "--enable") || res.Info == nil || !res.Info.Disabled {
		t.Errorf("notes %v info %+v: want the disabled GPO reported", res.Notes, res.Info)
	}
	if _, err := Publish(d, s, tg, Options{Enable: true}); err != nil {
		t.Fatal(err)
	}
	if got := d.get(dnOf(tg)).Get("flags"); got != "1" {
		t.Fatalf("flags %s after --enable, want 1", got)
	}
}

// A GPO Import-GPO made (another GUID) that the admin then renamed is
// found again by the id publish recorded: no duplicate GPO or link, and
// the admin's name stays.
func TestRenamedGPOIsFoundByItsRecordedID(t *testing.T) {
	d, s, tg := newFakeDirectory(), newFakeShare(), target(t, "2h")
	const imported = "{0A0A0A0A-1111-2222-3333-444444444444}"
	dn := strings.Replace(gpoDN, "%s", imported, 1)
	d.put(dn, map[string][]string{"objectclass": {"groupPolicyContainer"}, "cn": {imported}, "displayname": {tg.DisplayName},
		"versionnumber": {"65537"}, "flags": {"1"}, "gpcfunctionalityversion": {"2"},
		"gpcfilesyspath": {`\\contoso.local\SysVol\contoso.local\Policies\` + imported}, "ntsecuritydescriptor": {string(d.sd)}})
	dir := "contoso.local/Policies/" + imported
	for _, sub := range []string{"", "/Machine", "/Machine/Preferences", "/Machine/Preferences/ScheduledTasks"} {
		s.dirs[key(dir+sub)] = true
	}
	s.sds[key(dir)], _ = dsToFSACL(d.sd, nil)
	for _, f := range tg.Files {
		if strings.HasSuffix(f.Name, "ScheduledTasks.xml") {
			s.files[key(dir+"/"+f.Name)] = f.Data
		}
	}
	publish(t, d, s, tg, false)
	d.get(dn).Attrs["displayname"] = []string{"AVD pool 1 (do not touch)"}
	res := publish(t, d, s, target(t, "3h"), false)
	if res.Created || res.GPO != imported {
		t.Fatalf("after a rename: created %v, GPO %s; want the renamed %s updated", res.Created, res.GPO, imported)
	}
	if got := d.get(dn).Get("displayName"); got != "AVD pool 1 (do not touch)" {
		t.Errorf("displayName %q: the admin's name was undone", got)
	}
	if strings.Count(d.get(ouDN).Get("gPLink"), "LDAP://") != 1 {
		t.Errorf("gPLink %q: want one link", d.get(ouDN).Get("gPLink"))
	}
}

// Settings an admin added to avdgen's files are not overwritten without
// --force (and diff reports them); another client-side extension the
// admin added keeps its gPCMachineExtensionNames entry, or its settings
// stop applying.
func TestSettingsAvdgenDoesNotOwnAreKept(t *testing.T) {
	d, s, tg := newFakeDirectory(), newFakeShare(), target(t, "2h")
	publish(t, d, s, tg, false)
	dir := "contoso.local/Policies/" + tg.GUID
	// Security settings (another CSE) added in GPMC.
	const secCSE = "[{827D319E-6EAC-11D2-A4EA-00C04F79F83A}{803E14A0-B4FB-11D0-A0D0-00A0C90F574B}]"
	g := d.get(dnOf(tg))
	g.Attrs["gpcmachineextensionnames"] = []string{tg.MachineExtensionNames + secCSE}
	res := publish(t, d, s, target(t, "3h"), false)
	if got := g.Get("gPCMachineExtensionNames"); !strings.Contains(got, secCSE) {
		t.Fatalf("gPCMachineExtensionNames %q lost the admin's security settings CSE", got)
	}
	if res.VersionAfter != 2 {
		t.Errorf("version %d", res.VersionAfter)
	}
	// A registry value added to avdgen's registry.pol.
	pol, _ := s.ReadFile(dir + "/Machine/registry.pol")
	extra := append(bytes.Clone(pol), polEntry(`Software\Policies\Microsoft\Windows\Explorer`, "NoAutoplayfornonVolume")...)
	s.files[key(dir+"/Machine/registry.pol")] = extra
	dw, sw := len(d.writes), len(s.writes)
	_, err := Publish(d, s, target(t, "6h"), Options{})
	if err == nil || !strings.Contains(err.Error(), "NoAutoplayfornonVolume") || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("publish over an admin's registry value: %v", err)
	}
	if len(d.writes) != dw || len(s.writes) != sw {
		t.Fatalf("refused publish wrote LDAP %v SMB %v", d.writes[dw:], s.writes[sw:])
	}
	diff := publish(t, d, s, target(t, "6h"), true)
	var foreign bool
	for _, c := range diff.Changes {
		foreign = foreign || c.Kind == "foreign" && strings.Contains(c.Old, "NoAutoplayfornonVolume")
	}
	if !foreign {
		t.Errorf("diff does not report the admin's value: %v", diff.Changes)
	}
	if _, err := Publish(d, s, target(t, "6h"), Options{Force: true}); err != nil {
		t.Fatalf("--force: %v", err)
	}
}

// polEntry is one REG_DWORD 1 registry.pol entry (no header).
func polEntry(k, v string) []byte {
	u := func(s string) []byte {
		var b []byte
		for _, r := range s {
			b = append(b, byte(r), 0)
		}
		return append(b, 0, 0)
	}
	b := []byte{'[', 0}
	b = append(b, u(k)...)
	b = append(b, ';', 0)
	b = append(b, u(v)...)
	b = append(b, ';', 0, 4, 0, 0, 0, ';', 0, 4, 0, 0, 0, ';', 0, 1, 0, 0, 0, ']', 0)
	return b
}

// --- finding 2: agent upgrades with several DCs ------------------------

// Agent sources are versioned in SYSVOL; an upgrade keeps the previous
// one (hosts that meet an older replica of Files.xml still copy it) and
// prunes older ones no avdgen GPO names.
func TestOlderAgentSourcesArePruned(t *testing.T) {
	d, s := newFakeDirectory(), newFakeShare()
	v := func(n string) Target {
		tg := target(t, "2h")
		for i := range tg.Payload {
			if strings.HasSuffix(tg.Payload[i].Name, ".exe") {
				tg.Payload[i].Name = strings.Replace(tg.Payload[i].Name, "-test-", "-"+n+"-", 1)
				tg.Payload[i].Data = append(bytes.Clone(tg.Payload[i].Data), n...)
			}
		}
		for i := range tg.Files {
			if strings.HasSuffix(tg.Files[i].Name, "Files.xml") {
				tg.Files[i].Data = bytes.ReplaceAll(tg.Files[i].Data, []byte("-test-"), []byte("-"+n+"-"))
			}
		}
		return tg
	}
	publish(t, d, s, v("1"), false)
	publish(t, d, s, v("2"), false)
	publish(t, d, s, v("3"), false)
	names, _ := s.ReadDir("contoso.local/scripts/avdgen")
	joined := strings.Join(names, " ")
	if strings.Contains(joined, "-1-") || !strings.Contains(joined, "-2-") || !strings.Contains(joined, "-3-") {
		t.Fatalf("scripts/avdgen holds %v: want v3 and the previous v2, v1 pruned", names)
	}
	// A v3 source missing on this DC (an older replica) is restored; the
	// previous v2 stays, since this is no upgrade.
	v3 := v("3")
	delete(s.files, key("contoso.local/scripts/avdgen/"+v3.Payload[0].Name))
	publish(t, d, s, v3, false)
	names, _ = s.ReadDir("contoso.local/scripts/avdgen")
	if joined := strings.Join(names, " "); !strings.Contains(joined, v3.Payload[0].Name) || !strings.Contains(joined, "-2-") {
		t.Fatalf("after restoring a missing source, scripts/avdgen holds %v: want v3 restored and v2 kept", names)
	}
}

// --- finding 7: diff shows what publish leaves alone; unpublish --------

// diff shows every link to the GPO (disabled, enforced, on another OU),
// the security filtering and the WMI filter.
func TestDiffShowsLinksFilteringAndWMI(t *testing.T) {
	d, s, tg := newFakeDirectory(), newFakeShare(), target(t, "2h")
	publish(t, d, s, tg, false)
	dn := dnOf(tg)
	d.put("OU=Old,DC=contoso,DC=local", map[string][]string{"objectclass": {"organizationalUnit"}, "gplink": {"[LDAP://" + strings.ToLower(dn) + ";3]"}})
	d.get(ouDN).Attrs["gplink"] = []string{"[LDAP://" + dn + ";1]"}
	d.get(dn).Attrs["gpcwqlfilter"] = []string{"[contoso.local;{1234};0]"}
	res := publish(t, d, s, tg, true)
	if res.Changed() {
		t.Fatalf("a disabled link is the admin's: no change, got %v", res.Changes)
	}
	var out strings.Builder
	res.WriteText(&out)
	for _, want := range []string{
		"link: OU=AVD,DC=contoso,DC=local (DISABLED)",
		"link: OU=Old,DC=contoso,DC=local (DISABLED, enforced)",
		"security filtering: S-1-5-21-1-2-3-512; Authenticated Users (S-1-5-11)\n",
		"WMI filter: [contoso.local;{1234};0]",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("diff output lacks %q:\n%s", want, out.String())
		}
	}
}

// unpublish removes the links, the GPO (with its containers), its SYSVOL
// folder, its record and the agents no other avdgen GPO copies; the dry
// run removes nothing; a GPO avdgen did not create is refused.
func TestUnpublish(t *testing.T) {
	d, s, tg := newFakeDirectory(), newFakeShare(), target(t, "2h")
	other := "[LDAP://CN={11111111-2222-3333-4444-555555555555},CN=Policies,CN=System,DC=contoso,DC=local;0]"
	d.get(ouDN).Attrs["gplink"] = []string{other}
	publish(t, d, s, tg, false)
	dw, sw := len(d.writes), len(s.writes)
	dry, err := Unpublish(d, s, tg, true)
	if err != nil || len(d.writes) != dw || len(s.writes) != sw || len(dry.Changes) < 4 {
		t.Fatalf("dry run: %v, %d changes, writes %v %v", err, len(dry.Changes), d.writes[dw:], s.writes[sw:])
	}
	if _, err := Unpublish(d, s, tg, false); err != nil {
		t.Fatal(err)
	}
	if d.get(dnOf(tg)) != nil || d.get("CN=Machine,"+dnOf(tg)) != nil {
		t.Error("the GPO is still in AD")
	}
	if got := d.get(ouDN).Get("gPLink"); got != other {
		t.Errorf("gPLink %q, want only the other GPO's link", got)
	}
	for k := range s.files {
		if strings.Contains(k, strings.ToLower(tg.GUID)) || strings.HasSuffix(k, ".exe") {
			t.Errorf("%s left in SYSVOL", k)
		}
	}
	if s.dirs[key("contoso.local/Policies/"+tg.GUID)] {
		t.Error("the GPO's SYSVOL folder is left")
	}
	// Someone else's GPO with the pool's display name is never removed.
	d.put(dnOf(Target{GUID: "{99999999-0000-0000-0000-000000000000}"}), map[string][]string{
		"objectclass": {"groupPolicyContainer"}, "cn": {"{99999999-0000-0000-0000-000000000000}"}, "displayname": {tg.DisplayName}})
	if _, err := Unpublish(d, s, tg, false); err == nil || !strings.Contains(err.Error(), "did not create") {
		t.Fatalf("unpublish of someone else's GPO: %v", err)
	}
}

// An agent another pool's GPO still copies stays when this pool's GPO is
// unpublished.
func TestUnpublishKeepsAgentsOtherPoolsUse(t *testing.T) {
	d, s := newFakeDirectory(), newFakeShare()
	a, b := target(t, "2h"), target(t, "2h")
	b.GUID, b.DisplayName = "{0B0B0B0B-1111-2222-3333-444444444444}", "avdgen - hp2"
	publish(t, d, s, a, false)
	publish(t, d, s, b, false)
	if _, err := Unpublish(d, s, a, false); err != nil {
		t.Fatal(err)
	}
	for _, p := range a.Payload {
		if _, err := s.ReadFile("contoso.local/scripts/avdgen/" + p.Name); err != nil && strings.HasSuffix(p.Name, ".exe") {
			t.Errorf("%s removed though hp2's GPO copies it", p.Name)
		}
	}
}
