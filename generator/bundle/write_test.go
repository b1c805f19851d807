package bundle

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// faultFS is the real file system with injected failures.
type faultFS struct {
	OSFS
	// failWrite makes the Nth Write call (1-based, over all files) fail
	// with ENOSPC, as on a full disk.
	failWrite, writes int
	// deny makes an operation on a path fail with EACCES.
	deny func(op, path string) bool
	// unlocked records Chmod calls (a read-only folder made writable).
	unlocked map[string]bool
	mu       sync.Mutex // Write syncs and chmods files concurrently
}

func (f *faultFS) check(op, path string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.deny != nil && f.deny(op, path) {
		return &fs.PathError{Op: op, Path: path, Err: syscall.EACCES}
	}
	return nil
}

type faultFile struct {
	WritableFile
	fs   *faultFS
	name string
}

func (w faultFile) Write(b []byte) (int, error) {
	w.fs.writes++
	if w.fs.writes == w.fs.failWrite {
		return 0, &fs.PathError{Op: "write", Path: w.name, Err: syscall.ENOSPC}
	}
	return w.WritableFile.Write(b)
}

func (f *faultFS) Create(name string, perm fs.FileMode) (WritableFile, error) {
	if err := f.check("create", name); err != nil {
		return nil, err
	}
	w, err := f.OSFS.Create(name, perm)
	if err != nil {
		return nil, err
	}
	return faultFile{w, f, name}, nil
}

func (f *faultFS) MkdirAll(p string, perm fs.FileMode) error {
	if err := f.check("mkdir", p); err != nil {
		return err
	}
	return f.OSFS.MkdirAll(p, perm)
}

func (f *faultFS) MkdirTemp(dir, pattern string) (string, error) {
	if err := f.check("mkdirtemp", dir); err != nil {
		return "", err
	}
	return f.OSFS.MkdirTemp(dir, pattern)
}

func (f *faultFS) Rename(o, n string) error {
	if err := f.check("rename", n); err != nil {
		return err
	}
	return f.OSFS.Rename(o, n)
}

func (f *faultFS) Remove(p string) error {
	if err := f.check("remove", p); err != nil {
		return err
	}
	return f.OSFS.Remove(p)
}

// RemoveAll removes file by file, so that deny sees each path.
func (f *faultFS) RemoveAll(p string) error {
	var firstErr error
	var rm func(string)
	rm = func(x string) {
		if fi, err := os.Lstat(x); err == nil && fi.IsDir() {
			entries, _ := os.ReadDir(x)
			for _, e := range entries {
				rm(filepath.Join(x, e.Name()))
			}
		}
		if err := f.Remove(x); err != nil && !errors.Is(err, fs.ErrNotExist) && firstErr == nil {
			firstErr = err
		}
	}
	rm(p)
	return firstErr
}

func (f *faultFS) Chmod(p string, m fs.FileMode) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.unlocked == nil {
		f.unlocked = map[string]bool{}
	}
	f.unlocked[p] = true
	return f.OSFS.Chmod(p, m)
}

// snapshot records every path under root with its mode and content.
func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		v := fi.Mode().String()
		if !d.IsDir() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			v += " " + string(b)
		}
		out[filepath.ToSlash(rel)] = v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameSnapshot(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	var diffs []string
	for k, v := range want {
		if got[k] != v {
			diffs = append(diffs, "changed or missing: "+k)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			diffs = append(diffs, "added: "+k)
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 0 {
		t.Errorf("%s: the folder changed:\n%s", what, strings.Join(diffs, "\n"))
	}
}

func siblings(t *testing.T, parent string) []string {
	t.Helper()
	entries, err := os.ReadDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if strings.Contains(e.Name(), ".avdgen-") {
			names = append(names, e.Name())
		}
	}
	return names
}

func v1(t *testing.T) []File {
	return build(t, File{Path: "a.txt", Data: []byte("v1 a")}, File{Path: "sub/b.txt", Data: []byte("v1 b")},
		File{Path: "sub/deep/c.txt", Data: []byte("v1 c")}, File{Path: "agent.exe", Data: []byte(strings.Repeat("1", 1<<16)), Executable: true})
}

func v2(t *testing.T) []File {
	return build(t, File{Path: "a.txt", Data: []byte("v2 a")}, File{Path: "sub/b.txt", Data: []byte("v2 b")},
		File{Path: "new/d.txt", Data: []byte("v2 d")}, File{Path: "agent.exe", Data: []byte(strings.Repeat("2", 1<<16)), Executable: true})
}

func wantBundle(t *testing.T, dir string, files []File) {
	t.Helper()
	got := snapshot(t, dir)
	n := 0
	for _, f := range files {
		v, ok := got[f.Path]
		if !ok || !strings.HasSuffix(v, " "+string(f.Data)) {
			t.Errorf("%s: got %.40q, want the new content", f.Path, v)
		}
		n++
	}
	for k, v := range got {
		if !strings.HasPrefix(v, "d") {
			n--
		}
		_ = k
	}
	if n != 0 {
		t.Errorf("bundle has extra or missing files: %v", got)
	}
}

// TestFullDiskLeavesPreviousBundle: a write failing with ENOSPC at any
// point leaves the previous bundle (and the folder around it) exactly as
// it was, and the next run succeeds without hand cleanup.
func TestFullDiskLeavesPreviousBundle(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "out")
	if _, err := Write(dir, v1(t), WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, parent)
	for n := 1; n <= len(v2(t)); n++ {
		ffs := &faultFS{failWrite: n}
		_, err := Write(dir, v2(t), WriteOptions{Force: true, FS: ffs})
		if !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("write %d fails: err = %v, want ENOSPC", n, err)
		}
		var refused *RefusedError
		if errors.As(err, &refused) {
			t.Errorf("a full disk is reported as a refusal: %v", err)
		}
		sameSnapshot(t, "after ENOSPC on write "+string(rune('0'+n)), snapshot(t, parent), before)
	}
	// A fresh --out: nothing at all is left.
	fresh := filepath.Join(parent, "fresh")
	if _, err := Write(fresh, v2(t), WriteOptions{FS: &faultFS{failWrite: 3}}); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("fresh: err = %v", err)
	}
	if _, err := os.Lstat(fresh); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a half-written %s exists after ENOSPC", fresh)
	}
	sameSnapshot(t, "fresh --out after ENOSPC", snapshot(t, parent), before)
	// Nor the parent folders a nested --out needed.
	nested := filepath.Join(parent, "x", "y", "out")
	if _, err := Write(nested, v2(t), WriteOptions{FS: &faultFS{failWrite: 2}}); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("nested: err = %v", err)
	}
	sameSnapshot(t, "nested --out after ENOSPC", snapshot(t, parent), before)

	// The next run, disk space back, just works.
	if _, err := Write(dir, v2(t), WriteOptions{Force: true}); err != nil {
		t.Fatalf("rerun: %v", err)
	}
	wantBundle(t, dir, v2(t))
	if s := siblings(t, parent); len(s) > 0 {
		t.Errorf("left behind: %v", s)
	}
}

// TestPermissionErrorsLeavePreviousBundle: no permission to create the
// temporary folder, a subfolder or a file in it, or to move the new bundle
// into place: the previous bundle stays as it was.
func TestPermissionErrorsLeavePreviousBundle(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "out")
	if _, err := Write(dir, v1(t), WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, parent)
	renames := 0
	cases := map[string]func(op, p string) bool{
		"parent not writable":    func(op, p string) bool { return op == "mkdirtemp" },
		"subfolder not writable": func(op, p string) bool { return op == "mkdir" && strings.HasSuffix(p, "new") },
		"file not writable":      func(op, p string) bool { return op == "create" && strings.HasSuffix(p, "b.txt") },
		// The first rename onto out (the new bundle) fails; putting the
		// previous one back is allowed.
		"rename into place": func(op, p string) bool {
			if op == "rename" && p == dir {
				renames++
				return renames == 1
			}
			return false
		},
	}
	for name, deny := range cases {
		_, err := Write(dir, v2(t), WriteOptions{Force: true, FS: &faultFS{deny: deny}})
		if !errors.Is(err, syscall.EACCES) {
			t.Errorf("%s: err = %v, want EACCES", name, err)
		}
		sameSnapshot(t, name, snapshot(t, parent), before)
	}
}

// TestForceOverReadOnlySubfolder: the previous bundle has a subfolder whose
// files cannot be deleted. The new bundle still replaces it as a whole;
// the old one is deleted once the folder is made writable, or else left
// aside with a warning and deleted by the next run.
func TestForceOverReadOnlySubfolder(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "out")
	if _, err := Write(dir, v1(t), WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	inSub := func(p string) bool { return strings.Contains(filepath.ToSlash(p), "/sub/") }

	// Read-only until chmod (as for a non-root user).
	ffs := &faultFS{}
	ffs.deny = func(op, p string) bool {
		if op != "remove" || !inSub(p) {
			return false
		}
		sub := p[:strings.Index(filepath.ToSlash(p), "/sub/")+len("/sub")]
		return !ffs.unlocked[sub] // called with ffs.mu held
	}
	res, err := Write(dir, v2(t), WriteOptions{Force: true, FS: ffs})
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	if len(res.Warnings) != 0 {
		t.Errorf("warnings: %v", res.Warnings)
	}
	wantBundle(t, dir, v2(t))
	if s := siblings(t, parent); len(s) > 0 {
		t.Errorf("left behind: %v", s)
	}

	// Cannot be deleted at all: the new bundle is complete, the old one is
	// named in a warning, and the next run deletes it.
	if _, err := Write(dir, v1(t), WriteOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	stuck := &faultFS{deny: func(op, p string) bool { return op == "remove" && inSub(p) && strings.Contains(p, oldMark) }}
	res, err = Write(dir, v2(t), WriteOptions{Force: true, FS: stuck})
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	wantBundle(t, dir, v2(t))
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "could not be deleted") {
		t.Errorf("warnings = %v, want one naming the previous bundle", res.Warnings)
	}
	res, err = Write(dir, v2(t), WriteOptions{Force: true})
	if err != nil || !res.Unchanged {
		t.Fatalf("rerun: %+v, %v; want unchanged", res, err)
	}
	if s := siblings(t, parent); len(s) > 0 {
		t.Errorf("left behind after the rerun: %v", s)
	}
}

// noWriteFS fails every operation that would change anything.
type noWriteFS struct{ OSFS }

func (noWriteFS) Create(n string, _ fs.FileMode) (WritableFile, error) {
	return nil, errors.New("create " + n)
}
func (noWriteFS) MkdirAll(p string, _ fs.FileMode) error { return errors.New("mkdir " + p) }
func (noWriteFS) MkdirTemp(d, _ string) (string, error)  { return "", errors.New("mkdirtemp " + d) }
func (noWriteFS) Chmod(p string, _ fs.FileMode) error    { return errors.New("chmod " + p) }
func (noWriteFS) Rename(o, _ string) error               { return errors.New("rename " + o) }
func (noWriteFS) Remove(p string) error                  { return errors.New("remove " + p) }
func (noWriteFS) RemoveAll(p string) error               { return errors.New("removeall " + p) }

// TestRerunUnchangedWritesNothing: the same bundle again writes nothing,
// with or without --force; any difference is a change.
func TestRerunUnchangedWritesNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	if _, err := Write(dir, v1(t), WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, force := range []bool{false, true} {
		res, err := Write(dir, v1(t), WriteOptions{Force: force, FS: noWriteFS{}})
		if err != nil || !res.Unchanged {
			t.Errorf("force=%v: %+v, %v; want unchanged and nothing written", force, res, err)
		}
	}
	if p, err := Plan(dir, v1(t), WriteOptions{}); err != nil || !p.Unchanged {
		t.Errorf("Plan: %+v, %v; want unchanged", p, err)
	}
	// One byte different, or a mode bit: not unchanged.
	changed := v1(t)
	changed[0].Data = []byte("v1 A")
	if _, err := Write(dir, changed, WriteOptions{Force: true, FS: noWriteFS{}}); err == nil {
		t.Error("a changed file was reported unchanged")
	}
	if err := os.Chmod(filepath.Join(dir, "agent.exe"), 0o644); err != nil {
		t.Fatal(err)
	}
	if p, _ := Plan(dir, v1(t), WriteOptions{Force: true}); p.Unchanged && os.Getenv("GOOS") != "windows" {
		t.Error("a lost executable bit was reported unchanged")
	}
}

// TestNextRunRecoversFromACrash: folders an interrupted run left next to
// --out are cleaned up; a previous bundle moved aside whose replacement
// never arrived is put back first. Folders that are not avdgen's are left
// alone.
func TestNextRunRecoversFromACrash(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "out")
	if _, err := Write(dir, v1(t), WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	// Crash while writing: a half-written temporary folder.
	tmp := filepath.Join(parent, ".out"+tmpMark+"123")
	os.MkdirAll(filepath.Join(tmp, "sub"), 0o755)
	os.WriteFile(filepath.Join(tmp, "sub", "b.txt"), []byte("half"), 0o644)
	// Not ours: another --out's folder, and a user's folder.
	other := filepath.Join(parent, ".other"+tmpMark+"9")
	os.MkdirAll(other, 0o755)
	mine := filepath.Join(parent, "out-notes")
	os.MkdirAll(mine, 0o755)
	if _, err := Write(dir, v2(t), WriteOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	wantBundle(t, dir, v2(t))
	if _, err := os.Stat(tmp); err == nil {
		t.Error("the stale temporary folder is still there")
	}
	for _, keep := range []string{other, mine} {
		if _, err := os.Stat(keep); err != nil {
			t.Errorf("%s was deleted", keep)
		}
	}

	// Crash between moving the previous bundle aside and moving the new one
	// in: the next run puts the previous one back before anything else.
	old := filepath.Join(parent, ".out"+oldMark+"456")
	if err := os.Rename(dir, old); err != nil {
		t.Fatal(err)
	}
	res, err := Write(dir, v1(t), WriteOptions{}) // no --force: refused, but restored
	if err == nil {
		t.Fatal("Write without --force over the restored bundle: want refusal")
	}
	wantBundle(t, dir, v2(t))
	if len(res.Warnings) == 0 || !strings.Contains(res.Warnings[0], "put the previous bundle back") {
		t.Errorf("warnings = %v", res.Warnings)
	}
	if _, err := os.Stat(old); err == nil {
		t.Error("the moved-aside bundle is still there")
	}
}
