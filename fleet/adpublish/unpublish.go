package adpublish

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
)

// Unpublish removes what Publish made for t: the GPO's links (on every
// OU, not just t.OU), the GPO and its SYSVOL folder, its record, and the
// agent sources no other avdgen GPO of the domain copies. It finds the
// GPO only as publish does (recorded id, the bundle's GUID, or the
// display name plus avdgen's marker) and so never removes a GPO avdgen did
// not create. With dryRun it only lists what it would remove.
func Unpublish(dir Directory, share Share, t Target, dryRun bool) (*Result, error) {
	cd := &countingDirectory{Directory: dir}
	cs := &countingShare{Share: share}
	p := &publisher{dir: cd, share: cs, t: t, res: &Result{GPO: t.GUID, DisplayName: t.DisplayName, DryRun: dryRun, Changes: []Change{}}}
	err := p.unpublish(dryRun)
	p.res.LDAPOps, p.res.SMBOps = cd.n, cs.n
	return p.res, err
}

func (p *publisher) unpublish(dryRun bool) error {
	root, err := p.dir.Read("", "defaultNamingContext")
	if err != nil {
		return fmt.Errorf("reading the rootDSE: %w", err)
	}
	p.base = root.Get("defaultNamingContext")
	if got := domainOfDN(p.base); !strings.EqualFold(got, p.t.Domain) {
		return fmt.Errorf("the domain controller serves %s (%s), but the spec's domain is %s: pass --server with a DC of %s", got, p.base, p.t.Domain, p.t.Domain)
	}
	p.policies = "CN=Policies,CN=System," + p.base
	if err := p.find(); err != nil {
		return err
	}
	if p.live == nil {
		return fmt.Errorf("no GPO of host pool's spec %q is in %s (looked for the recorded id, %s, and %q with avdgen's preference items): nothing to remove; a GPO avdgen did not create is never removed",
			p.t.DisplayName, p.t.Domain, p.t.GUID, p.t.DisplayName)
	}
	p.dn = "CN=" + p.guid + "," + p.policies
	p.res.GPO, p.res.DN = p.guid, p.dn
	p.gpoDir = p.t.Domain + "/Policies/" + p.guid

	// Links first (hosts stop applying), then the GPO, then its files.
	linked, err := p.dir.Search(p.base, "gPLink", p.guid, "gPLink")
	if err != nil {
		return fmt.Errorf("finding the links to %s: %w", p.guid, advice(err))
	}
	type unlink struct{ dn, old, new string }
	var unlinks []unlink
	for _, e := range linked {
		old := e.Get("gPLink")
		kept := linkRE.ReplaceAllStringFunc(old, func(l string) string {
			if m := linkRE.FindStringSubmatch(l); p.isOurs(m[1]) {
				return ""
			}
			return l
		})
		if kept != old {
			unlinks = append(unlinks, unlink{e.DN, old, kept})
			p.add(Change{Kind: "link", Target: e.DN, Old: old, New: kept})
		}
	}
	p.add(Change{Kind: "gpo", Target: p.dn, Old: p.live.Get("displayName"), New: "delete"})
	files, err := p.listTree(p.gpoDir)
	if err != nil {
		return err
	}
	if len(files) > 0 {
		p.add(Change{Kind: "file", Target: p.gpoDir, Old: fmt.Sprintf("%d files and folders", len(files)), New: "delete"})
	}
	filesXML, err := p.share.ReadFile(p.gpoDir + "/Machine/Preferences/Files/Files.xml")
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("reading %s: %w", p.gpoDir, advice(err))
	}
	names, err := p.share.ReadDir(p.scriptsDir())
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("listing SYSVOL %s: %w", p.scriptsDir(), advice(err))
	}
	others, err := p.otherSources(withoutRecord(names, p.recordName()))
	if err != nil {
		return err
	}
	present := map[string]string{}
	for _, n := range names {
		present[strings.ToLower(n)] = n
	}
	var agents []string
	for _, src := range sourcesIn(filesXML) {
		if n, ok := present[strings.ToLower(src)]; ok && !others[strings.ToLower(src)] {
			agents = append(agents, n)
			p.add(Change{Kind: "payload", Target: `scripts\avdgen\` + n, Old: "present", New: "delete: no other avdgen GPO copies it"})
		}
	}
	recordPresent := present[strings.ToLower(p.recordName()[strings.LastIndexByte(p.recordName(), '/')+1:])] != ""
	if recordPresent {
		p.add(Change{Kind: "record", Target: p.recordName(), Old: p.guid, New: "delete"})
	}
	if dryRun {
		return nil
	}
	for _, u := range unlinks {
		mods := []Mod{{Op: ModDelete, Attr: "gPLink", Values: []string{u.old}}}
		if u.new != "" {
			mods = append(mods, Mod{Op: ModAdd, Attr: "gPLink", Values: []string{u.new}})
		}
		if err := p.dir.Modify(u.dn, mods); err != nil {
			return fmt.Errorf("unlinking the GPO from %s: %w", u.dn, advice(err))
		}
	}
	for _, child := range []string{"CN=Machine," + p.dn, "CN=User," + p.dn} {
		if err := p.dir.Delete(child); err != nil && !errors.Is(err, ErrNoSuchObject) {
			return fmt.Errorf("deleting %s: %w", child, advice(err))
		}
	}
	if err := p.dir.Delete(p.dn); err != nil {
		return fmt.Errorf("deleting GPO %s: %w", p.dn, advice(err))
	}
	// Deepest first: files, then their folders, the GPO folder last.
	for i := len(files) - 1; i >= 0; i-- {
		if err := p.share.Remove(files[i]); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("deleting SYSVOL %s: %w", files[i], advice(err))
		}
	}
	if err := p.share.Remove(p.gpoDir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("deleting SYSVOL %s: %w", p.gpoDir, advice(err))
	}
	for _, n := range agents {
		if err := p.share.Remove(p.scriptsDir() + "/" + n); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("deleting SYSVOL %s/%s: %w", p.scriptsDir(), n, advice(err))
		}
	}
	if recordPresent {
		if err := p.share.Remove(p.recordName()); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("deleting SYSVOL %s: %w", p.recordName(), advice(err))
		}
	}
	return nil
}

func withoutRecord(names []string, record string) []string {
	base := strings.ToLower(record[strings.LastIndexByte(record, '/')+1:])
	out := make([]string, 0, len(names))
	for _, n := range names {
		if strings.ToLower(n) != base {
			out = append(out, n)
		}
	}
	return out
}

// listTree lists every file and folder below dir, parents before children.
func (p *publisher) listTree(dir string) ([]string, error) {
	names, err := p.share.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing SYSVOL %s: %w", dir, advice(err))
	}
	var out []string
	for _, n := range names {
		child := dir + "/" + strings.TrimSuffix(n, "/")
		out = append(out, child)
		if strings.HasSuffix(n, "/") {
			below, err := p.listTree(child)
			if err != nil {
				return nil, err
			}
			out = append(out, below...)
		}
	}
	return out, nil
}
