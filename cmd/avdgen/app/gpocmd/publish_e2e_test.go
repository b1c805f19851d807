package gpocmd

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/avdgen/avdgen/cmd/avdgen/app/cmdutil"
	"github.com/avdgen/avdgen/dist"
	"github.com/avdgen/avdgen/fleet/adpublish"
	"github.com/avdgen/avdgen/generator/gpo"
	"github.com/avdgen/avdgen/internal/testkit"
)

// The end-to-end tests run `avdgen gpo publish` against a real Samba AD DC
// started by .ci/samba-dc.sh in its own network and mount namespace, and
// read the result back with Samba's own tools. Outside the namespace the
// test re-executes itself inside it (one DC for all steps, ~10 s).

// insideDC reports whether .ci/samba-dc.sh started this process; if not,
// it runs the named test (or benchmark) again inside a fresh DC and
// reports that run's outcome.
func insideDC(t testing.TB, runFlag, name string) bool {
	t.Helper()
	if os.Getenv("AVDGEN_DC_DOMAIN") != "" {
		return true
	}
	for _, tool := range []string{"samba", "samba-tool", "smbclient", "ldapsearch", "openssl", "unshare", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			testkit.Unavailable(t, "%s not installed (Debian: samba samba-ad-dc samba-ad-provision samba-dsdb-modules samba-vfs-modules winbind smbclient ldap-utils openssl)", tool)
		}
	}
	if _, err := os.Stat("/usr/share/samba/setup/ad-schema"); err != nil {
		testkit.Unavailable(t, "samba-ad-provision not installed")
	}
	if os.Geteuid() != 0 {
		testkit.Unavailable(t, "a Samba DC in a network namespace needs root (unshare --net --mount)")
	}
	script := filepath.Join(testkit.RepoRoot(t), ".ci", "samba-dc.sh")
	args := []string{"run", "--dir", filepath.Join(traversableTempDir(t), "dc"), "--", os.Args[0], runFlag, "^" + name + "$", "-test.v", "-test.count=1"}
	if runFlag == "-test.bench" {
		args = append(args, "-test.run", "^$", "-test.benchtime", "3x")
	}
	cmd := exec.Command(script, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s inside a Samba DC: %v\n%s", name, err, out)
	}
	if !bytes.Contains(out, []byte("--- PASS: "+name)) && runFlag == "-test.run" {
		t.Fatalf("%s did not pass inside the DC:\n%s", name, out)
	}
	t.Logf("inside the Samba DC:\n%s", out)
	if b, ok := t.(*testing.B); ok {
		reportInnerMetrics(b, name, string(out))
	}
	return false
}

// traversableTempDir is t.TempDir() with search permission for every
// user. Samba serves SYSVOL to an account as that account's own Unix uid
// (winbind maps it; only Administrator maps to root), so a path below
// TempDir's 0700 folders refused every non-admin account at the share's
// chdir: Samba logged "vfs_ChDir(.../dc/state/sysvol) failed: Permission
// denied" and the client saw access denied on its first read or mkdir.
func traversableTempDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{dir, filepath.Dir(dir)} { // TempDir's test folder and its numbered one
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// dc is the running DC, from .ci/samba-dc.sh's environment.
type dc struct {
	t                                        testing.TB
	domain, host, ca, user, password, smbcnf string
	dir                                      string
	agentDir                                 string
}

func newDC(t testing.TB) *dc {
	d := &dc{t: t, domain: os.Getenv("AVDGEN_DC_DOMAIN"), host: os.Getenv("AVDGEN_DC_HOST"), ca: os.Getenv("AVDGEN_DC_CA"),
		user: os.Getenv("AVDGEN_DC_USER"), password: os.Getenv("AVDGEN_DC_PASSWORD"), smbcnf: os.Getenv("AVDGEN_DC_SMBCONF"),
		dir: os.Getenv("AVDGEN_DC_DIR")}
	// Small stand-in agents: publishing treats them as opaque bytes.
	d.agentDir = testkit.AgentDir(t)
	return d
}

// sambaTool runs samba-tool as the administrator over LDAP.
func (d *dc) sambaTool(args ...string) (string, error) {
	args = append(args, "-H", "ldap://"+d.host, "-U", "Administrator%"+d.password, "-s", d.smbcnf)
	out, err := exec.Command("samba-tool", args...).CombinedOutput()
	return string(out), err
}

func (d *dc) mustSambaTool(args ...string) string {
	d.t.Helper()
	out, err := d.sambaTool(args...)
	if err != nil {
		d.t.Fatalf("samba-tool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// ldapAttr reads one attribute with ldapsearch over verified LDAPS.
func (d *dc) ldapAttr(dn, attr string) string {
	d.t.Helper()
	cmd := exec.Command("ldapsearch", "-LLL", "-o", "ldif-wrap=no", "-H", "ldaps://"+d.host, "-x", "-D", d.user, "-w", d.password,
		"-b", dn, "-s", "base", attr)
	cmd.Env = append(os.Environ(), "LDAPTLS_CACERT="+d.ca)
	out, err := cmd.CombinedOutput()
	if err != nil {
		d.t.Fatalf("ldapsearch %s %s: %v\n%s", dn, attr, err, out)
	}
	m := regexp.MustCompile(`(?m)^` + attr + `: (.*)$`).FindStringSubmatch(string(out))
	if m == nil {
		return ""
	}
	return m[1]
}

// smbGet copies a SYSVOL file with smbclient (signing on, as the DC demands).
func (d *dc) smbGet(remote string) []byte {
	d.t.Helper()
	local := filepath.Join(d.t.TempDir(), "got")
	out, err := exec.Command("smbclient", "//"+d.host+"/sysvol", "-U", "Administrator%"+d.password, "-s", d.smbcnf,
		"-c", fmt.Sprintf(`get "%s" "%s"`, remote, local)).CombinedOutput()
	if err != nil {
		d.t.Fatalf("smbclient get %s: %v\n%s", remote, err, out)
	}
	b, err := os.ReadFile(local)
	if err != nil {
		d.t.Fatal(err)
	}
	return b
}

// acl reads an ACL with smbcacls as "trustee:type:rights" entries; with
// inheritable, only the ACEs files below inherit (OI, not inherit-only).
func (d *dc) acl(name string, inheritable bool) map[string]bool {
	d.t.Helper()
	out, err := exec.Command("smbcacls", "//"+d.host+"/sysvol", name, "-U", "Administrator%"+d.password, "-s", d.smbcnf).CombinedOutput()
	if err != nil {
		d.t.Fatalf("smbcacls %s: %v\n%s", name, err, out)
	}
	set := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		ace, ok := strings.CutPrefix(line, "ACL:")
		if !ok {
			continue
		}
		i := strings.LastIndex(ace, ":")
		parts := strings.Split(ace[i+1:], "/") // type/flags/rights
		if len(parts) != 3 {
			continue
		}
		flags := strings.Split(parts[1], "|")
		if inheritable && (!slices.Contains(flags, "OI") || slices.Contains(flags, "IO")) {
			continue
		}
		set[ace[:i]+":"+parts[0]+":"+parts[2]] = true
	}
	if len(set) == 0 {
		d.t.Fatalf("smbcacls %s: no ACEs in\n%s", name, out)
	}
	return set
}

// bundleGPOFiles runs `avdgen gpo` for the same spec and returns the
// GPO's files of its backup, relative to the GPO folder (Machine/...).
func (d *dc) bundleGPOFiles(args ...string) map[string][]byte {
	d.t.Helper()
	out := filepath.Join(d.t.TempDir(), "bundle")
	f := &cmdutil.Factory{IO: &cmdutil.IOStreams{In: strings.NewReader(""), Out: io.Discard, ErrOut: io.Discard},
		Getenv: func(string) string { return "" }, Agents: dist.Embedded}
	cmd := NewCmdGPO(f, nil)
	cmd.SetArgs(append([]string{"--domain", d.domain, "--host-pool", "hp-e2e", "--disconnected", "15m", "--ou", "OU=AVD,DC=contoso,DC=local",
		"--agent-dir", d.agentDir, "--out", out}, args...))
	if err := cmd.Execute(); err != nil {
		d.t.Fatalf("avdgen gpo: %v", err)
	}
	dirs, _ := filepath.Glob(filepath.Join(out, "gpo-backup", "*", "DomainSysvol", "GPO"))
	if len(dirs) != 1 {
		d.t.Fatalf("bundle has %d GPO folders", len(dirs))
	}
	files := map[string][]byte{}
	err := filepath.WalkDir(dirs[0], func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dirs[0], p)
		b, err := os.ReadFile(p)
		files[filepath.ToSlash(rel)] = b
		return err
	})
	if err != nil || len(files) < 3 {
		d.t.Fatalf("bundle GPO files %v: %v", len(files), err)
	}
	return files
}

// publish runs `avdgen gpo publish` in-process with the given password.
func (d *dc) publish(password string, args ...string) (*adpublish.Result, string, error) {
	var out, errOut bytes.Buffer
	env := map[string]string{PasswordEnv: password}
	f := &cmdutil.Factory{
		IO:     &cmdutil.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut},
		Getenv: func(k string) string { return env[k] },
		Agents: dist.Embedded,
	}
	cmd := NewCmdGPO(f, nil)
	base := []string{"publish", "--domain", d.domain, "--host-pool", "hp-e2e", "--disconnected", "15m", "--ou", "OU=AVD,DC=contoso,DC=local",
		"--username", d.user, "--ca-file", d.ca, "--json"}
	if d.agentDir != "" {
		base = append(base, "--agent-dir", d.agentDir)
	}
	cmd.SetArgs(append(base, args...))
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	err := cmd.Execute()
	if err != nil {
		return nil, out.String(), err
	}
	var res adpublish.Result
	if jerr := json.Unmarshal(out.Bytes(), &res); jerr != nil {
		d.t.Fatalf("publish --json printed no JSON: %v\n%s", jerr, out.String())
	}
	return &res, out.String(), nil
}

// snapshot is what a rerun must leave alone: the uSNChanged of the GPO and
// the OU, and every SYSVOL file's bytes and modification time.
func (d *dc) snapshot(gpoDN string) string {
	d.t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "gpo uSNChanged=%s\nou uSNChanged=%s\n", d.ldapAttr(gpoDN, "uSNChanged"), d.ldapAttr("OU=AVD,DC=contoso,DC=local", "uSNChanged"))
	sysvol := filepath.Join(d.dir, "state", "sysvol")
	err := filepath.WalkDir(sysvol, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		fi, err := e.Info()
		if err != nil {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s %s %x\n", strings.TrimPrefix(p, sysvol), fi.ModTime().Format(time.RFC3339Nano), sha256.Sum256(data))
		return nil
	})
	if err != nil {
		d.t.Fatalf("walking the DC's sysvol: %v", err)
	}
	return b.String()
}

// source is the versioned SYSVOL name of the stand-in agent for arch
// (the one Files.xml copies from).
func (d *dc) source(a dist.Arch) string {
	d.t.Helper()
	agents, err := dist.FromDir(d.agentDir)
	if err != nil {
		d.t.Fatal(err)
	}
	return gpo.SourceFileName(agents, a)
}

// aclConsistent checks every GPO folder against Samba's own derivation
// from the GPO's nTSecurityDescriptor (samba-tool gpo aclcheck's "should
// be"), allowing the two differences avdgen makes on purpose (issue 16
// item 1): no owner or group is forced (Windows refuses an owner not in
// the caller's token) and the Apply Group Policy object ACE, a directory
// right, is not copied into the NTFS DACL. Everything else must match.
func (d *dc) aclConsistent(t *testing.T) {
	t.Helper()
	out, err := d.sambaTool("gpo", "aclcheck")
	if err == nil {
		return
	}
	m := regexp.MustCompile(`Invalid GPO ACL (\S+) on path \(([^)]*)\), should be (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("aclcheck: %v\n%s", err, out)
	}
	strip := func(sddl string) string {
		sddl = regexp.MustCompile(`^O:[A-Z0-9-]+G:[A-Z0-9-]+`).ReplaceAllString(sddl, "")
		return regexp.MustCompile(`\(OA;[^)]*edacfd8f-ffb3-11d1-b41d-00a0c968f939[^)]*\)`).ReplaceAllString(sddl, "")
	}
	if strip(m[1]) != strip(m[3]) {
		t.Errorf("SYSVOL ACL of %s grants otherwise than Samba derives from the GPO:\n got    %s\n Samba %s", m[2], m[1], m[3])
	}
	// aclcheck stops at the first GPO it finds different; the others are
	// checked with avdgen's publish (no acl change) by the callers.
}

func gpoVersion(t testing.TB, listall, name string) string {
	t.Helper()
	i := strings.Index(listall, "display name : "+name+"\n")
	if i < 0 {
		t.Fatalf("samba-tool gpo listall does not list %q:\n%s", name, listall)
	}
	m := regexp.MustCompile(`version\s*: (\d+)`).FindStringSubmatch(listall[i:])
	if m == nil {
		t.Fatalf("no version after %q in listall:\n%s", name, listall)
	}
	return m[1]
}

func TestPublishAgainstSambaDC(t *testing.T) {
	if !insideDC(t, "-test.run", "TestPublishAgainstSambaDC") {
		return
	}
	d := newDC(t)
	const name = "avdgen - hp-e2e"
	d.mustSambaTool("ou", "create", "OU=AVD,DC=contoso,DC=local")
	// Another GPO already linked to the OU: publishing must keep its link.
	other := regexp.MustCompile(`\{[0-9A-F-]+\}`).FindString(d.mustSambaTool("gpo", "create", "Someone else's GPO"))
	d.mustSambaTool("gpo", "setlink", "OU=AVD,DC=contoso,DC=local", other)

	t.Run("wrong password creates nothing", func(t *testing.T) {
		_, _, err := d.publish("not-the-password")
		if err == nil || !strings.Contains(err.Error(), "invalid credentials") || !strings.Contains(err.Error(), PasswordEnv) {
			t.Fatalf("err = %v, want invalid credentials naming %s", err, PasswordEnv)
		}
		if out := d.mustSambaTool("gpo", "listall"); strings.Contains(out, name) {
			t.Fatalf("a wrong password created the GPO:\n%s", out)
		}
	})
	t.Run("untrusted certificate names --ca-file", func(t *testing.T) {
		empty := filepath.Join(t.TempDir(), "other-ca.pem")
		// A CA that did not issue the DC's certificate.
		if out, err := exec.Command("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=other CA",
			"-keyout", filepath.Join(t.TempDir(), "k"), "-out", empty).CombinedOutput(); err != nil {
			t.Fatalf("openssl: %v\n%s", err, out)
		}
		_, _, err := d.publish(d.password, "--ca-file", empty)
		if err == nil || !strings.Contains(err.Error(), "not trusted") || !strings.Contains(err.Error(), "--ca-file") {
			t.Fatalf("err = %v, want an untrusted certificate error naming --ca-file", err)
		}
	})
	t.Run("a server name not in the certificate names --server", func(t *testing.T) {
		_, _, err := d.publish(d.password, "--server", "127.0.0.1")
		if err == nil || !strings.Contains(err.Error(), "not trusted") || !strings.Contains(err.Error(), "--server") {
			t.Fatalf("err = %v, want a certificate name error naming --server", err)
		}
	})
	t.Run("missing OU creates nothing", func(t *testing.T) {
		_, _, err := d.publish(d.password, "--ou", "OU=Missing,DC=contoso,DC=local")
		if err == nil || !strings.Contains(err.Error(), "does not exist") {
			t.Fatalf("err = %v, want OU does not exist", err)
		}
		if out := d.mustSambaTool("gpo", "listall"); strings.Contains(out, name) {
			t.Fatalf("a missing OU still created the GPO:\n%s", out)
		}
	})
	t.Run("access denied says what the account needs", func(t *testing.T) {
		d.mustSambaTool("user", "create", "bob", "Bob-Passw0rd!Bob")
		_, _, err := d.publish("Bob-Passw0rd!Bob", "--username", "bob@contoso.local")
		if err == nil || !strings.Contains(err.Error(), "access denied") || !strings.Contains(err.Error(), "create GPOs") {
			t.Fatalf("err = %v, want access denied with the rights needed", err)
		}
		if out := d.mustSambaTool("gpo", "listall"); strings.Contains(out, name) {
			t.Fatalf("an unprivileged account created the GPO:\n%s", out)
		}
	})
	t.Run("dry run writes nothing", func(t *testing.T) {
		res, _, err := d.publish(d.password, "--dry-run", "--idle", "2h")
		if err != nil {
			t.Fatal(err)
		}
		if !res.DryRun || len(res.Changes) == 0 || res.VersionAfter != 1 {
			t.Fatalf("dry run result %+v, want changes and version 0 -> 1", res)
		}
		if out := d.mustSambaTool("gpo", "listall"); strings.Contains(out, name) {
			t.Fatalf("--dry-run created the GPO:\n%s", out)
		}
	})

	// The first publish: no --server, so the DC comes from DNS SRV.
	res, _, err := d.publish(d.password, "--idle", "2h")
	if err != nil {
		t.Fatalf("first publish: %v", err)
	}
	if !res.Created || res.VersionAfter != 1 {
		t.Fatalf("first publish %+v, want created at version 1", res)
	}
	if !strings.EqualFold(res.Server, d.host) {
		t.Errorf("published on %q, want the PDC emulator %s", res.Server, d.host)
	}
	guid, gpoDN := res.GPO, res.DN
	polDir := d.domain + "/Policies/" + guid

	check := func(t *testing.T, version, idle, idleMS string) {
		listall := d.mustSambaTool("gpo", "listall")
		if v := gpoVersion(t, listall, name); v != version {
			t.Errorf("listall version %s, want %s", v, version)
		}
		if !strings.Contains(listall, "GPO_FLAG_USER_DISABLE") {
			t.Errorf("user half not disabled:\n%s", listall)
		}
		links := d.mustSambaTool("gpo", "getlink", "OU=AVD,DC=contoso,DC=local")
		if !strings.Contains(links, guid) || !strings.Contains(links, other) {
			t.Errorf("getlink lacks %s or the other GPO %s:\n%s", guid, other, links)
		}
		d.aclConsistent(t)
		// GPT.INI and registry.pol carry the folder's inheritable ACEs, so
		// every host (Authenticated Users) can read them (smbcacls).
		folder := d.acl(polDir, true)
		for _, f := range []string{"GPT.INI", "Machine/registry.pol"} {
			file := d.acl(polDir+"/"+f, false)
			for ace := range folder {
				if !file[ace] {
					t.Errorf("%s lacks the folder's inheritable ACE %s (has %v)", f, ace, file)
				}
			}
		}
		ini := d.smbGet(polDir + "/GPT.INI")
		if !bytes.Contains(ini, []byte("Version="+version+"\r\n")) {
			t.Errorf("GPT.INI %q, want Version=%s", ini, version)
		}
		if v := d.ldapAttr(gpoDN, "versionNumber"); v != version {
			t.Errorf("versionNumber %s, want %s (GPT.INI and LDAP must agree)", v, version)
		}
		if v := d.ldapAttr(gpoDN, "gPCMachineExtensionNames"); !strings.Contains(v, "[{35378EAC-683F-11D2-A89A-00C04FBBCFA2}{D02B1F72-3407-48AE-BA88-E8213C6761F1}]") {
			t.Errorf("gPCMachineExtensionNames %q lacks the registry CSE", v)
		}
		if v := d.ldapAttr(gpoDN, "gPCFunctionalityVersion"); v != "2" {
			t.Errorf("gPCFunctionalityVersion %q", v)
		}
		for _, half := range []string{"Machine", "User"} {
			if v := d.ldapAttr("CN="+half+","+gpoDN, "objectClass"); v == "" {
				t.Errorf("no CN=%s below the GPO", half)
			}
		}
		// samba-tool gpo backup parses registry.pol into XML.
		bk := t.TempDir()
		d.mustSambaTool("gpo", "backup", guid, "--tmpdir", bk)
		polXML, err := os.ReadFile(filepath.Join(bk, "policy", guid, "Machine", "registry.pol.xml"))
		if err != nil {
			t.Fatalf("gpo backup did not parse registry.pol: %v", err)
		}
		if !regexp.MustCompile(`(?s)<ValueName>MaxIdleTime</ValueName>\s*<Value>` + idleMS + `</Value>`).Match(polXML) {
			t.Errorf("registry.pol.xml lacks MaxIdleTime=%s:\n%s", idleMS, polXML)
		}
		// Byte for byte what `avdgen gpo` puts in its backup for the same spec.
		for name, want := range d.bundleGPOFiles("--idle", idle) {
			if got := d.smbGet(polDir + "/" + name); !bytes.Equal(got, want) {
				t.Errorf("SYSVOL %s differs from the bundle's (%d vs %d bytes)", name, len(got), len(want))
			}
		}
		// The agents in SYSVOL are ours, and SHA256SUMS says so.
		sums := string(d.smbGet(d.domain + "/scripts/avdgen/SHA256SUMS"))
		for _, a := range dist.Arches {
			local, _ := os.ReadFile(filepath.Join(d.agentDir, dist.FileName(a)))
			source := d.source(a)
			remote := d.smbGet(d.domain + "/scripts/avdgen/" + source)
			want := sha256.Sum256(local)
			if got := sha256.Sum256(remote); got != want {
				t.Errorf("SYSVOL %s has sha256 %x, want %x", source, got, want)
			}
			if !strings.Contains(sums, hex.EncodeToString(want[:])+"  "+source) {
				t.Errorf("SHA256SUMS lacks %s:\n%s", source, sums)
			}
		}
	}
	t.Run("published GPO reads back with Samba's tools", func(t *testing.T) { check(t, "1", "2h", "7200000") })

	t.Run("rerun with the same spec writes nothing", func(t *testing.T) {
		before := d.snapshot(gpoDN)
		// DOMAIN\user this time, the other name form for LDAP and SMB, and
		// StartTLS on 389 instead of LDAPS.
		res, _, err := d.publish(d.password, "--idle", "2h", "--username", `CONTOSO\Administrator`, "--server", d.host+":389")
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Changes) != 0 || res.VersionAfter != 1 {
			t.Fatalf("rerun changed %+v", res)
		}
		if after := d.snapshot(gpoDN); after != before {
			t.Fatalf("rerun wrote something:\nbefore:\n%s\nafter:\n%s", before, after)
		}
	})
	t.Run("changed limit bumps the version once", func(t *testing.T) {
		res, _, err := d.publish(d.password, "--idle", "3h")
		if err != nil {
			t.Fatal(err)
		}
		if res.VersionBefore != 1 || res.VersionAfter != 2 {
			t.Fatalf("version %d -> %d, want 1 -> 2", res.VersionBefore, res.VersionAfter)
		}
		for _, c := range res.Changes {
			if c.Kind == "payload" || c.Kind == "link" || c.Kind == "gpo" {
				t.Errorf("a changed limit also changed %s %s", c.Kind, c.Target)
			}
		}
		check(t, "2", "3h", "10800000")
		again, _, err := d.publish(d.password, "--idle", "3h")
		if err != nil {
			t.Fatal(err)
		}
		if len(again.Changes) != 0 || again.VersionAfter != 2 {
			t.Fatalf("second run with the new limit changed %+v", again)
		}
	})
	t.Run("adopts the GPO after a restore under another GUID", func(t *testing.T) {
		// What Import-AvdGpo.ps1 does on Windows (Import-GPO into a new GPO),
		// done by Samba: back the GPO up, delete it, restore it as a new one.
		bk := t.TempDir()
		d.mustSambaTool("gpo", "backup", guid, "--tmpdir", bk)
		d.mustSambaTool("gpo", "dellink", "OU=AVD,DC=contoso,DC=local", guid)
		d.mustSambaTool("gpo", "del", guid)
		out := d.mustSambaTool("gpo", "restore", name, filepath.Join(bk, "policy", guid), "--tmpdir", t.TempDir())
		restored := regexp.MustCompile(`\{[0-9A-F-]+\}`).FindString(out)
		if restored == "" || restored == guid {
			t.Fatalf("restore made no new GPO:\n%s", out)
		}
		res, _, err := d.publish(d.password, "--idle", "3h")
		if err != nil {
			t.Fatal(err)
		}
		if v := d.ldapAttr(res.DN, "versionNumber"); v == "0" {
			t.Errorf("the adopted GPO kept machine version 0: clients would skip it")
		}
		if res.Created || res.GPO != restored {
			t.Fatalf("publish after restore: created %v, GPO %s; want the restored %s adopted", res.Created, res.GPO, restored)
		}
		if links := d.mustSambaTool("gpo", "getlink", "OU=AVD,DC=contoso,DC=local"); !strings.Contains(links, restored) || !strings.Contains(links, other) {
			t.Errorf("getlink after adoption:\n%s", links)
		}
		d.aclConsistent(t)
		if again, _, err := d.publish(d.password, "--idle", "3h"); err != nil || again.Changed() {
			t.Fatalf("rerun after adoption: %v %+v", err, again)
		}
		guid, gpoDN = restored, res.DN
	})
	t.Run("diff shows drift", func(t *testing.T) {
		before := d.ldapAttr(gpoDN, "versionNumber")
		var out bytes.Buffer
		f := &cmdutil.Factory{IO: &cmdutil.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &out},
			Getenv: func(k string) string { return map[string]string{PasswordEnv: d.password}[k] }}
		cmd := NewCmdGPO(f, nil)
		cmd.SetArgs([]string{"diff", "--domain", d.domain, "--host-pool", "hp-e2e", "--disconnected", "15m", "--ou", "OU=AVD,DC=contoso,DC=local",
			"--username", d.user, "--ca-file", d.ca, "--agent-dir", d.agentDir, "--idle", "6h"})
		// Drift: exit 1 (SilentError) after printing it.
		if err := cmd.Execute(); !errors.Is(err, cmdutil.SilentError) {
			t.Fatalf("diff of a drifted GPO: %v, want SilentError (exit 1)", err)
		}
		n, _ := strconv.Atoi(before)
		if !strings.Contains(out.String(), "MaxIdleTime = REG_DWORD 21600000") || !strings.Contains(out.String(), fmt.Sprintf("version %d -> %d", n, n+1)) {
			t.Fatalf("diff output (versionNumber %s):\n%s", before, out.String())
		}
		if v := d.ldapAttr(gpoDN, "versionNumber"); v != before {
			t.Fatalf("diff changed versionNumber from %s to %s", before, v)
		}
	})
}
