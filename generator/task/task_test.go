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

	"github.com/avdgen/avdgen/generator/spec"
	"github.com/avdgen/avdgen/internal/oracle"
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
	if l.Idle == nil || l.Idle.Arguments != `idle --idle-after 30m --action deallocate --exclude-tag avdgen-exclude=true` || l.Idle.Command != l.Command {
		t.Errorf("idle task %+v", l.Idle)
	}
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

// parseArgs is CommandLineToArgvW's rule set as Microsoft documents it
// ("Parsing C++ command-line arguments"): the reference QuoteArg must match.
func parseArgs(line string) []string {
	var args []string
	var cur strings.Builder
	inQuotes, have := false, false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '\\':
			n := 0
			for i < len(line) && line[i] == '\\' {
				n++
				i++
			}
			if i < len(line) && line[i] == '"' {
				cur.WriteString(strings.Repeat(`\`, n/2))
				if n%2 == 1 {
					cur.WriteByte('"')
				} else {
					inQuotes = !inQuotes
				}
			} else {
				cur.WriteString(strings.Repeat(`\`, n))
				i--
			}
			have = true
		case c == '"':
			inQuotes = !inQuotes
			have = true
		case (c == ' ' || c == '\t') && !inQuotes:
			if have {
				args = append(args, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteByte(c)
			have = true
		}
	}
	if have {
		args = append(args, cur.String())
	}
	return args
}

func TestParseArgsMatchesMicrosoftsExamples(t *testing.T) {
	for line, want := range map[string][]string{
		`"a b c" d e`:     {"a b c", "d", "e"},
		`"ab\"c" "\\" d`:  {`ab"c`, `\`, "d"},
		`a\\\b d"e f"g h`: {`a\\\b`, "de fg", "h"},
		`a\\\"b c d`:      {`a\"b`, "c", "d"},
		`a\\\\"b c" d e`:  {`a\\b c`, "d", "e"},
	} {
		if got := parseArgs(line); strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("%s: %q, want %q", line, got, want)
		}
	}
}

// Defect 6: every argument of the task's line arrives as one argument.
func TestQuoteArgRoundTrips(t *testing.T) {
	for _, a := range []string{"avdgen-exclude=true", "keep me=yes", `say "hi"`, `C:\dir\`, `C:\my dir\`, `a\"b`, "", "tab\there", `\\server\share`} {
		if got := parseArgs("x " + QuoteArg(a) + " y"); len(got) != 3 || got[1] != a {
			t.Errorf("QuoteArg(%q) = %s parses as %q", a, QuoteArg(a), got)
		}
	}
}

func TestArgumentsParseBackToTheSpec(t *testing.T) {
	s := testSpec(90*time.Second, "11111111-2222-3333-4444-555555555555", "")
	s.Agent.ExcludeTag = "keep:me=yes@x"
	l := LogoffFromSpec(s, date)
	got := parseArgs(l.Arguments)
	want := []string{"logoff", "--session", "$(SessionId)", "--user", "$(User)", "--grace", "1m30s", "--action", "deallocate",
		"--exclude-tag", "keep:me=yes@x", "--identity-client-id", "11111111-2222-3333-4444-555555555555"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("logoff arguments parse as %q", got)
	}
	if got := parseArgs(l.Idle.Arguments); strings.Join(got, "|") != "idle|--idle-after|30m|--action|deallocate|--exclude-tag|keep:me=yes@x|--identity-client-id|11111111-2222-3333-4444-555555555555" {
		t.Errorf("idle arguments parse as %q", got)
	}
}

// Defect 8: the idle safety net's task, checked by the Task Scheduler XSD.
func TestIdleTask(t *testing.T) {
	s := testSpec(90*time.Second, "", "")
	s.Agent.IdleAfter = "never"
	if _, ok := IdleFromSpec(s, date); ok || LogoffFromSpec(s, date).Idle != nil {
		t.Error("idleAfter never still makes an idle task")
	}
	s.Agent.IdleAfter = "45m"
	idle, ok := IdleFromSpec(s, date)
	if !ok {
		t.Fatal("no idle task")
	}
	b, err := Standalone(idle)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "idle.xml")
	os.WriteFile(file, b, 0o644)
	oracle.TaskCheck(t, file)
	doc := etree.NewDocument()
	if err := doc.ReadFromString(strings.Replace(decodeUTF16(t, b), `encoding="UTF-16"`, `encoding="UTF-8"`, 1)); err != nil {
		t.Fatal(err)
	}
	root := doc.Root()
	if root.FindElement("RegistrationInfo/URI").Text() != `\avdgen\avd-agent idle` ||
		root.FindElement("Triggers/BootTrigger/Repetition/Interval").Text() != "PT15M" ||
		len(root.FindElements("Triggers/EventTrigger")) != 0 ||
		root.FindElement("Settings/MultipleInstancesPolicy").Text() != "IgnoreNew" ||
		!strings.HasPrefix(root.FindElement("Actions/Exec/Arguments").Text(), "idle --idle-after 45m ") {
		t.Errorf("idle task:\n%s", decodeUTF16(t, b))
	}
	p, err := PreferencesXML(LogoffFromSpec(s, date), "{0F0E0D0C-0B0A-4908-8706-050403020100}", date)
	if err != nil {
		t.Fatal(err)
	}
	pd := etree.NewDocument()
	pd.ReadFromBytes(p)
	items := pd.FindElements("ScheduledTasks/TaskV2")
	if len(items) != 2 || items[1].SelectAttrValue("name", "") != `avdgen\avd-agent idle` ||
		items[1].SelectAttrValue("uid", "") != IdleUID("{0F0E0D0C-0B0A-4908-8706-050403020100}") ||
		items[1].SelectAttrValue("uid", "") == items[0].SelectAttrValue("uid", "") {
		t.Errorf("preferences items: %d", len(items))
	}
	if got := IdleUID("{0F0E0D0C-0B0A-4908-8706-050403020100}"); got != "{0F0E0D0C-0B0A-4908-8706-FAFBFCFDFEFF}" {
		t.Errorf("IdleUID = %s", got)
	}
}
