// Package psparse_test parses every PowerShell script avdgen generates with an
// independent parser, tree-sitter-powershell (.ci/ps-parse), for several
// specs, including names, paths and tags with the characters PowerShell
// quoting gets wrong. Control scripts prove the parser and the checks catch
// what they must.
package psparse_test

import (
	"archive/zip"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/avdgen/avdgen/generator/bundle"
	"github.com/avdgen/avdgen/generator/gpo"
	"github.com/avdgen/avdgen/generator/intune"
	"github.com/avdgen/avdgen/generator/spec"
	"github.com/avdgen/avdgen/internal/oracle"
	"github.com/avdgen/avdgen/internal/testkit"
)

// specs cover the plain case and the characters that break PowerShell
// string literals when quoted carelessly: ' " ` $ ( ) ; & spaces and non-ASCII;
// and both branches of the idle safety net (idleAfter default, 2h, never).
var specs = map[string]string{
	"plain": "hostPool: hp1\nlimits:\n  idle: 2h\n  disconnected: 15m\n  endSessionOnLimit: true\n" +
		"gpo:\n  domain: contoso.local\n  ou: OU=AVD,DC=contoso,DC=local\n",
	"odd-names": "hostPool: hp.odd-1\nlimits:\n  disconnected: 1h\n" +
		"agent:\n  installDir: '%ProgramFiles%\\Contoso $(tools) & co; é'\n  excludeTag: avdgen-exclude=true\n  idleAfter: never\n" +
		"gpo:\n  domain: corp.example.org\n  name: 'Ødegård''s $pool `x` (personal); [more]'\n  ou: OU=Personal,OU=AVD,DC=corp,DC=example,DC=org\n" +
		"intune:\n  profileName: 'Ødegård''s \"limits\" $(x) `n'\n  appName: 'avd-agent ''$env:TEMP'' \"q\"'\n  publisher: 'Contoso IT''s $Apps; & Co'\n",
	"hibernate-all-limits": "hostPool: HP_Z\nlimits:\n  idle: 30m\n  disconnected: 5m\n  active: 8h\n  endSessionOnLimit: true\n" +
		"agent:\n  action: hibernate\n  grace: 2m\n  installDir: 'C:\\Program Files\\avdgen tools'\n  identityClientId: 0b0e6f1c-1d5a-4e1b-9c33-7a8f2e9b1c20\n  idleAfter: 2h\n" +
		"gpo:\n  domain: ad.contoso.com\n  ou: OU=AVD,DC=ad,DC=contoso,DC=com\n",
}

type counter struct{ n byte }

func (c *counter) Read(p []byte) (int, error) {
	for i := range p {
		c.n++
		p[i] = c.n
	}
	return len(p), nil
}

var agents = testkit.Agents()

// scripts renders both bundles for one spec and writes every .ps1 they hold.
func scripts(t *testing.T, name, yaml string) []string {
	t.Helper()
	s, err := spec.Decode(name+".yaml", []byte(yaml))
	if err != nil {
		t.Fatalf("spec %s: %v", name, err)
	}
	s = s.WithDefaults()
	when := time.Unix(1700000000, 0).UTC()
	g, err := gpo.Build(gpo.Input{Spec: s, Agents: agents, Time: when, AvdgenVersion: "v1.0.0"})
	if err != nil {
		t.Fatalf("gpo bundle for %s: %v", name, err)
	}
	in, err := intune.Build(intune.Input{Spec: s, Agents: agents, Time: when, AvdgenVersion: "v1.0.0", Rand: &counter{}})
	if err != nil {
		t.Fatalf("intune bundle for %s: %v", name, err)
	}
	dir := t.TempDir()
	var out []string
	// install.ps1 and uninstall.ps1 reach hosts only inside the .intunewin:
	// parse the very bytes that ship.
	var packaged []bundle.File
	for _, f := range in {
		if strings.HasSuffix(f.Path, ".intunewin") {
			packaged = append(packaged, unpackIntunewin(t, f.Data)...)
		}
	}
	for prefix, files := range map[string][]bundle.File{"gpo": g, "intune": in, "intunewin": packaged} {
		for _, f := range files {
			if !strings.EqualFold(filepath.Ext(f.Path), ".ps1") {
				continue
			}
			p := filepath.Join(dir, prefix, filepath.FromSlash(f.Path))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, f.Data, 0o644); err != nil {
				t.Fatal(err)
			}
			out = append(out, p)
		}
	}
	return out
}

// unpackIntunewin decrypts a .intunewin with the keys in its Detection.xml
// and returns the files of the inner zip.
func unpackIntunewin(t *testing.T, data []byte) []bundle.File {
	t.Helper()
	outer, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	read := func(name string) []byte {
		for _, f := range outer.File {
			if f.Name == name {
				r, err := f.Open()
				if err != nil {
					t.Fatal(err)
				}
				defer r.Close()
				b, err := io.ReadAll(r)
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
		}
		t.Fatalf("%s not in the .intunewin", name)
		return nil
	}
	det := etree.NewDocument()
	if err := det.ReadFromBytes(read("IntuneWinPackage/Metadata/Detection.xml")); err != nil {
		t.Fatal(err)
	}
	key, _ := base64.StdEncoding.DecodeString(det.FindElement("//EncryptionKey").Text())
	enc := read("IntuneWinPackage/Contents/IntunePackage.intunewin")
	if len(enc) < 48+aes.BlockSize {
		t.Fatalf("encrypted content too short: %d bytes", len(enc))
	}
	iv, body := enc[32:48], append([]byte(nil), enc[48:]...)
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(body, body)
	body = body[:len(body)-int(body[len(body)-1])] // PKCS#7
	inner, err := zip.NewReader(bytes.NewReader(body), int64(len(body)))
	if err != nil {
		t.Fatalf("inner zip: %v", err)
	}
	var files []bundle.File
	for _, f := range inner.File {
		r, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r)
		r.Close()
		files = append(files, bundle.File{Path: f.Name, Data: b})
	}
	return files
}

func TestGeneratedScriptsParse(t *testing.T) {
	total := 0
	for name, yaml := range specs {
		t.Run(name, func(t *testing.T) {
			files := scripts(t, name, yaml)
			// Import-AvdGpo.ps1, install.ps1, uninstall.ps1 and the Remediations pair at least.
			if len(files) < 5 {
				t.Fatalf("only %d scripts in the bundles: %v", len(files), files)
			}
			total += len(files)
			report, ok := oracle.PSParse(t, files...)
			if !ok {
				t.Errorf("tree-sitter-powershell rejects generated scripts:\n%s", report)
			}
			if strings.Count(report, "ok   ") != len(files) {
				t.Errorf("the parser did not report every file:\n%s", report)
			}
		})
	}
	t.Logf("%d generated scripts parsed", total)
}

// The controls are small scripts with one defect each: the oracle must
// reject every one, or a passing generated script proves nothing.
func TestControlScriptsFail(t *testing.T) {
	controls, _ := filepath.Glob(filepath.Join("testdata", "controls", "*.ps1"))
	if len(controls) < 6 {
		t.Fatalf("controls missing: %v", controls)
	}
	for _, c := range controls {
		report, ok := oracle.PSParse(t, c)
		if ok {
			t.Errorf("%s was accepted, but has a defect:\n%s", c, report)
		}
	}
	good := filepath.Join("testdata", "good.ps1")
	if report, ok := oracle.PSParse(t, good); !ok {
		t.Errorf("%s was rejected:\n%s", good, report)
	}
}
