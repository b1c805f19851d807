package versioncmd

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/avdgen/avdgen/cmd/avdgen/app/cmdutil"
	"github.com/avdgen/avdgen/dist"
)

func TestVersionPrintsAgentDigests(t *testing.T) {
	var out bytes.Buffer
	f := &cmdutil.Factory{
		IO: &cmdutil.IOStreams{Out: &out, ErrOut: &out},
		Agents: func() (dist.Agents, error) {
			return dist.Agents{Version: "v9.9.9", ByArch: map[dist.Arch]dist.Agent{
				dist.AMD64: {Arch: dist.AMD64, Binary: []byte("MZamd64")},
				dist.ARM64: {Arch: dist.ARM64, Binary: []byte("MZarm64")},
			}}, nil
		},
	}
	cmd := NewCmdVersion(f, nil)
	cmd.SetArgs(nil)
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{
		"avd-agent v9.9.9",
		"windows/amd64 avd-agent-amd64.exe  sha256:472a725b897e7926e2aca9826528509a37a6855db6cf56f3bc82f08377df661d  7 bytes",
		"windows/arm64",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
}

func TestVersionWithoutAgentsFails(t *testing.T) {
	var out bytes.Buffer
	f := &cmdutil.Factory{
		IO:     &cmdutil.IOStreams{Out: &out, ErrOut: &out},
		Agents: func() (dist.Agents, error) { return dist.Agents{}, dist.ErrNotBundled },
	}
	cmd := NewCmdVersion(f, nil)
	cmd.SetArgs(nil)
	err := cmd.Execute()
	if !errors.Is(err, dist.ErrNotBundled) {
		t.Fatalf("err = %v, want ErrNotBundled", err)
	}
	if !strings.Contains(out.String(), "avd-agent: not bundled") {
		t.Errorf("output = %q", out.String())
	}
}
