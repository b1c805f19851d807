package adpublish

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/avdgen/avdgen/dist"
	"github.com/avdgen/avdgen/generator/gpo"
	"github.com/avdgen/avdgen/generator/spec"
	"github.com/avdgen/avdgen/internal/testkit"
)

const ouDN = "OU=AVD,DC=contoso,DC=local"

// target renders the GPO bundle for idle and takes the publish target out
// of it, as the CLI does.
func target(t *testing.T, idle string) Target {
	t.Helper()
	s, err := spec.Decode("t.yaml", []byte("hostPool: hp1\nlimits:\n  idle: "+idle+"\n  disconnected: 15m\ngpo:\n  domain: contoso.local\n  ou: "+ouDN+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	files, err := gpo.Build(gpo.Input{Spec: s.WithDefaults(), Time: time.Unix(1700000000, 0).UTC(), AvdgenVersion: "test",
		Agents: dist.Agents{Version: "test", ByArch: map[dist.Arch]dist.Agent{
			dist.AMD64: {Arch: dist.AMD64, Binary: []byte("MZ amd64")}, dist.ARM64: {Arch: dist.ARM64, Binary: []byte("MZ arm64")}}}})
	if err != nil {
		t.Fatal(err)
	}
	tg, err := TargetFromBundle(files, ouDN)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

func publish(t *testing.T, d *fakeDirectory, s *fakeShare, tg Target, dry bool) *Result {
	t.Helper()
	res, err := Publish(d, s, tg, Options{DryRun: dry})
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	return res
}

func TestTargetFromBundle(t *testing.T) {
	tg := target(t, "2h")
	if tg.Domain != "contoso.local" || tg.DisplayName != "avdgen - hp1" || !strings.HasPrefix(tg.GUID, "{") {
		t.Fatalf("target core %q %q %q", tg.Domain, tg.DisplayName, tg.GUID)
	}
	var names []string
	for _, f := range tg.Files {
		names = append(names, f.Name)
	}
	want := "Machine/Preferences/Files/Files.xml Machine/Preferences/ScheduledTasks/ScheduledTasks.xml Machine/registry.pol"
	if strings.Join(names, " ") != want {
		t.Errorf("GPO files %v, want %s", names, want)
	}
	if last := tg.Payload[len(tg.Payload)-1].Name; last != "SHA256SUMS" || len(tg.Payload) != 3 {
		t.Errorf("payload %v: want both agents, then SHA256SUMS", tg.Payload)
	}
	if !strings.HasPrefix(tg.MachineExtensionNames, "[{00000000-0000-0000-0000-000000000000}") {
		t.Errorf("gPCMachineExtensionNames %q", tg.MachineExtensionNames)
	}
}

func TestCheckOU(t *testing.T) {
	for _, bad := range []string{"", "AVD", "CN=Computers,DC=contoso,DC=local", "DC=contoso,DC=local", "OU=AVD"} {
		if err := CheckOU(bad); err == nil || !strings.Contains(err.Error(), "OU=") {
			t.Errorf("CheckOU(%q) = %v, want a refusal showing an OU= example", bad, err)
		}
	}
	if err := CheckOU("ou=Personal,OU=AVD,DC=contoso,DC=local"); err != nil {
		t.Errorf("valid OU refused: %v", err)
	}
}

func TestCreateThenRerunWritesNothing(t *testing.T) {
	d, s, tg := newFakeDirectory(), newFakeShare(), target(t, "2h")
	res := publish(t, d, s, tg, false)
	if !res.Created || res.VersionBefore != 0 || res.VersionAfter != 1 {
		t.Fatalf("first publish: created %v, version %d -> %d", res.Created, res.VersionBefore, res.VersionAfter)
	}
	dn := "CN=" + tg.GUID + ",CN=Policies,CN=System,DC=contoso,DC=local"
	g := d.get(dn)
	for attr, want := range map[string]string{"displayName": "avdgen - hp1", "gPCFunctionalityVersion": "2", "flags": "1", "versionNumber": "1",
		"gPCFileSysPath": `\\contoso.local\SysVol\contoso.local\Policies\` + tg.GUID, "gPCMachineExtensionNames": tg.MachineExtensionNames} {
		if got := g.Get(attr); got != want {
			t.Errorf("%s = %q, want %q", attr, got, want)
		}
	}
	for _, half := range []string{"Machine", "User"} {
		if d.get("CN="+half+","+dn) == nil {
			t.Errorf("no CN=%s container", half)
		}
	}
	dir := "contoso.local/Policies/" + tg.GUID
	if ini, _ := s.ReadFile(dir + "/GPT.INI"); string(ini) != "[General]\r\nVersion=1\r\n" {
		t.Errorf("GPT.INI %q", ini)
	}
	for _, f := range tg.Files {
		if got, _ := s.ReadFile(dir + "/" + f.Name); !bytes.Equal(got, f.Data) {
			t.Errorf("%s not written", f.Name)
		}
	}
	wantACL, _ := dsToFSACL(d.sd, nil)
	if !bytes.Equal(s.sds[key(dir)], wantACL) {
		t.Errorf("folder ACL not derived from the GPO's security descriptor")
	}
	if got := d.get(ouDN).Get("gPLink"); got != "[LDAP://"+dn+";0]" {
		t.Errorf("gPLink %q", got)
	}
	for _, p := range tg.Payload {
		if _, err := s.ReadFile("contoso.local/scripts/avdgen/" + p.Name); err != nil {
			t.Errorf("payload %s: %v", p.Name, err)
		}
	}

	dw, sw := len(d.writes), len(s.writes)
	again := publish(t, d, s, tg, false)
	if again.Changed() || again.VersionAfter != 1 || len(d.writes) != dw || len(s.writes) != sw {
		t.Fatalf("rerun changed %v, wrote LDAP %v SMB %v", again.Changes, d.writes[dw:], s.writes[sw:])
	}
	if again.LDAPOps == 0 || again.SMBOps == 0 {
		t.Errorf("operation counts not reported: %d LDAP, %d SMB", again.LDAPOps, again.SMBOps)
	}
}

func TestChangedLimitBumpsOnceAndWritesOnlyThatFile(t *testing.T) {
	d, s := newFakeDirectory(), newFakeShare()
	publish(t, d, s, target(t, "2h"), false)
	sw := len(s.writes)
	tg := target(t, "3h")
	res := publish(t, d, s, tg, false)
	if res.VersionBefore != 1 || res.VersionAfter != 2 {
		t.Fatalf("version %d -> %d, want 1 -> 2", res.VersionBefore, res.VersionAfter)
	}
	var files []string
	for _, w := range s.writes[sw:] {
		if strings.HasPrefix(w, "rename ") {
			files = append(files, w[strings.LastIndex(w, "/")+1:])
		}
	}
	if strings.Join(files, " ") != ".avdgen-publishing registry.pol GPT.INI" {
		t.Errorf("renamed into place %v, want the journal, registry.pol, then GPT.INI", files)
	}
	if _, err := s.ReadFile("contoso.local/Policies/" + tg.GUID + "/.avdgen-publishing"); err == nil {
		t.Error("the journal is left behind after a publish that finished")
	}
	dir := "contoso.local/Policies/" + tg.GUID
	if ini, _ := s.ReadFile(dir + "/GPT.INI"); string(ini) != "[General]\r\nVersion=2\r\n" {
		t.Errorf("GPT.INI %q", ini)
	}
	if again := publish(t, d, s, tg, false); again.Changed() || again.VersionAfter != 2 {
		t.Errorf("third run: %v, version %d", again.Changes, again.VersionAfter)
	}
}

func TestUserHalfOfVersionKept(t *testing.T) {
	d, s := newFakeDirectory(), newFakeShare()
	tg := target(t, "2h")
	publish(t, d, s, tg, false)
	dn := "CN=" + tg.GUID + ",CN=Policies,CN=System,DC=contoso,DC=local"
	d.get(dn).Attrs["versionnumber"] = []string{"196609"} // user 3, machine 1
	s.files[key("contoso.local/Policies/"+tg.GUID+"/GPT.INI")] = []byte("[General]\r\nVersion=196609\r\ndisplayName=x\r\n")
	res := publish(t, d, s, target(t, "3h"), false)
	if res.VersionAfter != 196610 || d.get(dn).Get("versionNumber") != "196610" {
		t.Fatalf("version %d (LDAP %s), want 196610: user half 3, machine 2", res.VersionAfter, d.get(dn).Get("versionNumber"))
	}
	if ini, _ := s.ReadFile("contoso.local/Policies/" + tg.GUID + "/GPT.INI"); string(ini) != "[General]\r\nVersion=196610\r\ndisplayName=x\r\n" {
		t.Errorf("GPT.INI %q: Version updated, other lines kept", ini)
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	d, s := newFakeDirectory(), newFakeShare()
	res := publish(t, d, s, target(t, "2h"), true)
	if !res.Changed() || res.VersionAfter != 1 || len(d.writes) != 0 || len(s.writes) != 0 {
		t.Fatalf("dry run: %d changes, version %d, LDAP writes %v, SMB writes %v", len(res.Changes), res.VersionAfter, d.writes, s.writes)
	}
	publish(t, d, s, target(t, "2h"), false)
	dw, sw := len(d.writes), len(s.writes)
	res = publish(t, d, s, target(t, "3h"), true)
	if len(d.writes) != dw || len(s.writes) != sw {
		t.Fatalf("dry run wrote")
	}
	var diff string
	for _, c := range res.Changes {
		diff += c.Diff
	}
	if !strings.Contains(diff, "- Software\\Policies\\Microsoft\\Windows NT\\Terminal Services\\MaxIdleTime = REG_DWORD 7200000") ||
		!strings.Contains(diff, "+ Software\\Policies\\Microsoft\\Windows NT\\Terminal Services\\MaxIdleTime = REG_DWORD 10800000") {
		t.Errorf("registry.pol diff does not show the limit change:\n%s", diff)
	}
}

func TestKeepsOtherLinks(t *testing.T) {
	d, s := newFakeDirectory(), newFakeShare()
	other := "[LDAP://cn={11111111-2222-3333-4444-555555555555},cn=policies,cn=system,DC=contoso,DC=local;2]"
	d.get(ouDN).Attrs["gplink"] = []string{other}
	tg := target(t, "2h")
	publish(t, d, s, tg, false)
	got := d.get(ouDN).Get("gPLink")
	want := "[LDAP://CN=" + tg.GUID + ",CN=Policies,CN=System,DC=contoso,DC=local;0]" + other
	if got != want {
		t.Fatalf("gPLink %q, want %q", got, want)
	}
	// Someone relinks with lower case meanwhile: still ours, no new link.
	d.get(ouDN).Attrs["gplink"] = []string{strings.ToLower(want)}
	if res := publish(t, d, s, tg, false); res.Changed() {
		t.Errorf("existing link (other case) not recognised: %v", res.Changes)
	}
}

func TestLinkIsCompareAndSwap(t *testing.T) {
	d, s := newFakeDirectory(), newFakeShare()
	d.get(ouDN).Attrs["gplink"] = []string{"[LDAP://cn={A},cn=policies,cn=system,DC=contoso,DC=local;0]"}
	p := &publisher{dir: d, share: s, t: target(t, "2h"), res: &Result{}}
	if err := p.read(); err != nil {
		t.Fatal(err)
	}
	// Another admin links a GPO between our read and our write.
	d.get(ouDN).Attrs["gplink"] = []string{"[LDAP://cn={B},cn=policies,cn=system,DC=contoso,DC=local;0]"}
	if err := p.apply(); !errors.Is(err, ErrConflict) {
		t.Fatalf("apply over a concurrent link change = %v, want ErrConflict (never drop the other link)", err)
	}
}

func TestVersionIsCompareAndSwap(t *testing.T) {
	d, s := newFakeDirectory(), newFakeShare()
	publish(t, d, s, target(t, "2h"), false)
	p := &publisher{dir: d, share: s, t: target(t, "3h"), res: &Result{}}
	if err := p.read(); err != nil {
		t.Fatal(err)
	}
	// GPMC bumps the version between our read and our write.
	dn := "CN=" + p.t.GUID + ",CN=Policies,CN=System,DC=contoso,DC=local"
	d.get(dn).Attrs["versionnumber"] = []string{"2"}
	if err := p.apply(); !errors.Is(err, ErrConflict) {
		t.Fatalf("apply over a concurrent version bump = %v, want ErrConflict", err)
	}
	if v := d.get(dn).Get("versionNumber"); v != "2" {
		t.Fatalf("versionNumber %s after the conflict, want the other writer's 2", v)
	}
}

func TestForeignGPOWithSameNameIsRefused(t *testing.T) {
	d, s := newFakeDirectory(), newFakeShare()
	d.put("CN={99999999-0000-0000-0000-000000000000},CN=Policies,CN=System,DC=contoso,DC=local", map[string][]string{
		"objectclass": {"groupPolicyContainer"}, "cn": {"{99999999-0000-0000-0000-000000000000}"}, "displayname": {"avdgen - hp1"}})
	_, err := Publish(d, s, target(t, "2h"), Options{})
	if err == nil || !strings.Contains(err.Error(), "did not create") || len(d.writes)+len(s.writes) != 0 {
		t.Fatalf("err %v, writes %v %v: want a refusal and nothing written", err, d.writes, s.writes)
	}
}

func TestOUErrors(t *testing.T) {
	d, s := newFakeDirectory(), newFakeShare()
	tg := target(t, "2h")
	tg.OU = "OU=Missing,DC=contoso,DC=local"
	if _, err := Publish(d, s, tg, Options{}); err == nil || !strings.Contains(err.Error(), "does not exist") || len(d.writes)+len(s.writes) != 0 {
		t.Errorf("missing OU: %v, writes %v %v", err, d.writes, s.writes)
	}
	tg.OU = "OU=AVD,DC=fabrikam,DC=com"
	if _, err := Publish(d, s, tg, Options{}); err == nil || !strings.Contains(err.Error(), "not in the domain") {
		t.Errorf("OU of another domain: %v", err)
	}
	tg = target(t, "2h")
	tg.Domain = "fabrikam.com"
	if _, err := Publish(d, s, tg, Options{}); err == nil || !strings.Contains(err.Error(), "--server") {
		t.Errorf("DC of another domain: %v", err)
	}
}

func TestAccessDeniedSaysWhatToAskFor(t *testing.T) {
	d, s := newFakeDirectory(), newFakeShare()
	d.deny = "CN=Policies,CN=System,DC=contoso,DC=local"
	_, err := Publish(d, s, target(t, "2h"), Options{})
	if !errors.Is(err, ErrAccessDenied) || !strings.Contains(err.Error(), "create GPOs") {
		t.Fatalf("err %v", err)
	}
	d, s = newFakeDirectory(), newFakeShare()
	s.denyWrites = true
	_, err = Publish(d, s, target(t, "2h"), Options{})
	if !errors.Is(err, ErrAccessDenied) || !strings.Contains(err.Error(), "SYSVOL") {
		t.Fatalf("SYSVOL denied: %v", err)
	}
}

func TestAgentsGoThroughATemporaryName(t *testing.T) {
	d, s := newFakeDirectory(), newFakeShare()
	tg := target(t, "2h")
	publish(t, d, s, tg, false)
	var seq []string
	for _, w := range s.writes {
		if strings.Contains(w, "scripts/avdgen/") {
			seq = append(seq, w)
		}
	}
	amd, arm := tg.Payload[0].Name, tg.Payload[1].Name
	want := []string{
		"write contoso.local/scripts/avdgen/.avdgen-tmp-" + amd,
		"rename contoso.local/scripts/avdgen/.avdgen-tmp-" + amd + " -> contoso.local/scripts/avdgen/" + amd,
		"write contoso.local/scripts/avdgen/.avdgen-tmp-" + arm,
		"rename contoso.local/scripts/avdgen/.avdgen-tmp-" + arm + " -> contoso.local/scripts/avdgen/" + arm,
		"write contoso.local/scripts/avdgen/.avdgen-tmp-SHA256SUMS",
		"rename contoso.local/scripts/avdgen/.avdgen-tmp-SHA256SUMS -> contoso.local/scripts/avdgen/SHA256SUMS",
		"write contoso.local/scripts/avdgen/.avdgen-tmp-gpo-" + tg.GUID + ".id",
		"rename contoso.local/scripts/avdgen/.avdgen-tmp-gpo-" + tg.GUID + ".id -> contoso.local/scripts/avdgen/gpo-" + tg.GUID + ".id",
	}
	if strings.Join(seq, "\n") != strings.Join(want, "\n") {
		t.Fatalf("SYSVOL writes:\n%s\nwant:\n%s", strings.Join(seq, "\n"), strings.Join(want, "\n"))
	}
	// A changed agent alone is copied, and does not bump the GPO.
	s.files[key("contoso.local/scripts/avdgen/"+arm)] = []byte("tampered")
	res := publish(t, d, s, tg, false)
	if len(res.Changes) != 1 || res.Changes[0].Target != `scripts\avdgen\`+arm || res.VersionAfter != 1 {
		t.Fatalf("changes %v, version %d", res.Changes, res.VersionAfter)
	}
	// A failed rename leaves no temporary file behind.
	s.files[key("contoso.local/scripts/avdgen/"+arm)] = []byte("tampered")
	s.failRename = "contoso.local/scripts/avdgen/" + arm
	if _, err := Publish(d, s, tg, Options{}); err == nil {
		t.Fatal("rename failure not reported")
	}
	if _, err := s.ReadFile("contoso.local/scripts/avdgen/.avdgen-tmp-" + arm); err == nil {
		t.Error("temporary file left behind")
	}
}

func TestRepairsDriftInLDAPAndSYSVOL(t *testing.T) {
	d, s := newFakeDirectory(), newFakeShare()
	tg := target(t, "2h")
	publish(t, d, s, tg, false)
	dn := "CN=" + tg.GUID + ",CN=Policies,CN=System,DC=contoso,DC=local"
	dir := "contoso.local/Policies/" + tg.GUID

	// Someone enabled the user half (the admin's choice: kept) and reset
	// the folder ACL (repaired).
	d.get(dn).Attrs["flags"] = []string{"0"}
	s.sds[key(dir)] = testDSDescriptor()
	res := publish(t, d, s, tg, false)
	kinds := map[string]bool{}
	for _, c := range res.Changes {
		kinds[c.Kind+" "+c.Target] = true
	}
	if kinds["attribute flags"] || !kinds["acl "+dir] || res.VersionAfter != 1 {
		t.Fatalf("changes %v version %d: want the ACL repaired without a version bump, flags kept", res.Changes, res.VersionAfter)
	}
	if d.get(dn).Get("flags") != "0" {
		t.Error("flags an admin set were changed")
	}

	// GPT.INI out of step with LDAP: bump both, so clients reapply.
	s.files[key(dir+"/GPT.INI")] = []byte("[General]\r\nVersion=7\r\n")
	res = publish(t, d, s, tg, false)
	if res.VersionAfter != 8 || d.get(dn).Get("versionNumber") != "8" {
		t.Fatalf("GPT.INI drift: version %d, want 8: past both LDAP's 1 and GPT.INI's 7", res.VersionAfter)
	}
	if ini, _ := s.ReadFile(dir + "/GPT.INI"); string(ini) != "[General]\r\nVersion=8\r\n" {
		t.Errorf("GPT.INI %q", ini)
	}

	// The SYSVOL folder was deleted: recreated with the ACL, files and a bump.
	for k := range s.files {
		if strings.HasPrefix(k, key(dir)) {
			delete(s.files, k)
		}
	}
	for k := range s.dirs {
		if strings.HasPrefix(k, key(dir)) {
			delete(s.dirs, k)
		}
	}
	res = publish(t, d, s, tg, false)
	if res.VersionAfter != 9 || s.sds[key(dir)] == nil {
		t.Fatalf("missing folder: version %d, ACL set %v", res.VersionAfter, s.sds[key(dir)] != nil)
	}
	if again := publish(t, d, s, tg, false); again.Changed() {
		t.Errorf("after repair a rerun still changes %v", again.Changes)
	}
}

func TestDSToFSACL(t *testing.T) {
	fsSD, err := dsToFSACL(testDSDescriptor(), nil)
	if err != nil {
		t.Fatal(err)
	}
	d, err := parseDescriptor(fsSD)
	if err != nil {
		t.Fatal(err)
	}
	type ace struct {
		typ, flags byte
		mask       uint32
	}
	var got []ace
	for _, a := range d.aces {
		got = append(got, ace{a[0], a[1], binary.LittleEndian.Uint32(a[4:])})
	}
	// Mapped as Samba's ldapmask2filemask: full control keeps standard
	// rights and gains read, write, create and delete-child; RP+LC is read;
	// CREATOR OWNER is inherit-only; the Apply Group Policy object ACE (a
	// directory right), the Pre-Windows 2000 and deny ACEs are left out.
	want := []ace{
		{0, 0x03, 0x001F01FF},
		{0, 0x03, 0x001200A9},
		{0, 0x0B, 0x001F01FF},
	}
	if len(got) != len(want) {
		t.Fatalf("ACEs %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("ACE %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if d.control&seDACLProtected == 0 || d.owner != nil || d.group != nil {
		t.Errorf("control %#x, owner %x, group %x: want a protected DACL and no owner or group", d.control, d.owner, d.group)
	}
	if !sameRights(fsSD, fsSD) || sameRights(fsSD, testDSDescriptor()) {
		t.Error("sameRights does not tell ACLs apart")
	}
}

// TestDSToFSACLMatchesSamba converts the same descriptor with Samba's own
// dsacl2fsacl (python3-samba), the code behind `samba-tool gpo create` and
// `aclcheck`, and compares.
func TestDSToFSACLMatchesSamba(t *testing.T) {
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import samba.ntacls").Run(); err != nil {
		testkit.Unavailable(t, "python3-samba not installed: %v", err)
	}
	const script = `import sys
from samba.dcerpc import security
from samba.ndr import ndr_unpack, ndr_pack
from samba.ntacls import dsacl2fsacl
dom = security.dom_sid("S-1-5-21-1-2-3")
ds = ndr_unpack(security.descriptor, bytes.fromhex(sys.argv[1]))
print(ndr_pack(dsacl2fsacl(ds.as_sddl(dom), dom, as_sddl=False)).hex())`
	out, err := exec.Command(py, "-c", script, hex.EncodeToString(testDSDescriptor())).CombinedOutput()
	if err != nil {
		t.Fatalf("samba dsacl2fsacl: %v\n%s", err, out)
	}
	want, err := hex.DecodeString(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("samba output %q: %v", out, err)
	}
	got, err := dsToFSACL(testDSDescriptor(), nil)
	if err != nil {
		t.Fatal(err)
	}
	// Samba copies the Apply Group Policy object ACE (with no file
	// rights) and sets owner and group; the rights are the same.
	if !sameRights(got, want) {
		t.Fatalf("dsToFSACL grants other rights than Samba's dsacl2fsacl:\n got  %s\n want %s", rightsText(got), rightsText(want))
	}
}

func TestAdoptsAGPOImportedByTheScript(t *testing.T) {
	d, s := newFakeDirectory(), newFakeShare()
	tg := target(t, "2h")
	// Import-AvdGpo.ps1's Import-GPO made the GPO with a GUID of its own and
	// copied the bundle's files into it.
	const imported = "{0A0A0A0A-1111-2222-3333-444444444444}"
	dn := "CN=" + imported + ",CN=Policies,CN=System,DC=contoso,DC=local"
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
	s.files[key(dir+"/GPT.INI")] = []byte("[General]\r\nVersion=65537\r\n")
	res := publish(t, d, s, tg, false)
	if res.Created || res.GPO != imported || res.VersionAfter != 65538 {
		t.Fatalf("created %v, GPO %s, version %d: want the imported GPO updated in place", res.Created, res.GPO, res.VersionAfter)
	}
	if again := publish(t, d, s, tg, false); again.Changed() || again.GPO != imported {
		t.Fatalf("rerun after adoption: %v", again.Changes)
	}
	for k := range d.entries {
		if strings.Contains(k, strings.ToLower(tg.GUID)) {
			t.Fatalf("a second GPO %s was created beside the imported one", k)
		}
	}
}

func TestMachineVersionZeroIsBumped(t *testing.T) {
	d, s := newFakeDirectory(), newFakeShare()
	tg := target(t, "2h")
	publish(t, d, s, tg, false)
	// A restored GPO: right files, but version 0 in LDAP and GPT.INI.
	dn := "CN=" + tg.GUID + ",CN=Policies,CN=System,DC=contoso,DC=local"
	d.get(dn).Attrs["versionnumber"] = []string{"0"}
	s.files[key("contoso.local/Policies/"+tg.GUID+"/GPT.INI")] = []byte("[General]\r\nVersion=0\r\n")
	res := publish(t, d, s, tg, false)
	if res.VersionAfter != 1 || d.get(dn).Get("versionNumber") != "1" {
		t.Fatalf("version %d: clients skip a GPO whose machine version is 0", res.VersionAfter)
	}
}

func TestWriteText(t *testing.T) {
	d, s := newFakeDirectory(), newFakeShare()
	var out strings.Builder
	publish(t, d, s, target(t, "2h"), true).WriteText(&out)
	if !strings.Contains(out.String(), "would publish") || !strings.Contains(out.String(), "+ <ScheduledTasks") {
		t.Errorf("dry run of a new GPO should show the new files' content:\n%s", out.String())
	}
	out.Reset()
	publish(t, d, s, target(t, "2h"), false).WriteText(&out)
	if strings.Contains(out.String(), "<ScheduledTasks") || !strings.Contains(out.String(), "version 0 -> 1") {
		t.Errorf("publish of a new GPO lists files, not their content, and the version:\n%s", out.String())
	}
	out.Reset()
	publish(t, d, s, target(t, "3h"), false).WriteText(&out)
	if !strings.Contains(out.String(), "+ Software\\Policies\\Microsoft\\Windows NT\\Terminal Services\\MaxIdleTime = REG_DWORD 10800000") {
		t.Errorf("a changed file shows its diff:\n%s", out.String())
	}
	out.Reset()
	publish(t, d, s, target(t, "3h"), false).WriteText(&out)
	if !strings.Contains(out.String(), "is up to date (version 2); nothing written") {
		t.Errorf("no-change output:\n%s", out.String())
	}
}

func TestManyOtherGPOsAreNotRead(t *testing.T) {
	d, s := newFakeDirectory(), newFakeShare()
	for i := 0; i < 1500; i++ {
		g := fmt.Sprintf("{%08X-0000-0000-0000-000000000000}", i)
		d.put("CN="+g+",CN=Policies,CN=System,DC=contoso,DC=local", map[string][]string{
			"objectclass": {"groupPolicyContainer"}, "cn": {g}, "displayname": {fmt.Sprintf("GPO %d", i)}})
	}
	counted := &listCounter{fakeDirectory: d}
	if _, err := Publish(counted, s, target(t, "2h"), Options{DryRun: true}); err != nil {
		t.Fatal(err)
	}
	// AD returns at most 1000 entries per search without paging: the
	// search must ask for avdgen's GPO only.
	if counted.listed > 1 {
		t.Fatalf("listed %d GPOs, want only avdgen's (none here)", counted.listed)
	}
}

type listCounter struct {
	*fakeDirectory
	listed int
}

func (l *listCounter) Children(dn, oc string, anyOf []Attr, attrs ...string) ([]Entry, error) {
	e, err := l.fakeDirectory.Children(dn, oc, anyOf, attrs...)
	l.listed += len(e)
	return e, err
}

func TestBump(t *testing.T) {
	for in, want := range map[uint32]uint32{0: 1, 1: 2, 0x00030001: 0x00030002, 0x0002FFFF: 0x00020001, 0xFFFFFFFF: 0xFFFF0001} {
		if got := bump(in); got != want {
			t.Errorf("bump(%#x) = %#x, want %#x", in, got, want)
		}
	}
}

func TestPDCEmulator(t *testing.T) {
	d := newFakeDirectory()
	d.put("DC=contoso,DC=local", map[string][]string{"fsmoroleowner": {"CN=NTDS Settings,CN=DC2,CN=Servers,CN=Default-First-Site-Name,CN=Sites,CN=Configuration,DC=contoso,DC=local"}})
	d.put("CN=DC2,CN=Servers,CN=Default-First-Site-Name,CN=Sites,CN=Configuration,DC=contoso,DC=local", map[string][]string{"dnshostname": {"dc2.contoso.local"}})
	if got, err := PDCEmulator(d); err != nil || got != "dc2.contoso.local" {
		t.Fatalf("PDCEmulator = %q, %v", got, err)
	}
	d.put("DC=contoso,DC=local", map[string][]string{"fsmoroleowner": {"garbage"}})
	if _, err := PDCEmulator(d); err == nil {
		t.Fatal("a malformed fSMORoleOwner was accepted")
	}
}
