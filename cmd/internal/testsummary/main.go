// Command testsummary reads `go test -json` on standard input and prints what
// a reader of CI needs: each package's ok/FAIL line, the whole output of every
// failed test, every skipped test with its reason, and one closing line
// "tests: N passed, N failed, N skipped". It exits 1 when a test or a build
// failed, and also when a test was skipped while CI=true: in CI every oracle
// is installed (.ci/deps), so a skip means a check silently did not run.
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/avdgen/avdgen/cmd/internal/testsummary/summary"
)

func main() {
	res, err := summary.Read(os.Stdin, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testsummary:", err)
		os.Exit(1)
	}
	os.Exit(res.ExitCode(os.Getenv("CI") == "true", io.Writer(os.Stdout)))
}
