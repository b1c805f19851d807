// Package templates embeds the text templates avdgen renders (PowerShell
// scripts, bundle READMEs, avdgen.yaml). It holds no logic: generator/
// packages render them with a hermetic func map.
package templates

import "embed"

// FS holds every *.tmpl file in this folder, by base name.
//
//go:embed *.tmpl
var FS embed.FS
