//go:build windows

package host

import (
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/windows"
)

// ProtectFolder makes dir safe for SYSTEM to write into, or says why it is
// not. A missing folder is created with ProtectedSDDL. An existing folder is
// judged and never changed: a reparse point, another owner or any other
// writer is refused. Re-permissioning a folder it did not create could hand
// SYSTEM's protection to a folder a user prepared, or strip the ACL of one
// an administrator named by mistake (--log-file C:\ProgramData\avd.log).
func ProtectFolder(dir string) error {
	p, err := windows.UTF16PtrFromString(dir)
	if err != nil {
		return err
	}
	attrs, err := windows.GetFileAttributes(p)
	if errors.Is(err, windows.ERROR_FILE_NOT_FOUND) || errors.Is(err, windows.ERROR_PATH_NOT_FOUND) {
		sd, serr := windows.SecurityDescriptorFromString(ProtectedSDDL)
		if serr != nil {
			return serr
		}
		sa := &windows.SecurityAttributes{Length: uint32(unsafe.Sizeof(windows.SecurityAttributes{})), SecurityDescriptor: sd}
		if err := windows.CreateDirectory(p, sa); err != nil && !errors.Is(err, windows.ERROR_ALREADY_EXISTS) {
			return fmt.Errorf("creating %s: %w", dir, err)
		}
		attrs, err = windows.GetFileAttributes(p)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	if attrs&windows.FILE_ATTRIBUTE_DIRECTORY == 0 {
		return fmt.Errorf("%s is not a folder", dir)
	}
	sec, err := namedSecurity(dir, attrs)
	if err != nil {
		return err
	}
	return JudgeSecurity(dir, sec)
}

// FolderSecurity reads dir's owner and DACL for `avd-agent check`.
func FolderSecurity(dir string) (Security, error) {
	p, err := windows.UTF16PtrFromString(dir)
	if err != nil {
		return Security{}, err
	}
	attrs, err := windows.GetFileAttributes(p)
	if err != nil {
		return Security{}, fmt.Errorf("%s: %w", dir, err)
	}
	return namedSecurity(dir, attrs)
}

func namedSecurity(path string, attrs uint32) (Security, error) {
	sd, err := windows.GetNamedSecurityInfo(path, windows.SE_FILE_OBJECT, windows.OWNER_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		return Security{}, fmt.Errorf("reading the security of %s: %w", path, err)
	}
	return toSecurity(sd, attrs&windows.FILE_ATTRIBUTE_REPARSE_POINT != 0)
}

func toSecurity(sd *windows.SECURITY_DESCRIPTOR, reparse bool) (Security, error) {
	s := Security{Reparse: reparse}
	owner, _, err := sd.Owner()
	if err != nil {
		return s, fmt.Errorf("reading the owner: %w", err)
	}
	if owner != nil {
		s.Owner = owner.String()
	}
	dacl, _, err := sd.DACL()
	if errors.Is(err, windows.ERROR_OBJECT_NOT_FOUND) || (err == nil && dacl == nil) {
		s.NullDACL = true
		return s, nil
	}
	if err != nil {
		return s, fmt.Errorf("reading the DACL: %w", err)
	}
	for i := uint32(0); i < uint32(dacl.AceCount); i++ {
		var ace *windows.ACCESS_ALLOWED_ACE
		if err := windows.GetAce(dacl, i, &ace); err != nil {
			return s, fmt.Errorf("reading ACE %d: %w", i, err)
		}
		sid := (*windows.SID)(unsafe.Pointer(&ace.SidStart))
		s.ACEs = append(s.ACEs, ACE{
			SID:         sid.String(),
			Allow:       allowType(ace.Header.AceType),
			Mask:        uint32(ace.Mask),
			InheritOnly: ace.Header.AceFlags&windows.INHERIT_ONLY_ACE != 0,
		})
	}
	return s, nil
}

// allowType: ACCESS_ALLOWED, _OBJECT, _CALLBACK and _CALLBACK_OBJECT ACEs
// grant rights. For the object kinds the SID read above is not where the ACE
// keeps it, which only makes the judgement stricter (an unknown writer).
func allowType(t uint8) bool { return t == 0 || t == 5 || t == 9 || t == 11 }

// SafeFile checks an existing file before SYSTEM writes or renames it: a
// regular file (no reparse point, no folder), one link only (a hard link
// could point anywhere), owned and writable only by SYSTEM and
// Administrators. A missing file is fine.
func SafeFile(path string) error {
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return err
	}
	h, err := windows.CreateFile(p, windows.READ_CONTROL|windows.FILE_READ_ATTRIBUTES,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE, nil, windows.OPEN_EXISTING,
		windows.FILE_FLAG_OPEN_REPARSE_POINT|windows.FILE_FLAG_BACKUP_SEMANTICS, 0)
	if errors.Is(err, windows.ERROR_FILE_NOT_FOUND) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	defer windows.CloseHandle(h)
	var info windows.ByHandleFileInformation
	if err := windows.GetFileInformationByHandle(h, &info); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	switch {
	case info.FileAttributes&windows.FILE_ATTRIBUTE_DIRECTORY != 0:
		return fmt.Errorf("%s is a folder, not a file", path)
	case info.NumberOfLinks > 1:
		return fmt.Errorf("%s has %d hard links; one may point at a file SYSTEM must not write", path, info.NumberOfLinks)
	}
	sd, err := windows.GetSecurityInfo(h, windows.SE_FILE_OBJECT, windows.OWNER_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		return fmt.Errorf("reading the security of %s: %w", path, err)
	}
	sec, err := toSecurity(sd, info.FileAttributes&windows.FILE_ATTRIBUTE_REPARSE_POINT != 0)
	if err != nil {
		return err
	}
	return JudgeSecurity(path, sec)
}
