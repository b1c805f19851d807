//go:build !windows

package agentcmd

import (
	"os"
	"syscall"
	"testing"
	"time"
)

func TestSystemEnvContextEndsOnSIGTERM(t *testing.T) {
	env, stop := SystemEnv()
	defer stop()
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Skip(err)
	}
	select {
	case <-env.Context.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("SIGTERM did not cancel the run's context")
	}
}
