package gpocmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/avdgen/avdgen/cmd/avdgen/app/cmdutil"
	"github.com/avdgen/avdgen/dist"
	"github.com/avdgen/avdgen/fleet/adpublish"
	"github.com/avdgen/avdgen/internal/testpe"
)

// Issue 16 end to end on the Samba DC: what admins do to a published GPO
// (disable, rename, edit meanwhile), diff's exit codes, a delegated and
// an unprivileged account, a Windows-shaped folder ACL, an agent upgrade
// whose new source has not reached the DC, and unpublish.

// ldapModify applies LDIF as the administrator over verified LDAPS.
func (d *dc) ldapModify(ldif string) {
	d.t.Helper()
	cmd := exec.Command("ldapmodify", "-H", "ldaps://"+d.host, "-x", "-D", d.user, "-w", d.password)
	cmd.Env = append(os.Environ(), "LDAPTLS_CACERT="+d.ca)
	cmd.Stdin = strings.NewReader(ldif)
	if out, err := cmd.CombinedOutput(); err != nil {
		d.t.Fatalf("ldapmodify: %v\n%s\n%s", err, out, ldif)
	}
}

// run runs `avdgen gpo ARGS` and returns the exit code app.Main gives
// its error (app imports gpocmd, so the mapping is restated here: nil 0,
// SilentError 1, usage 2, else 1).
func (d *dc) run(password string, args ...string) (int, string) {
	var out bytes.Buffer
	env := map[string]string{PasswordEnv: password}
	f := &cmdutil.Factory{IO: &cmdutil.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &out},
		Getenv: func(k string) string { return env[k] }, Agents: dist.Embedded}
	cmd := NewCmdGPO(f, nil)
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SilenceUsage = true
	err := cmd.Execute()
	if err != nil {
		fmt.Fprintf(&out, "avdgen: %v\n", err)
	}
	switch {
	case err == nil:
		return cmdutil.ExitOK, out.String()
	case errors.Is(err, cmdutil.SilentError):
		return cmdutil.ExitFailure, out.String()
	case cmdutil.IsUsage(err):
		return cmdutil.ExitUsage, out.String()
	}
	return cmdutil.ExitFailure, out.String()
}

func (d *dc) common(pool string) []string {
	return []string{"--domain", d.domain, "--host-pool", pool, "--disconnected", "15m", "--ou", "OU=AVD,DC=contoso,DC=local",
		"--username", d.user, "--ca-file", d.ca, "--agent-dir", d.agentDir}
}

// sid returns an account's SID as S-1-5-21-...
func (d *dc) sid(account string) string {
	d.t.Helper()
	out := d.mustSambaTool("user", "show", account, "--attributes=objectSid")
	m := regexp.MustCompile(`objectSid: (S-[0-9-]+)`).FindStringSubmatch(out)
	if m == nil {
		d.t.Fatalf("no objectSid for %s:\n%s", account, out)
	}
	return m[1]
}

func (d *dc) smbcacls(args ...string) string {
	d.t.Helper()
	out, err := exec.Command("smbcacls", append([]string{"//" + d.host + "/sysvol"}, append(args, "-U", "Administrator%"+d.password, "-s", d.smbcnf)...)...).CombinedOutput()
	if err != nil {
		d.t.Fatalf("smbcacls %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// gpmcSaves bumps the GPO's version in AD as GPT.INI is renamed into
// place: GPMC saving between publish's version check and its
// compare-and-swap.
type gpmcSaves struct {
	adpublish.Share
	d    *dc
	dn   string
	done bool
}

func (g *gpmcSaves) Rename(o, n string) error {
	if strings.HasSuffix(n, "/GPT.INI") && !g.done {
		g.done = true
		v := g.d.ldapAttr(g.dn, "versionNumber")
		g.d.ldapModify(fmt.Sprintf("dn: %s\nchangetype: modify\ndelete: versionNumber\nversionNumber: %s\n-\nadd: versionNumber\nversionNumber: 7\n", g.dn, v))
	}
	return g.Share.Rename(o, n)
}

func TestRealDomainAgainstSambaDC(t *testing.T) {
	if !insideDC(t, "-test.run", "TestRealDomainAgainstSambaDC") {
		return
	}
	d := newDC(t)
	const ou = "OU=AVD,DC=contoso,DC=local"
	d.mustSambaTool("ou", "create", ou)
	d.mustSambaTool("ou", "create", "OU=Old,DC=contoso,DC=local")

	t.Run("an unprivileged account fails at the AD create", func(t *testing.T) {
		d.mustSambaTool("user", "create", "bob", "Bob-Passw0rd!Bob")
		_, _, err := d.publish("Bob-Passw0rd!Bob", "--username", "bob@contoso.local")
		if err == nil || !strings.Contains(err.Error(), "creating the GPO") || !strings.Contains(err.Error(), "access denied") || !strings.Contains(err.Error(), "Group Policy Creator Owners") {
			t.Fatalf("err = %v, want access denied at creating the GPO, naming Group Policy Creator Owners", err)
		}
	})

	t.Run("a delegated account publishes", func(t *testing.T) {
		// Group Policy Creator Owners, "Link GPOs" on the OU (write gPLink
		// and gPOptions), and write on SYSVOL\scripts (granted once).
		d.mustSambaTool("user", "create", "gpoadmin", "Gpo-Passw0rd!Gpo")
		d.mustSambaTool("group", "addmembers", "Group Policy Creator Owners", "gpoadmin")
		sid := d.sid("gpoadmin")
		// Windows' default ACL lets Group Policy Creator Owners (PA) create
		// groupPolicyContainer objects in CN=Policies; the provisioned
		// Samba DC refused the create without this grant.
		d.mustSambaTool("dsacl", "set", "--objectdn=CN=Policies,CN=System,DC=contoso,DC=local",
			"--sddl=(OA;;CC;f30e3bc2-9ff0-11d1-b603-0000f80367c1;;PA)")
		d.mustSambaTool("dsacl", "set", "--objectdn="+ou, "--sddl=(OA;;RPWP;f30e3bbe-9ff0-11d1-b603-0000f80367c1;;"+sid+")(OA;;RPWP;f30e3bbf-9ff0-11d1-b603-0000f80367c1;;"+sid+")")
		d.smbcacls(d.domain+"/scripts", "-a", "ACL:"+sid+":ALLOWED/OI|CI/FULL")
		// Policies keeps its provisioned ACL: Group Policy Creator Owners'
		// RWXD there (as on Windows) is what lets the account add the GPO's
		// folder.
		d.user = "gpoadmin@contoso.local"
		res, _, err := d.publish("Gpo-Passw0rd!Gpo", "--host-pool", "hp-delegated", "--idle", "2h")
		d.user = "Administrator@" + d.domain
		if err != nil {
			t.Fatalf("delegated publish: %v", err)
		}
		if !res.Created {
			t.Fatalf("the delegated publish did not create the GPO: %+v", res)
		}
		dir := d.domain + "/Policies/" + res.GPO
		ini := d.smbGet(dir + "/GPT.INI")
		if v := d.ldapAttr(res.DN, "versionNumber"); v == "0" || !bytes.Contains(ini, []byte("Version="+v+"\r\n")) {
			t.Errorf("GPT.INI %q and versionNumber %s differ after the delegated publish", ini, v)
		}
		if !strings.Contains(strings.ToUpper(d.ldapAttr(ou, "gPLink")), strings.ToUpper(res.GPO)) {
			t.Errorf("the delegated account did not link the GPO on %s", ou)
		}
		if _, err := os.Stat(filepath.Join(d.dir, "state", "sysvol", d.domain, "scripts", "avdgen", d.source(dist.AMD64))); err != nil {
			t.Errorf("the delegated account did not copy the agent to scripts\\avdgen: %v", err)
		}
		// The folder's DACL is the one derived from the GPO's security
		// descriptor, written by the delegated account itself.
		if acl := d.acl(dir, false); !acl[`NT AUTHORITY\Authenticated Users:ALLOWED:READ`] || !acl[`CONTOSO\gpoadmin:ALLOWED:FULL`] {
			t.Errorf("the GPO folder's DACL was not set from the GPO: %v", acl)
		}
		if all := d.mustSambaTool("gpo", "listall"); !strings.Contains(all, "avdgen - hp-delegated") {
			t.Fatalf("the delegated account did not create the GPO in AD:\n%s", all)
		}
	})

	res, _, err := d.publish(d.password, "--idle", "2h")
	if err != nil {
		t.Fatalf("first publish: %v", err)
	}
	guid, gpoDN := res.GPO, res.DN
	polDir := d.domain + "/Policies/" + guid

	t.Run("diff exits 0 when AD matches, 1 when it differs", func(t *testing.T) {
		if code, out := d.run(d.password, append([]string{"diff", "--idle", "2h"}, d.common("hp-e2e")...)...); code != 0 {
			t.Fatalf("diff of a matching GPO: exit %d\n%s", code, out)
		}
		code, out := d.run(d.password, append([]string{"diff", "--idle", "3h"}, d.common("hp-e2e")...)...)
		if code != 1 || !strings.Contains(out, "MaxIdleTime") || !strings.Contains(out, "link: "+ou+" (enabled)") || !strings.Contains(out, "security filtering: ") {
			t.Fatalf("diff of a drifted GPO: exit %d, want 1 with the change, links and filtering\n%s", code, out)
		}
		if code, out := d.run(d.password, append([]string{"diff", "--idle", "7m"}, d.common("hp-e2e")...)...); code != 2 {
			t.Fatalf("diff with a bad limit: exit %d, want 2\n%s", code, out)
		}
	})

	t.Run("a Windows-shaped folder ACL counts as consistent", func(t *testing.T) {
		// Split ACEs and generic rights as Windows writes them
		// (fleet/adpublish/testdata/sysvol-icacls-windows.txt), granting
		// what the GPO's security descriptor grants.
		d.smbcacls(polDir, "-S", strings.Join([]string{
			"REVISION:1", "OWNER:" + d.sid("Administrator"), "GROUP:S-1-5-32-544",
			"ACL:S-1-5-11:ALLOWED/0x0/0x001200a9", "ACL:S-1-5-11:ALLOWED/OI|CI|IO/0xa0000000",
			"ACL:S-1-5-9:ALLOWED/OI|CI/0x001200a9",
			"ACL:S-1-5-18:ALLOWED/0x0/FULL", "ACL:S-1-5-18:ALLOWED/OI|CI|IO/0x10000000",
			"ACL:S-1-3-0:ALLOWED/OI|CI|IO/0x10000000",
			"ACL:" + strings.TrimSuffix(d.sid("Administrator"), "-500") + "-512:ALLOWED/OI|CI/FULL",
			"ACL:" + strings.TrimSuffix(d.sid("Administrator"), "-500") + "-519:ALLOWED/OI|CI/FULL",
		}, ","))
		again, _, err := d.publish(d.password, "--idle", "2h")
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range again.Changes {
			if c.Kind == "acl" {
				t.Errorf("a Windows-shaped ACL granting the same counts as drift: %+v", c)
			}
		}
	})

	t.Run("a GPO disabled in GPMC stays disabled", func(t *testing.T) {
		d.ldapModify(fmt.Sprintf("dn: %s\nchangetype: modify\nreplace: flags\nflags: 3\n", gpoDN))
		res, _, err := d.publish(d.password, "--idle", "3h")
		if err != nil {
			t.Fatal(err)
		}
		if v := d.ldapAttr(gpoDN, "flags"); v != "3" {
			t.Fatalf("flags %s after publish, want the admin's 3", v)
		}
		if !strings.Contains(strings.Join(res.Notes, " "), "--enable") {
			t.Errorf("publish did not say the GPO is disabled: %v", res.Notes)
		}
		if _, _, err := d.publish(d.password, "--idle", "3h", "--enable"); err != nil {
			t.Fatal(err)
		}
		if v := d.ldapAttr(gpoDN, "flags"); v != "1" {
			t.Fatalf("flags %s after --enable, want 1", v)
		}
	})

	t.Run("a renamed GPO is updated in place", func(t *testing.T) {
		d.ldapModify(fmt.Sprintf("dn: %s\nchangetype: modify\nreplace: displayName\ndisplayName: AVD pool (renamed)\n", gpoDN))
		res, _, err := d.publish(d.password, "--idle", "2h")
		if err != nil {
			t.Fatal(err)
		}
		if res.Created || res.GPO != guid {
			t.Fatalf("after a rename: created %v GPO %s, want %s updated", res.Created, res.GPO, guid)
		}
		if v := d.ldapAttr(gpoDN, "displayName"); v != "AVD pool (renamed)" {
			t.Errorf("displayName %q: the rename was undone", v)
		}
		if n := strings.Count(d.mustSambaTool("gpo", "listall"), "AVD pool (renamed)"); n != 1 {
			t.Errorf("%d GPOs named like the renamed one", n)
		}
	})

	t.Run("GPMC saving meanwhile: the rerun finishes the publish", func(t *testing.T) {
		// publish through the CLI, its SYSVOL wrapped by gpmcSaves.
		env := map[string]string{PasswordEnv: d.password}
		f := &cmdutil.Factory{IO: &cmdutil.IOStreams{In: strings.NewReader(""), Out: io.Discard, ErrOut: io.Discard},
			Getenv: func(k string) string { return env[k] }, Agents: dist.Embedded}
		cmd := NewCmdPublish(f, false, func(o *PublishOptions) error {
			o.Connect = func(ctx context.Context, cfg adpublish.Config) (*adpublish.Session, error) {
				s, err := adpublish.Connect(ctx, cfg)
				if err == nil {
					s.SYSVOL = &gpmcSaves{Share: s.SYSVOL, d: d, dn: gpoDN}
				}
				return s, err
			}
			return runPublish(o)
		})
		cmd.SetArgs(append([]string{"--idle", "3h"}, d.common("hp-e2e")...))
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		if err := cmd.Execute(); !errors.Is(err, adpublish.ErrConflict) {
			t.Fatalf("publish while GPMC saves: %v, want ErrConflict", err)
		}
		res, _, err := d.publish(d.password, "--idle", "3h")
		if err != nil {
			t.Fatal(err)
		}
		if !res.Changed() || res.VersionBefore < 7 || res.VersionAfter != res.VersionBefore+1 {
			t.Fatalf("rerun after the conflict: %d changes, version %d -> %d; want it to finish past GPMC's 7", len(res.Changes), res.VersionBefore, res.VersionAfter)
		}
		ini := d.smbGet(polDir + "/GPT.INI")
		if v := d.ldapAttr(gpoDN, "versionNumber"); !bytes.Contains(ini, []byte("Version="+v+"\r\n")) {
			t.Errorf("GPT.INI %q and versionNumber %s differ", ini, v)
		}
	})

	t.Run("an agent upgrade whose new source has not reached the DC", func(t *testing.T) {
		oldSources := []string{d.source(dist.AMD64), d.source(dist.ARM64)}
		for _, a := range dist.Arches {
			if err := os.WriteFile(filepath.Join(d.agentDir, dist.FileName(a)), append(testpe.Agent(dist.Machine[a], string(a)), "v2"...), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if _, _, err := d.publish(d.password, "--idle", "3h"); err != nil {
			t.Fatal(err)
		}
		newSource := d.source(dist.AMD64)
		files := string(d.smbGet(polDir + "/Machine/Preferences/Files/Files.xml"))
		if newSource == oldSources[0] || !strings.Contains(files, `\scripts\avdgen\`+newSource+`"`) {
			t.Fatalf("Files.xml does not copy from the new versioned source %s:\n%s", newSource, files)
		}
		// A replica DFSR has not yet brought the new agent to: Files.xml
		// names a file that is not there, so a host copies nothing (it
		// cannot copy the old agent under the new name), and the previous
		// source is still there for hosts that read the old Files.xml.
		sysvol := filepath.Join(d.dir, "state", "sysvol", d.domain, "scripts", "avdgen")
		if err := os.Remove(filepath.Join(sysvol, newSource)); err != nil {
			t.Fatal(err)
		}
		for _, old := range oldSources {
			if _, err := os.Stat(filepath.Join(sysvol, old)); err != nil {
				t.Errorf("the previous source %s is gone: %v", old, err)
			}
		}
		out, err := exec.Command("smbclient", "//"+d.host+"/sysvol", "-U", "Administrator%"+d.password, "-s", d.smbcnf,
			"-c", `get "`+d.domain+`/scripts/avdgen/`+newSource+`" /dev/null`).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "NOT_FOUND") {
			t.Errorf("the missing source is readable: %v\n%s", err, out)
		}
		// Publish brings it back without a version bump.
		v := d.ldapAttr(gpoDN, "versionNumber")
		res, _, err := d.publish(d.password, "--idle", "3h")
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Changes) != 1 || res.Changes[0].Kind != "payload" || d.ldapAttr(gpoDN, "versionNumber") != v {
			t.Errorf("restoring the source: %+v, version %s -> %s", res.Changes, v, d.ldapAttr(gpoDN, "versionNumber"))
		}
	})

	t.Run("Kerberos publish with a keytab", func(t *testing.T) {
		// A real KDC ticket: Samba's KDC, Administrator's keys exported
		// into a keytab, krb5.conf naming the DC as KDC; LDAP binds with
		// GSSAPI inside TLS, SMB with Kerberos. No password anywhere.
		dir := t.TempDir()
		kt := filepath.Join(dir, "admin.keytab")
		if out, err := exec.Command("samba-tool", "domain", "exportkeytab", kt, "--principal=Administrator@CONTOSO.LOCAL", "-s", d.smbcnf).CombinedOutput(); err != nil {
			t.Fatalf("exportkeytab: %v\n%s", err, out)
		}
		conf := filepath.Join(dir, "krb5.conf")
		if err := os.WriteFile(conf, []byte("[libdefaults]\n default_realm = CONTOSO.LOCAL\n dns_lookup_kdc = false\n\n[realms]\n CONTOSO.LOCAL = {\n  kdc = "+d.host+"\n }\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		args := []string{"publish", "--auth", "kerberos", "--keytab", kt, "--krb5-conf", conf, "--json", "--idle", "2h"}
		args = append(args, d.common("hp-kerberos")...)
		code, out := d.run("", args...)
		if code != 0 || !strings.Contains(out, `"created": true`) {
			t.Fatalf("Kerberos publish: exit %d\n%s", code, out)
		}
		if all := d.mustSambaTool("gpo", "listall"); !strings.Contains(all, "avdgen - hp-kerberos") {
			t.Errorf("the Kerberos-published GPO is not listed:\n%s", all)
		}
		if code, out := d.run("", append([]string{"diff", "--auth", "kerberos", "--keytab", kt, "--krb5-conf", conf, "--idle", "2h"}, d.common("hp-kerberos")...)...); code != 0 {
			t.Errorf("diff over Kerberos after publish: exit %d\n%s", code, out)
		}
	})

	t.Run("unpublish removes what publish made, after a dry run", func(t *testing.T) {
		d.mustSambaTool("gpo", "setlink", "OU=Old,DC=contoso,DC=local", guid)
		code, out := d.run(d.password, append([]string{"unpublish"}, d.common("hp-e2e")...)...)
		if code != 0 || !strings.Contains(out, "pass --yes") || !strings.Contains(d.mustSambaTool("gpo", "listall"), guid) {
			t.Fatalf("dry run: exit %d\n%s", code, out)
		}
		code, out = d.run(d.password, append([]string{"unpublish", "--yes"}, d.common("hp-e2e")...)...)
		if code != 0 {
			t.Fatalf("unpublish --yes: exit %d\n%s", code, out)
		}
		if all := d.mustSambaTool("gpo", "listall"); strings.Contains(all, guid) {
			t.Errorf("the GPO is still listed:\n%s", all)
		}
		for _, o := range []string{ou, "OU=Old,DC=contoso,DC=local"} {
			if strings.Contains(strings.ToUpper(d.ldapAttr(o, "gPLink")), strings.ToUpper(guid)) {
				t.Errorf("%s still links the GPO", o)
			}
		}
		if _, err := os.Stat(filepath.Join(d.dir, "state", "sysvol", d.domain, "Policies", guid)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the GPO's SYSVOL folder is left: %v", err)
		}
		// Another pool's GPO (published with Kerberos) stays.
		if !strings.Contains(d.mustSambaTool("gpo", "listall"), "avdgen - hp-kerberos") {
			t.Error("unpublish removed another pool's GPO")
		}
		// Someone else's GPO with the pool's name is refused.
		d.mustSambaTool("gpo", "create", "avdgen - hp-e2e")
		if code, out := d.run(d.password, append([]string{"unpublish", "--yes"}, d.common("hp-e2e")...)...); code == 0 || !strings.Contains(out, "did not create") {
			t.Errorf("unpublish of a GPO avdgen did not create: exit %d\n%s", code, out)
		}
	})
}
