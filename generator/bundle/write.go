package bundle

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
)

// WriteOptions control Write and Plan.
type WriteOptions struct {
	// Force allows replacing a directory that holds a previous avdgen
	// bundle (its manifest lists every file in it). The previous bundle is
	// replaced as a whole, only once the new one is complete.
	Force bool
	// FS is the file system; nil means OSFS.
	FS FS
}

func (o WriteOptions) fsys() FS {
	if o.FS == nil {
		return OSFS{}
	}
	return o.FS
}

// RefusedError says why Write or Plan will not touch --out. Nothing was
// written: it is the user's input that has to change.
type RefusedError struct{ Msg string }

func (e *RefusedError) Error() string { return e.Msg }

func refuse(format string, args ...any) error {
	return &RefusedError{Msg: fmt.Sprintf(format, args...)}
}

// PlanResult is what Write would do.
type PlanResult struct {
	// Exists: dir exists (and is then empty, unchanged or replaced).
	Exists, Empty bool
	// Unchanged: dir already holds exactly these files, byte for byte;
	// Write writes nothing.
	Unchanged bool
	// Stale lists the previous bundle's files the new one no longer has.
	Stale []string
	// mode is the previous folder's permission bits, kept on replacement.
	mode fs.FileMode
}

// Plan checks whether files may be written into dir, without writing
// anything.
func Plan(dir string, files []File, opts WriteOptions) (PlanResult, error) {
	return plan(opts.fsys(), dir, files, opts)
}

func plan(fsys FS, dir string, files []File, opts WriteOptions) (PlanResult, error) {
	var p PlanResult
	fi, err := fsys.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return p, nil
	}
	if err != nil {
		return p, fmt.Errorf("--out %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return p, refuse("--out %s is not a folder; choose a new or empty folder", dir)
	}
	p.Exists, p.mode = true, fi.Mode().Perm()
	entries, err := fsys.ReadDir(dir)
	if err != nil {
		return p, fmt.Errorf("--out %s: %w", dir, err)
	}
	if len(entries) == 0 {
		p.Empty = true
		return p, nil
	}
	b, err := fsys.ReadFile(filepath.Join(dir, ManifestName))
	if err != nil {
		if !opts.Force {
			return p, refuse("--out %s is not empty; pass --force to replace a bundle avdgen wrote there before", dir)
		}
		return p, refuse("--out %s is not empty and has no %s, so it was not written by avdgen; refusing to overwrite it even with --force (choose an empty or new folder)", dir, ManifestName)
	}
	var prev Manifest
	if err := json.Unmarshal(b, &prev); err != nil {
		return p, refuse("--out %s: previous %s is unreadable (%v); refusing to overwrite", dir, ManifestName, err)
	}
	owned := map[string]bool{ManifestName: true}
	for _, f := range prev.Files {
		owned[f.Path] = true
	}
	existing, err := walkFiles(fsys, dir)
	if err != nil {
		return p, fmt.Errorf("--out %s: %w", dir, err)
	}
	if same, err := identical(fsys, dir, existing, files); err != nil {
		return p, fmt.Errorf("--out %s: %w", dir, err)
	} else if same {
		p.Unchanged = true
		return p, nil
	}
	if !opts.Force {
		return p, refuse("--out %s is not empty; pass --force to replace a bundle avdgen wrote there before", dir)
	}
	// Any existing file the previous bundle did not write is the user's.
	for _, e := range existing {
		if !owned[e.path] {
			return p, refuse("--out %s holds %s, which the previous avdgen bundle did not write; refusing to touch it (move it away, or choose another folder)", dir, e.path)
		}
	}
	wanted := map[string]bool{}
	for _, f := range files {
		wanted[f.Path] = true
	}
	for _, e := range existing {
		if !wanted[e.path] {
			p.Stale = append(p.Stale, e.path)
		}
	}
	sort.Strings(p.Stale)
	return p, nil
}

type existingFile struct {
	path string // slash-separated, relative
	info fs.FileInfo
}

// walkFiles lists every non-directory under dir (symlinks included, not
// followed).
func walkFiles(fsys FS, dir string) ([]existingFile, error) {
	var out []existingFile
	var walk func(rel string) error
	walk = func(rel string) error {
		entries, err := fsys.ReadDir(filepath.Join(dir, filepath.FromSlash(rel)))
		if err != nil {
			return err
		}
		for _, e := range entries {
			p := e.Name()
			if rel != "" {
				p = rel + "/" + p
			}
			if e.IsDir() {
				if err := walk(p); err != nil {
					return err
				}
				continue
			}
			fi, err := e.Info()
			if err != nil {
				return err
			}
			out = append(out, existingFile{p, fi})
		}
		return nil
	}
	return out, walk("")
}

// identical reports whether the existing files are exactly files: same
// names, sizes, contents and (where the OS has them) executable bits.
func identical(fsys FS, dir string, existing []existingFile, files []File) (bool, error) {
	if len(existing) != len(files) {
		return false, nil
	}
	have := map[string]fs.FileInfo{}
	for _, e := range existing {
		have[e.path] = e.info
	}
	for _, f := range files {
		fi, ok := have[f.Path]
		if !ok || !fi.Mode().IsRegular() || fi.Size() != f.Len() {
			return false, nil
		}
		if runtime.GOOS != "windows" && (fi.Mode().Perm()&0o100 != 0) != f.Executable {
			return false, nil
		}
	}
	for _, f := range files {
		want, err := digest(f)
		if err != nil {
			return false, err
		}
		r, err := fsys.Open(filepath.Join(dir, filepath.FromSlash(f.Path)))
		if err != nil {
			return false, err
		}
		h := sha256.New()
		_, err = io.Copy(h, r)
		r.Close()
		if err != nil {
			return false, err
		}
		if hex.EncodeToString(h.Sum(nil)) != want {
			return false, nil
		}
	}
	return true, nil
}

func digest(f File) (string, error) {
	if f.SHA256 != "" {
		return f.SHA256, nil
	}
	if f.Open != nil {
		return "", fmt.Errorf("internal error: streamed file %s has no digest", f.Path)
	}
	sum := sha256.Sum256(f.Data)
	return hex.EncodeToString(sum[:]), nil
}

// Result is what Write did.
type Result struct {
	// Unchanged: dir already held exactly this bundle; nothing was written.
	Unchanged bool
	// Warnings are problems that did not stop the write, such as a previous
	// bundle that was moved aside but could not be deleted.
	Warnings []string
}

// Sibling folder names: the new bundle is written into tmpMark, the
// previous one is moved to oldMark while the new one takes its place.
const (
	tmpMark = ".avdgen-tmp-"
	oldMark = ".avdgen-old-"
)

// Write writes files into dir as a whole: everything goes into a temporary
// sibling folder, is synced, and is then renamed into place; with --force
// the previous bundle is moved aside first and deleted last. A failure at
// any point leaves dir as it was; folders a crashed run left behind are
// cleaned up (or the previous bundle restored) by the next run.
func Write(dir string, files []File, opts WriteOptions) (Result, error) {
	var res Result
	fsys := opts.fsys()
	abs, err := filepath.Abs(dir)
	if err != nil {
		return res, fmt.Errorf("--out %s: %w", dir, err)
	}
	if fi, err := fsys.Lstat(abs); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		// Replace the folder the link points to, not the link.
		if abs, err = filepath.EvalSymlinks(abs); err != nil {
			return res, fmt.Errorf("--out %s: %w", dir, err)
		}
	}
	parent, base := filepath.Dir(abs), filepath.Base(abs)
	if parent == abs {
		return res, refuse("--out %s is a file system root; choose a folder", dir)
	}
	res.Warnings = recoverSiblings(fsys, parent, base, abs)

	p, err := plan(fsys, abs, files, opts)
	if err != nil {
		return res, err
	}
	if p.Unchanged {
		res.Unchanged = true
		return res, nil
	}
	// Parent folders this run creates are removed again if it fails.
	var madeParents []string
	for d := parent; ; d = filepath.Dir(d) {
		if _, err := fsys.Lstat(d); !errors.Is(err, fs.ErrNotExist) || filepath.Dir(d) == d {
			break
		}
		madeParents = append(madeParents, d)
	}
	committed := false
	defer func() {
		if !committed {
			for _, d := range madeParents {
				fsys.Remove(d) // deepest first; only empty folders go
			}
		}
	}()
	if err := fsys.MkdirAll(parent, 0o755); err != nil {
		return res, fmt.Errorf("creating %s: %w", parent, err)
	}
	tmp, err := fsys.MkdirTemp(parent, "."+base+tmpMark)
	if err != nil {
		return res, fmt.Errorf("creating a temporary folder next to %s (nothing was changed): %w", dir, err)
	}
	defer func() {
		if !committed {
			removeOurs(fsys, tmp)
		}
	}()
	if err := writeTree(fsys, tmp, files); err != nil {
		return res, fmt.Errorf("writing the bundle (nothing in %s was changed): %w", dir, err)
	}
	mode := fs.FileMode(0o755)
	if p.Exists {
		mode = p.mode
	}
	if err := fsys.Chmod(tmp, mode); err != nil {
		return res, fmt.Errorf("writing the bundle (nothing in %s was changed): %w", dir, err)
	}
	if err := fsys.SyncDir(tmp); err != nil {
		return res, fmt.Errorf("writing the bundle (nothing in %s was changed): %w", dir, err)
	}

	switch {
	case !p.Exists:
		if err := fsys.Rename(tmp, abs); err != nil {
			return res, fmt.Errorf("moving the bundle into %s (nothing was changed): %w", dir, err)
		}
	case p.Empty:
		// Windows cannot rename onto an existing folder; it is empty.
		if err := fsys.Remove(abs); err != nil {
			return res, fmt.Errorf("replacing the empty folder %s (nothing was changed): %w", dir, err)
		}
		if err := fsys.Rename(tmp, abs); err != nil {
			fsys.MkdirAll(abs, mode)
			return res, fmt.Errorf("moving the bundle into %s (nothing was changed): %w", dir, err)
		}
	default:
		old := filepath.Join(parent, strings.Replace(filepath.Base(tmp), tmpMark, oldMark, 1))
		if err := fsys.Rename(abs, old); err != nil {
			return res, fmt.Errorf("moving the previous bundle in %s aside (nothing was changed): %w", dir, err)
		}
		if err := fsys.Rename(tmp, abs); err != nil {
			if rerr := fsys.Rename(old, abs); rerr != nil {
				return res, fmt.Errorf("moving the new bundle into %s: %w; the previous bundle is in %s and the next run puts it back (restoring it failed: %v)", dir, err, old, rerr)
			}
			return res, fmt.Errorf("moving the new bundle into %s (the previous bundle is back in place): %w", dir, err)
		}
		committed = true
		if err := fsys.SyncDir(parent); err != nil {
			return res, fmt.Errorf("syncing %s: %w", parent, err)
		}
		if err := removeOurs(fsys, old); err != nil {
			res.Warnings = append(res.Warnings, fmt.Sprintf("the previous bundle, moved to %s, could not be deleted (%v); the next run deletes it, or delete it yourself", old, err))
		}
	}
	committed = true
	if err := fsys.SyncDir(parent); err != nil {
		return res, fmt.Errorf("syncing %s: %w", parent, err)
	}
	return res, nil
}

// recoverSiblings cleans up after a run that crashed: temporary folders of
// an unfinished bundle are deleted, and a previous bundle moved aside
// whose replacement never arrived is put back. Only folders named with
// avdgen's marks next to this --out are touched.
func recoverSiblings(fsys FS, parent, base, abs string) []string {
	entries, err := fsys.ReadDir(parent)
	if err != nil {
		return nil
	}
	var warnings []string
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() {
			continue
		}
		path := filepath.Join(parent, name)
		switch {
		case strings.HasPrefix(name, "."+base+tmpMark):
		case strings.HasPrefix(name, "."+base+oldMark):
			if _, err := fsys.Lstat(abs); errors.Is(err, fs.ErrNotExist) {
				if err := fsys.Rename(path, abs); err == nil {
					warnings = append(warnings, fmt.Sprintf("put the previous bundle back into %s from %s, left there by an interrupted run", abs, name))
					continue
				}
			}
		default:
			continue
		}
		if err := removeOurs(fsys, path); err != nil {
			warnings = append(warnings, fmt.Sprintf("could not delete %s, left by an interrupted run: %v", path, err))
		}
	}
	return warnings
}

// removeOurs deletes a folder avdgen made; read-only subfolders (which a
// user may have made so) are made writable first.
func removeOurs(fsys FS, path string) error {
	if err := fsys.RemoveAll(path); err == nil {
		return nil
	}
	var chmodAll func(string)
	chmodAll = func(d string) {
		fsys.Chmod(d, 0o755)
		entries, _ := fsys.ReadDir(d)
		for _, e := range entries {
			if e.IsDir() {
				chmodAll(filepath.Join(d, e.Name()))
			}
		}
	}
	chmodAll(path)
	return fsys.RemoveAll(path)
}

// writeTree writes every file under root, then syncs files and folders.
// Files are synced concurrently: most of the cost is waiting for the disk
// (two 8 MB agents), and the file system batches concurrent flushes.
func writeTree(fsys FS, root string, files []File) error {
	dirs := map[string]bool{root: true}
	type written struct {
		w    WritableFile
		path string
		mode os.FileMode
	}
	var open []written
	closeAll := func() {
		for _, o := range open {
			o.w.Close()
		}
	}
	for _, f := range files {
		target := filepath.Join(root, filepath.FromSlash(f.Path))
		d := filepath.Dir(target)
		if !dirs[d] {
			if err := fsys.MkdirAll(d, 0o755); err != nil {
				closeAll()
				return err
			}
			for x := d; !dirs[x]; x = filepath.Dir(x) {
				dirs[x] = true
			}
		}
		mode := os.FileMode(0o644)
		if f.Executable {
			mode = 0o755
		}
		w, err := fsys.Create(target, mode)
		if err == nil {
			open = append(open, written{w, target, mode})
			err = writeContent(w, f)
		}
		if err != nil {
			closeAll()
			return fmt.Errorf("%s: %w", f.Path, err)
		}
	}
	errs := make([]error, len(open))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i, o := range open {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			err := o.w.Sync()
			if cerr := o.w.Close(); err == nil {
				err = cerr
			}
			if err == nil {
				err = fsys.Chmod(o.path, o.mode) // whatever the umask
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	// Deepest first, so each folder's entries are durable before its parent's.
	order := make([]string, 0, len(dirs))
	for d := range dirs {
		order = append(order, d)
	}
	sort.Slice(order, func(i, j int) bool { return len(order[i]) > len(order[j]) })
	for _, d := range order {
		if err := fsys.SyncDir(d); err != nil {
			return fmt.Errorf("syncing %s: %w", d, err)
		}
	}
	return nil
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
