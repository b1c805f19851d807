package gpo

import (
	"encoding/binary"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/avdgen/avdgen/dist"
)

// Issue 10 item 3: a policy refresh must not re-copy the agent, fight a
// running agent, or leave a moment without one. The File items use action
// C (Create: copy only if missing, else do nothing) on a versioned file
// name, and the task moves to that file only once it exists.
func TestAgentCopiedOnceUnderAVersionedName(t *testing.T) {
	files := build(t)
	agentFile := AgentFileName(testInput(t).Agents)
	want := `%ProgramFiles%\avdgen\` + agentFile
	if !strings.HasPrefix(agentFile, "avd-agent-v1.0.0-") || !strings.HasSuffix(agentFile, ".exe") {
		t.Errorf("agent file %q does not carry the version", agentFile)
	}
	for i, it := range readXML(t, find(t, files, "Files/Files.xml").Data).FindElements("Files/File") {
		p := it.FindElement("Properties")
		if p.SelectAttrValue("action", "") != "C" || it.SelectAttrValue("image", "") != "0" {
			t.Errorf("file item %d: action %q image %q, want C (Create) and GPMC's icon 0", i, p.SelectAttrValue("action", ""), it.SelectAttrValue("image", ""))
		}
		if p.SelectAttrValue("targetPath", "") != want || it.SelectAttrValue("name", "") != agentFile {
			t.Errorf("file item %d: targetPath %q name %q, want %q", i, p.SelectAttrValue("targetPath", ""), it.SelectAttrValue("name", ""), want)
		}
	}
	// Every preference task (the logoff task and the idle safety net) runs
	// the copied file, and waits until it exists.
	tasks := readXML(t, find(t, files, "ScheduledTasks/ScheduledTasks.xml").Data)
	items := tasks.FindElements("ScheduledTasks/TaskV2")
	if len(items) != 2 {
		t.Fatalf("%d preference tasks, want the logoff task and the idle safety net", len(items))
	}
	for _, item := range items {
		name := item.SelectAttrValue("name", "")
		if got := item.FindElement(".//Exec/Command").Text(); got != want {
			t.Errorf("preference task %s runs %q, want the copied file %q", name, got, want)
		}
		exists := item.FindElement("Filters/FilterFile")
		if exists == nil || exists.SelectAttrValue("path", "") != want || exists.SelectAttrValue("type", "") != "EXISTS" || exists.SelectAttrValue("not", "") != "0" {
			t.Errorf("task %s is not held back until %s exists: %v", name, want, exists)
		}
	}
	for _, f := range []string{"single-vm/avd-agent-logoff.xml", "single-vm/avd-agent-idle.xml"} {
		single := readXML(t, fromUTF16(t, find(t, files, f).Data))
		if got := single.FindElement("//Exec/Command").Text(); got != want {
			t.Errorf("%s runs %q, want %q", f, got, want)
		}
	}
}

// The name changes whenever any shipped binary or the version changes, and
// only then.
func TestAgentFileNameFollowsVersionAndContent(t *testing.T) {
	base := testInput(t).Agents
	same := testInput(t).Agents
	if AgentFileName(base) != AgentFileName(same) {
		t.Error("same agents, different names")
	}
	resigned := testInput(t).Agents
	resigned.ByArch = map[dist.Arch]dist.Agent{
		dist.AMD64: base.ByArch[dist.AMD64],
		dist.ARM64: {Arch: dist.ARM64, Binary: []byte("MZ fake arm64 agent, signed")},
	}
	bumped := testInput(t).Agents
	bumped.Version = "v1.0.1"
	odd := testInput(t).Agents
	odd.Version = `v1 "2"\x`
	names := map[string]bool{}
	for _, a := range []dist.Agents{base, resigned, bumped, odd} {
		names[AgentFileName(a)] = true
	}
	if len(names) != 4 {
		t.Errorf("names do not follow content and version: %v", names)
	}
	if n := AgentFileName(odd); strings.ContainsAny(n, ` "\/:*?<>|`) {
		t.Errorf("%q is not a safe file name", n)
	}
}

// fromUTF16 decodes UTF-16LE with BOM to UTF-8.
func fromUTF16(t *testing.T, b []byte) []byte {
	t.Helper()
	if len(b) < 2 || b[0] != 0xFF || b[1] != 0xFE || len(b)%2 != 0 {
		t.Fatal("not UTF-16LE with BOM")
	}
	u := make([]uint16, (len(b)-2)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2+2*i:])
	}
	return []byte(strings.Replace(string(utf16.Decode(u)), `encoding="UTF-16"`, `encoding="UTF-8"`, 1))
}
