package task

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/beevik/etree"

	"github.com/avdgen/avdgen/generator/internal/oracle"
	"github.com/avdgen/avdgen/generator/spec"
)

var date = time.Date(2023, 11, 14, 22, 13, 20, 0, time.UTC)

func testSpec(grace time.Duration, clientID, installDir string) spec.Spec {
	s := spec.Spec{Agent: spec.Agent{IdentityClientID: clientID, InstallDir: installDir}}.WithDefaults()
	s.Agent.Grace = grace
	return s
}

func decodeUTF16(t *testing.T, b []byte) string {
	t.Helper()
	if !bytes.HasPrefix(b, []byte{0xFF, 0xFE}) {
		t.Fatal("no UTF-16LE BOM")
	}
	b = b[2:]
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = uint16(b[2*i]) | uint16(b[2*i+1])<<8
	}
	return string(utf16.Decode(u))
}

func TestArguments(t *testing.T) {
	l := LogoffFromSpec(testSpec(90*time.Second, "", ""), date)
	want := `logoff --session $(SessionId) --user "$(User)" --grace 1m30s --action deallocate --exclude-tag avdgen-exclude=true`
	if l.Arguments != want || l.Command != `%ProgramFiles%\avdgen\avd-agent.exe` {
		t.Errorf("command %q args %q", l.Command, l.Arguments)
	}
	l = LogoffFromSpec(testSpec(2*time.Minute, "11111111-2222-3333-4444-555555555555", `C:\Program Files\avdgen\`), date)
	if !strings.HasSuffix(l.Arguments, "--grace 2m --action deallocate --exclude-tag avdgen-exclude=true --identity-client-id 11111111-2222-3333-4444-555555555555") ||
		l.Command != `C:\Program Files\avdgen\avd-agent.exe` {
		t.Errorf("command %q args %q", l.Command, l.Arguments)
	}
	for d, want := range map[time.Duration]string{0: "0s", 90 * time.Second: "1m30s", time.Minute: "1m", time.Hour: "1h", 45 * time.Second: "45s"} {
		if got := FormatGrace(d); got != want {
			t.Errorf("FormatGrace(%s) = %q, want %q", d, got, want)
		}
		if parsed, err := time.ParseDuration(FormatGrace(d)); err != nil || parsed != d {
			t.Errorf("agent cannot parse %q back to %s", FormatGrace(d), d)
		}
	}
}

func TestExecutionTimeLimitAboveGrace(t *testing.T) {
	for grace, want := range map[time.Duration]string{0: "PT10M", 90 * time.Second: "PT11M30S", time.Hour: "PT1H10M"} {
		if got := ExecutionTimeLimit(grace); got != want {
			t.Errorf("grace %s: %s, want %s", grace, got, want)
		}
	}
}

func TestStandaloneEncodingSchemaAndContent(t *testing.T) {
	for _, grace := range []time.Duration{0, 90 * time.Second, time.Hour} {
		b, err := Standalone(LogoffFromSpec(testSpec(grace, "", `%ProgramFiles%\R&D "tools"`), date))
		if err != nil {
			t.Fatal(err)
		}
		s := decodeUTF16(t, b)
		if !strings.HasPrefix(s, `<?xml version="1.0" encoding="UTF-16"?>`+"\r\n") {
			t.Errorf("declaration: %q", s[:60])
		}
		if strings.Contains(strings.ReplaceAll(s, "\r\n", ""), "\n") {
			t.Error("a line ends in LF without CR")
		}
		file := filepath.Join(t.TempDir(), "task.xml")
		os.WriteFile(file, b, 0o644)
		oracle.TaskCheck(t, file)

		doc := etree.NewDocument()
		if err := doc.ReadFromString(strings.Replace(s, `encoding="UTF-16"`, `encoding="UTF-8"`, 1)); err != nil {
			t.Fatal(err)
		}
		root := doc.Root()
		if root.SelectAttrValue("xmlns", "") != Namespace || root.SelectAttrValue("version", "") != "1.3" {
			t.Errorf("root %v", root.Attr)
		}
		if got := root.FindElement("Principals/Principal/UserId").Text(); got != "S-1-5-18" {
			t.Errorf("UserId %q", got)
		}
		if got := root.FindElement("Settings/MultipleInstancesPolicy").Text(); got != "Queue" {
			t.Errorf("MultipleInstancesPolicy %q", got)
		}
		limit := root.FindElement("Settings/ExecutionTimeLimit").Text()
		if limit != ExecutionTimeLimit(grace) {
			t.Errorf("ExecutionTimeLimit %s", limit)
		}
		if got := root.FindElement("Actions/Exec/Command").Text(); got != `%ProgramFiles%\R&D "tools"\avd-agent.exe` {
			t.Errorf("Command %q (escaping lost)", got)
		}
		trs := root.FindElements("Triggers/EventTrigger")
		if len(trs) != 2 {
			t.Fatalf("%d event triggers", len(trs))
		}
		for i, ch := range []string{"LocalSessionManager/Operational", `Path="System"`} {
			if sub := trs[i].FindElement("Subscription").Text(); !strings.Contains(sub, ch) {
				t.Errorf("trigger %d subscription %q", i, sub)
			}
			var names []string
			for _, v := range trs[i].FindElements("ValueQueries/Value") {
				names = append(names, v.SelectAttrValue("name", ""))
			}
			if strings.Join(names, ",") != "SessionId,User" {
				t.Errorf("trigger %d value names %v", i, names)
			}
		}
		if !strings.Contains(root.FindElement("Actions/Exec/Arguments").Text(), "$(SessionId)") {
			t.Error("arguments do not use the ValueQueries")
		}
	}
}

func TestPreferencesXML(t *testing.T) {
	b, err := PreferencesXML(LogoffFromSpec(testSpec(90*time.Second, "", ""), date), "{0F0E0D0C-0B0A-4908-8706-050403020100}", date)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.HasPrefix(b, []byte{0xEF, 0xBB, 0xBF}) || !bytes.HasPrefix(b, []byte(`<?xml version="1.0" encoding="utf-8"?>`)) {
		t.Errorf("want UTF-8 with declaration and no BOM: %q", b[:50])
	}
	file := filepath.Join(t.TempDir(), "ScheduledTasks.xml")
	os.WriteFile(file, b, 0o644)
	if out := oracle.TaskCheck(t, file); !strings.Contains(out, `[avdgen\avd-agent logoff]`) {
		t.Errorf("task-check did not check our item: %s", out)
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(b); err != nil {
		t.Fatal(err)
	}
	item := doc.FindElement("ScheduledTasks/TaskV2")
	props := item.FindElement("Properties")
	if item.SelectAttrValue("clsid", "") != TaskV2CLSID || props.SelectAttrValue("runAs", "") != "S-1-5-18" || props.SelectAttrValue("logonType", "") != "S4U" ||
		props.FindElement("Task").SelectAttrValue("xmlns", "none") != "none" {
		t.Errorf("item %v props %v", item.Attr, props.Attr)
	}
	if item.SelectAttrValue("changed", "") != "2023-11-14 22:13:20" {
		t.Errorf("changed %q", item.SelectAttrValue("changed", ""))
	}
}

func TestGoldens(t *testing.T) {
	l := LogoffFromSpec(testSpec(90*time.Second, "", ""), date)
	b, err := Standalone(l)
	if err != nil {
		t.Fatal(err)
	}
	oracle.Golden(t, "avd-agent-logoff.xml", b)
	p, err := PreferencesXML(l, "{0F0E0D0C-0B0A-4908-8706-050403020100}", date)
	if err != nil {
		t.Fatal(err)
	}
	oracle.Golden(t, "ScheduledTasks.xml", p)
}

// Issue 10 item 2: on Windows installed from localized media the SYSTEM
// account has another name; only the SID resolves everywhere. No principal,
// standalone or preference, may name an account.
func TestEveryPrincipalIsTheSystemSID(t *testing.T) {
	l := LogoffFromSpec(testSpec(90*time.Second, "", ""), date)
	std, err := StandaloneText(l)
	if err != nil {
		t.Fatal(err)
	}
	pref, err := PreferencesXML(l, "{0F0E0D0C-0B0A-4908-8706-050403020100}", date)
	if err != nil {
		t.Fatal(err)
	}
	for name, doc := range map[string]string{"standalone": std, "preferences": string(pref)} {
		d := etree.NewDocument()
		d.ReadSettings.CharsetReader = func(label string, r io.Reader) (io.Reader, error) { return r, nil }
		if err := d.ReadFromString(doc); err != nil {
			t.Fatal(err)
		}
		ids := d.FindElements("//Principal/UserId")
		if len(ids) == 0 {
			t.Errorf("%s: no principal", name)
		}
		for _, id := range ids {
			if id.Text() != "S-1-5-18" {
				t.Errorf("%s: principal %q, want S-1-5-18", name, id.Text())
			}
		}
		for _, p := range d.FindElements("//Properties") {
			if p.SelectAttrValue("runAs", "") != "S-1-5-18" {
				t.Errorf("%s: runAs %q, want S-1-5-18", name, p.SelectAttrValue("runAs", ""))
			}
		}
		if strings.Contains(strings.ToLower(doc), `nt authority`) {
			t.Errorf("%s names NT AUTHORITY", name)
		}
	}
}
