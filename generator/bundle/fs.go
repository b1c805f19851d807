package bundle

import (
	"io"
	"io/fs"
	"os"
	"runtime"
)

// FS is the file system Write and Plan use. OSFS is the real one; tests
// inject failures (a full disk on the Nth write, a folder that refuses
// writes) that chmod cannot produce when the tests run as root.
type FS interface {
	Lstat(name string) (fs.FileInfo, error)
	ReadDir(name string) ([]fs.DirEntry, error)
	ReadFile(name string) ([]byte, error)
	Open(name string) (io.ReadCloser, error)
	MkdirAll(path string, perm fs.FileMode) error
	MkdirTemp(dir, pattern string) (string, error)
	Chmod(name string, mode fs.FileMode) error
	// Create makes a new file (it must not exist) with mode perm.
	Create(name string, perm fs.FileMode) (WritableFile, error)
	Rename(oldpath, newpath string) error
	Remove(name string) error
	RemoveAll(path string) error
	// SyncDir makes the directory's entries (new names, renames) durable.
	SyncDir(name string) error
}

// WritableFile is a file being written.
type WritableFile interface {
	io.Writer
	Sync() error
	Close() error
}

// OSFS is the operating system's file system.
type OSFS struct{}

func (OSFS) Lstat(name string) (fs.FileInfo, error)        { return os.Lstat(name) }
func (OSFS) ReadDir(name string) ([]fs.DirEntry, error)    { return os.ReadDir(name) }
func (OSFS) ReadFile(name string) ([]byte, error)          { return os.ReadFile(name) }
func (OSFS) Open(name string) (io.ReadCloser, error)       { return os.Open(name) }
func (OSFS) MkdirAll(path string, perm fs.FileMode) error  { return os.MkdirAll(path, perm) }
func (OSFS) MkdirTemp(dir, pattern string) (string, error) { return os.MkdirTemp(dir, pattern) }
func (OSFS) Chmod(name string, mode fs.FileMode) error     { return os.Chmod(name, mode) }
func (OSFS) Rename(oldpath, newpath string) error          { return os.Rename(oldpath, newpath) }
func (OSFS) Remove(name string) error                      { return os.Remove(name) }
func (OSFS) RemoveAll(path string) error                   { return os.RemoveAll(path) }

func (OSFS) Create(name string, perm fs.FileMode) (WritableFile, error) {
	return os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
}

func (OSFS) SyncDir(name string) error {
	if runtime.GOOS == "windows" {
		// Windows cannot fsync a directory handle; NTFS journals renames.
		return nil
	}
	d, err := os.Open(name)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
