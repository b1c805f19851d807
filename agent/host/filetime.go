package host

import (
	"strings"
	"time"
)

// FinalPathToDOS turns what GetFinalPathNameByHandle returns (\\?\C:\x,
// \\?\UNC\server\share\x) into the usual spelling (C:\x, \\server\share\x).
func FinalPathToDOS(p string) string {
	if rest, ok := strings.CutPrefix(p, `\\?\UNC\`); ok {
		return `\\` + rest
	}
	return strings.TrimPrefix(p, `\\?\`)
}

// filetimeEpochOffset is the number of 100 ns intervals between 1601-01-01
// (the FILETIME epoch) and 1970-01-01.
const filetimeEpochOffset = 116444736000000000

// FiletimeToTime converts a FILETIME held in a LARGE_INTEGER (100 ns since
// 1601-01-01 UTC) to a time; 0 or any value before 1970 is "not known" (the
// zero time).
func FiletimeToTime(ft int64) time.Time {
	if ft <= filetimeEpochOffset {
		return time.Time{}
	}
	ft -= filetimeEpochOffset
	return time.Unix(ft/1e7, (ft%1e7)*100).UTC()
}
