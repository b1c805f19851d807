//go:build !unix

package benchutil

import "os"

// peakRSSKiB is not measured on this system.
func peakRSSKiB(*os.ProcessState) int64 { return 0 }
