// Command distpack packs the per-platform avdgen builds that `make dist`
// stages into reproducible archives and writes SHA256SUMS beside them:
// a .zip for Windows (what Explorer opens), a .tar.gz elsewhere (keeping the
// executable bit). Entries are sorted, carry one fixed time (the commit's, or
// SOURCE_DATE_EPOCH) and no owner, so the same commit gives the same bytes.
//
// Usage: distpack -mtime UNIX STAGE-DIR OUT-DIR
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/avdgen/avdgen/cmd/internal/distpack/pack"
)

func main() {
	mtime := flag.Int64("mtime", 0, "file time of every archive entry, in Unix seconds")
	flag.Parse()
	if flag.NArg() != 2 {
		fmt.Fprintln(os.Stderr, "usage: distpack -mtime UNIX STAGE-DIR OUT-DIR")
		os.Exit(2)
	}
	sums, err := pack.All(flag.Arg(0), flag.Arg(1), *mtime)
	if err != nil {
		fmt.Fprintln(os.Stderr, "distpack:", err)
		os.Exit(1)
	}
	for _, s := range sums {
		fmt.Println(s)
	}
}
