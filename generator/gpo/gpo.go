// Package gpo renders the `avdgen gpo` bundle for AD-joined host pools: a
// GPO backup that GPMC "Import Settings" and Import-GPO accept, the SYSVOL
// payload, single-VM files and the import script. Everything is rendered in
// memory in a fixed order of small steps; the caller writes it.
package gpo

import (
	"crypto/sha256"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"
	"unicode"

	"github.com/beevik/etree"

	"github.com/avdgen/avdgen/dist"
	"github.com/avdgen/avdgen/generator/bundle"
	"github.com/avdgen/avdgen/generator/payload"
	"github.com/avdgen/avdgen/generator/policy"
	"github.com/avdgen/avdgen/generator/regpol"
	"github.com/avdgen/avdgen/generator/spec"
	"github.com/avdgen/avdgen/generator/task"
	"github.com/avdgen/avdgen/generator/textrender"
)

// Input is everything a GPO bundle is made from.
type Input struct {
	Spec          spec.Spec
	Agents        dist.Agents
	Time          time.Time
	AvdgenVersion string
}

// Folder names inside the bundle.
const (
	BackupDir  = "gpo-backup"
	PayloadDir = "sysvol-payload"
	SingleDir  = "single-vm"
)

// CSE and tool GUIDs (FORMATS.md §3).
const (
	cseRegistry   = "{35378EAC-683F-11D2-A89A-00C04FBBCFA2}"
	toolRegistry  = "{D02B1F72-3407-48AE-BA88-E8213C6761F1}"
	cseTasks      = "{AADCED64-746C-4633-A97C-D61349046527}"
	toolTasks     = "{CAB54552-DEEA-4691-817E-ED4A4D1AFC72}"
	cseFiles      = "{7150F9BF-48AD-4DA4-A49C-29EF4A8369BA}"
	toolFiles     = "{3BAE7E51-E3F4-41D0-853D-9BB9FD47605F}"
	cseZero       = "{00000000-0000-0000-0000-000000000000}"
	unknownExtID  = "{F15C46CD-82A0-4C2D-A210-5D0D3182A418}"
	filesCLSID    = "{215B2E53-57CE-475c-80FE-9EEC14635851}"
	fileCLSID     = "{50BE44C8-567A-4ed1-B1D0-9234FE1F38AF}"
	machineVer    = 1
	applyGPOFlags = "1" // Options: user configuration disabled
)

// ids are the deterministic identifiers of one bundle.
type ids struct {
	backup, gpo, domain, taskUID string
	fileUID                      map[dist.Arch]string
}

func newIDs(s spec.Spec) ids {
	key := []string{s.GPO.Domain, s.GPO.Name, s.HostPool}
	id := ids{
		backup:  stableGUID(append([]string{"backup"}, key...)...),
		gpo:     stableGUID(append([]string{"gpo"}, key...)...),
		domain:  strings.ToLower(stableGUID("domain", s.GPO.Domain)),
		taskUID: stableGUID(append([]string{"task"}, key...)...),
		fileUID: map[dist.Arch]string{},
	}
	for _, a := range dist.Arches {
		id.fileUID[a] = stableGUID(append([]string{"file", string(a)}, key...)...)
	}
	return id
}

// sysvolScripts is where Import-AvdGpo.ps1 copies the payload.
func sysvolScripts(domain string) string {
	return `\\` + domain + `\SYSVOL\` + domain + `\scripts\avdgen`
}

// Build renders every file of the bundle except avdgen-manifest.json.
func Build(in Input) ([]bundle.File, error) {
	s := in.Spec
	if err := s.Validate(true); err != nil {
		return nil, err
	}
	id := newIDs(s)
	at := in.Time.UTC()
	agentPath := strings.TrimRight(s.Agent.InstallDir, `\`) + `\` + AgentFileName(in.Agents)
	logoff := task.LogoffFromSpec(s, at)
	// Both tasks run the versioned agent file the File items copy.
	logoff.Command = agentPath
	var singleVM []bundle.File
	if logoff.Idle != nil {
		idle := *logoff.Idle
		idle.Command = agentPath
		logoff.Idle = &idle
		idleTask, err := task.Standalone(idle)
		if err != nil {
			return nil, err
		}
		singleVM = append(singleVM, bundle.File{Path: path.Join(SingleDir, "avd-agent-idle.xml"), Data: idleTask, Kind: "task-xml"})
	}
	pol := regpol.Encode(regpol.SessionLimits(s.Limits))
	standaloneTask, err := task.Standalone(logoff)
	if err != nil {
		return nil, err
	}
	tasksXML, err := task.PreferencesXML(logoff, id.taskUID, at)
	if err != nil {
		return nil, err
	}
	if tasksXML, err = targetTask(tasksXML, s, agentPath); err != nil {
		return nil, err
	}
	filesXML, err := filesXML(s, id, at, agentPath, in.Agents)
	if err != nil {
		return nil, err
	}
	bk := path.Join(BackupDir, id.backup)
	mach := path.Join(bk, "DomainSysvol/GPO/Machine")
	sysvolFiles := []bundle.File{
		{Path: path.Join(mach, "registry.pol"), Data: pol, Kind: "registry-pol"},
		{Path: path.Join(mach, "Preferences/Files/Files.xml"), Data: filesXML, Kind: "gpp-xml"},
		{Path: path.Join(mach, "Preferences/ScheduledTasks/ScheduledTasks.xml"), Data: tasksXML, Kind: "gpp-xml"},
	}
	backupXML, err := backupXML(s, id, sysvolFiles, bk)
	if err != nil {
		return nil, err
	}
	report, err := gpReport(s, id, at, filesXML, tasksXML)
	if err != nil {
		return nil, err
	}
	files := []bundle.File{
		{Path: path.Join(BackupDir, "manifest.xml"), Data: manifestXML(s, id, at, in.AvdgenVersion), Kind: "gpo-backup"},
		{Path: path.Join(bk, "bkupInfo.xml"), Data: bkupInfoXML(s, id, at, in.AvdgenVersion), Kind: "gpo-backup"},
		{Path: path.Join(bk, "Backup.xml"), Data: backupXML, Kind: "gpo-backup"},
		{Path: path.Join(bk, "gpreport.xml"), Data: report, Kind: "gpo-report"},
		{Path: path.Join(SingleDir, "avd-agent-logoff.xml"), Data: standaloneTask, Kind: "task-xml"},
		{Path: path.Join(SingleDir, "registry.pol"), Data: pol, Kind: "registry-pol"},
	}
	files = append(files, singleVM...)
	files = append(files, sysvolFiles...)
	pay, err := sysvolPayload(in.Agents)
	if err != nil {
		return nil, err
	}
	files = append(files, pay...)
	scripts, err := texts(in, id, logoff)
	if err != nil {
		return nil, err
	}
	files = append(files, scripts...)
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	return files, nil
}

// cdata adds <tag><![CDATA[v]]></tag>.
func cdata(parent *etree.Element, tag, v string) *etree.Element {
	e := parent.CreateElement(tag)
	e.CreateCData(v)
	return e
}

func xmlString(doc *etree.Document) ([]byte, error) {
	s, err := doc.WriteToString()
	return []byte(s), err
}

const manifestNS = "http://www.microsoft.com/GroupPolicy/GPOOperations/Manifest"

func backupInst(parent *etree.Element, s spec.Spec, id ids, at time.Time, version string) {
	cdata(parent, "GPOGuid", id.gpo)
	cdata(parent, "GPODomain", s.GPO.Domain)
	cdata(parent, "GPODomainGuid", id.domain)
	cdata(parent, "GPODomainController", s.GPO.Domain)
	cdata(parent, "BackupTime", at.Format("2006-01-02T15:04:05"))
	cdata(parent, "ID", id.backup)
	cdata(parent, "Comment", fmt.Sprintf("avdgen %s: session time limits and logoff deallocation for host pool %s", version, s.HostPool))
	cdata(parent, "GPODisplayName", s.GPO.Name)
}

// manifestXML is the backup folder's index, as Backup-GPO writes it: no
// declaration, one BackupInst.
func manifestXML(s spec.Spec, id ids, at time.Time, version string) []byte {
	doc := etree.NewDocument()
	root := doc.CreateElement("Backups")
	root.CreateAttr("xmlns", manifestNS)
	root.CreateAttr("xmlns:mfst", manifestNS)
	root.CreateAttr("mfst:version", "1.0")
	backupInst(root.CreateElement("BackupInst"), s, id, at, version)
	b, _ := xmlString(doc)
	return b
}

func bkupInfoXML(s spec.Spec, id ids, at time.Time, version string) []byte {
	doc := etree.NewDocument()
	root := doc.CreateElement("BackupInst")
	root.CreateAttr("xmlns", manifestNS)
	backupInst(root, s, id, at, version)
	b, _ := xmlString(doc)
	return b
}

// MachineExtensionGuids lists each client-side extension with its tools,
// sorted by CSE GUID as Group Policy requires, with GPMC's leading block.
func machineExtensionGuids() string {
	blocks := [][]string{
		{cseZero, toolFiles, toolTasks},
		{cseRegistry, toolRegistry},
		{cseFiles, toolFiles},
		{cseTasks, toolTasks},
	}
	sort.Slice(blocks, func(i, j int) bool { return strings.ToUpper(blocks[i][0]) < strings.ToUpper(blocks[j][0]) })
	var b strings.Builder
	for _, blk := range blocks {
		b.WriteString("[" + strings.Join(blk, "") + "]")
	}
	return b.String()
}

// backupXML is Backup.xml: core settings, then one GroupPolicyExtension per
// extension listing every file and folder under DomainSysvol.
func backupXML(s spec.Spec, id ids, sysvolFiles []bundle.File, bk string) ([]byte, error) {
	const ns = "http://www.microsoft.com/GroupPolicy/GPOOperations"
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="utf-8"`)
	// GPMC writes Microsoft's copyright comment here; avdgen's file is not
	// Microsoft's, so it carries none. Everything else follows GPMC.
	root := doc.CreateElement("GroupPolicyBackupScheme")
	root.CreateAttr("bkp:version", "2.0")
	root.CreateAttr("bkp:type", "GroupPolicyBackupTemplate")
	root.CreateAttr("xmlns:bkp", ns)
	root.CreateAttr("xmlns", ns)
	g := root.CreateElement("GroupPolicyObject")
	g.CreateElement("SecurityGroups")
	g.CreateElement("FilePaths")
	core := g.CreateElement("GroupPolicyCoreSettings")
	cdata(core, "ID", id.gpo)
	cdata(core, "Domain", s.GPO.Domain)
	core.CreateElement("SecurityDescriptor").SetText(securityDescriptorHex())
	cdata(core, "DisplayName", s.GPO.Name)
	cdata(core, "Options", applyGPOFlags)
	cdata(core, "UserVersionNumber", "0")
	cdata(core, "MachineVersionNumber", fmt.Sprint(machineVer<<16|machineVer))
	cdata(core, "MachineExtensionGuids", machineExtensionGuids())
	core.CreateElement("UserExtensionGuids")
	core.CreateElement("WMIFilter")

	source := `\\` + s.GPO.Domain + `\sysvol\` + s.GPO.Domain + `\Policies\` + id.gpo
	fsObject := func(ext *etree.Element, kind, rel string) {
		e := ext.CreateElement(kind)
		winRel := strings.ReplaceAll(rel, "/", `\`)
		machRel := strings.TrimPrefix(winRel, `Machine`)
		e.CreateAttr("bkp:Path", "%GPO_MACH_FSPATH%"+machRel)
		e.CreateAttr("bkp:SourceExpandedPath", source+`\`+winRel)
		e.CreateAttr("bkp:Location", `DomainSysvol\GPO\`+winRel)
	}
	reg := g.CreateElement("GroupPolicyExtension")
	reg.CreateAttr("bkp:ID", cseRegistry)
	reg.CreateAttr("bkp:DescName", "Registry")
	unknown := g.CreateElement("GroupPolicyExtension")
	unknown.CreateAttr("bkp:ID", unknownExtID)
	unknown.CreateAttr("bkp:DescName", "Unknown Extension")
	seenDirs := map[string]bool{}
	for _, f := range sysvolFiles {
		rel := strings.TrimPrefix(f.Path, bk+"/DomainSysvol/GPO/")
		if rel == "Machine/registry.pol" {
			fsObject(reg, "FSObjectFile", rel)
			continue
		}
		// Preference files: their folders first, as GPMC lists them.
		parts := strings.Split(rel, "/")
		for i := 2; i < len(parts); i++ {
			d := strings.Join(parts[:i], "/")
			if !seenDirs[d] {
				seenDirs[d] = true
				fsObject(unknown, "FSObjectDir", d)
			}
		}
		fsObject(unknown, "FSObjectFile", rel)
	}
	doc.Indent(4)
	return xmlString(doc)
}

// AgentFileName is the agent's file name on the hosts: versioned, so a new
// agent is a new file. avd-agent-<version>-<digest>.exe, where the digest
// covers every architecture's binary: agents re-signed or rebuilt under the
// same version string (or "custom" from --agent-dir) still get a new name.
func AgentFileName(a dist.Agents) string {
	h := sha256.New()
	for _, arch := range dist.Arches {
		ag, _ := a.Get(arch)
		fmt.Fprintf(h, "%s %s\n", arch, ag.SHA256())
	}
	version := strings.Map(func(r rune) rune {
		if r < 0x80 && (r == '.' || r == '-' || r == '+' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r)) {
			return r
		}
		return '_'
	}, a.Version)
	if version == "" {
		version = "custom"
	}
	return fmt.Sprintf("avd-agent-%s-%x.exe", version, h.Sum(nil)[:4])
}

// SourceFileName is an agent's name in SYSVOL\scripts\avdgen:
// avd-agent-<version>-<digest>-<arch>.exe, versioned like the file on the
// hosts. SYSVOL replicates Files.xml and the agents independently (DFSR);
// a host that reads a new Files.xml from a DC that has not yet received
// the new agent finds no file of that name, copies nothing (rather than
// the old agent under the new name, which action Create would never
// correct) and copies it at a later refresh.
func SourceFileName(a dist.Agents, arch dist.Arch) string {
	return strings.TrimSuffix(AgentFileName(a), ".exe") + "-" + string(arch) + ".exe"
}

// sysvolPayload is the bundle's SYSVOL payload: the agents under their
// versioned source names, and SHA256SUMS listing them.
func sysvolPayload(agents dist.Agents) ([]bundle.File, error) {
	pay, err := payload.Files(PayloadDir, agents)
	if err != nil {
		return nil, err
	}
	var sums strings.Builder
	for i, f := range pay {
		if f.Kind != "agent" {
			continue
		}
		arch := dist.Arch(strings.TrimSuffix(strings.TrimPrefix(path.Base(f.Path), "avd-agent-"), ".exe"))
		name := SourceFileName(agents, arch)
		pay[i].Path = path.Join(PayloadDir, name)
		fmt.Fprintf(&sums, "%s  %s\n", f.SHA256, name)
	}
	for i, f := range pay {
		if path.Base(f.Path) == "SHA256SUMS" {
			pay[i].Data = []byte(sums.String())
		}
	}
	return pay, nil
}

// filesXML copies the agent for the host's architecture from SYSVOL to its
// versioned path in the install directory. Action C (Create) copies only
// when that file does not exist and otherwise does nothing, not even set
// attributes ([MS-GPPREF] 2.2.1.6.1): a policy refresh reads nothing from
// SYSVOL, and a running agent is never touched. A new agent has a new name,
// so Create copies it once; the task moves to it only when it is there
// (targetTask). Item-level targeting on PROCESSOR_ARCHITECTURE picks the
// binary.
func filesXML(s spec.Spec, id ids, at time.Time, target string, agents dist.Agents) ([]byte, error) {
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="utf-8"`)
	root := doc.CreateElement("Files")
	root.CreateAttr("clsid", filesCLSID)
	name := target[strings.LastIndex(target, `\`)+1:]
	for _, arch := range dist.Arches {
		f := root.CreateElement("File")
		f.CreateAttr("clsid", fileCLSID)
		f.CreateAttr("name", name)
		f.CreateAttr("status", name)
		f.CreateAttr("image", "0") // GPMC: 0 create, 1 replace, 2 update, 3 delete
		f.CreateAttr("changed", at.Format("2006-01-02 15:04:05"))
		f.CreateAttr("uid", id.fileUID[arch])
		f.CreateAttr("bypassErrors", "1")
		p := f.CreateElement("Properties")
		p.CreateAttr("action", "C")
		p.CreateAttr("fromPath", sysvolScripts(s.GPO.Domain)+`\`+SourceFileName(agents, arch))
		p.CreateAttr("targetPath", target)
		p.CreateAttr("readOnly", "0")
		p.CreateAttr("archive", "1")
		p.CreateAttr("hidden", "0")
		p.CreateAttr("suppress", "0")
		fl := etree.NewElement("FilterVariable")
		fl.CreateAttr("bool", "AND")
		fl.CreateAttr("not", "0")
		fl.CreateAttr("variableName", "PROCESSOR_ARCHITECTURE")
		fl.CreateAttr("value", strings.ToUpper(string(arch)))
		addFilters(f, s, fl)
	}
	return task.PreferencesBytes(doc)
}

// targetTask adds the host filters to every TaskV2 item of
// ScheduledTasks.xml (the logoff task and the idle safety net), and a File
// Match on the agent the task runs: a task is created, or moved to a new
// agent, only once that file is on the host. If the copy failed
// (SYSVOL unreachable, disk full), the task keeps running the agent it had.
func targetTask(tasksXML []byte, s spec.Spec, agentPath string) ([]byte, error) {
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(tasksXML); err != nil {
		return nil, fmt.Errorf("re-reading ScheduledTasks.xml: %w", err)
	}
	// The line breaks around the root come back from PreferencesBytes.
	for _, tok := range append([]etree.Token(nil), doc.Child...) {
		if cd, ok := tok.(*etree.CharData); ok && cd.IsWhitespace() {
			doc.RemoveChild(cd)
		}
	}
	items := doc.FindElements("ScheduledTasks/TaskV2")
	if len(items) == 0 {
		return nil, fmt.Errorf("ScheduledTasks.xml has no TaskV2 item")
	}
	for _, item := range items {
		exists := etree.NewElement("FilterFile")
		exists.CreateAttr("bool", "AND")
		exists.CreateAttr("not", "0")
		exists.CreateAttr("path", agentPath)
		exists.CreateAttr("type", "EXISTS")
		addFilters(item, s, exists)
	}
	return task.PreferencesBytes(doc)
}

// Marker starts the comment (description) of every GPO Import-AvdGpo.ps1
// creates; the script imports over an existing GPO only when its comment
// starts with it, so it never replaces the settings of a GPO avdgen did not
// make.
func Marker(s spec.Spec) string {
	return "[avdgen] host pool " + s.HostPool + ", domain " + s.GPO.Domain
}

// texts renders the import script and the bundle README.
func texts(in Input, id ids, logoff task.Logoff) ([]bundle.File, error) {
	s := in.Spec
	sums := map[string]string{}
	for _, a := range dist.Arches {
		ag, _ := in.Agents.Get(a)
		sums[SourceFileName(in.Agents, a)] = ag.SHA256()
	}
	data := map[string]any{
		"Spec": s, "BackupID": id.backup, "GPOGuid": id.gpo, "BackupDir": BackupDir, "PayloadDir": PayloadDir, "SingleDir": SingleDir,
		"SysvolPath": sysvolScripts(s.GPO.Domain), "Version": in.AvdgenVersion, "AgentVersion": in.Agents.Version,
		"Limits": policy.Rows(s.Limits), "TaskPath": logoff.Command, "Arguments": logoff.Arguments, "AgentFile": AgentFileName(in.Agents),
		"SourceAMD64": SourceFileName(in.Agents, dist.AMD64), "SourceARM64": SourceFileName(in.Agents, dist.ARM64),
		"Sums": sums, "Arches": dist.Arches, "Marker": Marker(s), "InstallDir": s.Agent.InstallDir,
		"Comment": Marker(s) + ". Made by avdgen " + in.AvdgenVersion + " from backup " + id.backup + ": session time limits and the logoff task that deallocates the VM. Import-AvdGpo.ps1 replaces its settings only while this comment starts with the marker.",
	}
	ps, err := textrender.Render("Import-AvdGpo.ps1.tmpl", data)
	if err != nil {
		return nil, err
	}
	readme, err := textrender.Render("README.gpo.md.tmpl", data)
	if err != nil {
		return nil, err
	}
	// PowerShell 5.1 reads a BOM-less script as ANSI: UTF-8 with BOM, CRLF.
	ps = append([]byte{0xEF, 0xBB, 0xBF}, textrender.CRLF(ps)...)
	return []bundle.File{
		{Path: "Import-AvdGpo.ps1", Data: ps, Kind: "script"},
		{Path: "README.md", Data: readme, Kind: "readme"},
	}, nil
}
