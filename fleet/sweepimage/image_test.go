package sweepimage

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// needs skips locally and fails in CI (CI=true) when a tool is missing.
func needs(t *testing.T, tool string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing: .ci/deps installs it", tool)
		}
		t.Skipf("%s is missing (make deps installs it)", tool)
	}
	return p
}

var (
	buildOnce sync.Once
	binaries  map[string][]byte
	buildErr  error
)

// sweepBinaries builds the sweep-only avdgen for both architectures, as
// `make sweep-bin` does.
func sweepBinaries(t *testing.T) map[string][]byte {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "avdgen-sweepbin-")
		if err != nil {
			buildErr = err
			return
		}
		binaries = map[string][]byte{}
		for _, arch := range Arches {
			out := filepath.Join(dir, "avdgen-linux-"+arch)
			cmd := exec.Command("go", "build", "-tags", "noagents", "-trimpath", "-ldflags", "-s -w -buildid=", "-o", out, "github.com/avdgen/avdgen/cmd/avdgen")
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
			if b, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("go build %s: %v\n%s", arch, err, b)
				return
			}
			binaries[arch], buildErr = os.ReadFile(out)
		}
		os.RemoveAll(dir)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binaries
}

func caCerts(t *testing.T) []byte {
	b, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	if err != nil {
		t.Skip("no CA bundle at /etc/ssl/certs/ca-certificates.crt")
	}
	return b
}

// startRegistry runs Debian's docker-registry on a free loopback port with
// its own configuration and storage; it needs only loopback (unshare -n).
func startRegistry(t *testing.T) string {
	bin := needs(t, "docker-registry")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: %s
http:
  addr: %s
`, filepath.Join(dir, "storage"), addr)), 0o644)
	cmd := exec.Command(bin, "serve", cfg)
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; ; i++ {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return addr
			}
		}
		if i > 100 {
			t.Fatalf("docker-registry did not answer on %s: %v\n%s", addr, err, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Push to a real registry, pull back, check both platforms, the user, the
// certificates, and run the amd64 entrypoint.
func TestPushPullRun(t *testing.T) {
	addr := startRegistry(t)
	in := Input{Binaries: sweepBinaries(t), CACerts: caCerts(t), Created: time.Unix(1733000000, 0), Version: "test"}
	idx, err := Build(in)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := ParseReference(addr + "/avdgen/sweep:test")
	if err != nil {
		t.Fatal(err)
	}
	digest, err := Push(context.Background(), ref, idx, authn.NewMultiKeychain(), nil)
	if err != nil {
		t.Fatal(err)
	}
	pulled, err := remote.Index(ref)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := pulled.Digest(); d != digest {
		t.Errorf("pulled index %s, pushed %s", d, digest)
	}
	im, err := pulled.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 2 || im.Manifests[0].Platform.Architecture != "amd64" || im.Manifests[1].Platform.Architecture != "arm64" {
		t.Fatalf("manifests %+v", im.Manifests)
	}
	img, err := pulled.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	if cf.Config.User != "65532:65532" || strings.Join(cf.Config.Entrypoint, " ") != "/avdgen" || cf.OS != "linux" || cf.Architecture != "amd64" {
		t.Errorf("config %+v", cf.Config)
	}
	dir := t.TempDir()
	files := map[string]bool{}
	tr := tar.NewReader(mutate.Extract(img))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = true
		if h.Uid != 0 || h.ModTime.Unix() != 1733000000 {
			t.Errorf("%s: uid %d, mtime %s", h.Name, h.Uid, h.ModTime)
		}
		if h.Name == "avdgen" {
			f, _ := os.OpenFile(filepath.Join(dir, "avdgen"), os.O_CREATE|os.O_WRONLY, 0o755)
			io.Copy(f, tr)
			f.Close()
		}
	}
	for _, want := range []string{"avdgen", "etc/ssl/certs/ca-certificates.crt", "etc/passwd", "etc/group"} {
		if !files[want] {
			t.Errorf("image lacks %s (has %v)", want, files)
		}
	}
	for name := range files {
		if strings.HasSuffix(name, ".exe") {
			t.Errorf("image carries %s", name)
		}
	}
	if runtime.GOARCH != "amd64" || runtime.GOOS != "linux" {
		t.Skip("the amd64 entrypoint runs only on linux/amd64")
	}
	out, err := exec.Command(filepath.Join(dir, "avdgen"), "sweep", "--help").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--management-group") {
		t.Errorf("entrypoint: %v\n%s", err, out)
	}
}

// The same input gives the same index digest, whenever it is built.
func TestBuildIsReproducible(t *testing.T) {
	in := Input{Binaries: sweepBinaries(t), CACerts: caCerts(t), Created: time.Unix(1733000000, 0), Version: "test"}
	a, err := Build(in)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Build(in)
	da, _ := a.Digest()
	db, _ := b.Digest()
	if da != db {
		t.Errorf("two builds: %s and %s", da, db)
	}
	in.Version = "other"
	c, _ := Build(in)
	if dc, _ := c.Digest(); dc == da {
		t.Error("a different version label gave the same digest")
	}
}

func TestCheckRefusesWrongBinaries(t *testing.T) {
	bins := sweepBinaries(t)
	for name, in := range map[string]Input{
		"swapped":  {Binaries: map[string][]byte{"amd64": bins["arm64"], "arm64": bins["amd64"]}, CACerts: caCerts(t)},
		"not ELF":  {Binaries: map[string][]byte{"amd64": []byte("MZ"), "arm64": bins["arm64"]}, CACerts: caCerts(t)},
		"missing":  {Binaries: map[string][]byte{"amd64": bins["amd64"]}, CACerts: caCerts(t)},
		"no certs": {Binaries: bins, CACerts: []byte("nothing")},
	} {
		if _, err := Build(in); err == nil {
			t.Errorf("%s: built", name)
		}
	}
}

func TestParseReference(t *testing.T) {
	for _, bad := range []string{"avdgen", "avdgen:1.0", "contoso.azurecr.io/avdgen", "contoso.azurecr.io/Avdgen:1", "contoso.azurecr.io/avdgen@sha256:abc"} {
		if _, err := ParseReference(bad); err == nil || !strings.Contains(err.Error(), "--push") {
			t.Errorf("%q: %v", bad, err)
		}
	}
	for _, good := range []string{"contoso.azurecr.io/avdgen:1.4.0", "127.0.0.1:5000/avdgen:t", "ghcr.io/org/avdgen@sha256:" + strings.Repeat("a", 64)} {
		if _, err := ParseReference(good); err != nil {
			t.Errorf("%q: %v", good, err)
		}
	}
	r, _ := ParseReference("127.0.0.1:5000/avdgen:t")
	if r.Context().Scheme() != "http" {
		t.Error("loopback registry not plain http")
	}
	r, _ = ParseReference("10.0.0.5:5000/avdgen:t")
	req, _ := http.NewRequest("GET", "http://10.0.0.5:5000/v2/", nil)
	if _, err := (httpsOnly{http.DefaultTransport}).RoundTrip(req); err == nil || !strings.Contains(err.Error(), "refusing plain http") {
		t.Errorf("plain http to a private address: %v (scheme %s)", err, r.Context().Scheme())
	}
}
