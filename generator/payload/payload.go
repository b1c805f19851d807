// Package payload lays out the agent binaries a bundle ships, with a
// SHA256SUMS file that `sha256sum -c` and the import scripts verify.
package payload

import (
	"fmt"
	"path"
	"strings"

	"github.com/avdgen/avdgen/dist"
	"github.com/avdgen/avdgen/generator/bundle"
)

// Files returns dir/avd-agent-<arch>.exe for every architecture and
// dir/SHA256SUMS (sha256sum format, LF line endings).
func Files(dir string, agents dist.Agents) ([]bundle.File, error) {
	var out []bundle.File
	var sums strings.Builder
	for _, arch := range dist.Arches {
		ag, ok := agents.Get(arch)
		if !ok || ag.Size() == 0 {
			return nil, fmt.Errorf("no avd-agent binary for windows/%s: %w", arch, dist.ErrNotBundled)
		}
		name := dist.FileName(arch)
		out = append(out, bundle.File{Path: path.Join(dir, name), Open: ag.Open, Size: ag.Size(), Kind: "agent", Executable: true, SHA256: ag.SHA256()})
		fmt.Fprintf(&sums, "%s  %s\n", ag.SHA256(), name)
	}
	out = append(out, bundle.File{Path: path.Join(dir, "SHA256SUMS"), Data: []byte(sums.String()), Kind: "checksums"})
	return out, nil
}
