// Package bundle is the in-memory result of a generator: every file with its
// bytes and kind, rendered completely before anything is written.
package bundle

// Kind says what a file is, for avdgen-manifest.json and --json.
type Kind string

// File is one output file. Path is slash-separated and relative to --out.
type File struct {
	Path string
	Data []byte
	Kind Kind
	// Executable marks scripts and binaries (mode 0755 instead of 0644).
	Executable bool
}
