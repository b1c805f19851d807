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
	"sort"
	"strconv"
	"strings"

	"github.com/avdgen/avdgen/generator/regpol"
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

// Options say how Publish may change what it finds.
type Options struct {
	// DryRun only reads and returns the changes it would make.
	DryRun bool
	// Force overwrites settings avdgen does not own (registry values and
	// preference items an admin added to avdgen's files).
	Force bool
	// Enable clears a "computer configuration disabled" an admin set on the
	// GPO (flags 2 or 3); without it a disabled GPO stays disabled.
	Enable bool
	// CallerSID is the bound account's SID (binary). The SYSVOL folder's
	// owner is set only when the GPO's owner is the caller: Windows accepts
	// any other owner only with SeRestorePrivilege.
	CallerSID []byte
}

// Link is one gPLink entry naming the GPO.
type Link struct {
	Target   string `json:"target"`
	Enabled  bool   `json:"enabled"`
	Enforced bool   `json:"enforced"`
}

// Info is what `gpo diff` shows besides the changes: what an admin set on
// the GPO that publish leaves alone.
type Info struct {
	Flags string `json:"flags"`
	// Disabled: the computer half is disabled (flags 2 or 3): no host
	// applies the GPO's settings.
	Disabled bool   `json:"disabled"`
	Links    []Link `json:"links"`
	// SecurityFiltering lists the trustees granted Apply Group Policy.
	SecurityFiltering []string `json:"securityFiltering"`
	WMIFilter         string   `json:"wmiFilter,omitempty"`
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
	// Notes say what publish left as an admin set it (a disabled GPO, a
	// renamed one).
	Notes   []string `json:"notes,omitempty"`
	Info    *Info    `json:"info,omitempty"`
	LDAPOps int      `json:"ldapOperations"`
	SMBOps  int      `json:"smbOperations"`
}

// Changed reports whether anything differs (or was changed).
func (r *Result) Changed() bool { return len(r.Changes) > 0 }

// GPO attribute values avdgen sets.
const (
	functionalityVersion = "2"
	flagsUserDisabled    = "1" // GPO options: user configuration disabled
)

// Publish makes the live GPO match t. With opts.DryRun it only reads and
// returns the changes it would make.
func Publish(dir Directory, share Share, t Target, opts Options) (*Result, error) {
	cd := &countingDirectory{Directory: dir}
	cs := &countingShare{Share: share}
	p := &publisher{dir: cd, share: cs, t: t, opts: opts, res: &Result{GPO: t.GUID, DisplayName: t.DisplayName, DryRun: opts.DryRun, Changes: []Change{}}}
	err := p.run(opts.DryRun)
	p.res.LDAPOps, p.res.SMBOps = cd.n, cs.n
	return p.res, err
}

type publisher struct {
	dir   Directory
	share Share
	t     Target
	opts  Options
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
	propagate          bool     // the folder ACL is repaired: set its files' too
	extensionNames     string   // gPCMachineExtensionNames to set: ours merged with the live ones
	foreign            []string // settings in our files avdgen does not own
	recordWanted       bool     // write the record of the live GPO's GUID
	previousSources    []string // agent sources the live Files.xml names
	prune              []string // older agent sources to remove
	unfinished         bool     // a journal of an unfinished publish was found
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
	"gPCMachineExtensionNames", "gPCWQLFilter", "nTSecurityDescriptor"}

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
	if err := p.find(); err != nil {
		return err
	}
	p.dn = "CN=" + p.guid + "," + p.policies
	p.res.GPO, p.res.DN = p.guid, p.dn
	p.gpoDir = t.Domain + "/Policies/" + p.guid
	if p.live == nil {
		p.add(Change{Kind: "gpo", Target: p.dn, New: "create " + strconv.Quote(t.DisplayName)})
		p.contentChanged = true
		p.folderMissing = true
		p.extensionNames = t.MachineExtensionNames
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
	if p.recordWanted {
		p.add(Change{Kind: "record", Target: p.recordName(), New: p.guid})
	}
	p.readLink()
	if p.contentChanged {
		p.add(Change{Kind: "version", Target: "versionNumber and GPT.INI",
			Old: strconv.FormatUint(uint64(p.res.VersionBefore), 10), New: strconv.FormatUint(uint64(bump(p.res.VersionBefore)), 10)})
	}
	return p.readInfo()
}

// recordName is where publish records the GUID of the pool's GPO, the
// bundle's or one Import-GPO made: found again by id, not by name, even
// after an admin renames it; unpublish and pruning find every avdgen GPO of
// the domain by these records.
func (p *publisher) recordName() string { return p.scriptsDir() + "/gpo-" + p.t.GUID + ".id" }

// find looks for the pool's GPO: by the GUID recorded at an earlier
// publish, by the bundle's GUID, then by display name plus avdgen's
// marker. It never takes a GPO by its name alone.
func (p *publisher) find() error {
	t := p.t
	recorded := ""
	rec, err := p.share.ReadFile(p.recordName())
	switch {
	case err == nil:
		recorded = strings.ToUpper(strings.TrimSpace(string(rec)))
		if !guidRE.MatchString(recorded) {
			recorded = ""
		}
	case errors.Is(err, fs.ErrNotExist):
	case errors.Is(err, ErrAccessDenied):
		// The record only finds a renamed or imported GPO again; an account
		// that may not read it goes on by GUID and marker, and fails where
		// it lacks the right that matters (creating the GPO, say).
		p.note(fmt.Sprintf("cannot read SYSVOL %s (access denied): a GPO Import-GPO made and an admin renamed is not found", p.recordName()))
	default:
		return fmt.Errorf("reading SYSVOL %s: %w", p.recordName(), advice(err))
	}
	ids := []string{t.GUID}
	if recorded != "" && recorded != t.GUID {
		ids = append(ids, recorded)
	}
	gpos, err := p.dir.Children(p.policies, "groupPolicyContainer",
		[]Attr{{"cn", ids}, {"displayName", []string{t.DisplayName}}}, gpoAttrs...)
	if err != nil {
		return fmt.Errorf("listing GPOs: %w", advice(err))
	}
	p.guid = t.GUID
	var byRecord, byID *Entry
	var sameName []*Entry
	for i := range gpos {
		g := &gpos[i]
		switch cn := g.Get("cn"); {
		case recorded != "" && strings.EqualFold(cn, recorded):
			byRecord = g
		case strings.EqualFold(cn, t.GUID):
			byID = g
		case strings.EqualFold(g.Get("displayName"), t.DisplayName):
			sameName = append(sameName, g)
		}
	}
	switch {
	case byRecord != nil:
		p.live, p.guid = byRecord, byRecord.Get("cn")
	case byID != nil:
		p.live = byID
	case len(sameName) > 0:
		if err := p.adopt(sameName); err != nil {
			return err
		}
	}
	p.recordWanted = !strings.EqualFold(p.guid, recorded)
	if p.live != nil {
		if name := p.live.Get("displayName"); name != t.DisplayName {
			p.res.DisplayName = name
			p.note(fmt.Sprintf("the GPO was renamed to %q (spec: %q); the name is kept", name, t.DisplayName))
		}
	}
	return nil
}

func (p *publisher) note(s string) { p.res.Notes = append(p.res.Notes, s) }

var guidRE = regexp.MustCompile(`^\{[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}\}$`)

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

// journalName marks a publish that wrote SYSVOL but did not finish its
// version compare-and-swap in AD: a rerun that finds it bumps the version
// again, so no host keeps a mix of two writers' files under one version.
func (p *publisher) journalName() string { return p.gpoDir + "/.avdgen-publishing" }

// readLive compares the existing GPO's attributes, folder ACL and GPT.INI.
func (p *publisher) readLive() error {
	g := p.live
	v, err := parseVersion(g.Get("versionNumber"))
	if err != nil {
		return fmt.Errorf("GPO %s: %w", p.dn, err)
	}
	p.res.VersionBefore = v
	want := []Attr{
		{"gPCFileSysPath", []string{p.unc()}},
		{"gPCFunctionalityVersion", []string{functionalityVersion}},
	}
	for _, a := range want {
		// gPCFileSysPath is compared without case: GPMC writes SysVol,
		// samba-tool sysvol.
		if got := g.Get(a.Name); got != a.Values[0] && !(a.Name == "gPCFileSysPath" && strings.EqualFold(got, a.Values[0])) {
			p.attrMods = append(p.attrMods, Mod{Op: ModReplace, Attr: a.Name, Values: a.Values})
			p.add(Change{Kind: "attribute", Target: a.Name, Old: got, New: a.Values[0]})
		}
	}
	// flags belong to the admin: 2 or 3 (computer configuration disabled)
	// is GPMC's emergency stop. Only --enable turns it back on.
	flags := g.Get("flags")
	if f, err := strconv.Atoi(flags); err == nil && f&2 != 0 {
		if p.opts.Enable {
			p.attrMods = append(p.attrMods, Mod{Op: ModReplace, Attr: "flags", Values: []string{flagsUserDisabled}})
			p.add(Change{Kind: "attribute", Target: "flags", Old: flags, New: flagsUserDisabled + " (--enable: computer configuration enabled)"})
		} else {
			p.note(fmt.Sprintf("the GPO's computer configuration is disabled (flags %s): hosts apply none of its settings; it stays disabled (pass --enable to enable it)", flags))
		}
	}
	if v&0xFFFF == 0 {
		// Clients skip the computer half of a GPO whose machine version is
		// 0 (a fresh or restored GPO): bump even if the files are right.
		p.contentChanged = true
		p.add(Change{Kind: "attribute", Target: "versionNumber", Old: fmt.Sprint(v), New: "machine version above 0, or clients ignore the GPO's computer settings"})
	}
	// Other client-side extensions an admin added keep their entries, or
	// their settings stop applying.
	got := g.Get("gPCMachineExtensionNames")
	p.extensionNames = mergeExtensionNames(got, p.t.MachineExtensionNames)
	if got != p.extensionNames {
		p.contentChanged = true
		p.add(Change{Kind: "attribute", Target: "gPCMachineExtensionNames", Old: got, New: p.extensionNames})
	}
	wantACL, err := dsToFSACL([]byte(g.Get("nTSecurityDescriptor")), p.opts.CallerSID)
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
	case !sameRights(have, wantACL):
		p.aclWanted = wantACL
		p.propagate = true
		p.add(Change{Kind: "acl", Target: p.gpoDir, Old: rightsText(have), New: rightsText(wantACL) + " (folder and its files)"})
	}
	switch _, err := p.share.ReadFile(p.journalName()); {
	case err == nil:
		p.unfinished, p.contentChanged = true, true
		p.add(Change{Kind: "file", Target: ".avdgen-publishing", Old: "an earlier publish wrote SYSVOL but did not finish in AD", New: "finish it: bump the version past both writers"})
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("reading %s: %w", p.journalName(), advice(err))
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

// extBlockRE is one [{CSE}{tool}...] block of gPC*ExtensionNames.
var extBlockRE = regexp.MustCompile(`\[(\{[0-9A-Fa-f-]+\})((?:\{[0-9A-Fa-f-]+\})*)\]`)

// mergeExtensionNames keeps every CSE and tool of live and adds ours,
// sorted by CSE GUID (then tool GUID) as Group Policy requires. When live
// already has all of ours it is returned unchanged.
func mergeExtensionNames(live, ours string) string {
	tools := map[string]map[string]string{} // CSE (upper) -> tool (upper) -> spelling
	cseSpelling := map[string]string{}
	addAll := func(s string) {
		for _, m := range extBlockRE.FindAllStringSubmatch(s, -1) {
			cse := strings.ToUpper(m[1])
			if _, ok := tools[cse]; !ok {
				tools[cse] = map[string]string{}
				cseSpelling[cse] = m[1]
			}
			for _, tool := range regexp.MustCompile(`\{[^}]*\}`).FindAllString(m[2], -1) {
				if _, ok := tools[cse][strings.ToUpper(tool)]; !ok {
					tools[cse][strings.ToUpper(tool)] = tool
				}
			}
		}
	}
	addAll(live)
	before := len(tools)
	count := func() int {
		n := 0
		for _, t := range tools {
			n += len(t)
		}
		return n
	}
	toolsBefore := count()
	addAll(ours)
	if live != "" && len(tools) == before && count() == toolsBefore {
		return live
	}
	cses := make([]string, 0, len(tools))
	for c := range tools {
		cses = append(cses, c)
	}
	sort.Strings(cses)
	var b strings.Builder
	for _, c := range cses {
		b.WriteString("[" + cseSpelling[c])
		ts := make([]string, 0, len(tools[c]))
		for t := range tools[c] {
			ts = append(ts, t)
		}
		sort.Strings(ts)
		for _, t := range ts {
			b.WriteString(tools[c][t])
		}
		b.WriteString("]")
	}
	return b.String()
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
			if err == nil && path.Base(f.Name) == "Files.xml" {
				p.previousSources = sourcesIn(b)
			}
			if err == nil && bytes.Equal(b, f.Data) {
				continue
			}
		}
		if have != nil {
			for _, item := range foreignSettings(f.Name, have, f.Data) {
				p.foreign = append(p.foreign, f.Name+": "+item)
				p.add(Change{Kind: "foreign", Target: f.Name, Old: item, New: "not avdgen's: kept only if removed from the spec's files by hand; --force overwrites it"})
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

// ownedPolicyValues are the registry.pol values avdgen writes (and may
// stop writing when a limit leaves the spec); anything else in the file
// is an admin's.
var ownedPolicyValues = map[string]bool{"maxconnectiontime": true, "maxdisconnectiontime": true, "maxidletime": true, "fresetbroken": true}

// foreignSettings lists what the live file holds that avdgen neither
// writes now nor owns: registry values outside the session limits, and
// preference items whose uid is not one of the bundle's.
func foreignSettings(name string, live, ours []byte) []string {
	var out []string
	switch {
	case strings.HasSuffix(strings.ToLower(name), ".pol"):
		entries, err := regpol.Decode(live)
		if err != nil {
			return []string{fmt.Sprintf("unreadable registry.pol (%v)", err)}
		}
		for _, e := range entries {
			v := strings.ToLower(strings.TrimPrefix(e.Value, "**del."))
			if strings.EqualFold(e.Key, regpol.PolicyKey) && ownedPolicyValues[v] {
				continue
			}
			out = append(out, fmt.Sprintf("%s\\%s = %s", e.Key, e.Value, polValue(e)))
		}
	case strings.HasSuffix(strings.ToLower(name), ".xml"):
		mine := map[string]bool{}
		for _, m := range preferenceUID.FindAllSubmatch(ours, -1) {
			mine[strings.ToUpper(string(m[1]))] = true
		}
		for _, m := range preferenceItemRE.FindAllSubmatch(live, -1) {
			if !mine[strings.ToUpper(string(m[3]))] {
				out = append(out, fmt.Sprintf("preference item %s %q uid %s", m[1], m[2], m[3]))
			}
		}
	}
	return out
}

// preferenceItemRE finds a preference item's element, name and uid (GPMC
// writes the attributes in this order).
var preferenceItemRE = regexp.MustCompile(`<(\w+) clsid="[^"]*" name="([^"]*)"[^>]*? uid="(\{[0-9A-Fa-f-]+\})"`)

// fromPathRE finds the SYSVOL sources a Files.xml copies from.
var fromPathRE = regexp.MustCompile(`(?i)fromPath="[^"]*\\scripts\\avdgen\\([^"\\]+)"`)

func sourcesIn(filesXML []byte) []string {
	var out []string
	for _, m := range fromPathRE.FindAllSubmatch(filesXML, -1) {
		out = append(out, string(m[1]))
	}
	return out
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
		old := shortSum(have)
		switch {
		case errors.Is(err, ErrAccessDenied):
			// Unreadable is not a reason to stop before the GPO's own
			// checks: write it (the write fails, after the AD create, if
			// the account may not write here either).
			old = "unreadable (access denied)"
		case err != nil && !errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("reading SYSVOL %s: %w", name, advice(err))
		case have == want:
			continue
		}
		p.payloadChanges = append(p.payloadChanges, f)
		p.add(Change{Kind: "payload", Target: `scripts\avdgen\` + f.Name, Old: old, New: "sha256 " + want})
	}
	return p.readPrune()
}

// agentSourceRE matches agent sources in scripts\avdgen: versioned
// (avd-agent-<version>-<digest>-<arch>.exe) and the unversioned names of
// avdgen before it versioned them.
var agentSourceRE = regexp.MustCompile(`(?i)^avd-agent-[A-Za-z0-9._+-]*\.exe$`)

// readPrune finds agent sources no GPO needs any more: not the current
// ones, not the previous ones this GPO named (a host that has not yet
// seen the new Files.xml, or meets a DC without the new agent, still
// copies those), and none another avdgen GPO of the domain names.
func (p *publisher) readPrune() error {
	// Only at an upgrade: when the live Files.xml names other sources than
	// this publish does. Those are the previous ones and stay; a rerun
	// (say, restoring a source missing on this DC) prunes nothing.
	current := map[string]bool{}
	for _, f := range p.t.Payload {
		current[strings.ToLower(f.Name)] = true
	}
	upgrade := false
	for _, n := range p.previousSources {
		upgrade = upgrade || !current[strings.ToLower(n)]
	}
	if !upgrade {
		return nil
	}
	names, err := p.share.ReadDir(p.scriptsDir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("listing SYSVOL %s: %w", p.scriptsDir(), advice(err))
	}
	keep := map[string]bool{}
	for _, f := range p.t.Payload {
		keep[strings.ToLower(f.Name)] = true
	}
	for _, n := range p.previousSources {
		keep[strings.ToLower(n)] = true
	}
	var candidates []string
	for _, n := range names {
		if agentSourceRE.MatchString(n) && !keep[strings.ToLower(n)] {
			candidates = append(candidates, n)
		}
	}
	if len(candidates) == 0 {
		return nil
	}
	others, err := p.otherSources(names)
	if err != nil {
		return err
	}
	for _, n := range candidates {
		if others[strings.ToLower(n)] {
			continue
		}
		p.prune = append(p.prune, n)
		p.add(Change{Kind: "payload", Target: `scripts\avdgen\` + n, Old: "present", New: "remove: older than the previous agent, named by no avdgen GPO"})
	}
	return nil
}

// otherSources collects the agent sources the other avdgen GPOs of the
// domain copy (their records are gpo-*.id beside the agents; a GPO under
// the bundle's own GUID is found by the id in the record's name).
func (p *publisher) otherSources(names []string) (map[string]bool, error) {
	out := map[string]bool{}
	for _, n := range names {
		if !strings.HasPrefix(strings.ToLower(n), "gpo-") || !strings.HasSuffix(strings.ToLower(n), ".id") {
			continue
		}
		ids := []string{n[4 : len(n)-3]}
		if rec, err := p.share.ReadFile(p.scriptsDir() + "/" + n); err == nil {
			ids = append(ids, strings.TrimSpace(string(rec)))
		}
		for _, id := range ids {
			if strings.EqualFold(id, p.guid) || !guidRE.MatchString(strings.ToUpper(id)) {
				continue
			}
			b, err := p.share.ReadFile(p.t.Domain + "/Policies/" + id + "/Machine/Preferences/Files/Files.xml")
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("reading the Files.xml of avdgen GPO %s: %w", id, advice(err))
			}
			for _, s := range sourcesIn(b) {
				out[strings.ToLower(s)] = true
			}
		}
	}
	return out, nil
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

func (p *publisher) isOurs(linkDN string) bool {
	return strings.EqualFold(linkDN, p.dn) || strings.HasPrefix(strings.ToUpper(linkDN), "CN="+strings.ToUpper(p.guid)+",")
}

func (p *publisher) readLink() {
	old := p.ou.Get("gPLink")
	for _, m := range linkRE.FindAllStringSubmatch(old, -1) {
		if p.isOurs(m[1]) {
			return
		}
	}
	p.newGPLink = "[LDAP://" + p.dn + ";0]" + old
	p.add(Change{Kind: "link", Target: p.t.OU, Old: old, New: p.newGPLink})
}

// readInfo gathers what diff shows besides the changes: flags, every link
// to the GPO (enabled, enforced, on other OUs), security filtering and
// the WMI filter. Publish changes none of them.
func (p *publisher) readInfo() error {
	info := &Info{Links: []Link{}, SecurityFiltering: []string{}}
	p.res.Info = info
	if p.live == nil {
		return nil
	}
	info.Flags = p.live.Get("flags")
	if f, err := strconv.Atoi(info.Flags); err == nil && f&2 != 0 {
		info.Disabled = true
	}
	info.WMIFilter = p.live.Get("gPCWQLFilter")
	linked, err := p.dir.Search(p.base, "gPLink", p.guid, "gPLink")
	if err != nil {
		return fmt.Errorf("finding the links to %s: %w", p.guid, advice(err))
	}
	for _, e := range linked {
		for _, m := range linkRE.FindAllStringSubmatch(e.Get("gPLink"), -1) {
			if !p.isOurs(m[1]) {
				continue
			}
			opt, _ := strconv.Atoi(m[2])
			info.Links = append(info.Links, Link{Target: e.DN, Enabled: opt&1 == 0, Enforced: opt&2 != 0})
		}
	}
	sort.Slice(info.Links, func(i, j int) bool { return info.Links[i].Target < info.Links[j].Target })
	info.SecurityFiltering = applyTrustees([]byte(p.live.Get("nTSecurityDescriptor")))
	return nil
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
// a fresh check that nobody changed the GPO since read, GPO object and
// folder, agents, a journal, GPO files and GPT.INI, the version
// compare-and-swap, then the link; older agents are pruned last. A
// failure after the journal leaves it behind, and the rerun bumps the
// version again instead of reporting 0 changes over a mix of two writers.
func (p *publisher) apply() error {
	if len(p.foreign) > 0 && !p.opts.Force {
		return fmt.Errorf("the GPO holds settings avdgen does not own, which publishing would overwrite:\n  %s\nmove them to a GPO of their own (or delete them) in GPMC, or pass --force to overwrite them; nothing was changed",
			strings.Join(p.foreign, "\n  "))
	}
	if p.live != nil {
		// Check AD's version before writing any file: GPMC may have edited
		// the GPO since read; writing our files over its would mix both.
		now, err := p.dir.Read(p.dn, "versionNumber")
		if err != nil {
			return fmt.Errorf("re-reading GPO %s: %w", p.dn, advice(err))
		}
		if now.Get("versionNumber") != p.live.Get("versionNumber") {
			return fmt.Errorf("GPO %s: versionNumber is %s, was %s when publish read it: %w; nothing was written",
				p.dn, now.Get("versionNumber"), p.live.Get("versionNumber"), advice(ErrConflict))
		}
	}
	if p.live == nil {
		if err := p.create(); err != nil {
			return err
		}
	} else if p.folderMissing || p.aclWanted != nil {
		if err := p.ensureFolder(p.aclWanted); err != nil {
			return err
		}
	}
	if len(p.payloadChanges) > 0 || p.recordWanted {
		if err := p.mkdirAll(p.scriptsDir()); err != nil {
			return err
		}
	}
	for _, f := range p.payloadChanges {
		if err := p.writeAtomically(p.scriptsDir()+"/"+f.Name, f); err != nil {
			return err
		}
	}
	if p.recordWanted {
		if err := p.writeAtomically(p.recordName(), File{Name: path.Base(p.recordName()), Data: []byte(p.guid + "\r\n")}); err != nil {
			return err
		}
	}
	mods := p.attrMods
	p.res.VersionAfter = p.res.VersionBefore
	if p.contentChanged {
		next := bump(p.res.VersionBefore)
		journal := fmt.Sprintf("avdgen publish of %s: version %d -> %d\r\n", p.t.DisplayName, p.res.VersionBefore, next)
		if err := p.writeAtomically(p.journalName(), File{Name: ".avdgen-publishing", Data: []byte(journal)}); err != nil {
			return err
		}
		for _, f := range p.fileChanges {
			if err := p.mkdirAll(path.Dir(p.gpoDir + "/" + f.Name)); err != nil {
				return err
			}
			if err := p.writeAtomically(p.gpoDir+"/"+f.Name, f); err != nil {
				return err
			}
		}
		ini := withVersion(p.gptINI, next)
		if err := p.writeAtomically(p.gpoDir+"/GPT.INI", File{Name: "GPT.INI", Data: ini}); err != nil {
			return err
		}
		mods = append(mods, versionMods(p.live, next)...)
		mods = append(mods, Mod{Op: ModReplace, Attr: "gPCMachineExtensionNames", Values: []string{p.extensionNames}})
		p.res.VersionAfter = next
	}
	if len(mods) > 0 {
		if err := p.dir.Modify(p.dn, mods); err != nil {
			if errors.Is(err, ErrConflict) && p.contentChanged {
				return fmt.Errorf("updating GPO %s: %w (SYSVOL was written: the rerun finishes it with a new version, so hosts reapply one consistent GPO)", p.dn, advice(err))
			}
			return fmt.Errorf("updating GPO %s: %w", p.dn, advice(err))
		}
	}
	if p.contentChanged {
		if err := p.share.Remove(p.journalName()); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("removing SYSVOL %s: %w", p.journalName(), advice(err))
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
	for _, n := range p.prune {
		if err := p.share.Remove(p.scriptsDir() + "/" + n); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("removing the older agent SYSVOL %s/%s: %w", p.scriptsDir(), n, advice(err))
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
	acl, err := dsToFSACL([]byte(g.Get("nTSecurityDescriptor")), p.opts.CallerSID)
	if err != nil {
		return err
	}
	p.folderMissing = true
	return p.ensureFolder(acl)
}

// propagateACL sets every file and folder below dir to the ACEs it
// inherits from parent (marked inherited, DACL not protected).
func (p *publisher) propagateACL(dir string, parent []byte) error {
	names, err := p.share.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("listing SYSVOL %s: %w", dir, advice(err))
	}
	for _, n := range names {
		isDir := strings.HasSuffix(n, "/")
		n = strings.TrimSuffix(n, "/")
		child := dir + "/" + n
		sd, err := inheritedACL(parent, isDir)
		if err != nil {
			return err
		}
		if err := p.share.SetSecurityDescriptor(child, sd); err != nil {
			return fmt.Errorf("setting the inherited ACL of SYSVOL %s: %w", child, advice(err))
		}
		if isDir {
			if err := p.propagateACL(child, sd); err != nil {
				return err
			}
		}
	}
	return nil
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
		if p.propagate {
			// SET_INFO does not propagate: give the files and folders
			// below what they inherit, as Explorer or icacls /reset would.
			if err := p.propagateACL(p.gpoDir, acl); err != nil {
				return err
			}
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
