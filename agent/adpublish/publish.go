// Package adpublish publishes avdgen's GPO into Active Directory and SYSVOL
// as GPMC would: it finds the pool's GPO (display name plus avdgen's GUID)
// or creates it, writes only the files whose bytes differ, bumps the
// machine version once when anything in the GPO changed, copies the agents
// to SYSVOL\scripts\avdgen and links the GPO to an OU. A rerun with the
// same spec writes nothing. Admin-side: not imported by cmd/avd-agent.
package adpublish

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"strconv"
	"strings"
)

// Change is one difference between the live GPO and the spec.
type Change struct {
	// Kind: gpo, attribute, file, acl, version, payload, link.
	Kind   string `json:"kind"`
	Target string `json:"target"`
	Old    string `json:"old,omitempty"`
	New    string `json:"new,omitempty"`
	// Diff is a line diff for text files, or registry.pol entries.
	Diff string `json:"diff,omitempty"`
}

// Result is what Publish found and did.
type Result struct {
	Server        string   `json:"server,omitempty"`
	GPO           string   `json:"gpo"`
	DisplayName   string   `json:"displayName"`
	DN            string   `json:"dn"`
	Created       bool     `json:"created"`
	DryRun        bool     `json:"dryRun"`
	VersionBefore uint32   `json:"versionBefore"`
	VersionAfter  uint32   `json:"versionAfter"`
	Changes       []Change `json:"changes"`
	LDAPOps       int      `json:"ldapOperations"`
	SMBOps        int      `json:"smbOperations"`
}

// Changed reports whether anything differs (or was changed).
func (r *Result) Changed() bool { return len(r.Changes) > 0 }

// GPO attribute values avdgen sets.
const (
	functionalityVersion = "2"
	flagsUserDisabled    = "1" // GPO options: user configuration disabled
)

// Publish makes the live GPO match t. With dryRun it only reads and
// returns the changes it would make.
func Publish(dir Directory, share Share, t Target, dryRun bool) (*Result, error) {
	cd := &countingDirectory{Directory: dir}
	cs := &countingShare{Share: share}
	p := &publisher{dir: cd, share: cs, t: t, res: &Result{GPO: t.GUID, DisplayName: t.DisplayName, DryRun: dryRun, Changes: []Change{}}}
	err := p.run(dryRun)
	p.res.LDAPOps, p.res.SMBOps = cd.n, cs.n
	return p.res, err
}

type publisher struct {
	dir   Directory
	share Share
	t     Target
	res   *Result

	base, policies, dn string
	guid               string // the live GPO's GUID: t.GUID unless adopted
	gpoDir             string // share-relative SYSVOL folder of the GPO
	live               *Entry // the GPO in LDAP; nil when it does not exist
	ou                 *Entry
	gptINI             []byte // nil when missing
	fileChanges        []File
	attrMods           []Mod
	aclWanted          []byte // the folder ACL to set; nil when it matches
	folderMissing      bool
	payloadChanges     []File
	newGPLink          string
	contentChanged     bool
	made               map[string]bool
}

func (p *publisher) add(c Change) { p.res.Changes = append(p.res.Changes, c) }

func (p *publisher) run(dryRun bool) error {
	if err := p.read(); err != nil {
		return err
	}
	if dryRun || !p.res.Changed() {
		p.res.VersionAfter = p.res.VersionBefore
		if dryRun && p.contentChanged {
			p.res.VersionAfter = bump(p.res.VersionBefore)
		}
		return nil
	}
	return p.apply()
}

// bump raises the machine half (low 16 bits) of a GPO version by one,
// keeping the user half; after 65535 it wraps to 1, never to 0 (which
// clients read as "no computer settings").
func bump(v uint32) uint32 {
	m := (v + 1) & 0xFFFF
	if m == 0 {
		m = 1
	}
	return v&0xFFFF0000 | m
}

func domainOfDN(dn string) string {
	var labels []string
	for _, rdn := range strings.Split(dn, ",") {
		if k, v, ok := strings.Cut(strings.TrimSpace(rdn), "="); ok && strings.EqualFold(k, "DC") {
			labels = append(labels, v)
		}
	}
	return strings.ToLower(strings.Join(labels, "."))
}

var gpoAttrs = []string{"cn", "displayName", "gPCFileSysPath", "gPCFunctionalityVersion", "flags", "versionNumber",
	"gPCMachineExtensionNames", "nTSecurityDescriptor"}

// read finds everything that differs; it never writes.
func (p *publisher) read() error {
	t := p.t
	root, err := p.dir.Read("", "defaultNamingContext")
	if err != nil {
		return fmt.Errorf("reading the rootDSE: %w", err)
	}
	p.base = root.Get("defaultNamingContext")
	if got := domainOfDN(p.base); !strings.EqualFold(got, t.Domain) {
		return fmt.Errorf("the domain controller serves %s (%s), but the spec's domain is %s: pass --server with a DC of %s", got, p.base, t.Domain, t.Domain)
	}
	if !strings.HasSuffix(strings.ToLower(t.OU), ","+strings.ToLower(p.base)) {
		return fmt.Errorf("--ou %q is not in the domain %s (%s)", t.OU, t.Domain, p.base)
	}
	p.ou, err = p.dir.Read(t.OU, "gPLink")
	if errors.Is(err, ErrNoSuchObject) {
		return fmt.Errorf("--ou %q does not exist: create the OU (or fix the name) and run again; nothing was changed", t.OU)
	}
	if err != nil {
		return fmt.Errorf("reading --ou %q: %w", t.OU, advice(err))
	}
	p.policies = "CN=Policies,CN=System," + p.base
	gpos, err := p.dir.Children(p.policies, "groupPolicyContainer",
		[]Attr{{"cn", []string{t.GUID}}, {"displayName", []string{t.DisplayName}}}, gpoAttrs...)
	if err != nil {
		return fmt.Errorf("listing GPOs: %w", advice(err))
	}
	p.guid = t.GUID
	var sameName []*Entry
	for i := range gpos {
		g := &gpos[i]
		if strings.EqualFold(g.Get("cn"), t.GUID) {
			p.live = g
		} else if strings.EqualFold(g.Get("displayName"), t.DisplayName) {
			sameName = append(sameName, g)
		}
	}
	if p.live == nil && len(sameName) > 0 {
		if err := p.adopt(sameName); err != nil {
			return err
		}
	}
	p.dn = "CN=" + p.guid + "," + p.policies
	p.res.GPO, p.res.DN = p.guid, p.dn
	p.gpoDir = t.Domain + "/Policies/" + p.guid
	if p.live == nil {
		p.add(Change{Kind: "gpo", Target: p.dn, New: "create " + strconv.Quote(t.DisplayName)})
		p.contentChanged = true
		p.folderMissing = true
	} else {
		if err := p.readLive(); err != nil {
			return err
		}
	}
	if err := p.readFiles(); err != nil {
		return err
	}
	if err := p.readPayload(); err != nil {
		return err
	}
	p.readLink()
	if p.contentChanged {
		p.add(Change{Kind: "version", Target: "versionNumber and GPT.INI",
			Old: strconv.FormatUint(uint64(p.res.VersionBefore), 10), New: strconv.FormatUint(uint64(bump(p.res.VersionBefore)), 10)})
	}
	return nil
}

// preferenceUID finds the uid="{...}" of preference items.
var preferenceUID = regexp.MustCompile(`uid="(\{[0-9A-Fa-f-]+\})"`)

// adopt takes over a GPO with the spec's display name but another GUID
// when it carries avdgen's marker: a preference item with one of the
// bundle's deterministic uids (Import-AvdGpo.ps1's Import-GPO creates the
// GPO with a GUID of its own but keeps the files). Anything else is
// someone else's GPO and is never touched.
func (p *publisher) adopt(candidates []*Entry) error {
	for _, g := range candidates {
		cn := g.Get("cn")
		for _, f := range p.t.Files {
			uids := preferenceUID.FindAllSubmatch(f.Data, -1)
			if len(uids) == 0 {
				continue
			}
			live, err := p.share.ReadFile(p.t.Domain + "/Policies/" + cn + "/" + f.Name)
			if err != nil {
				continue
			}
			for _, u := range uids {
				if bytes.Contains(bytes.ToUpper(live), bytes.ToUpper(u[1])) {
					p.live, p.guid = g, cn
					return nil
				}
			}
		}
	}
	return fmt.Errorf("a GPO named %q already exists (%s) that avdgen did not create (avdgen's would be %s, and it holds none of avdgen's preference items): rename that GPO or set gpo.name to another name; nothing was changed",
		p.t.DisplayName, candidates[0].Get("cn"), p.t.GUID)
}

func (p *publisher) unc() string {
	return `\\` + p.t.Domain + `\SysVol\` + p.t.Domain + `\Policies\` + p.guid
}

// readLive compares the existing GPO's attributes, folder ACL and GPT.INI.
func (p *publisher) readLive() error {
	g := p.live
	v, err := parseVersion(g.Get("versionNumber"))
	if err != nil {
		return fmt.Errorf("GPO %s: %w", p.dn, err)
	}
	p.res.VersionBefore = v
	want := []Attr{
		{"displayName", []string{p.t.DisplayName}},
		{"gPCFileSysPath", []string{p.unc()}},
		{"gPCFunctionalityVersion", []string{functionalityVersion}},
		{"flags", []string{flagsUserDisabled}},
	}
	for _, a := range want {
		// gPCFileSysPath is compared without case: GPMC writes SysVol,
		// samba-tool sysvol.
		if got := g.Get(a.Name); got != a.Values[0] && !(a.Name == "gPCFileSysPath" && strings.EqualFold(got, a.Values[0])) {
			p.attrMods = append(p.attrMods, Mod{Op: ModReplace, Attr: a.Name, Values: a.Values})
			p.add(Change{Kind: "attribute", Target: a.Name, Old: got, New: a.Values[0]})
		}
	}
	if v&0xFFFF == 0 {
		// Clients skip the computer half of a GPO whose machine version is
		// 0 (a fresh or restored GPO): bump even if the files are right.
		p.contentChanged = true
		p.add(Change{Kind: "attribute", Target: "versionNumber", Old: fmt.Sprint(v), New: "machine version above 0, or clients ignore the GPO's computer settings"})
	}
	if got := g.Get("gPCMachineExtensionNames"); got != p.t.MachineExtensionNames {
		p.contentChanged = true
		p.add(Change{Kind: "attribute", Target: "gPCMachineExtensionNames", Old: got, New: p.t.MachineExtensionNames})
	}
	wantACL, err := dsToFSACL([]byte(g.Get("nTSecurityDescriptor")))
	if err != nil {
		return fmt.Errorf("GPO %s: %w (reading it needs a Domain Admin or the GPO's owner)", p.dn, err)
	}
	have, err := p.share.SecurityDescriptor(p.gpoDir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		p.folderMissing, p.contentChanged = true, true
		p.aclWanted = wantACL
		p.add(Change{Kind: "file", Target: p.gpoDir, New: "create the GPO's SYSVOL folder"})
		return nil
	case err != nil:
		return fmt.Errorf("reading the ACL of SYSVOL %s: %w", p.gpoDir, advice(err))
	case !sameACL(have, wantACL):
		p.aclWanted = wantACL
		p.add(Change{Kind: "acl", Target: p.gpoDir, Old: "differs from the GPO's security descriptor", New: "match the GPO's security descriptor"})
	}
	ini, err := p.share.ReadFile(p.gpoDir + "/GPT.INI")
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("reading GPT.INI of %s: %w", p.gpoDir, advice(err))
	}
	p.gptINI = ini
	if iv, ok := iniVersion(ini); !ok || iv != v {
		// Out of step: bump past both numbers, so no client that saw either
		// one takes the new content for old.
		if ok && iv > v {
			p.res.VersionBefore = iv
		}
		p.contentChanged = true
		p.add(Change{Kind: "file", Target: "GPT.INI", Old: fmt.Sprintf("Version=%s (versionNumber in LDAP is %d)", iniVersionText(ini), v),
			New: fmt.Sprintf("Version=%d", bump(p.res.VersionBefore))})
	}
	return nil
}

var iniVersionRE = regexp.MustCompile(`(?mi)^Version=(\d+)\r?$`)

func iniVersion(ini []byte) (uint32, bool) {
	m := iniVersionRE.FindSubmatch(ini)
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseUint(string(m[1]), 10, 32)
	return uint32(v), err == nil
}

func iniVersionText(ini []byte) string {
	if ini == nil {
		return "(no GPT.INI)"
	}
	if m := iniVersionRE.FindSubmatch(ini); m != nil {
		return string(m[1])
	}
	return "(none)"
}

// withVersion returns GPT.INI with Version=v, keeping any other lines.
func withVersion(ini []byte, v uint32) []byte {
	line := []byte("Version=" + strconv.FormatUint(uint64(v), 10))
	if iniVersionRE.Match(ini) {
		return iniVersionRE.ReplaceAllFunc(ini, func(m []byte) []byte {
			if bytes.HasSuffix(m, []byte("\r")) {
				return append(bytes.Clone(line), '\r')
			}
			return line
		})
	}
	if len(bytes.TrimSpace(ini)) == 0 {
		return []byte("[General]\r\n" + string(line) + "\r\n")
	}
	return append(bytes.TrimRight(ini, "\r\n"), append([]byte("\r\n"), append(line, '\r', '\n')...)...)
}

func (p *publisher) readFiles() error {
	for _, f := range p.t.Files {
		var have []byte
		if !p.folderMissing {
			b, err := p.share.ReadFile(p.gpoDir + "/" + f.Name)
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("reading %s/%s: %w", p.gpoDir, f.Name, advice(err))
			}
			have = b
			if err == nil && bytes.Equal(b, f.Data) {
				continue
			}
		}
		p.fileChanges = append(p.fileChanges, f)
		p.contentChanged = true
		c := Change{Kind: "file", Target: f.Name, New: fmt.Sprintf("%d bytes", len(f.Data)), Diff: fileDiff(f.Name, have, f.Data)}
		if have != nil {
			c.Old = fmt.Sprintf("%d bytes", len(have))
		}
		p.add(c)
	}
	return nil
}

func (p *publisher) scriptsDir() string { return p.t.Domain + "/scripts/avdgen" }

func (p *publisher) readPayload() error {
	for _, f := range p.t.Payload {
		name := p.scriptsDir() + "/" + f.Name
		var have, want string
		var err error
		if f.Open != nil {
			want = f.SHA256
			have, err = p.share.SHA256(name)
		} else {
			want = sha256Hex(f.Data)
			var b []byte
			if b, err = p.share.ReadFile(name); err == nil {
				have = sha256Hex(b)
			}
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("reading SYSVOL %s: %w", name, advice(err))
		}
		if have == want {
			continue
		}
		p.payloadChanges = append(p.payloadChanges, f)
		p.add(Change{Kind: "payload", Target: `scripts\avdgen\` + f.Name, Old: shortSum(have), New: "sha256 " + want})
	}
	return nil
}

func shortSum(s string) string {
	if s == "" {
		return ""
	}
	return "sha256 " + s
}

// gPLink is a list of [LDAP://<GPO DN>;<options>]; the last link has the
// highest precedence, so a new link goes first (lowest precedence), as GPMC
// adds it. Other links are kept as they are.
var linkRE = regexp.MustCompile(`(?i)\[LDAP://([^;\]]*);(\d+)\]`)

func (p *publisher) readLink() {
	old := p.ou.Get("gPLink")
	for _, m := range linkRE.FindAllStringSubmatch(old, -1) {
		if strings.EqualFold(m[1], p.dn) || strings.HasPrefix(strings.ToUpper(m[1]), "CN="+strings.ToUpper(p.guid)+",") {
			return
		}
	}
	p.newGPLink = "[LDAP://" + p.dn + ";0]" + old
	p.add(Change{Kind: "link", Target: p.t.OU, Old: old, New: p.newGPLink})
}

// advice turns access denied into what to ask for.
func advice(err error) error {
	if errors.Is(err, ErrConflict) {
		return fmt.Errorf("%w: someone else changed the GPO or the OU while publishing; run it again (it picks up from what is there)", err)
	}
	if errors.Is(err, ErrAccessDenied) {
		return fmt.Errorf("%w: the account needs to create GPOs (Group Policy Creator Owners, or edit rights on the GPO), link GPOs on the OU, and write SYSVOL\\<domain>\\Policies and \\scripts (docs/gpo.md)", err)
	}
	return err
}

// apply writes, in an order that keeps every intermediate state usable:
// GPO object and folder, agents, GPO files, version, then the link.
func (p *publisher) apply() error {
	if p.live == nil {
		if err := p.create(); err != nil {
			return err
		}
	} else if p.folderMissing || p.aclWanted != nil {
		if err := p.ensureFolder(p.aclWanted); err != nil {
			return err
		}
	}
	if len(p.payloadChanges) > 0 {
		if err := p.mkdirAll(p.scriptsDir()); err != nil {
			return err
		}
		for _, f := range p.payloadChanges {
			if err := p.writeAtomically(p.scriptsDir()+"/"+f.Name, f); err != nil {
				return err
			}
		}
	}
	for _, f := range p.fileChanges {
		if err := p.mkdirAll(path.Dir(p.gpoDir + "/" + f.Name)); err != nil {
			return err
		}
		if err := p.writeAtomically(p.gpoDir+"/"+f.Name, f); err != nil {
			return err
		}
	}
	mods := p.attrMods
	p.res.VersionAfter = p.res.VersionBefore
	if p.contentChanged {
		next := bump(p.res.VersionBefore)
		ini := withVersion(p.gptINI, next)
		if err := p.writeAtomically(p.gpoDir+"/GPT.INI", File{Name: "GPT.INI", Data: ini}); err != nil {
			return err
		}
		mods = append(mods, versionMods(p.live, next)...)
		mods = append(mods, Mod{Op: ModReplace, Attr: "gPCMachineExtensionNames", Values: []string{p.t.MachineExtensionNames}})
		p.res.VersionAfter = next
	}
	if len(mods) > 0 {
		if err := p.dir.Modify(p.dn, mods); err != nil {
			return fmt.Errorf("updating GPO %s: %w", p.dn, advice(err))
		}
	}
	if p.newGPLink != "" {
		old := p.ou.Get("gPLink")
		mods := []Mod{{Op: ModAdd, Attr: "gPLink", Values: []string{p.newGPLink}}}
		if old != "" {
			mods = append([]Mod{{Op: ModDelete, Attr: "gPLink", Values: []string{old}}}, mods...)
		}
		if err := p.dir.Modify(p.t.OU, mods); err != nil {
			return fmt.Errorf("linking the GPO to %s: %w", p.t.OU, advice(err))
		}
	}
	return nil
}

// versionMods sets versionNumber as a compare-and-swap: delete the value
// read (or the 0 a new GPO was created with), add the new one; a
// concurrent bump makes the modify fail instead of being lost.
func versionMods(live *Entry, next uint32) []Mod {
	add := Mod{Op: ModAdd, Attr: "versionNumber", Values: []string{strconv.FormatUint(uint64(next), 10)}}
	old := "0"
	if live != nil {
		if !live.Has("versionNumber") {
			return []Mod{add}
		}
		old = live.Get("versionNumber")
	}
	return []Mod{{Op: ModDelete, Attr: "versionNumber", Values: []string{old}}, add}
}

// create adds the groupPolicyContainer with its Machine and User
// containers, then the SYSVOL folder with the matching ACL and GPT.INI.
func (p *publisher) create() error {
	err := p.dir.Add(p.dn, []Attr{
		{"objectClass", []string{"groupPolicyContainer"}},
		{"displayName", []string{p.t.DisplayName}},
		{"gPCFileSysPath", []string{p.unc()}},
		{"gPCFunctionalityVersion", []string{functionalityVersion}},
		{"flags", []string{flagsUserDisabled}},
		{"versionNumber", []string{"0"}},
	})
	if err != nil {
		return fmt.Errorf("creating the GPO: %w", advice(err))
	}
	p.res.Created = true
	for _, half := range []string{"Machine", "User"} {
		if err := p.dir.Add("CN="+half+","+p.dn, []Attr{{"objectClass", []string{"container"}}}); err != nil {
			return fmt.Errorf("creating the GPO's %s container: %w", half, advice(err))
		}
	}
	g, err := p.dir.Read(p.dn, "nTSecurityDescriptor")
	if err != nil {
		return fmt.Errorf("reading the new GPO's security descriptor: %w", advice(err))
	}
	acl, err := dsToFSACL([]byte(g.Get("nTSecurityDescriptor")))
	if err != nil {
		return err
	}
	p.folderMissing = true
	return p.ensureFolder(acl)
}

// ensureFolder creates the GPO folder (with Machine, User and GPT.INI when
// it is new) and sets its ACL; files inherit it.
func (p *publisher) ensureFolder(acl []byte) error {
	if p.folderMissing {
		if err := p.mkdirAll(p.gpoDir); err != nil {
			return err
		}
	}
	if acl != nil {
		if err := p.share.SetSecurityDescriptor(p.gpoDir, acl); err != nil {
			return fmt.Errorf("setting the ACL of SYSVOL %s: %w", p.gpoDir, advice(err))
		}
	}
	if p.folderMissing {
		for _, d := range []string{"Machine", "User"} {
			if err := p.mkdirAll(p.gpoDir + "/" + d); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *publisher) mkdirAll(dir string) error {
	parts := strings.Split(dir, "/")
	// <domain> and <domain>/Policies or /scripts exist on every DC.
	for i := 3; i <= len(parts); i++ {
		d := strings.Join(parts[:i], "/")
		if p.made[d] {
			continue
		}
		if err := p.share.Mkdir(d); err != nil {
			return fmt.Errorf("creating SYSVOL folder %s: %w", d, advice(err))
		}
		if p.made == nil {
			p.made = map[string]bool{}
		}
		p.made[d] = true
	}
	return nil
}

// writeAtomically writes to a temporary name and renames it over the
// target, so a host never copies a half-written file.
func (p *publisher) writeAtomically(name string, f File) error {
	tmp := path.Dir(name) + "/.avdgen-tmp-" + path.Base(name)
	r, err := f.reader()
	if err != nil {
		return err
	}
	err = p.share.WriteFile(tmp, r)
	r.Close()
	if err != nil {
		return fmt.Errorf("writing SYSVOL %s: %w", tmp, advice(err))
	}
	if err := p.share.Rename(tmp, name); err != nil {
		p.share.Remove(tmp)
		return fmt.Errorf("renaming SYSVOL %s to %s: %w", tmp, path.Base(name), advice(err))
	}
	return nil
}
