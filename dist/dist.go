// Package dist embeds the avd-agent binaries that `make` builds into dist/bin.
//
// The binaries are build outputs and are not committed: a plain `go build`
// embeds only the tracked placeholder, and Agents then says how to fix that.
package dist

import (
	"bytes"
	"crypto/sha256"
	"debug/pe"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Arch is a Windows architecture the agent is built for.
type Arch string

// The architectures avdgen bundles, in a fixed order.
const (
	AMD64 Arch = "amd64"
	ARM64 Arch = "arm64"
)

// Arches lists every bundled architecture in output order.
var Arches = []Arch{AMD64, ARM64}

// FileName is the agent's file name for arch inside dist/bin and --agent-dir.
func FileName(a Arch) string { return "avd-agent-" + string(a) + ".exe" }

// versionFile holds the version string the Makefile stamped into the agents.
const versionFile = "VERSION"

// Agent is one agent binary. Binary holds it in memory (agents from
// --agent-dir, tests); embedded agents are instead streamed from the
// executable's read-only data, because copying 15 MB into fresh memory costs
// more than everything else `avdgen gpo` does (docs/performance.md).
type Agent struct {
	Arch   Arch
	Binary []byte
	// fsys and name locate an embedded agent; size is its length.
	fsys fs.FS
	name string
	size int64
	// sum caches SHA256 (set by the loaders): bundles need the digest of
	// each 8 MB binary several times.
	sum string
}

// Size is the binary's length in bytes.
func (a Agent) Size() int64 {
	if a.fsys != nil {
		return a.size
	}
	return int64(len(a.Binary))
}

// Open streams the binary.
func (a Agent) Open() (io.ReadCloser, error) {
	if a.fsys != nil {
		return a.fsys.Open(a.name)
	}
	return io.NopCloser(bytes.NewReader(a.Binary)), nil
}

// Bytes returns the whole binary (read from the embedded data if needed).
func (a Agent) Bytes() ([]byte, error) {
	if a.fsys != nil {
		return fs.ReadFile(a.fsys, a.name)
	}
	return a.Binary, nil
}

// SHA256 is the hex digest of the binary.
func (a Agent) SHA256() string {
	if a.sum != "" {
		return a.sum
	}
	h := sha256.New()
	if r, err := a.Open(); err == nil {
		io.Copy(h, r)
		r.Close()
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Agents is the set of agent binaries a bundle ships.
type Agents struct {
	Version string
	ByArch  map[Arch]Agent
}

// Get returns the agent for arch.
func (a Agents) Get(arch Arch) (Agent, bool) {
	ag, ok := a.ByArch[arch]
	return ag, ok
}

// ErrNotBundled says the binary was built without agents and how to fix it.
var ErrNotBundled = fmt.Errorf("this avdgen was built without the avd-agent binaries: " +
	"build it with `make` (which cross-compiles the agents into dist/bin first), " +
	"or pass --agent-dir with avd-agent-amd64.exe and avd-agent-arm64.exe")

// Embedded returns the agents compiled into this avdgen.
func Embedded() (Agents, error) {
	return load(embedded, "bin", true)
}

// FromDir loads agents from a folder, e.g. after an admin Authenticode-signs
// them. VERSION is optional there; without it the version is "custom".
func FromDir(dir string) (Agents, error) {
	if _, err := os.Stat(dir); err != nil {
		return Agents{}, fmt.Errorf("agent directory %q: %w", dir, err)
	}
	ag, err := load(os.DirFS(dir), ".", false)
	if err != nil {
		return Agents{}, fmt.Errorf("agent directory %q: %w", filepath.Clean(dir), err)
	}
	return ag, nil
}

func load(fsys fs.FS, dir string, stream bool) (Agents, error) {
	out := Agents{ByArch: map[Arch]Agent{}}
	var missing []string
	for _, arch := range Arches {
		name := pathJoin(dir, FileName(arch))
		fi, err := fs.Stat(fsys, name)
		if err != nil || fi.Size() == 0 {
			missing = append(missing, FileName(arch))
			continue
		}
		ag := Agent{Arch: arch, fsys: fsys, name: name, size: fi.Size()}
		if !stream {
			if ag.Binary, err = fs.ReadFile(fsys, name); err != nil {
				return Agents{}, err
			}
			ag.fsys = nil
			if err := CheckPE(FileName(arch), ag.Binary, arch); err != nil {
				return Agents{}, err
			}
		}
		ag.sum = ag.SHA256()
		out.ByArch[arch] = ag
	}
	if len(missing) == len(Arches) && dir == "bin" {
		return Agents{}, ErrNotBundled
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return Agents{}, fmt.Errorf("missing %s", strings.Join(missing, ", "))
	}
	out.Version = "custom"
	if v, err := fs.ReadFile(fsys, pathJoin(dir, versionFile)); err == nil {
		if s := strings.TrimSpace(string(v)); s != "" {
			if err := CheckVersion(s); err != nil {
				return Agents{}, fmt.Errorf("%s: %w", versionFile, err)
			}
			out.Version = s
		}
	}
	return out, nil
}

// MaxVersionLen bounds a VERSION string.
const MaxVersionLen = 64

// CheckVersion allows only what a version string is made of: ASCII letters
// and digits, then also . + _ -, at most MaxVersionLen characters. The
// version goes into install.ps1 and the Win32 app's detection rule, which
// run and are read as SYSTEM on every host: a VERSION file is input, and
// quoting alone must not be all that stands between it and a script.
func CheckVersion(v string) error {
	ok := v != "" && len(v) <= MaxVersionLen
	for i, r := range v {
		alnum := r < 0x80 && (r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
		if !alnum && (i == 0 || !strings.ContainsRune(".+_-", r)) {
			ok = false
		}
	}
	if !ok {
		return fmt.Errorf("version %.80q: allowed are 1 to %d characters, ASCII letters and digits, and . + _ - after the first (e.g. v1.2.3 or 1.2.3+build.7)", v, MaxVersionLen)
	}
	return nil
}

func pathJoin(dir, name string) string {
	if dir == "." {
		return name
	}
	return dir + "/" + name
}

// Machine is the PE machine type (COFF header) each architecture's agent
// must carry.
var Machine = map[Arch]uint16{AMD64: pe.IMAGE_FILE_MACHINE_AMD64, ARM64: pe.IMAGE_FILE_MACHINE_ARM64}

var machineNames = map[uint16]string{
	pe.IMAGE_FILE_MACHINE_AMD64: "AMD64 (x64)", pe.IMAGE_FILE_MACHINE_ARM64: "ARM64",
	pe.IMAGE_FILE_MACHINE_I386: "i386 (32-bit x86)", pe.IMAGE_FILE_MACHINE_ARMNT: "ARM (32-bit)",
}

func machineName(m uint16) string {
	if n, ok := machineNames[m]; ok {
		return fmt.Sprintf("%s, 0x%04X", n, m)
	}
	return fmt.Sprintf("0x%04X", m)
}

// CheckPE refuses anything but a Windows console executable for arch: the
// logoff task runs the agent as SYSTEM on every host, so a text file, a DLL,
// a GUI build or the other architecture's binary under this name would
// only fail there, on every logoff.
func CheckPE(name string, b []byte, arch Arch) error {
	f, err := pe.NewFile(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("%s is not a Windows executable (PE file): %v; give the avd-agent %s build (GOOS=windows GOARCH=%s, or make agents)", name, err, arch, arch)
	}
	if want := Machine[arch]; f.Machine != want {
		return fmt.Errorf("%s is built for machine %s, want %s: did you swap the amd64 and arm64 files?", name, machineName(f.Machine), machineName(want))
	}
	if f.Characteristics&pe.IMAGE_FILE_DLL != 0 || f.Characteristics&pe.IMAGE_FILE_EXECUTABLE_IMAGE == 0 {
		return fmt.Errorf("%s is a DLL or object file, not an executable image (characteristics 0x%04X)", name, f.Characteristics)
	}
	var subsystem uint16
	switch h := f.OptionalHeader.(type) {
	case *pe.OptionalHeader64:
		subsystem = h.Subsystem
	case *pe.OptionalHeader32:
		return fmt.Errorf("%s is a 32-bit (PE32) image, want a 64-bit (PE32+) %s executable", name, arch)
	default:
		return fmt.Errorf("%s has no optional header, so it is not an executable image", name)
	}
	if subsystem != pe.IMAGE_SUBSYSTEM_WINDOWS_CUI {
		return fmt.Errorf("%s has subsystem %d, want the console subsystem (%d, IMAGE_SUBSYSTEM_WINDOWS_CUI): the agent writes to its console and exit code; build it without -H windowsgui", name, subsystem, pe.IMAGE_SUBSYSTEM_WINDOWS_CUI)
	}
	return nil
}
