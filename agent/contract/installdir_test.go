package contract

import (
	"errors"
	"strings"
	"testing"
)

func TestExpandWindowsVars(t *testing.T) {
	for in, want := range map[string]string{
		`%SystemRoot%\Temp`:                  `C:\Windows\Temp`,
		`%PROGRAMFILES(X86)%\a`:              `C:\Program Files (x86)\a`,
		`%SystemDrive%\x\%windir%`:           `C:\x\C:\Windows`,
		`C:\plain`:                           `C:\plain`,
		`%ProgramFiles%\avdgen\%SystemRoot%`: `C:\Program Files\avdgen\C:\Windows`,
	} {
		if got, err := ExpandWindowsVars(in, StandardLookup); err != nil || got != want {
			t.Errorf("%s: %q %v, want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{`%TEMP%\x`, `%\x`, `x%`, `%%\x`, `%Program Files%`} {
		if got, err := ExpandWindowsVars(bad, StandardLookup); !errors.Is(err, ErrUnknownVar) {
			t.Errorf("%s: %q %v, want ErrUnknownVar", bad, got, err)
		}
	}
}

func TestJudgeInstallDir(t *testing.T) {
	for path, want := range map[string]string{
		`C:\Program Files\avdgen`:           "",
		`c:\PROGRAM FILES (X86)\a\b`:        "",
		`C:\Windows\avdgen`:                 "",
		`C:\WINDOWS\TEMP\avdgen`:            "users can write there",
		`C:\Windows\System32\Tasks\x`:       "users can write there",
		`C:\Windows\SysWOW64\com\dmp\x`:     "users can write there",
		`C:\ProgramData\avdgen`:             "users can write there",
		`C:\Users\Public\avdgen`:            "users can write there",
		`C:\Windows`:                        "use a dedicated folder",
		`C:\Program Files\`:                 "use a dedicated folder",
		`C:\tools\avdgen`:                   "must be under",
		`D:\Program Files\avdgen`:           "must be under",
		`\\server\share\avdgen`:             "not a local absolute path",
		`avdgen`:                            "not a local absolute path",
		`1:\Program Files\x`:                "not a local absolute path",
		`C:\Program Files\..\Users\x`:       "'..'",
		`C:\Program Files\.\x`:              "'.'",
		`C:\Program Files\\x`:               "empty",
		`C:\PROGRA~1\avdgen`:                "short (8.3) name",
		`C:\Windows\Temporary Files\avdgen`: "",
	} {
		err := JudgeInstallDir(path)
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("%s: %v, want %q", path, err, want)
		}
	}
}
