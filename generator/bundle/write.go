package bundle

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// WriteOptions control Write.
type WriteOptions struct {
	// Force allows writing into a non-empty directory that holds a previous
	// avdgen bundle; only files that bundle's manifest names are replaced.
	Force bool
}

// Plan checks whether files may be written into dir without writing
// anything. It returns the files of a previous bundle that the new one no
// longer has (they are removed on Write).
func Plan(dir string, files []File, opts WriteOptions) (stale []string, err error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && len(entries) == 0) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("--out %s: %w", dir, err)
	}
	if !opts.Force {
		return nil, fmt.Errorf("--out %s is not empty; pass --force to replace a bundle avdgen wrote there before", dir)
	}
	b, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if err != nil {
		return nil, fmt.Errorf("--out %s is not empty and has no %s, so it was not written by avdgen; refusing to overwrite it even with --force (choose an empty or new folder)", dir, ManifestName)
	}
	var prev Manifest
	if err := json.Unmarshal(b, &prev); err != nil {
		return nil, fmt.Errorf("--out %s: previous %s is unreadable (%v); refusing to overwrite", dir, ManifestName, err)
	}
	owned := map[string]bool{ManifestName: true}
	for _, f := range prev.Files {
		owned[f.Path] = true
	}
	// Any existing file the previous bundle did not write is the user's.
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if !owned[filepath.ToSlash(rel)] {
			return fmt.Errorf("--out %s holds %s, which the previous avdgen bundle did not write; refusing to touch it (move it away, or choose another folder)", dir, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	wanted := map[string]bool{}
	for _, f := range files {
		wanted[f.Path] = true
	}
	for p := range owned {
		if !wanted[p] {
			if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(p))); err == nil {
				stale = append(stale, p)
			}
		}
	}
	sort.Strings(stale)
	return stale, nil
}

// Write writes files into dir after Plan allows it. Each file goes to a
// temporary name first and is renamed into place.
func Write(dir string, files []File, opts WriteOptions) error {
	stale, err := Plan(dir, files, opts)
	if err != nil {
		return err
	}
	for _, f := range files {
		target := filepath.Join(dir, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		mode := os.FileMode(0o644)
		if f.Executable {
			mode = 0o755
		}
		tmp, err := os.CreateTemp(filepath.Dir(target), ".avdgen-*")
		if err != nil {
			return err
		}
		werr := writeContent(tmp, f)
		cerr := tmp.Close()
		if werr == nil {
			werr = cerr
		}
		if werr == nil {
			werr = os.Chmod(tmp.Name(), mode)
		}
		if werr == nil {
			werr = os.Rename(tmp.Name(), target)
		}
		if werr != nil {
			os.Remove(tmp.Name())
			return fmt.Errorf("writing %s: %w", target, werr)
		}
	}
	for _, p := range stale {
		if err := os.Remove(filepath.Join(dir, filepath.FromSlash(p))); err != nil {
			return err
		}
		removeEmptyParents(dir, filepath.Dir(filepath.Join(dir, filepath.FromSlash(p))))
	}
	return nil
}

func removeEmptyParents(root, d string) {
	for d != root && strings.HasPrefix(d, root) {
		if os.Remove(d) != nil {
			return
		}
		d = filepath.Dir(d)
	}
}

// writeContent copies a streamed file, or writes Data.
func writeContent(w io.Writer, f File) error {
	if f.Open == nil {
		_, err := w.Write(f.Data)
		return err
	}
	r, err := f.Open()
	if err != nil {
		return err
	}
	defer r.Close()
	n, err := io.Copy(w, r)
	if err == nil && n != f.Size {
		err = fmt.Errorf("wrote %d bytes, expected %d", n, f.Size)
	}
	return err
}
