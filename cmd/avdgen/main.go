// Command avdgen writes the Group Policy and Intune bundles that make personal
// Azure Virtual Desktop hosts deallocate themselves after their user signs out.
package main

import (
	"os"

	"github.com/avdgen/avdgen/cmd/avdgen/app"
)

func main() {
	os.Exit(app.Main(os.Args[1:], app.SystemFactory()))
}
