// Command agentres writes avd-agent's Windows version resource as a COFF
// object (.syso) that the Go linker adds to the Windows build of the
// package in the same folder. The Makefile runs it before each agent build:
//
//	go run ./cmd/internal/agentres -version v1.2.3 -arch amd64 -o cmd/avd-agent/rsrc_windows_amd64.syso
//
// File and product version are avdgen's version, so Explorer's Details tab,
// GPP file-version targeting and `avd-agent check` can tell which agent a
// host runs. The output depends only on the flags: no time stamp, no host
// data, so builds stay reproducible.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"

	"github.com/tc-hib/winres"
	"github.com/tc-hib/winres/version"
)

func main() {
	ver := flag.String("version", "", "avdgen version, e.g. v1.2.3 or v1.2.3-4-gabcdef0-dirty (git describe)")
	arch := flag.String("arch", "", "amd64 or arm64")
	out := flag.String("o", "", "the .syso to write, e.g. cmd/avd-agent/rsrc_windows_amd64.syso")
	flag.Parse()
	if err := run(*ver, *arch, *out); err != nil {
		fmt.Fprintln(os.Stderr, "agentres:", err)
		os.Exit(1)
	}
}

func run(ver, arch, out string) error {
	if out == "" {
		return fmt.Errorf("-o is required")
	}
	obj, err := Object(ver, arch)
	if err != nil {
		return err
	}
	// Rewrite only when the bytes change, so make sees no change either.
	if old, err := os.ReadFile(out); err == nil && bytes.Equal(old, obj) {
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), ".agentres-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(obj); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), out)
}

// semver is the numeric head of a git-describe version: v1.2.3, then
// optionally -N-g<hash> (N commits after the tag).
var semver = regexp.MustCompile(`^v?(\d{1,5})\.(\d{1,5})\.(\d{1,5})(?:-(\d{1,5})-g[0-9a-f]+)?`)

// Numeric turns a version string into the four 16-bit fields of
// VS_FIXEDFILEINFO: v1.2.3 -> 1.2.3.0, v1.2.3-4-gabc -> 1.2.3.4 (commits
// since the tag), anything else (dev, a bare hash) -> 0.0.0.0. The full
// string stays in the FileVersion and ProductVersion strings.
func Numeric(ver string) [4]uint16 {
	var n [4]uint16
	m := semver.FindStringSubmatch(ver)
	if m == nil {
		return n
	}
	for i := 0; i < 4; i++ {
		if m[i+1] == "" {
			continue
		}
		v, err := strconv.ParseUint(m[i+1], 10, 16)
		if err != nil {
			return [4]uint16{} // a field above 65535: no numeric version rather than a wrong one
		}
		n[i] = uint16(v)
	}
	return n
}

// Object renders the resource object for one architecture.
func Object(ver, arch string) ([]byte, error) {
	if ver == "" {
		return nil, fmt.Errorf("-version is required (the Makefile passes git describe)")
	}
	var a winres.Arch
	switch arch {
	case "amd64":
		a = winres.ArchAMD64
	case "arm64":
		a = winres.ArchARM64
	default:
		return nil, fmt.Errorf("-arch %q: want amd64 or arm64", arch)
	}
	vi := version.Info{FileVersion: Numeric(ver), ProductVersion: Numeric(ver)}
	for _, kv := range [][2]string{
		{version.CompanyName, "avdgen"},
		{version.FileDescription, "avdgen agent: deallocates this Azure Virtual Desktop VM after the last logoff"},
		{version.FileVersion, ver},
		{version.InternalName, "avd-agent"},
		{version.OriginalFilename, "avd-agent.exe"},
		{version.ProductName, "avdgen"},
		{version.ProductVersion, ver},
	} {
		if err := vi.Set(version.LangDefault, kv[0], kv[1]); err != nil {
			return nil, fmt.Errorf("version resource %s: %w", kv[0], err)
		}
	}
	var rs winres.ResourceSet
	rs.SetVersionInfo(vi)
	var buf bytes.Buffer
	if err := rs.WriteObject(&buf, a); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
