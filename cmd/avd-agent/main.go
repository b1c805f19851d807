// Command avd-agent runs on an AVD session host as SYSTEM at logoff and
// deallocates its own VM once nobody is signed in any more.
package main

import (
	"os"

	"github.com/avdgen/avdgen/cmd/avd-agent/agentcmd"
)

func main() {
	env, stop := agentcmd.SystemEnv()
	code := agentcmd.Main(os.Args[1:], env)
	stop()
	os.Exit(code)
}
