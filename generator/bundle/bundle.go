// Package bundle is the in-memory result of a generator: every file with its
// bytes and kind, rendered completely before anything is written.
package bundle

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
)

// Kind says what a file is, for avdgen-manifest.json and --json.
type Kind string

// File is one output file. Path is slash-separated and relative to --out.
type File struct {
	Path string
	Data []byte
	Kind Kind
	// Executable marks scripts and binaries (mode 0755 instead of 0644).
	Executable bool
	// SHA256 may carry the hex digest when the producer already has it
	// (the agent binaries); Build computes it otherwise.
	SHA256 string
	// Open streams the content instead of Data (the embedded agents, which
	// are not copied into memory); Size and SHA256 must then be set.
	Open func() (io.ReadCloser, error)
	Size int64
}

// Len is the file's size in bytes.
func (f File) Len() int64 {
	if f.Open != nil {
		return f.Size
	}
	return int64(len(f.Data))
}

// ManifestName is the file every bundle carries listing its files.
const ManifestName = "avdgen-manifest.json"

// ManifestFile is one entry of the manifest.
type ManifestFile struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	Kind   Kind   `json:"kind"`
}

// Manifest is avdgen-manifest.json.
type Manifest struct {
	SchemaVersion int            `json:"schemaVersion"`
	Generator     string         `json:"generator"`
	Command       string         `json:"command"`
	HostPool      string         `json:"hostPool"`
	Files         []ManifestFile `json:"files"`
}

// Build sorts files by path, refuses duplicates and unsafe paths, and adds
// the manifest. Everything is in memory; nothing is written.
func Build(files []File, command, generator, hostPool string) ([]File, Manifest, error) {
	out := append([]File(nil), files...)
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	m := Manifest{SchemaVersion: 1, Generator: generator, Command: command, HostPool: hostPool, Files: []ManifestFile{}}
	for i, f := range out {
		if err := checkPath(f.Path); err != nil {
			return nil, Manifest{}, err
		}
		if i > 0 && strings.EqualFold(out[i-1].Path, f.Path) {
			return nil, Manifest{}, fmt.Errorf("internal error: %s rendered twice", f.Path)
		}
		digest := f.SHA256
		if digest == "" && f.Open != nil {
			return nil, Manifest{}, fmt.Errorf("internal error: streamed file %s has no digest", f.Path)
		}
		if digest == "" {
			sum := sha256.Sum256(f.Data)
			digest = hex.EncodeToString(sum[:])
		}
		m.Files = append(m.Files, ManifestFile{Path: f.Path, SHA256: digest, Size: f.Len(), Kind: f.Kind})
	}
	data, err := m.JSON()
	if err != nil {
		return nil, Manifest{}, err
	}
	out = append(out, File{Path: ManifestName, Data: data, Kind: "manifest"})
	return out, m, nil
}

// JSON is the manifest as written: two-space indent, trailing newline.
func (m Manifest) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

func checkPath(p string) error {
	if p == "" || path.IsAbs(p) || strings.Contains(p, `\`) || path.Clean(p) != p || strings.HasPrefix(p, "../") || p == ManifestName {
		return fmt.Errorf("internal error: bad bundle path %q", p)
	}
	return nil
}
