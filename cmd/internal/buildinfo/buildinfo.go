// Package buildinfo holds the version stamped into avdgen and avd-agent at link time.
package buildinfo

// Version is set by the Makefile with
// -ldflags "-X github.com/avdgen/avdgen/cmd/internal/buildinfo.Version=...".
// A plain `go build` leaves it at "dev".
var Version = "dev"
