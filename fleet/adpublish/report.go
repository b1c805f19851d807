package adpublish

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"unicode/utf16"

	"github.com/avdgen/avdgen/generator/regpol"
)

// countingDirectory and countingShare count round trips for the report
// and the benchmark (docs/performance.md).
type countingDirectory struct {
	Directory
	n int
}

func (c *countingDirectory) Read(dn string, attrs ...string) (*Entry, error) {
	c.n++
	return c.Directory.Read(dn, attrs...)
}
func (c *countingDirectory) Children(dn, oc string, anyOf []Attr, attrs ...string) ([]Entry, error) {
	c.n++
	return c.Directory.Children(dn, oc, anyOf, attrs...)
}
func (c *countingDirectory) Search(base, attr, sub string, attrs ...string) ([]Entry, error) {
	c.n++
	return c.Directory.Search(base, attr, sub, attrs...)
}
func (c *countingDirectory) Delete(dn string) error {
	c.n++
	return c.Directory.Delete(dn)
}
func (c *countingDirectory) Add(dn string, attrs []Attr) error {
	c.n++
	return c.Directory.Add(dn, attrs)
}
func (c *countingDirectory) Modify(dn string, m []Mod) error {
	c.n++
	return c.Directory.Modify(dn, m)
}

type countingShare struct {
	Share
	n int
}

func (c *countingShare) ReadFile(name string) ([]byte, error) { c.n++; return c.Share.ReadFile(name) }
func (c *countingShare) SHA256(name string) (string, error)   { c.n++; return c.Share.SHA256(name) }
func (c *countingShare) WriteFile(name string, r io.Reader) error {
	c.n++
	return c.Share.WriteFile(name, r)
}
func (c *countingShare) Rename(o, n string) error { c.n++; return c.Share.Rename(o, n) }
func (c *countingShare) Remove(name string) error { c.n++; return c.Share.Remove(name) }
func (c *countingShare) Mkdir(name string) error  { c.n++; return c.Share.Mkdir(name) }
func (c *countingShare) ReadDir(name string) ([]string, error) {
	c.n++
	return c.Share.ReadDir(name)
}
func (c *countingShare) SecurityDescriptor(name string) ([]byte, error) {
	c.n++
	return c.Share.SecurityDescriptor(name)
}
func (c *countingShare) SetSecurityDescriptor(name string, sd []byte) error {
	c.n++
	return c.Share.SetSecurityDescriptor(name, sd)
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// fileDiff shows what changes in a GPO file: registry.pol as its entries,
// XML as a line diff.
func fileDiff(name string, old, new []byte) string {
	if strings.HasSuffix(strings.ToLower(name), ".pol") {
		return lineDiff(polLines(old), polLines(new))
	}
	if strings.HasSuffix(strings.ToLower(name), ".xml") {
		// GPP files are one long line: one element per line to diff.
		split := func(b []byte) []byte { return []byte(strings.ReplaceAll(string(b), "><", ">\n<")) }
		if old != nil {
			old = split(old)
		}
		new = split(new)
	}
	return lineDiff(textLines(old), textLines(new))
}

func polLines(b []byte) []string {
	if b == nil {
		return nil
	}
	entries, err := regpol.Decode(b)
	if err != nil {
		return []string{fmt.Sprintf("(unreadable registry.pol: %v)", err)}
	}
	out := make([]string, 0, len(entries))
	for _, e := range entries {
		out = append(out, fmt.Sprintf("%s\\%s = %s", e.Key, e.Value, polValue(e)))
	}
	return out
}

func polValue(e regpol.Entry) string {
	switch {
	case e.Type == 4 && len(e.Data) == 4:
		return fmt.Sprintf("REG_DWORD %d", uint32(e.Data[0])|uint32(e.Data[1])<<8|uint32(e.Data[2])<<16|uint32(e.Data[3])<<24)
	case e.Type == 1 && len(e.Data)%2 == 0:
		u := make([]uint16, len(e.Data)/2)
		for i := range u {
			u[i] = uint16(e.Data[2*i]) | uint16(e.Data[2*i+1])<<8
		}
		return fmt.Sprintf("REG_SZ %q", strings.TrimRight(string(utf16.Decode(u)), "\x00"))
	}
	return fmt.Sprintf("type %d, %d bytes", e.Type, len(e.Data))
}

// textLines splits a text file, decoding UTF-16 (GPT.INI may be) loosely.
func textLines(b []byte) []string {
	if b == nil {
		return nil
	}
	s := strings.TrimPrefix(string(b), "\ufeff")
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// lineDiff is a minimal LCS line diff ("-" old, "+" new), enough for the
// few hundred lines of a GPO's preference files.
func lineDiff(a, b []string) string {
	n, m := len(a), len(b)
	if n*m > 4_000_000 {
		return fmt.Sprintf("- (%d lines)\n+ (%d lines)\n", n, m)
	}
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out strings.Builder
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && a[i] == b[j]:
			i, j = i+1, j+1
		case j < m && (i == n || lcs[i][j+1] >= lcs[i+1][j]):
			out.WriteString("+ " + b[j] + "\n")
			j++
		default:
			out.WriteString("- " + a[i] + "\n")
			i++
		}
	}
	return out.String()
}

func (r *Result) on() string {
	if r.Server == "" {
		return ""
	}
	return " on " + r.Server
}

// writeInfo prints what an admin set that publish leaves alone.
func (r *Result) writeInfo(w io.Writer) {
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	if r.Info == nil || r.Info.Flags == "" && len(r.Info.Links) == 0 {
		return
	}
	for _, l := range r.Info.Links {
		state := "enabled"
		if !l.Enabled {
			state = "DISABLED"
		}
		if l.Enforced {
			state += ", enforced"
		}
		fmt.Fprintf(w, "link: %s (%s)\n", l.Target, state)
	}
	filtering := "(none: no host applies it)"
	if len(r.Info.SecurityFiltering) > 0 {
		filtering = strings.Join(r.Info.SecurityFiltering, "; ")
	}
	fmt.Fprintf(w, "security filtering: %s\n", filtering)
	wmi := "(none)"
	if r.Info.WMIFilter != "" {
		wmi = r.Info.WMIFilter
	}
	fmt.Fprintf(w, "WMI filter: %s\n", wmi)
}

// WriteText prints the result for people: one line per change, file diffs
// indented below, then links, security filtering, WMI filter and notes.
func (r *Result) WriteText(w io.Writer) {
	verb := "published"
	if r.DryRun {
		verb = "would publish"
	}
	defer r.writeInfo(w)
	if !r.Changed() {
		fmt.Fprintf(w, "GPO %q %s is up to date (version %d); nothing written\n", r.DisplayName, r.GPO, r.VersionBefore)
		fmt.Fprintf(w, "(%d LDAP and %d SMB operations%s)\n", r.LDAPOps, r.SMBOps, r.on())
		return
	}
	fmt.Fprintf(w, "GPO %q %s: %s %d change(s)\n", r.DisplayName, r.GPO, verb, len(r.Changes))
	for _, c := range r.Changes {
		switch {
		case c.Old == "" && c.New != "":
			fmt.Fprintf(w, "  + %s %s: %s\n", c.Kind, c.Target, c.New)
		default:
			fmt.Fprintf(w, "  ~ %s %s: %s -> %s\n", c.Kind, c.Target, c.Old, c.New)
		}
		if c.Old == "" && !r.DryRun {
			continue // a new file's whole content: shown by --dry-run, not after the fact
		}
		for _, l := range strings.Split(strings.TrimSuffix(c.Diff, "\n"), "\n") {
			if l != "" {
				fmt.Fprintf(w, "      %s\n", l)
			}
		}
	}
	fmt.Fprintf(w, "version %d -> %d (%d LDAP and %d SMB operations%s)\n", r.VersionBefore, r.VersionAfter, r.LDAPOps, r.SMBOps, r.on())
}
