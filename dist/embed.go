//go:build !noagents

package dist

import "embed"

//go:embed all:bin
var embedded embed.FS
