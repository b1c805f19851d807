// Package agentcmd wires avd-agent's command line (logoff, check, version).
package agentcmd

import (
	"fmt"
	"io"
	"os"

	"github.com/avdgen/avdgen/cmd/internal/buildinfo"
)

// Env is what a run is given: streams and the environment. (Being filled in.)
type Env struct {
	Out, ErrOut io.Writer
}

// SystemEnv is the Env of a real run.
func SystemEnv() *Env { return &Env{Out: os.Stdout, ErrOut: os.Stderr} }

// Main runs avd-agent and returns its exit code.
func Main(args []string, env *Env) int {
	if len(args) == 1 && args[0] == "version" {
		fmt.Fprintf(env.Out, "avd-agent %s\n", buildinfo.Version)
		return 0
	}
	fmt.Fprintln(env.ErrOut, "avd-agent: not implemented yet")
	return 2
}
