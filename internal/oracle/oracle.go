// Package oracle runs the independent checkers avdgen's tests rely on, all
// from inside this repository: Samba's registry.pol (PReg) NDR parser
// (Debian python3-samba), Microsoft's Task Scheduler XSD through xmllint
// (libxml2-utils), and tree-sitter-powershell (npm, in .ci/ps-parse). The
// real reference files they compare against live in testdata/reference at
// the repository root (testdata/PROVENANCE.md says where each comes from).
// It also compares golden files. Test support only.
package oracle

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/beevik/etree"

	"github.com/avdgen/avdgen/internal/testkit"
)

var update = flag.Bool("update", false, "rewrite golden files instead of comparing")

// Reference returns a path under testdata/reference, the real files the
// tests compare against. A missing file is a broken checkout, not a missing
// tool, so it fails the test everywhere.
func Reference(t testing.TB, elem ...string) string {
	t.Helper()
	p := filepath.Join(append([]string{testkit.RepoRoot(t), "testdata", "reference"}, elem...)...)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("reference file missing: %v (see testdata/PROVENANCE.md)", err)
	}
	return p
}

// PolEntry is one registry.pol record as Samba's parser reads it.
type PolEntry struct {
	Key   string `json:"key"`
	Value string `json:"value"`
	Type  string `json:"type"`
	Size  int    `json:"size"`
	Data  any    `json:"data"`
}

// sambaPReg parses each file with Samba's NDR PReg parser, then checks what
// that parser does not: the header, and that packing the parsed entries
// again gives the same bytes (a wrong size field or a string without its
// NUL does not survive that). One JSON line per entry; exit 1 on a defect.
const sambaPReg = `
import json, sys
from samba.dcerpc import preg
from samba.ndr import ndr_pack, ndr_unpack
TYPES = {0: "REG_NONE", 1: "REG_SZ", 2: "REG_EXPAND_SZ", 3: "REG_BINARY", 4: "REG_DWORD", 7: "REG_MULTI_SZ", 11: "REG_QWORD"}
bad = []
for path in sys.argv[1:]:
    raw = open(path, "rb").read()
    try:
        f = ndr_unpack(preg.file, raw)
    except RuntimeError as e:
        bad.append("%s: Samba cannot parse it: %s" % (path, e)); continue
    if f.header.signature != "PReg" or f.header.version != 1:
        bad.append("%s: header %r version %d, want PReg version 1" % (path, f.header.signature, f.header.version))
    if ndr_pack(f) != raw:
        bad.append("%s: packing the parsed entries again gives other bytes" % path)
    for e in f.entries:
        d = e.data.hex() if isinstance(e.data, bytes) else e.data
        print(json.dumps({"key": e.keyname, "value": e.valuename, "type": TYPES.get(e.type, e.type), "size": e.size, "data": d}))
for m in bad:
    print(m, file=sys.stderr)
sys.exit(1 if bad else 0)
`

// PolCheck runs Samba's parser on file and returns the entries; any defect
// it reports fails the test.
func PolCheck(t testing.TB, file string) []PolEntry {
	t.Helper()
	// Debian's python3-samba is built for the system interpreter.
	const py = "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		testkit.Unavailable(t, "%s missing (apt-get install python3-samba)", py)
	}
	if err := exec.Command(py, "-c", "import samba.dcerpc.preg").Run(); err != nil {
		testkit.Unavailable(t, "python3-samba is not installed (apt-get install python3-samba)")
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(py, "-c", sambaPReg, file)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("Samba's PReg parser on %s: %v\n%s%s", file, err, stdout.String(), stderr.String())
	}
	var out []PolEntry
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e PolEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("PReg parser output %q: %v", sc.Text(), err)
		}
		out = append(out, e)
	}
	return out
}

const taskNS = "http://schemas.microsoft.com/windows/2004/02/mit/task"

// decodeXML returns UTF-8 text for UTF-16LE/BE (with BOM) or UTF-8 input.
func decodeXML(raw []byte) (string, error) {
	switch {
	case bytes.HasPrefix(raw, []byte{0xFF, 0xFE}), bytes.HasPrefix(raw, []byte{0xFE, 0xFF}):
		le := raw[0] == 0xFF
		body := raw[2:]
		if len(body)%2 != 0 {
			return "", fmt.Errorf("odd number of bytes in UTF-16 text")
		}
		u := make([]uint16, len(body)/2)
		for i := range u {
			if le {
				u[i] = uint16(body[2*i]) | uint16(body[2*i+1])<<8
			} else {
				u[i] = uint16(body[2*i])<<8 | uint16(body[2*i+1])
			}
		}
		return string(utf16.Decode(u)), nil
	case bytes.HasPrefix(raw, []byte{0xEF, 0xBB, 0xBF}):
		return string(raw[3:]), nil
	}
	return string(raw), nil
}

// tasksIn returns the <Task> elements of a standalone task file or of a
// Group Policy Preferences ScheduledTasks.xml, labelled by item name.
func tasksIn(raw []byte) (labels []string, tasks []*etree.Element, err error) {
	text, err := decodeXML(raw)
	if err != nil {
		return nil, nil, err
	}
	// GPP's %LocalTimeXmlEx% is replaced by the client; the schema wants a time.
	text = strings.ReplaceAll(text, "%LocalTimeXmlEx%", "2000-01-01T00:00:00")
	if i := strings.Index(text, "?>"); strings.HasPrefix(strings.TrimSpace(text), "<?xml") && i >= 0 {
		text = text[i+2:] // the declaration may name UTF-16, which the text no longer is
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromString(text); err != nil {
		return nil, nil, err
	}
	root := doc.Root()
	if root == nil {
		return nil, nil, fmt.Errorf("no root element")
	}
	if root.Tag == "Task" {
		return []string{"task"}, []*etree.Element{root}, nil
	}
	for _, item := range root.FindElements("//*") {
		if item.Tag != "TaskV2" && item.Tag != "ImmediateTaskV2" {
			continue
		}
		labels = append(labels, item.SelectAttrValue("name", "?"))
		tasks = append(tasks, item.FindElement("Properties/Task")) // nil: reported below
	}
	return labels, tasks, nil
}

// TaskCheck validates task XML (standalone or every task inside a
// preferences ScheduledTasks.xml) against Microsoft's Task Scheduler XSD
// with xmllint; any failure fails the test. It returns one line per task.
func TaskCheck(t testing.TB, files ...string) string {
	t.Helper()
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		testkit.Unavailable(t, "xmllint missing (apt-get install libxml2-utils)")
	}
	xsd := Reference(t, "task-scheduler", "task.xsd")
	var report strings.Builder
	failed := false
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		labels, tasks, err := tasksIn(raw)
		if err != nil {
			t.Fatalf("%s: not readable XML: %v", file, err)
		}
		if len(tasks) == 0 {
			t.Fatalf("%s: no <Task> found", file)
		}
		for i, task := range tasks {
			label := fmt.Sprintf("%s [%s]", file, labels[i])
			if task == nil {
				fmt.Fprintf(&report, "FAIL %s\nitem has no Properties/Task\n", label)
				failed = true
				continue
			}
			// GPP embeds the task without its namespace; the schema needs it.
			out := etree.NewDocument()
			out.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
			c := task.Copy()
			for _, e := range append([]*etree.Element{c}, c.FindElements("//*")...) {
				e.Space = ""
				e.RemoveAttr("xmlns")
			}
			c.CreateAttr("xmlns", taskNS)
			out.SetRoot(c)
			tmp := filepath.Join(t.TempDir(), "task.xml")
			if err := out.WriteToFile(tmp); err != nil {
				t.Fatal(err)
			}
			res, err := exec.Command(xmllint, "--noout", "--schema", xsd, tmp).CombinedOutput()
			msg := strings.ReplaceAll(strings.TrimSpace(string(res)), tmp, label)
			if err != nil {
				fmt.Fprintf(&report, "FAIL %s\n%s\n", label, msg)
				failed = true
				continue
			}
			fmt.Fprintf(&report, "ok   %s\n", label)
		}
	}
	if failed {
		t.Fatalf("Task Scheduler XSD:\n%s", report.String())
	}
	return report.String()
}

// PSParse parses PowerShell files with tree-sitter-powershell through
// .ci/ps-parse/ps-parse.mjs. It returns the checker's report and whether
// every file passed; the caller decides what a failure means (generated
// scripts must pass, the control scripts must not).
func PSParse(t testing.TB, files ...string) (string, bool) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		testkit.Unavailable(t, "node missing (apt-get install nodejs npm)")
	}
	dir := filepath.Join(testkit.RepoRoot(t), ".ci", "ps-parse")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "tree-sitter-powershell")); err != nil {
		testkit.Unavailable(t, "tree-sitter-powershell is not installed (make deps, or npm ci --prefix .ci/ps-parse)")
	}
	cmd := exec.Command(node, append([]string{"--no-deprecation", filepath.Join(dir, "ps-parse.mjs")}, files...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("ps-parse: %v\n%s", err, out)
		}
		return string(out), false
	}
	return string(out), true
}

// Golden compares got with testdata/golden/<name> byte for byte; with
// -update it rewrites the file.
func Golden(t testing.TB, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", filepath.FromSlash(name))
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden %s: %v (run go test -update to create it)", path, err)
	}
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		t.Errorf("%s differs from its golden file at byte %d (got %d bytes, want %d); rerun with -update if the change is intended", name, i, len(got), len(want))
	}
}
