package gpo

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"github.com/avdgen/avdgen/generator/policy"
	"github.com/avdgen/avdgen/internal/oracle"
)

// reportDoc parses a UTF-16LE gpreport.xml.
func reportDoc(t *testing.T, b []byte) *etree.Document {
	t.Helper()
	return readXML(t, []byte(strings.Replace(string(fromUTF16(t, b)), `encoding="utf-16"`, `encoding="utf-8"`, 1)))
}

// elementPath is the element's path from the root by local names: etree
// keeps the namespace prefix (q1:, q2: ..., numbered by GPMC in extension
// order) apart from Tag.
func elementPath(e *etree.Element) string {
	var parts []string
	for ; e != nil && e.Tag != ""; e = e.Parent() {
		parts = append([]string{e.Tag}, parts...)
	}
	return strings.Join(parts, "/")
}

func walk(e *etree.Element, f func(*etree.Element)) {
	f(e)
	for _, c := range e.ChildElements() {
		walk(c, f)
	}
}

// childSeq is the element's child tags with repeats collapsed.
func childSeq(e *etree.Element) []string {
	var out []string
	for _, c := range e.ChildElements() {
		if len(out) == 0 || out[len(out)-1] != c.Tag {
			out = append(out, c.Tag)
		}
	}
	return out
}

// Paths our report may have that the real reports cannot show: the
// triggers of the logoff (event) and idle safety net (boot, repeating)
// tasks (the real reports' tasks use calendar and logon triggers; the task
// XSD checks ours) and targeting filters (theirs carry
// none); both are copied element by element from the preference files,
// which TestReportFromTheSameData checks.
var reportPathExceptions = regexp.MustCompile(`/Task/Triggers/(EventTrigger|BootTrigger)(/|$)|/Filters/Filter[A-Za-z]+$`)

// Issue 10 item 4: gpreport.xml has the element structure of the reports
// GPMC wrote for the real backups: every element path of ours occurs in
// one of them, children come in an order one of them uses, and the parts
// the issue names are there.
func TestReportStructureMatchesGPMC(t *testing.T) {
	refPaths := map[string][][]string{}
	refAttrs := map[string]map[string]bool{}
	for _, dir := range refBackups(t) {
		b, err := os.ReadFile(filepath.Join(dir, "gpreport.xml"))
		if err != nil {
			t.Fatal(err)
		}
		walk(reportDoc(t, b).Root(), func(e *etree.Element) {
			refPaths[elementPath(e)] = append(refPaths[elementPath(e)], childSeq(e))
			if refAttrs[elementPath(e)] == nil {
				refAttrs[elementPath(e)] = map[string]bool{}
			}
			for _, a := range e.Attr {
				refAttrs[elementPath(e)][a.FullKey()] = true
			}
		})
	}
	ours := reportDoc(t, find(t, build(t), "/gpreport.xml").Data)
	seen := map[string]int{}
	walk(ours.Root(), func(e *etree.Element) {
		p := elementPath(e)
		seen[p]++
		orders, ok := refPaths[p]
		if !ok {
			if !reportPathExceptions.MatchString(p) {
				t.Errorf("element %s occurs in no GPMC report", p)
			}
			return
		}
		// Preference items and their Properties carry the preference
		// file's attributes, whatever they are (GPMC's Folder items show
		// bypassErrors, its File items had none to show);
		// TestReportFromTheSameData checks they are copied exactly.
		copied := regexp.MustCompile(`/(File|TaskV2)(/Properties)?$`).MatchString(p)
		for _, a := range e.Attr {
			if !copied && !refAttrs[p][a.FullKey()] && !strings.HasPrefix(a.FullKey(), "xmlns:") {
				t.Errorf("%s has attribute %s, which no GPMC report shows there", p, a.FullKey())
			}
		}
		if strings.HasSuffix(p, "/Triggers") || strings.HasSuffix(p, "/Filters") {
			return // children are exceptions above
		}
		mine := childSeq(e)
		for _, ref := range orders {
			if isSubsequence(mine, ref) {
				return
			}
		}
		t.Errorf("children of %s are %v; GPMC's reports order them %v", p, mine, orders)
	})
	for _, must := range []string{
		"GPO/SecurityDescriptor/SDDL",
		"GPO/SecurityDescriptor/Permissions/TrusteePermissions/Trustee/SID",
		"GPO/SecurityDescriptor/Permissions/TrusteePermissions/Standard/GPOGroupedAccessEnum",
		"GPO/Computer/ExtensionData/Extension/Policy/Explain",
		"GPO/Computer/ExtensionData/Extension/Policy/DropDownList/Value/Name",
		"GPO/Computer/ExtensionData/Extension/FilesSettings/File/Properties",
		"GPO/Computer/ExtensionData/Extension/FilesSettings/File/GPOSettingOrder",
		"GPO/Computer/ExtensionData/Extension/ScheduledTasks/TaskV2/Properties/Task/Triggers/EventTrigger/Subscription",
		"GPO/Computer/ExtensionData/Extension/ScheduledTasks/TaskV2/Properties/Task/Principals/Principal/UserId",
		"GPO/Computer/ExtensionData/Extension/ScheduledTasks/TaskV2/Properties/Task/Actions/Exec/Command",
	} {
		if seen[must] == 0 {
			t.Errorf("report lacks %s", must)
		}
	}
	if n := seen["GPO/Computer/ExtensionData/Extension/FilesSettings/File"]; n != 2 {
		t.Errorf("report shows %d File items, Files.xml has 2", n)
	}
}

// The report shows exactly what the preference files and registry.pol
// hold: each File item with its own attributes, properties and filters, the
// task's principal, triggers and action, and the policy values that
// Samba's parser reads from registry.pol.
func TestReportFromTheSameData(t *testing.T) {
	in := testInput(t)
	in.Spec.GPO.HostsGroup = `CONTOSO\AVD Hosts`
	files, err := Build(in)
	if err != nil {
		t.Fatal(err)
	}
	rep := reportDoc(t, find(t, files, "/gpreport.xml").Data).Root()
	// Same element, same attributes, same children (by local name).
	var same func(path string, pref, shown *etree.Element)
	same = func(path string, pref, shown *etree.Element) {
		if pref.Tag != shown.Tag {
			t.Errorf("%s: report shows <%s> for <%s>", path, shown.Tag, pref.Tag)
			return
		}
		for _, a := range pref.Attr {
			if shown.SelectAttrValue(a.FullKey(), "\x00") != a.Value {
				t.Errorf("%s/%s: attribute %s = %q, preference file %q", path, pref.Tag, a.FullKey(), shown.SelectAttrValue(a.FullKey(), ""), a.Value)
			}
		}
		for _, a := range shown.Attr {
			if pref.SelectAttrValue(a.FullKey(), "\x00") == "\x00" {
				t.Errorf("%s/%s: report adds attribute %s the preference file lacks", path, pref.Tag, a.FullKey())
			}
		}
		if len(pref.ChildElements()) == 0 && pref.Text() != shown.Text() {
			t.Errorf("%s/%s: text %q, preference file %q", path, pref.Tag, shown.Text(), pref.Text())
		}
	}
	filesDoc := readXML(t, find(t, files, "Files/Files.xml").Data)
	shownFiles := rep.FindElements("//FilesSettings/File")
	prefFiles := filesDoc.FindElements("Files/File")
	if len(shownFiles) != len(prefFiles) {
		t.Fatalf("report shows %d files, Files.xml has %d", len(shownFiles), len(prefFiles))
	}
	for i, f := range prefFiles {
		same("File", f, shownFiles[i])
		same("File", f.SelectElement("Properties"), shownFiles[i].SelectElement("Properties"))
		pf, sf := f.FindElements("Filters/*"), shownFiles[i].FindElements("Filters/*")
		if len(pf) != len(sf) || len(pf) < 3 {
			t.Fatalf("file %d: %d filters shown, %d in Files.xml", i, len(sf), len(pf))
		}
		for j := range pf {
			same("File/Filters", pf[j], sf[j])
		}
	}
	tasksDoc := readXML(t, find(t, files, "ScheduledTasks/ScheduledTasks.xml").Data)
	pt, st := tasksDoc.FindElement("ScheduledTasks/TaskV2"), rep.FindElement("//ScheduledTasks/TaskV2")
	same("TaskV2", pt, st)
	same("TaskV2", pt.SelectElement("Properties"), st.SelectElement("Properties"))
	for _, p := range []string{"Properties/Task/Principals/Principal/UserId", "Properties/Task/Principals/Principal/LogonType",
		"Properties/Task/Principals/Principal/RunLevel", "Properties/Task/Actions/Exec/Command", "Properties/Task/Actions/Exec/Arguments",
		"Properties/Task/Settings/MultipleInstancesPolicy", "Properties/Task/Settings/ExecutionTimeLimit"} {
		a, b := pt.FindElement(p), st.FindElement(p)
		if a == nil || b == nil || a.Text() != b.Text() {
			t.Errorf("%s: report %v, ScheduledTasks.xml %v", p, b, a)
		}
	}
	ptr, str := pt.FindElements("Properties/Task/Triggers//*"), st.FindElements("Properties/Task/Triggers//*")
	if len(ptr) != len(str) || len(ptr) == 0 {
		t.Fatalf("triggers: report %d elements, ScheduledTasks.xml %d", len(str), len(ptr))
	}
	for i := range ptr {
		same("Triggers", ptr[i], str[i])
	}
	pf, sf := pt.FindElements("Filters/*"), st.FindElements("Filters/*")
	if len(pf) != len(sf) || len(pf) != 3 {
		t.Errorf("task filters: report %d, ScheduledTasks.xml %d", len(sf), len(pf))
	}
	for j := range pf {
		same("TaskV2/Filters", pf[j], sf[j])
	}

	// The policies, against registry.pol as Samba reads it.
	dir := writeAll(t, files)
	pols, _ := filepath.Glob(filepath.Join(dir, "gpo-backup", "*", "DomainSysvol", "GPO", "Machine", "registry.pol"))
	values := map[string]any{}
	for _, e := range oracle.PolCheck(t, pols[0]) {
		values[e.Value] = e.Data
	}
	shown := map[string]string{}
	for _, p := range rep.FindElements("//Policy") {
		v := p.FindElement("DropDownList/Value/Name")
		if v == nil {
			shown[p.SelectElement("Name").Text()] = p.SelectElement("State").Text()
			continue
		}
		shown[p.SelectElement("Name").Text()] = v.Text()
	}
	want := map[string]string{
		"Set time limit for active but idle Remote Desktop Services sessions": policy.DisplayTime(uint32(values["MaxIdleTime"].(float64))),
		"Set time limit for disconnected sessions":                            policy.DisplayTime(uint32(values["MaxDisconnectionTime"].(float64))),
		"End session when time limits are reached":                            map[float64]string{0: "Disabled", 1: "Enabled"}[values["fResetBroken"].(float64)],
	}
	if len(shown) != len(want) {
		t.Errorf("report shows policies %v, registry.pol holds %v", shown, values)
	}
	for k, v := range want {
		if shown[k] != v {
			t.Errorf("%s: report %q, registry.pol gives %q", k, shown[k], v)
		}
	}
}

// The Explain text is the ADML's, policy by policy, and the report shows it.
func TestExplainTextIsTheADMLs(t *testing.T) {
	admx := readXML(t, mustRead(t, oracle.Reference(t, "admx", "TerminalServer.admx")))
	adml := readXML(t, mustRead(t, oracle.Reference(t, "admx", "TerminalServer.adml")))
	str := func(ref string) string {
		id := strings.TrimSuffix(strings.TrimPrefix(ref, "$(string."), ")")
		e := adml.FindElement("//string[@id='" + id + "']")
		if e == nil {
			t.Fatalf("ADML lacks string %s", id)
		}
		return strings.ReplaceAll(e.Text(), "\r\n", "\n")
	}
	var names []string
	for _, name := range []string{"TS_SESSIONS_Idle_Limit_2", "TS_SESSIONS_Disconnected_Timeout_2", "TS_SESSIONS_Limits_2", "TS_Session_End_On_Limit_2"} {
		p := admx.FindElement("//policy[@name='" + name + "']")
		display := str(p.SelectAttrValue("displayName", ""))
		names = append(names, display)
		if got, want := explainText[display], str(p.SelectAttrValue("explainText", "")); got != want {
			t.Errorf("%s (%s): explain text differs from the ADML", name, display)
		}
	}
	if len(explainText) != 4 {
		t.Errorf("explain texts for %d policies, want 4", len(explainText))
	}
	for _, r := range policy.Rows(testInput(t).Spec.Limits) {
		if !contains(names, r.Policy) {
			t.Errorf("policy %q is not an ADMX display name", r.Policy)
		}
	}
	rep := reportDoc(t, find(t, build(t), "/gpreport.xml").Data)
	for _, p := range rep.FindElements("//Policy") {
		if ex := p.SelectElement("Explain"); ex == nil || ex.Text() != explainText[p.SelectElement("Name").Text()] {
			t.Errorf("%s: report's Explain is not the ADML's", p.SelectElement("Name").Text())
		}
	}
}

// The DACL table gives Backup.xml's binary descriptor and the report's
// SDDL; every entry is one GPMC itself writes for a new GPO, in both forms.
func TestSecurityDescriptorIsGPMCs(t *testing.T) {
	sdRe := regexp.MustCompile(`<SecurityDescriptor>([0-9a-f ]+)</SecurityDescriptor>`)
	sddlRe := regexp.MustCompile(`<SDDL[^>]*>([^<]+)</SDDL>`)
	ours := securityDescriptorHex()
	if !strings.Contains(string(find(t, build(t), "/Backup.xml").Data), "<SecurityDescriptor>"+ours+"</SecurityDescriptor>") {
		t.Error("Backup.xml does not carry the table's descriptor")
	}
	rep := string(fromUTF16(t, find(t, build(t), "/gpreport.xml").Data))
	if !strings.Contains(rep, ">"+sddl()+"</SDDL>") {
		t.Error("gpreport.xml does not carry the table's SDDL")
	}
	aceRe := regexp.MustCompile(`\([^)]*\)`)
	for _, dir := range refBackups(t) {
		backup, report := string(mustRead(t, filepath.Join(dir, "Backup.xml"))), string(fromUTF16(t, mustRead(t, filepath.Join(dir, "gpreport.xml"))))
		realSD, realSDDL := sdRe.FindStringSubmatch(backup)[1], sddlRe.FindStringSubmatch(report)[1]
		// Each of our ACEs, as bytes, is in GPMC's descriptor.
		body := strings.Split(ours, " ")[28:] // after the SD header (20) and ACL header (8)
		for len(body) > 0 {
			size := int(hexByte(t, body[2])) | int(hexByte(t, body[3]))<<8
			ace := strings.Join(body[:size], " ")
			if !strings.Contains(realSD, ace) {
				t.Errorf("%s: ACE %s is not in GPMC's descriptor", filepath.Base(dir), ace)
			}
			body = body[size:]
		}
		for _, ace := range aceRe.FindAllString(sddl(), -1) {
			if !strings.Contains(realSDDL, ace) {
				t.Errorf("%s: %s is not in GPMC's SDDL %s", filepath.Base(dir), ace, realSDDL)
			}
		}
	}
	var access []string
	for _, p := range permissions() {
		access = append(access, p.sid+"="+p.access)
	}
	sort.Strings(access)
	if strings.Join(access, ",") != "S-1-5-11=Apply Group Policy,S-1-5-18=Edit, delete, modify security,S-1-5-9=Read" {
		t.Errorf("permissions %v", access)
	}
}

func hexByte(t *testing.T, s string) byte {
	var b byte
	for _, c := range s {
		b <<= 4
		switch {
		case c >= '0' && c <= '9':
			b |= byte(c - '0')
		case c >= 'a' && c <= 'f':
			b |= byte(c-'a') + 10
		default:
			t.Fatalf("bad hex %q", s)
		}
	}
	return b
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
