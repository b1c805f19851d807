package winetest

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// The Windows build of avdgen (what most admins run, from `make dist`) writes
// the same GPO bundle, byte for byte, as the Linux build: no path separator,
// line ending or encoding depends on the OS avdgen runs on. Both builds embed
// the agents `make agents` wrote into dist/bin.
func TestWindowsAvdgenBundleMatchesLinuxUnderWine(t *testing.T) {
	w := prepare(t)
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"amd64", "arm64"} {
		if _, err := os.Stat(filepath.Join(root, "dist", "bin", "avd-agent-"+a+".exe")); err != nil {
			need(t, errors.New("dist/bin has no agents: run `make agents` (make test does)"))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	tmp := t.TempDir()
	bins := map[string]string{"linux": filepath.Join(tmp, "avdgen"), "windows": filepath.Join(tmp, "avdgen.exe")}
	for goos, out := range bins {
		build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-X github.com/avdgen/avdgen/cmd/internal/buildinfo.Version=v0.0.0-smoke",
			"-o", out, "./cmd/avdgen")
		build.Dir = root
		build.Env = append(os.Environ(), "GOOS="+goos, "GOARCH=amd64", "CGO_ENABLED=0")
		if res, err := build.CombinedOutput(); err != nil {
			t.Fatalf("building avdgen for %s: %v\n%s", goos, err, res)
		}
	}
	spec := filepath.Join(root, "examples", "avdgen.yaml")
	linuxOut, windowsOut := filepath.Join(tmp, "linux-gpo"), filepath.Join(tmp, "windows-gpo")

	lin := exec.CommandContext(ctx, bins["linux"], "gpo", "--config", spec, "--out", linuxOut)
	lin.Env = append(os.Environ(), "SOURCE_DATE_EPOCH=1700000000")
	if res, err := lin.CombinedOutput(); err != nil {
		t.Fatalf("linux avdgen gpo: %v\n%s", err, res)
	}
	// Wine maps the Unix root to drive Z:.
	winPath := func(p string) string { return `Z:` + strings.ReplaceAll(p, "/", `\`) }
	env := append(w.env(), "SOURCE_DATE_EPOCH=1700000000")
	res, err := run(ctx, env, w.wine, bins["windows"], "gpo", "--config", winPath(spec), "--out", winPath(windowsOut))
	if err != nil {
		t.Fatalf("windows avdgen gpo under Wine: %v\n%s", err, res)
	}

	want, got := tree(t, linuxOut), tree(t, windowsOut)
	if len(want) < 10 {
		t.Fatalf("the Linux bundle has only %d files", len(want))
	}
	var names []string
	for name := range want {
		names = append(names, name)
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		a, inLinux := want[name]
		b, inWindows := got[name]
		switch {
		case !inWindows:
			t.Errorf("%s: written by the Linux build only", name)
		case !inLinux:
			t.Errorf("%s: written by the Windows build only", name)
		case !bytes.Equal(a, b):
			t.Errorf("%s: differs (%d bytes on Linux, %d on Windows)", name, len(a), len(b))
		}
	}
	t.Logf("%d files identical", len(want))
}

// tree reads every file under dir, keyed by slash-separated relative path.
func tree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		files[filepath.ToSlash(rel)] = b
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}
