package sweepcmd

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/spf13/cobra"

	"github.com/avdgen/avdgen/cmd/avdgen/app/azureflags"
	"github.com/avdgen/avdgen/cmd/avdgen/app/cmdutil"
	"github.com/avdgen/avdgen/cmd/internal/buildinfo"
	"github.com/avdgen/avdgen/fleet/sweepimage"
)

// ImageOptions are the options of `avdgen sweep image`.
type ImageOptions struct {
	Factory *cmdutil.Factory
	Push    string
	// Binaries maps an architecture to its --binary-ARCH path.
	Binaries map[string]*string
	CACerts  string
	// Auth is the Azure credential for an Azure Container Registry.
	Auth azureflags.Auth
}

// NewCmdImage builds `avdgen sweep image`.
func NewCmdImage(f *cmdutil.Factory) *cobra.Command {
	o := &ImageOptions{Factory: f, Binaries: map[string]*string{}}
	cmd := &cobra.Command{
		Use:   "image --push REF --binary-amd64 PATH --binary-arm64 PATH",
		Short: "Build the sweep job's multi-arch image (no Docker) and push it",
		Long: `Builds an OCI image index for linux/amd64 and linux/arm64 holding the sweep-only avdgen (no Windows
agents; 'make sweep-bin' builds both, or take avdgen-sweep-linux-* from a release), the CA certificates
(--ca-certs) and a non-root user (65532), with reproducible layers (file times from SOURCE_DATE_EPOCH),
and pushes it to --push (a tag or digest is required). An Azure Container Registry (*.azurecr.io, .us, .cn)
is signed in to with the Azure credential (--auth: the ACR token exchange; the identity needs AcrPush);
other registries with the Docker config (~/.docker/config.json). Plain http only to a loopback registry.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error { return runImage(o) },
	}
	cmd.Flags().StringVar(&o.Push, "push", "", "image `REF` to push, with a registry, a repository and a tag or digest")
	for _, arch := range sweepimage.Arches {
		o.Binaries[arch] = new(string)
		cmd.Flags().StringVar(o.Binaries[arch], "binary-"+arch, "", "the static linux/"+arch+" sweep-only avdgen (`PATH`)")
	}
	azureflags.AddAuth(cmd, &o.Auth)
	cmd.Flags().StringVar(&o.CACerts, "ca-certs", "/etc/ssl/certs/ca-certificates.crt", "PEM bundle of CA certificates for the image (`PATH`)")
	return cmd
}

func runImage(o *ImageOptions) error {
	var errs []string
	ref, err := sweepimage.ParseReference(o.Push)
	if o.Push == "" {
		errs = append(errs, "--push: give the image reference to push, e.g. myregistry.azurecr.io/avdgen:1.4.0")
	} else if err != nil {
		errs = append(errs, err.Error())
	}
	in := sweepimage.Input{Binaries: map[string][]byte{}, Version: buildinfo.Version}
	for _, arch := range sweepimage.Arches {
		p := *o.Binaries[arch]
		if p == "" {
			errs = append(errs, fmt.Sprintf("--binary-%s: give the linux/%s sweep-only avdgen (make sweep-bin writes out/sweep/avdgen-sweep-linux-%s)", arch, arch, arch))
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			errs = append(errs, fmt.Sprintf("--binary-%s %q: %v", arch, p, err))
		}
		in.Binaries[arch] = b
	}
	ca, err := os.ReadFile(o.CACerts)
	if err != nil {
		errs = append(errs, fmt.Sprintf("--ca-certs %q: %v (on Windows or macOS, pass a PEM bundle, e.g. from the curl project's cacert.pem)", o.CACerts, err))
	}
	in.CACerts = ca
	if o.Factory.Getenv != nil {
		if v := o.Factory.Getenv("SOURCE_DATE_EPOCH"); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				errs = append(errs, fmt.Sprintf("SOURCE_DATE_EPOCH %q: must be seconds since 1970", v))
			}
			in.Created = time.Unix(n, 0)
		}
	}
	if err := o.Auth.Validate(); err != nil {
		errs = append(errs, err.Error())
	}
	if len(errs) == 0 {
		if err := in.Check(); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return cmdutil.Usagef("%s", strings.Join(errs, "; "))
	}
	idx, err := sweepimage.Build(in)
	if err != nil {
		return err
	}
	keychain := authn.Keychain(authn.DefaultKeychain)
	if host := ref.Context().RegistryStr(); sweepimage.IsACR(host) {
		cred, cloud, err := o.Auth.Credential(o.Factory)
		if err != nil {
			return err
		}
		keychain = sweepimage.ACRKeychain{Credential: cred, Scope: cloud.Scope(), Fallback: authn.DefaultKeychain,
			Client: &http.Client{Transport: o.Factory.Transport}}
	}
	digest, err := sweepimage.Push(context.Background(), ref, idx, keychain, o.Factory.Transport)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.Factory.IO.Out, "pushed %s@%s (linux/amd64, linux/arm64)\n", ref.Context(), digest)
	return nil
}
