// Package sweepimage builds the sweep job's container image without Docker:
// a multi-arch (linux/amd64, linux/arm64) OCI image index whose images hold
// the sweep-only avdgen binary (built with -tags noagents: no Windows agents)
// as entrypoint, the CA certificates, and a non-root user, in layers that
// are byte-identical for the same inputs (fixed times, owners and order).
// Push writes it to a registry with go-containerregistry.
package sweepimage

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/avdgen/avdgen/agent/azure"
)

// The image's fixed contents.
const (
	Entrypoint = "/avdgen"
	CAPath     = "/etc/ssl/certs/ca-certificates.crt"
	// UID and GID of the non-root user the job runs as.
	UID = 65532
	GID = 65532
)

// Arches are the image's platforms, in index order.
var Arches = []string{"amd64", "arm64"}

// Input is what goes into the image.
type Input struct {
	// Binaries maps each of Arches to its static linux avdgen.
	Binaries map[string][]byte
	// CACerts is a PEM bundle.
	CACerts []byte
	// Created is the image's creation time and every file's mtime
	// (SOURCE_DATE_EPOCH; zero means 1970-01-01).
	Created time.Time
	// Version labels the image (org.opencontainers.image.version).
	Version string
}

var elfMachine = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}

// Check refuses binaries that are not static linux executables of the right
// architecture, and CA bundles that hold no certificate.
func (in Input) Check() error {
	for _, arch := range Arches {
		b := in.Binaries[arch]
		if len(b) == 0 {
			return fmt.Errorf("no linux/%s avdgen binary (--binary-%s)", arch, arch)
		}
		f, err := elf.NewFile(bytes.NewReader(b))
		if err != nil {
			return fmt.Errorf("--binary-%s: not a Linux ELF executable (%v); build it with `make sweep-bin`", arch, err)
		}
		machine, interp := f.Machine, f.Section(".interp")
		f.Close()
		if machine != elfMachine[arch] {
			return fmt.Errorf("--binary-%s: an ELF for %s, not %s", arch, machine, arch)
		}
		if interp != nil {
			return fmt.Errorf("--binary-%s: dynamically linked; the image has no libc: build with CGO_ENABLED=0 (`make sweep-bin`)", arch)
		}
	}
	if !bytes.Contains(in.CACerts, []byte("-----BEGIN CERTIFICATE-----")) {
		return errors.New("--ca-certs: no PEM certificate in the CA bundle")
	}
	return nil
}

type file struct {
	path string
	mode int64
	data []byte
}

// layer is a reproducible gzip'd tar: sorted entries, fixed mtime, owner root
// (the files are read-only to the job's user), no gzip name or time.
func layer(files []file, mtime time.Time) (v1.Layer, error) {
	sort.Slice(files, func(i, j int) bool { return files[i].path < files[j].path })
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	dirs := map[string]bool{}
	for _, f := range files {
		// Parent directories first, each once.
		parts := strings.Split(strings.TrimPrefix(f.path, "/"), "/")
		for i := 1; i < len(parts); i++ {
			d := strings.Join(parts[:i], "/") + "/"
			if !dirs[d] {
				dirs[d] = true
				if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755, ModTime: mtime, Format: tar.FormatPAX}); err != nil {
					return nil, err
				}
			}
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(f.path, "/"), Mode: f.mode, Size: int64(len(f.data)), ModTime: mtime, Format: tar.FormatPAX}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	if _, err := zw.Write(raw.Bytes()); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	b := gz.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil },
		tarball.WithMediaType(types.OCILayer))
}

// Build makes the image index.
func Build(in Input) (v1.ImageIndex, error) {
	if err := in.Check(); err != nil {
		return nil, err
	}
	created := in.Created.UTC()
	if created.IsZero() {
		created = time.Unix(0, 0).UTC()
	}
	// Shared by both architectures: the same digest, pushed once.
	base, err := layer([]file{
		{CAPath, 0o644, in.CACerts},
		{"/etc/passwd", 0o644, []byte(fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", UID, GID))},
		{"/etc/group", 0o644, []byte(fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", GID))},
	}, created)
	if err != nil {
		return nil, err
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, arch := range Arches {
		bin, err := layer([]file{{Entrypoint, 0o755, in.Binaries[arch]}}, created)
		if err != nil {
			return nil, err
		}
		img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
		img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
		img, err = mutate.AppendLayers(img, base, bin)
		if err != nil {
			return nil, err
		}
		cf, err := img.ConfigFile()
		if err != nil {
			return nil, err
		}
		cf = cf.DeepCopy()
		cf.OS, cf.Architecture = "linux", arch
		cf.Created = v1.Time{Time: created}
		cf.Config.Entrypoint = []string{Entrypoint}
		cf.Config.Cmd = []string{"sweep", "--help"}
		cf.Config.User = fmt.Sprintf("%d:%d", UID, GID)
		cf.Config.WorkingDir = "/"
		cf.Config.Env = []string{"PATH=/", "SSL_CERT_FILE=" + CAPath}
		cf.Config.Labels = map[string]string{
			"org.opencontainers.image.title":   "avdgen sweep",
			"org.opencontainers.image.source":  "https://github.com/avdgen/avdgen",
			"org.opencontainers.image.version": in.Version,
		}
		cf.History = nil
		img, err = mutate.ConfigFile(img, cf)
		if err != nil {
			return nil, err
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{
			MediaType: types.OCIManifestSchema1, Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	return idx, nil
}

// ParseReference parses --push: a tag or a digest is required (the job
// must pull what was pushed); plain http only to a loopback registry.
func ParseReference(ref string) (name.Reference, error) {
	r, err := name.ParseReference(ref, name.StrictValidation)
	if err != nil {
		return nil, fmt.Errorf("--push %q: not an image reference with a registry, a repository and a tag or digest (%v), e.g. myregistry.azurecr.io/avdgen:1.4.0", ref, err)
	}
	if !strings.Contains(ref, "/") || !strings.ContainsAny(strings.SplitN(ref, "/", 2)[0], ".:") {
		return nil, fmt.Errorf("--push %q: name the registry host (e.g. myregistry.azurecr.io/avdgen:1.4.0), not a Docker Hub short name", ref)
	}
	if azure.IsLoopbackHost(r.Context().RegistryStr()) {
		return name.ParseReference(ref, name.StrictValidation, name.Insecure)
	}
	return r, nil
}

// Push writes the index to ref with the given authenticator keychain and
// transport; every request to a non-loopback registry must be https.
func Push(ctx context.Context, ref name.Reference, idx v1.ImageIndex, keychain authn.Keychain, rt http.RoundTripper) (v1.Hash, error) {
	if rt == nil {
		rt = http.DefaultTransport
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(keychain), remote.WithTransport(httpsOnly{rt})}
	if err := remote.WriteIndex(ref, idx, opts...); err != nil {
		return v1.Hash{}, fmt.Errorf("pushing %s: %w", ref, err)
	}
	return idx.Digest()
}

// httpsOnly refuses plain http except to loopback (a test registry).
type httpsOnly struct{ base http.RoundTripper }

func (h httpsOnly) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Scheme != "https" && !azure.IsLoopbackHost(r.URL.Host) {
		return nil, fmt.Errorf("refusing plain %s to %s: only a loopback registry may be reached without TLS", r.URL.Scheme, r.URL.Host)
	}
	return h.base.RoundTrip(r)
}
