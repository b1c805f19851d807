// Package intune renders the `avdgen intune` bundle for Entra-joined host
// pools: Settings Catalog and OMA-URI profiles as Graph JSON, the Win32 app
// package built by avdgen, its Graph body and encryption info.
package intune

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/avdgen/avdgen/agent/contract"
	"github.com/avdgen/avdgen/dist"
	"github.com/avdgen/avdgen/generator/bundle"
	"github.com/avdgen/avdgen/generator/intunewin"
	"github.com/avdgen/avdgen/generator/policy"
	"github.com/avdgen/avdgen/generator/spec"
	"github.com/avdgen/avdgen/generator/task"
	"github.com/avdgen/avdgen/generator/textrender"
)

// Input is everything an Intune bundle is made from.
type Input struct {
	Spec          spec.Spec
	Agents        dist.Agents
	Time          time.Time
	AvdgenVersion string
	// Rand supplies the .intunewin keys: crypto/rand in production.
	Rand io.Reader
}

// Commands Intune runs. sysnative reaches 64-bit PowerShell from the
// 32-bit Intune Management Extension.
const (
	InstallCommand   = `%SystemRoot%\sysnative\WindowsPowerShell\v1.0\powershell.exe -NoProfile -ExecutionPolicy Bypass -File .\install.ps1`
	UninstallCommand = `%SystemRoot%\sysnative\WindowsPowerShell\v1.0\powershell.exe -NoProfile -ExecutionPolicy Bypass -File .\uninstall.ps1`
)

// DetectionVersion is the value install.ps1 writes and the detection rule
// expects: the agent version plus a digest of every file the package
// installs from (the task XML, both scripts, both binaries). Intune runs
// install.ps1 only on hosts where the rule is not met, so anything a host
// must apply (a new agent, --action, --grace, --exclude-tag, idleAfter, the
// install folder, a new install.ps1) has to change this value, or hosts
// that have the app keep the old task. install.ps1 is digested as rendered
// with an empty version: it cannot contain a digest of itself.
func DetectionVersion(agentVersion string, content []intunewin.File) string {
	files := append([]intunewin.File(nil), content...)
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	h := sha256.New()
	for _, f := range files {
		fmt.Fprintf(h, "%s\x00%d\x00", f.Name, len(f.Data))
		h.Write(f.Data)
	}
	return agentVersion + "+" + hex.EncodeToString(h.Sum(nil))[:16]
}

// PackageDigest is the hex SHA-256 of the unencrypted package content, from
// its encryption info. The content zip has fixed times, so the same inputs
// give the same digest although the keys differ on every build.
func PackageDigest(info intunewin.EncryptionInfo) string {
	b, _ := base64.StdEncoding.DecodeString(info.FileDigest)
	return hex.EncodeToString(b)
}

// AgentDigest is the SHA-256 over both agent binaries' SHA-256 values: the
// app's notes carry it so a rerun can tell whether the package changed.
func AgentDigest(ag dist.Agents) string {
	h := sha256.New()
	for _, a := range dist.Arches {
		x, _ := ag.Get(a)
		h.Write([]byte(x.SHA256()))
	}
	return hex.EncodeToString(h.Sum(nil))
}

func marshal(v any) ([]byte, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Build renders every file of the bundle except avdgen-manifest.json.
func Build(in Input) ([]bundle.File, error) {
	s := in.Spec
	if err := s.Validate(false); err != nil {
		return nil, err
	}
	for _, a := range dist.Arches {
		if ag, ok := in.Agents.Get(a); !ok || ag.Size() == 0 {
			return nil, fmt.Errorf("no avd-agent binary for windows/%s: %w", a, dist.ErrNotBundled)
		}
	}
	catalog, err := marshal(SettingsCatalog(s))
	if err != nil {
		return nil, err
	}
	oma, err := marshal(OMAURI(s))
	if err != nil {
		return nil, err
	}
	logoff := task.LogoffFromSpec(s, in.Time)
	taskXML, err := task.Standalone(logoff)
	if err != nil {
		return nil, err
	}
	if err := dist.CheckVersion(in.Agents.Version); err != nil {
		return nil, fmt.Errorf("agent %w", err)
	}
	// install.ps1 first with an empty version, to digest the package.
	data := templateData(in, "", logoff)
	install, err := script("install.ps1.tmpl", data)
	if err != nil {
		return nil, err
	}
	uninstall, err := script("uninstall.ps1.tmpl", data)
	if err != nil {
		return nil, err
	}
	content := []intunewin.File{
		{Name: "avd-agent-logoff.xml", Data: taskXML},
		{Name: "install.ps1", Data: install},
		{Name: "uninstall.ps1", Data: uninstall},
	}
	for _, a := range dist.Arches {
		ag, _ := in.Agents.Get(a)
		b, err := ag.Bytes()
		if err != nil {
			return nil, err
		}
		content = append(content, intunewin.File{Name: dist.FileName(a), Data: b})
	}
	version := DetectionVersion(in.Agents.Version, content)
	data["DetectionVersion"] = version
	if content[1].Data, err = script("install.ps1.tmpl", data); err != nil {
		return nil, err
	}
	pkg, err := intunewin.Build(s.Intune.AppName, "install.ps1", content, in.Time, in.Rand)
	if err != nil {
		return nil, err
	}
	app, err := marshal(Win32App(s, version, Notes(Key(s.HostPool, "agent"), AgentDigest(in.Agents), PackageDigest(pkg.Info))))
	if err != nil {
		return nil, err
	}
	enc, err := marshal(pkg.Info)
	if err != nil {
		return nil, err
	}
	taskText, err := task.StandaloneText(logoff)
	if err != nil {
		return nil, err
	}
	data["TaskXML"] = strings.TrimRight(taskText, "\r\n")
	detect, err := script("detect-avd-agent-task.ps1.tmpl", data)
	if err != nil {
		return nil, err
	}
	remediate, err := script("remediate-avd-agent-task.ps1.tmpl", data)
	if err != nil {
		return nil, err
	}
	data["UnencryptedSize"] = pkg.UnencryptedSize
	data["EncryptedSize"] = len(pkg.Encrypted)
	readme, err := textrender.Render("README.intune.md.tmpl", data)
	if err != nil {
		return nil, err
	}
	return []bundle.File{
		{Path: "README.md", Data: readme, Kind: "readme"},
		{Path: "avd-agent.encryption.json", Data: enc, Kind: "graph-json"},
		{Path: "avd-agent.intunewin", Data: pkg.Intunewin, Kind: "intunewin"},
		{Path: "avd-agent.win32app.json", Data: app, Kind: "graph-json"},
		{Path: "session-time-limits.oma-uri.json", Data: oma, Kind: "graph-json"},
		{Path: "remediation/detect-avd-agent-task.ps1", Data: detect, Kind: "script"},
		{Path: "remediation/remediate-avd-agent-task.ps1", Data: remediate, Kind: "script"},
		{Path: "session-time-limits.settings-catalog.json", Data: catalog, Kind: "graph-json"},
	}, nil
}

// script renders a PowerShell script: UTF-8 with BOM (Windows PowerShell 5.1
// reads BOM-less files as ANSI) and CRLF.
func script(name string, data any) ([]byte, error) {
	b, err := textrender.Render(name, data)
	if err != nil {
		return nil, err
	}
	return append([]byte{0xEF, 0xBB, 0xBF}, textrender.CRLF(b)...), nil
}

type agentRow struct{ Arch, File, SHA256 string }

func templateData(in Input, version string, l task.Logoff) map[string]any {
	var agents []agentRow
	for _, a := range dist.Arches {
		ag, _ := in.Agents.Get(a)
		arch := map[dist.Arch]string{dist.AMD64: "AMD64", dist.ARM64: "ARM64"}[a]
		agents = append(agents, agentRow{Arch: arch, File: dist.FileName(a), SHA256: ag.SHA256()})
	}
	return map[string]any{
		"Spec": in.Spec, "Version": in.AvdgenVersion, "DetectionVersion": version, "Agents": agents,
		"AgentExe": contract.AgentExe, "TaskPath": contract.TaskPath, "DetectionKey": contract.DetectionKey,
		"DetectionValue": contract.DetectionValue, "Limits": policy.Rows(in.Spec.Limits),
		"InstallCommand": InstallCommand, "UninstallCommand": UninstallCommand, "Command": l.Command, "Arguments": l.Arguments,
		"TaskFolder": contract.TaskFolder, "TaskName": contract.TaskName,
		"IdleTaskName": contract.IdleTaskName, "IdleTaskPath": contract.IdleTaskPath, "IdleArguments": idleArguments(l),
		"IdleCommand": l.Command,
	}
}

// idleArguments is the idle task's argument line, or "" when the spec says
// idleAfter: never. install.ps1 and the Remediations pair both take it from
// here, so the task they register and the one detection expects cannot drift.
func idleArguments(l task.Logoff) string {
	if l.Idle == nil {
		return ""
	}
	return l.Idle.Arguments
}
