package gpo

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"github.com/avdgen/avdgen/internal/oracle"
	"github.com/avdgen/avdgen/internal/testkit"
)

// refBackups are the real GPMC backups in testdata/reference/gpo-backups.
func refBackups(t *testing.T) []string {
	dirs, _ := filepath.Glob(filepath.Join(oracle.Reference(t, "gpo-backups"), "*", "{*}"))
	if len(dirs) < 2 {
		t.Fatalf("reference backups not found (%d)", len(dirs))
	}
	return dirs
}

func readXML(t *testing.T, b []byte) *etree.Document {
	t.Helper()
	doc := etree.NewDocument()
	doc.ReadSettings.CharsetReader = func(label string, r io.Reader) (io.Reader, error) { return r, nil }
	if err := doc.ReadFromBytes(b); err != nil {
		t.Fatalf("parse: %v", err)
	}
	return doc
}

func childTags(e *etree.Element) []string {
	var out []string
	for _, c := range e.ChildElements() {
		out = append(out, c.Tag)
	}
	return out
}

// isSubsequence: every tag of ours appears in the reference, in the same order.
func isSubsequence(ours, ref []string) bool {
	i := 0
	for _, r := range ref {
		if i < len(ours) && ours[i] == r {
			i++
		}
	}
	return i == len(ours)
}

func TestRegistryPolThroughSamba(t *testing.T) {
	dir := writeAll(t, build(t))
	pols, _ := filepath.Glob(filepath.Join(dir, "gpo-backup", "*", "DomainSysvol", "GPO", "Machine", "registry.pol"))
	if len(pols) != 1 {
		t.Fatalf("registry.pol files: %v", pols)
	}
	got := map[string]any{}
	for _, e := range oracle.PolCheck(t, pols[0]) {
		got[e.Value] = e.Data
	}
	want := map[string]float64{"MaxIdleTime": 7200000, "MaxDisconnectionTime": 900000, "fResetBroken": 1}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if _, ok := got["MaxConnectionTime"]; ok || len(got) != 3 {
		t.Errorf("unexpected values %v (active limit was not configured)", got)
	}
}

func TestTasksAgainstMicrosoftSchema(t *testing.T) {
	dir := writeAll(t, build(t))
	st, _ := filepath.Glob(filepath.Join(dir, "gpo-backup", "*", "DomainSysvol", "GPO", "Machine", "Preferences", "ScheduledTasks", "ScheduledTasks.xml"))
	out := oracle.TaskCheck(t, append(st, filepath.Join(dir, "single-vm", "avd-agent-logoff.xml"), filepath.Join(dir, "single-vm", "avd-agent-idle.xml"))...)
	// The GPO carries the logoff task and the idle safety net's task, and so
	// does the single-VM folder.
	if strings.Count(out, "ok ") != 4 || !strings.Contains(out, `[avdgen\avd-agent idle]`) {
		t.Errorf("the Task Scheduler schema did not pass the four tasks:\n%s", out)
	}
}

func TestAllXMLWellFormedInDeclaredEncoding(t *testing.T) {
	if _, err := exec.LookPath("xmllint"); err != nil {
		testkit.Unavailable(t, "xmllint missing")
	}
	dir := writeAll(t, build(t))
	var n int
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() || !strings.HasSuffix(p, ".xml") {
			return err
		}
		n++
		if out, err := exec.Command("xmllint", "--noout", p).CombinedOutput(); err != nil {
			t.Errorf("xmllint %s: %v\n%s", p, err, out)
		}
		b, _ := os.ReadFile(p)
		utf16 := strings.HasPrefix(string(b), "\xff\xfe")
		switch filepath.Base(p) {
		case "gpreport.xml", "avd-agent-logoff.xml", "avd-agent-idle.xml":
			if !utf16 {
				t.Errorf("%s must be UTF-16LE with BOM", p)
			}
		default:
			if utf16 || strings.HasPrefix(string(b), "\xef\xbb\xbf") {
				t.Errorf("%s must be UTF-8 without BOM", p)
			}
		}
		return nil
	})
	if n != 8 {
		t.Errorf("checked %d XML files, want 8 (with the single-VM idle task)", n)
	}
}

func TestBackupStructureMatchesGPMC(t *testing.T) {
	files := build(t)
	ours := readXML(t, find(t, files, "/Backup.xml").Data)
	for _, ref := range refBackups(t) {
		b, err := os.ReadFile(filepath.Join(ref, "Backup.xml"))
		if err != nil {
			t.Fatal(err)
		}
		refDoc := readXML(t, b)
		rr, or := refDoc.Root(), ours.Root()
		if rr.Tag != or.Tag {
			t.Fatalf("root %s, reference %s", or.Tag, rr.Tag)
		}
		for _, a := range rr.Attr {
			if or.SelectAttrValue(a.FullKey(), "") != a.Value {
				t.Errorf("root attribute %s = %q, reference %q", a.FullKey(), or.SelectAttrValue(a.FullKey(), ""), a.Value)
			}
		}
		if !isSubsequence(childTags(or.FindElement("GroupPolicyObject")), childTags(rr.FindElement("GroupPolicyObject"))) {
			t.Errorf("GroupPolicyObject children %v not in GPMC's order %v", childTags(or.FindElement("GroupPolicyObject")), childTags(rr.FindElement("GroupPolicyObject")))
		}
		oc, rc := childTags(or.FindElement("GroupPolicyObject/GroupPolicyCoreSettings")), childTags(rr.FindElement("GroupPolicyObject/GroupPolicyCoreSettings"))
		if !isSubsequence(oc, rc) || len(oc) < 10 {
			t.Errorf("core settings %v not in GPMC's order %v", oc, rc)
		}
		// Every GPMC backup has the Registry extension block; so must ours.
		for _, ext := range []string{"{35378EAC-683F-11D2-A89A-00C04FBBCFA2}", "{F15C46CD-82A0-4C2D-A210-5D0D3182A418}"} {
			if rr.FindElement("GroupPolicyObject/GroupPolicyExtension[@bkp:ID='"+ext+"']") != nil &&
				or.FindElement("GroupPolicyObject/GroupPolicyExtension[@bkp:ID='"+ext+"']") == nil {
				t.Errorf("extension block %s missing", ext)
			}
		}
		// bkupInfo.xml: no declaration, same element order.
		refInfo, _ := os.ReadFile(filepath.Join(ref, "bkupInfo.xml"))
		info := find(t, files, "/bkupInfo.xml").Data
		if strings.HasPrefix(string(info), "<?xml") != strings.HasPrefix(string(refInfo), "<?xml") {
			t.Error("bkupInfo.xml declaration differs from GPMC")
		}
		if got, want := childTags(readXML(t, info).Root()), childTags(readXML(t, refInfo).Root()); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("bkupInfo children %v, GPMC %v", got, want)
		}
	}
	// manifest.xml against the real one.
	refManifest, err := os.ReadFile(oracle.Reference(t, "gpo-backups", "nsacyber-registry-only", "manifest.xml"))
	if err != nil {
		t.Fatal(err)
	}
	rm, om := readXML(t, refManifest).Root(), readXML(t, find(t, files, "gpo-backup/manifest.xml").Data).Root()
	if rm.Tag != om.Tag || len(om.Attr) != len(rm.Attr) {
		t.Errorf("manifest root %s %v, GPMC %s %v", om.Tag, om.Attr, rm.Tag, rm.Attr)
	}
	for _, a := range rm.Attr {
		if om.SelectAttrValue(a.FullKey(), "") != a.Value {
			t.Errorf("manifest attribute %s differs", a.FullKey())
		}
	}
	if got, want := childTags(om.FindElement("BackupInst")), childTags(rm.FindElement("BackupInst")); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("manifest BackupInst %v, GPMC %v", got, want)
	}
}

func TestBackupListsEveryFileAndNothingElse(t *testing.T) {
	files := build(t)
	doc := readXML(t, find(t, files, "/Backup.xml").Data)
	id := newIDs(testInput(t).Spec)
	listed := map[string]bool{}
	for _, e := range doc.FindElements("//FSObjectFile") {
		loc := e.SelectAttrValue("bkp:Location", "")
		if loc == "" {
			continue // GPMC's Adm\*.* wildcard has no location
		}
		listed[strings.ReplaceAll(loc, `\`, "/")] = true
		if src := e.SelectAttrValue("bkp:SourceExpandedPath", ""); !strings.Contains(src, id.gpo) {
			t.Errorf("SourceExpandedPath %s does not carry the GPO ID %s (Import-GPO would fail with 0x8007000D)", src, id.gpo)
		}
	}
	var onDisk []string
	for _, f := range files {
		if rel, ok := strings.CutPrefix(f.Path, "gpo-backup/"+id.backup+"/"); ok && strings.HasPrefix(rel, "DomainSysvol/") {
			onDisk = append(onDisk, rel)
			if !listed[rel] {
				t.Errorf("%s is not listed in Backup.xml", rel)
			}
			delete(listed, rel)
		}
	}
	if len(listed) != 0 {
		t.Errorf("Backup.xml lists files the backup lacks: %v", listed)
	}
	if len(onDisk) != 3 {
		t.Errorf("DomainSysvol files: %v", onDisk)
	}
	for _, d := range doc.FindElements("//FSObjectDir") {
		loc := strings.ReplaceAll(d.SelectAttrValue("bkp:Location", ""), `\`, "/")
		var found bool
		for _, f := range onDisk {
			found = found || strings.HasPrefix(f, loc+"/")
		}
		if !found {
			t.Errorf("Backup.xml lists folder %s with nothing in it", loc)
		}
	}
}

func TestCoreSettings(t *testing.T) {
	doc := readXML(t, find(t, build(t), "/Backup.xml").Data)
	core := doc.FindElement("//GroupPolicyCoreSettings")
	get := func(tag string) string { return core.FindElement(tag).Text() }
	if get("MachineVersionNumber") != "65537" || get("UserVersionNumber") != "0" || get("Options") != "1" || get("DisplayName") != "avdgen - hp-personal" || get("Domain") != "contoso.local" {
		t.Errorf("core settings: version %s/%s options %s name %s", get("MachineVersionNumber"), get("UserVersionNumber"), get("Options"), get("DisplayName"))
	}
	guids := get("MachineExtensionGuids")
	var cses []string
	for _, m := range regexp.MustCompile(`\[(\{[0-9A-F-]+\})((?:\{[0-9A-F-]+\})*)\]`).FindAllStringSubmatch(guids, -1) {
		cses = append(cses, m[1])
		tools := regexp.MustCompile(`\{[0-9A-F-]+\}`).FindAllString(m[2], -1)
		if !sort.StringsAreSorted(tools) {
			t.Errorf("tools of %s not sorted: %v", m[1], tools)
		}
	}
	if !sort.StringsAreSorted(cses) || len(cses) != 4 {
		t.Errorf("CSE list %v not sorted or incomplete (%s)", cses, guids)
	}
}

// TestFilesPreference: each File item copies from a versioned SYSVOL
// source, avd-agent-<version>-<digest>-<arch>.exe (issue 16 item 2: DFSR
// replicates Files.xml and the agents independently, so a fixed source
// name let a host copy the old agent under the new name), which the
// bundle's payload and SHA256SUMS carry under the same name.
func TestFilesPreference(t *testing.T) {
	files := build(t)
	doc := readXML(t, find(t, files, "Files/Files.xml").Data)
	items := doc.FindElements("Files/File")
	if len(items) != 2 {
		t.Fatalf("%d File items", len(items))
	}
	sums := string(find(t, files, "sysvol-payload/SHA256SUMS").Data)
	for i, arch := range []string{"AMD64", "ARM64"} {
		p := items[i].FindElement("Properties")
		source := strings.TrimSuffix(AgentFileName(testInput(t).Agents), ".exe") + "-" + strings.ToLower(arch) + ".exe"
		if !strings.HasPrefix(source, "avd-agent-v1.0.0-") || p.SelectAttrValue("fromPath", "") != `\\contoso.local\SYSVOL\contoso.local\scripts\avdgen\`+source {
			t.Errorf("item %d copies from %q, want the versioned %s", i, p.SelectAttrValue("fromPath", ""), source)
		}
		find(t, files, "sysvol-payload/"+source)
		if !strings.Contains(sums, "  "+source+"\n") {
			t.Errorf("SHA256SUMS does not list %s:\n%s", source, sums)
		}
		if f := items[i].FindElement("Filters/FilterVariable"); f == nil || f.SelectAttrValue("value", "") != arch || f.SelectAttrValue("variableName", "") != "PROCESSOR_ARCHITECTURE" {
			t.Errorf("item %d has no %s filter", i, arch)
		}
	}
}

func TestPayloadChecksums(t *testing.T) {
	dir := writeAll(t, build(t))
	if _, err := exec.LookPath("sha256sum"); err != nil {
		testkit.Unavailable(t, "sha256sum missing")
	}
	cmd := exec.Command("sha256sum", "-c", "SHA256SUMS")
	cmd.Dir = filepath.Join(dir, "sysvol-payload")
	if out, err := cmd.CombinedOutput(); err != nil || strings.Count(string(out), ": OK") != 2 {
		t.Errorf("sha256sum -c: %v\n%s", err, out)
	}
}

func TestImportScript(t *testing.T) {
	ps := string(find(t, build(t), "Import-AvdGpo.ps1").Data)
	if !strings.HasPrefix(ps, "\xef\xbb\xbf") || strings.Contains(strings.ReplaceAll(ps, "\r\n", ""), "\n") {
		t.Error("Import-AvdGpo.ps1 must be UTF-8 with BOM and CRLF")
	}
	for _, want := range []string{
		"SupportsShouldProcess", "$ErrorActionPreference = 'Stop'",
		"Import-GPO -BackupGpoName 'avdgen - hp-personal' -Path $backup -TargetName $TargetName -Domain $Domain | Out-Null",
		"[string] $Ou = 'OU=AVD,DC=contoso,DC=local'", "New-GPLink", "Get-FileHash",
	} {
		if !strings.Contains(ps, want) {
			t.Errorf("script lacks %q", want)
		}
	}
	// PowerShell 7-only syntax would break Windows PowerShell 5.1.
	for _, bad := range []string{"??", "?.", "-Parallel", "&&", "||"} {
		if strings.Contains(ps, bad) {
			t.Errorf("script uses %q, which Windows PowerShell 5.1 lacks", bad)
		}
	}
}
