package gpo

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/avdgen/avdgen/dist"
	"github.com/avdgen/avdgen/generator/bundle"
	"github.com/avdgen/avdgen/generator/spec"
	"github.com/avdgen/avdgen/internal/oracle"
	"github.com/avdgen/avdgen/internal/testkit"
)

func testInput(t testing.TB) Input {
	s, err := spec.Decode("test.yaml", []byte("hostPool: hp-personal\nlimits:\n  idle: 2h\n  disconnected: 15m\n  endSessionOnLimit: true\ngpo:\n  domain: contoso.local\n  ou: OU=AVD,DC=contoso,DC=local\n"))
	if err != nil {
		t.Fatal(err)
	}
	return Input{
		Spec:          s.WithDefaults(),
		Agents:        testkit.Agents(),
		Time:          time.Unix(1700000000, 0).UTC(),
		AvdgenVersion: "v1.0.0",
	}
}

func build(t testing.TB) []bundle.File {
	files, err := Build(testInput(t))
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func find(t testing.TB, files []bundle.File, suffix string) bundle.File {
	t.Helper()
	for _, f := range files {
		if strings.HasSuffix(f.Path, suffix) {
			return f
		}
	}
	t.Fatalf("no file ending in %s", suffix)
	return bundle.File{}
}

func writeAll(t testing.TB, files []bundle.File) string {
	dir := t.TempDir()
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.Path))
		os.MkdirAll(filepath.Dir(p), 0o755)
		data := f.Data
		if f.Open != nil {
			r, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			data, _ = io.ReadAll(r)
			r.Close()
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestDeterministic(t *testing.T) {
	a, b := build(t), build(t)
	if len(a) != len(b) {
		t.Fatal("different file counts")
	}
	for i := range a {
		if a[i].Path != b[i].Path || !bytes.Equal(a[i].Data, b[i].Data) {
			t.Errorf("%s differs between two builds", a[i].Path)
		}
	}
	// Another pool gets other identifiers.
	in := testInput(t)
	in.Spec.HostPool = "hp-other"
	in.Spec.GPO.Name = "avdgen - hp-other"
	other, err := Build(in)
	if err != nil {
		t.Fatal(err)
	}
	if find(t, other, "bkupInfo.xml").Path == find(t, a, "bkupInfo.xml").Path {
		t.Error("two pools share a backup id")
	}
}

func TestGoldenFiles(t *testing.T) {
	for _, f := range build(t) {
		if f.Kind == "agent" {
			continue
		}
		// The backup folder name is a GUID; keep golden paths readable.
		name := strings.Replace(f.Path, newIDs(testInput(t).Spec).backup, "BACKUP-ID", 1)
		t.Run(name, func(t *testing.T) { oracle.Golden(t, name, f.Data) })
	}
}

func TestRequiresDomainAndAgents(t *testing.T) {
	in := testInput(t)
	in.Spec.GPO.Domain = ""
	if _, err := Build(in); err == nil || !strings.Contains(err.Error(), "gpo.domain") {
		t.Errorf("err = %v", err)
	}
	in = testInput(t)
	in.Agents = dist.Agents{}
	if _, err := Build(in); err == nil || !strings.Contains(err.Error(), "windows/amd64") {
		t.Errorf("err = %v", err)
	}
}

// Issue 10 item 6: Backup.xml is avdgen's, not Microsoft's; only the
// comment goes, the declaration and the root stay as they were.
func TestBackupCarriesNoMicrosoftCopyright(t *testing.T) {
	b := string(find(t, build(t), "/Backup.xml").Data)
	if strings.Contains(b, "Copyright") || strings.Contains(b, "<!--") {
		t.Error("Backup.xml carries a comment (Microsoft's copyright)")
	}
	if !strings.HasPrefix(b, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<GroupPolicyBackupScheme bkp:version=\"2.0\" bkp:type=\"GroupPolicyBackupTemplate\"") {
		t.Errorf("Backup.xml starts %q", b[:120])
	}
}
