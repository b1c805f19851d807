package intunewin

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/avdgen/avdgen/internal/oracle"
	"github.com/avdgen/avdgen/internal/testkit"
)

// counter is a deterministic "random" source for tests.
type counter struct{ n byte }

func (c *counter) Read(p []byte) (int, error) {
	for i := range p {
		c.n++
		p[i] = c.n
	}
	return len(p), nil
}

func need(t *testing.T, tools ...string) {
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			testkit.Unavailable(t, "%s missing", tool)
		}
	}
}

func run(t *testing.T, dir string, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %v: %v", name, args, err)
	}
	return out
}

func TestIndependentToolsVerifyThePackage(t *testing.T) {
	need(t, "unzip", "openssl", "sha256sum")
	files := []File{
		{"install.ps1", []byte("Write-Host install\r\n")},
		{"avd-agent-amd64.exe", bytes.Repeat([]byte("MZ amd64 "), 5000)},
		{"avd-agent-arm64.exe", bytes.Repeat([]byte("MZ arm64 "), 5000)},
	}
	pkg, err := Build("avdgen agent", "install.ps1", files, time.Unix(1700000000, 0), &counter{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "avd-agent.intunewin"), pkg.Intunewin, 0o644)

	// 1. unzip lists exactly the two entries.
	list := string(run(t, dir, "unzip", "-Z1", "avd-agent.intunewin"))
	if strings.TrimSpace(list) != DetectionPath+"\n"+ContentPath && strings.TrimSpace(list) != ContentPath+"\n"+DetectionPath {
		t.Fatalf("outer entries:\n%s", list)
	}
	run(t, dir, "unzip", "-q", "avd-agent.intunewin")
	det, _ := os.ReadFile(filepath.Join(dir, DetectionPath))
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(det); err != nil {
		t.Fatal(err)
	}
	val := func(p string) string { return doc.FindElement("ApplicationInfo/" + p).Text() }
	hexOf := func(p string) string {
		b, err := base64.StdEncoding.DecodeString(val(p))
		if err != nil {
			t.Fatal(err)
		}
		return hex.EncodeToString(b)
	}
	enc, _ := os.ReadFile(filepath.Join(dir, ContentPath))
	if len(enc) < 48 {
		t.Fatal("encrypted file too short")
	}
	os.WriteFile(filepath.Join(dir, "ivct"), enc[32:], 0o644)
	os.WriteFile(filepath.Join(dir, "ct"), enc[48:], 0o644)

	// 2. openssl recomputes the HMAC over IV||ciphertext with MacKey.
	mac := string(run(t, dir, "openssl", "mac", "-digest", "SHA256", "-macopt", "hexkey:"+hexOf("EncryptionInfo/MacKey"), "-in", "ivct", "HMAC"))
	if got := strings.ToLower(strings.TrimSpace(mac)); got != hexOf("EncryptionInfo/Mac") || got != hex.EncodeToString(enc[:32]) {
		t.Errorf("openssl HMAC %s, Detection.xml %s, file %x", got, hexOf("EncryptionInfo/Mac"), enc[:32])
	}
	if hex.EncodeToString(enc[32:48]) != hexOf("EncryptionInfo/InitializationVector") {
		t.Error("IV in the file differs from Detection.xml")
	}
	// 3. openssl decrypts with EncryptionKey and IV.
	run(t, dir, "openssl", "enc", "-d", "-aes-256-cbc", "-K", hexOf("EncryptionInfo/EncryptionKey"), "-iv", hexOf("EncryptionInfo/InitializationVector"), "-in", "ct", "-out", "plain.zip")
	// 4. sha256sum of the decrypted zip is FileDigest, and the size matches.
	sum := strings.Fields(string(run(t, dir, "sha256sum", "plain.zip")))[0]
	if sum != hexOf("EncryptionInfo/FileDigest") {
		t.Errorf("sha256sum %s, FileDigest %s", sum, hexOf("EncryptionInfo/FileDigest"))
	}
	fi, _ := os.Stat(filepath.Join(dir, "plain.zip"))
	if val("UnencryptedContentSize") != strconv.FormatInt(fi.Size(), 10) || pkg.UnencryptedSize != int(fi.Size()) {
		t.Errorf("UnencryptedContentSize %s, decrypted %d", val("UnencryptedContentSize"), fi.Size())
	}
	// 5. unzip lists the source files, and they are intact.
	inner := strings.Fields(string(run(t, dir, "unzip", "-Z1", "plain.zip")))
	if strings.Join(inner, ",") != "avd-agent-amd64.exe,avd-agent-arm64.exe,install.ps1" {
		t.Errorf("inner entries %v", inner)
	}
	run(t, dir, "unzip", "-q", "-d", "src", "plain.zip")
	got, _ := os.ReadFile(filepath.Join(dir, "src", "avd-agent-arm64.exe"))
	if !bytes.Equal(got, files[2].Data) {
		t.Error("arm64 agent changed in the round trip")
	}
	if val("SetupFile") != "install.ps1" || val("FileName") != "IntunePackage.intunewin" || val("EncryptionInfo/ProfileIdentifier") != "ProfileVersion1" {
		t.Errorf("Detection.xml fields: %s", det)
	}
}

func TestDetectionXMLShapeMatchesContentPrepTool(t *testing.T) {
	pkg, err := Build("x", "install.ps1", []File{{"install.ps1", []byte("x")}}, time.Unix(0, 0), &counter{})
	if err != nil {
		t.Fatal(err)
	}
	refs, _ := filepath.Glob(filepath.Join(oracle.Reference(t, "intune"), "Detection.xml.*"))
	if len(refs) == 0 {
		t.Fatal("no reference Detection.xml")
	}
	ours := etree.NewDocument()
	ours.ReadFromBytes(pkg.DetectionXML)
	tags := func(e *etree.Element) (out []string) {
		for _, c := range e.ChildElements() {
			out = append(out, c.Tag)
		}
		return out
	}
	for _, ref := range refs {
		b, _ := os.ReadFile(ref)
		if bytes.HasPrefix(pkg.DetectionXML, []byte("<?xml")) != bytes.HasPrefix(b, []byte("<?xml")) {
			t.Errorf("declaration differs from %s", ref)
		}
		doc := etree.NewDocument()
		if err := doc.ReadFromBytes(b); err != nil {
			t.Fatal(err)
		}
		want := strings.Join(tags(doc.Root()), ",")
		want = strings.TrimSuffix(want, ",MsiInfo") // MSI setups only
		if got := strings.Join(tags(ours.Root()), ","); got != want {
			t.Errorf("ApplicationInfo children %s, %s has %s", got, filepath.Base(ref), want)
		}
		if got, want := strings.Join(tags(ours.FindElement("ApplicationInfo/EncryptionInfo")), ","), strings.Join(tags(doc.FindElement("ApplicationInfo/EncryptionInfo")), ","); got != want {
			t.Errorf("EncryptionInfo children %s, reference %s", got, want)
		}
	}
}

func TestKeysComeFromTheRandomSource(t *testing.T) {
	files := []File{{"a", []byte("same content")}}
	a, _ := Build("x", "a", files, time.Unix(0, 0), &counter{})
	b, _ := Build("x", "a", files, time.Unix(0, 0), &counter{})
	c, _ := Build("x", "a", files, time.Unix(0, 0), &counter{n: 7})
	if !bytes.Equal(a.Intunewin, b.Intunewin) {
		t.Error("same keys, different package: not deterministic")
	}
	if bytes.Equal(a.Encrypted, c.Encrypted) || a.Info.EncryptionKey == c.Info.EncryptionKey {
		t.Error("different random source, same keys")
	}
	if a.Info.FileDigest != c.Info.FileDigest {
		t.Error("FileDigest must depend only on the content")
	}
}
