//go:build unix

package benchutil

import (
	"os"
	"syscall"
)

// peakRSSKiB reads ru_maxrss (KiB on Linux).
func peakRSSKiB(ps *os.ProcessState) int64 {
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return int64(ru.Maxrss)
	}
	return 0
}
