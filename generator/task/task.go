// Package task builds the logoff scheduled task: the standalone Task
// Scheduler XML (UTF-16LE with BOM, CRLF, for `schtasks /create /xml` and
// Register-ScheduledTask) and the Group Policy Preferences ScheduledTasks.xml
// that carries the same task inside a GPO.
package task

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/beevik/etree"

	"github.com/avdgen/avdgen/agent/contract"
	"github.com/avdgen/avdgen/generator/spec"
)

// Namespace of Task Scheduler XML.
const Namespace = "http://schemas.microsoft.com/windows/2004/02/mit/task"

// Logoff describes a task: the logoff task, or (Idle set) the idle safety
// net's task.
type Logoff struct {
	// Command is the agent's full path, e.g. %ProgramFiles%\avdgen\avd-agent.exe.
	Command   string
	Arguments string
	// Grace is the agent's wait; the execution limit is set above it.
	Grace       time.Duration
	Description string
	Author      string
	Date        time.Time
	// IsIdle marks the idle task: started at boot and every 15 minutes.
	IsIdle bool
	// Idle is the idle safety net's task that goes with this logoff task
	// (nil when the spec says idleAfter: never); PreferencesXML carries both.
	Idle *Logoff
}

// QuoteArg quotes one argument for a task's argument line the way
// CommandLineToArgvW (and so the agent's flag parsing) reads it back: as is
// when it has no space, tab or quote, otherwise in double quotes with
// backslashes before a quote, and at the end, doubled.
func QuoteArg(a string) string {
	if a != "" && !strings.ContainsAny(a, " \t\"") {
		return a
	}
	var b strings.Builder
	b.WriteByte('"')
	slashes := 0
	for _, c := range a {
		switch c {
		case '\\':
			slashes++
		case '"':
			b.WriteString(strings.Repeat(`\`, slashes+1)) // the slashes written so far, doubled, plus one for the quote
			slashes = 0
		default:
			slashes = 0
		}
		b.WriteRune(c)
	}
	b.WriteString(strings.Repeat(`\`, slashes))
	b.WriteByte('"')
	return b.String()
}

// commonArgs are the flags logoff and idle share, each quoted.
func commonArgs(s spec.Spec) string {
	args := " --action " + QuoteArg(s.Agent.Action) + " --exclude-tag " + QuoteArg(s.Agent.ExcludeTag)
	if s.Agent.IdentityClientID != "" {
		args += " --identity-client-id " + QuoteArg(s.Agent.IdentityClientID)
	}
	return args
}

// LogoffFromSpec builds the task for a spec. The agent receives the
// session id and user from the event; both triggers name them the same.
func LogoffFromSpec(s spec.Spec, date time.Time) Logoff {
	args := `logoff --session $(SessionId) --user "$(User)" --grace ` + FormatGrace(s.Agent.Grace) + commonArgs(s)
	l := Logoff{
		Command:   strings.TrimRight(s.Agent.InstallDir, `\`) + `\` + contract.AgentExe,
		Arguments: args,
		Grace:     s.Agent.Grace,
		Description: "avdgen: after a user signs out of host pool " + s.HostPool +
			", deallocate this VM when no user session is left (avd-agent logoff). Log: " + contract.LogDir + `\` + contract.LogFile,
		Author: "avdgen",
		Date:   date.UTC(),
	}
	if idle, ok := IdleFromSpec(s, date); ok {
		l.Idle = &idle
	}
	return l
}

// IdleFromSpec builds the idle safety net's task: at startup, then every 15
// minutes, `avd-agent idle` deallocates a host that has had no user session
// for idleAfter. ok is false when idleAfter is never.
func IdleFromSpec(s spec.Spec, date time.Time) (Logoff, bool) {
	if s.Agent.IdleAfter == "" || strings.EqualFold(s.Agent.IdleAfter, "never") {
		return Logoff{}, false
	}
	return Logoff{
		Command:   strings.TrimRight(s.Agent.InstallDir, `\`) + `\` + contract.AgentExe,
		Arguments: "idle --idle-after " + QuoteArg(s.Agent.IdleAfter) + commonArgs(s),
		Description: "avdgen: safety net for host pool " + s.HostPool + ": at startup and every 15 minutes, deallocate this VM when no user session has existed for " +
			s.Agent.IdleAfter + " (avd-agent idle; a restart from inside Windows brings no logoff). Log: " + contract.LogDir + `\` + contract.LogFile,
		Author: "avdgen",
		Date:   date.UTC(),
		IsIdle: true,
	}, true
}

func (l Logoff) uri() string {
	if l.IsIdle {
		return contract.IdleTaskPath
	}
	return contract.TaskPath
}

// FormatGrace writes a grace period as the agent's --grace takes it: 90s, 2m, 1m30s.
func FormatGrace(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// ExecutionTimeLimit is the grace period plus ten minutes for IMDS, the
// token and ARM, as an XML duration: always longer than the grace.
func ExecutionTimeLimit(grace time.Duration) string {
	total := int((grace + 10*time.Minute) / time.Second)
	h, m, s := total/3600, total/60%60, total%60
	out := "PT"
	if h > 0 {
		out += fmt.Sprintf("%dH", h)
	}
	if m > 0 {
		out += fmt.Sprintf("%dM", m)
	}
	if s > 0 {
		out += fmt.Sprintf("%dS", s)
	}
	return out
}

// The logoff signals (FORMATS.md §5). There is no logoff trigger in Task
// Scheduler: LocalSessionManager event 23 fires on every logoff, Winlogon
// 7002 on every interactive logoff without an audit policy. Both pass the
// session id and the user under the same names.
var triggers = []struct {
	channel, query string
	values         [][2]string
}{
	{
		channel: "Microsoft-Windows-TerminalServices-LocalSessionManager/Operational",
		query:   "*[System[(EventID=23)]]",
		values:  [][2]string{{"SessionId", "Event/UserData/EventXML/SessionID"}, {"User", "Event/UserData/EventXML/User"}},
	},
	{
		channel: "System",
		query:   "*[System[Provider[@Name='Microsoft-Windows-Winlogon'] and (EventID=7002)]]",
		values:  [][2]string{{"SessionId", "Event/EventData/Data[@Name='TSId']"}, {"User", "Event/EventData/Data[@Name='UserSid']"}},
	},
}

func subscription(channel, query string) string {
	return fmt.Sprintf(`<QueryList><Query Id="0" Path="%s"><Select Path="%s">%s</Select></Query></QueryList>`, channel, channel, query)
}

func text(parent *etree.Element, tag, value string) *etree.Element {
	e := parent.CreateElement(tag)
	e.SetText(value)
	return e
}

// principal is how the task runs as SYSTEM.
type principal int

const (
	standalone  principal = iota // <UserId>S-1-5-18</UserId>
	preferences                  // S-1-5-18 + S4U, as GPMC writes SYSTEM
)

// systemSID is LocalSystem. Names are localized ("NT AUTHORITY\SYSTEM" is
// "NT-AUTORITÄT\SYSTEM" on German media) and a GPP task run as a name the
// host cannot resolve is never registered, so every principal is the SID.
const systemSID = "S-1-5-18"

// element builds <Task version="1.3"> in Windows' export order.
func element(l Logoff, p principal) *etree.Element {
	t := etree.NewElement("Task")
	t.CreateAttr("version", "1.3")
	ri := t.CreateElement("RegistrationInfo")
	text(ri, "Date", l.Date.Format("2006-01-02T15:04:05"))
	text(ri, "Author", l.Author)
	text(ri, "Description", l.Description)
	text(ri, "URI", l.uri())

	trs := t.CreateElement("Triggers")
	if l.IsIdle {
		// At startup, then every 15 minutes for as long as the machine runs.
		bt := trs.CreateElement("BootTrigger")
		text(bt, "Enabled", "true")
		rep := bt.CreateElement("Repetition")
		text(rep, "Interval", "PT15M")
		text(rep, "StopAtDurationEnd", "false")
	}
	for _, tr := range triggers {
		if l.IsIdle {
			break
		}
		et := trs.CreateElement("EventTrigger")
		text(et, "Enabled", "true")
		text(et, "Subscription", subscription(tr.channel, tr.query))
		vq := et.CreateElement("ValueQueries")
		for _, v := range tr.values {
			val := text(vq, "Value", v[1])
			val.CreateAttr("name", v[0])
		}
	}

	pr := t.CreateElement("Principals").CreateElement("Principal")
	pr.CreateAttr("id", "Author")
	text(pr, "UserId", systemSID)
	if p == preferences {
		text(pr, "LogonType", "S4U")
	}
	text(pr, "RunLevel", "HighestAvailable")

	st := t.CreateElement("Settings")
	// Queue: a second logoff while the agent waits must not be dropped
	// (IgnoreNew, the default, would drop it). The idle check is periodic:
	// a run still going makes the next one unnecessary.
	if l.IsIdle {
		text(st, "MultipleInstancesPolicy", "IgnoreNew")
	} else {
		text(st, "MultipleInstancesPolicy", "Queue")
	}
	text(st, "DisallowStartIfOnBatteries", "false")
	text(st, "StopIfGoingOnBatteries", "false")
	text(st, "AllowHardTerminate", "true")
	text(st, "StartWhenAvailable", "false")
	text(st, "RunOnlyIfNetworkAvailable", "false")
	idle := st.CreateElement("IdleSettings")
	text(idle, "StopOnIdleEnd", "false")
	text(idle, "RestartOnIdle", "false")
	text(st, "AllowStartOnDemand", "true")
	text(st, "Enabled", "true")
	text(st, "Hidden", "false")
	text(st, "RunOnlyIfIdle", "false")
	text(st, "WakeToRun", "false")
	text(st, "ExecutionTimeLimit", ExecutionTimeLimit(l.Grace))
	text(st, "Priority", "7")

	acts := t.CreateElement("Actions")
	acts.CreateAttr("Context", "Author")
	ex := acts.CreateElement("Exec")
	text(ex, "Command", l.Command)
	text(ex, "Arguments", l.Arguments)
	return t
}

// Standalone renders the task document for schtasks /create /xml: UTF-16LE
// with BOM and CRLF line endings, as Task Scheduler exports it.
func Standalone(l Logoff) ([]byte, error) {
	s, err := StandaloneText(l)
	if err != nil {
		return nil, err
	}
	return UTF16LE(s), nil
}

// StandaloneText is the same document as text with CRLF line endings, for
// scripts that pass it to Register-ScheduledTask -Xml.
func StandaloneText(l Logoff) (string, error) {
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="UTF-16"`)
	t := element(l, standalone)
	t.CreateAttr("xmlns", Namespace)
	doc.AddChild(t)
	doc.Indent(2)
	s, err := doc.WriteToString()
	if err != nil {
		return "", err
	}
	return CRLF(s), nil
}

// CRLF turns LF line endings into CRLF.
func CRLF(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n")
}

// UTF16LE encodes s as UTF-16LE with a byte order mark.
func UTF16LE(s string) []byte {
	u := utf16.Encode([]rune(s))
	var buf bytes.Buffer
	buf.Write([]byte{0xFF, 0xFE})
	for _, c := range u {
		binary.Write(&buf, binary.LittleEndian, c)
	}
	return buf.Bytes()
}

// GPP class ids, in GPMC's mixed case.
const (
	ScheduledTasksCLSID = "{CC63F200-7309-4ba0-B154-A71CD118DBCC}"
	TaskV2CLSID         = "{D8896631-B747-47a7-84A6-C155337F3BC8}"
)

// PreferencesXML renders Machine\Preferences\ScheduledTasks\ScheduledTasks.xml:
// UTF-8 with declaration, no BOM, one TaskV2 item run as SYSTEM. Action U
// (update) creates the task when missing and brings its definition back to
// ours at every policy refresh, without deleting a running instance the way
// R (replace) would.
func PreferencesXML(l Logoff, uid string, changed time.Time) ([]byte, error) {
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="utf-8"`)
	root := doc.CreateElement("ScheduledTasks")
	root.CreateAttr("clsid", ScheduledTasksCLSID)
	preferencesItem(root, l, contract.TaskName, uid, changed)
	if l.Idle != nil {
		preferencesItem(root, *l.Idle, contract.IdleTaskName, IdleUID(uid), changed)
	}
	return PreferencesBytes(doc)
}

// IdleUID derives the idle item's uid from the logoff item's, so the same
// spec always gives the same GPO bytes: the last hex digit group is flipped.
func IdleUID(uid string) string {
	if len(uid) != 38 {
		return uid
	}
	b := []byte(uid)
	for i := 25; i < 37; i++ {
		switch c := b[i]; {
		case c >= '0' && c <= '9':
			b[i] = "FEDCBA9876"[c-'0']
		case c >= 'A' && c <= 'F':
			b[i] = "543210"[c-'A']
		case c >= 'a' && c <= 'f':
			b[i] = "543210"[c-'a']
		}
	}
	return string(b)
}

func preferencesItem(root *etree.Element, l Logoff, taskName, uid string, changed time.Time) {
	item := root.CreateElement("TaskV2")
	name := strings.Trim(contract.TaskFolder, `\`) + `\` + taskName
	item.CreateAttr("clsid", TaskV2CLSID)
	item.CreateAttr("name", name)
	item.CreateAttr("image", "2") // 2 = update, as GPMC shows action U
	item.CreateAttr("userContext", "0")
	item.CreateAttr("removePolicy", "0")
	item.CreateAttr("changed", changed.UTC().Format("2006-01-02 15:04:05"))
	item.CreateAttr("uid", uid)
	props := item.CreateElement("Properties")
	props.CreateAttr("action", "U")
	props.CreateAttr("name", name)
	props.CreateAttr("runAs", systemSID)
	props.CreateAttr("logonType", "S4U")
	props.AddChild(element(l, preferences))
}

// PreferencesBytes serializes a preferences document the way GPMC writes
// one: the declaration on its own line, then the items without indentation.
func PreferencesBytes(doc *etree.Document) ([]byte, error) {
	s, err := doc.WriteToString()
	if err != nil {
		return nil, err
	}
	s = strings.Replace(s, "?>", "?>\r\n", 1)
	return []byte(s + "\r\n"), nil
}
