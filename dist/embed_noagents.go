//go:build noagents

package dist

import "embed"

// embedded is empty in a build with -tags noagents: the sweep-only avdgen
// of the Container Apps job image (`make sweep-bin`), which runs `avdgen
// sweep` only and need not carry 15 MB of Windows agents. Agents then says
// that no agents are bundled.
var embedded embed.FS
