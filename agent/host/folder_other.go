//go:build !windows

package host

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// ProtectFolder is the POSIX stand-in of the Windows check, so tests and
// benchmarks exercise the same refusals: the folder is created 0700 when
// missing, must not be a symbolic link, must belong to this account or root,
// and must not be writable by group or others. A folder it did not create is
// judged, never changed.
func ProtectFolder(dir string) error {
	fi, err := os.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("creating %s: %w", dir, err)
		}
		fi, err = os.Lstat(dir)
	}
	if err != nil {
		return err
	}
	sec, err := posixSecurity(dir, fi)
	if err != nil {
		return err
	}
	if !fi.IsDir() && !sec.Reparse {
		return fmt.Errorf("%s is not a folder", dir)
	}
	return JudgeSecurity(dir, sec)
}

// FolderSecurity reads dir's owner and mode as a Security.
func FolderSecurity(dir string) (Security, error) {
	fi, err := os.Lstat(dir)
	if err != nil {
		return Security{}, err
	}
	return posixSecurity(dir, fi)
}

// SafeFile: a regular file with one link, trusted owner, not group/other
// writable; a missing file is fine.
func SafeFile(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	sec, err := posixSecurity(path, fi)
	if err != nil {
		return err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
		return fmt.Errorf("%s has %d hard links; one may point at a file the agent must not write", path, st.Nlink)
	}
	if !sec.Reparse && !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", path)
	}
	return JudgeSecurity(path, sec)
}

// posixSecurity maps POSIX ownership onto the Windows judgement: this
// account and root play SYSTEM/Administrators, group and others are the
// untrusted writers.
func posixSecurity(path string, fi os.FileInfo) (Security, error) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return Security{}, fmt.Errorf("%s: no owner information", path)
	}
	owner := fmt.Sprintf("uid %d", st.Uid)
	if int(st.Uid) == os.Geteuid() || st.Uid == 0 {
		owner = SIDSystem
	}
	s := Security{Owner: owner, Reparse: fi.Mode()&fs.ModeSymlink != 0}
	if fi.Mode().Perm()&0o020 != 0 {
		s.ACEs = append(s.ACEs, ACE{SID: fmt.Sprintf("gid %d", st.Gid), Allow: true, Mask: 0x2})
	}
	if fi.Mode().Perm()&0o002 != 0 {
		s.ACEs = append(s.ACEs, ACE{SID: "others", Allow: true, Mask: 0x2})
	}
	return s, nil
}
