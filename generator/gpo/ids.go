package gpo

import (
	"crypto/sha1"
	"fmt"
	"strings"
)

// namespace is avdgen's fixed UUIDv5 namespace for GPO identifiers.
var namespace = [16]byte{0x6b, 0x1e, 0x3a, 0x52, 0x8c, 0x4f, 0x4d, 0x2a, 0x9e, 0x11, 0x5c, 0x0d, 0x7a, 0x66, 0x20, 0x31}

// stableGUID derives a UUIDv5 from the parts, so the same spec always gives
// the same backup id, GPO id and item uids, and a different pool or domain
// never collides.
func stableGUID(parts ...string) string {
	h := sha1.New()
	h.Write(namespace[:])
	h.Write([]byte(strings.ToLower(strings.Join(parts, "\x00"))))
	s := h.Sum(nil)[:16]
	s[6] = s[6]&0x0f | 0x50
	s[8] = s[8]&0x3f | 0x80
	return fmt.Sprintf("{%X-%X-%X-%X-%X}", s[0:4], s[4:6], s[6:8], s[8:10], s[10:16])
}
