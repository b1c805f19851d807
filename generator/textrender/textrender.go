// Package textrender renders the embedded text templates with a hermetic
// func map: sprig's functions minus everything that reads the environment,
// the clock or randomness, so the same spec always renders the same bytes.
package textrender

import (
	"bytes"
	"fmt"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig/v3"

	"github.com/avdgen/avdgen/generator/policy"
	"github.com/avdgen/avdgen/templates"
)

// nonHermetic lists sprig functions that would make output depend on
// anything but the data passed in (after helm's pkg/engine/funcs.go).
var nonHermetic = []string{
	"env", "expandenv", "getHostByName",
	"now", "date", "dateInZone", "date_in_zone", "dateModify", "date_modify", "ago", "duration", "durationRound", "htmlDate", "htmlDateInZone", "mustDateModify", "must_date_modify", "unixEpoch",
	"randAlpha", "randAlphaNum", "randAscii", "randNumeric", "randBytes", "randInt", "uuidv4",
	"genPrivateKey", "genCA", "genCAWithKey", "genSelfSignedCert", "genSelfSignedCertWithKey", "genSignedCert", "genSignedCertWithKey", "derivePassword", "bcrypt", "htpasswd", "encryptAES", "decryptAES",
}

// FuncMap is sprig's text func map without the non-hermetic functions, plus
// psQuote for PowerShell single-quoted strings and sessionEnd (when the
// session time limits log a session off) for the bundle READMEs.
func FuncMap() template.FuncMap {
	m := sprig.TxtFuncMap()
	for _, name := range nonHermetic {
		delete(m, name)
	}
	m["psQuote"] = PSQuote
	m["sessionEnd"] = policy.SessionEnd
	return m
}

// PSQuote returns s as a PowerShell single-quoted literal. PowerShell's
// tokenizer takes the typographic quotes U+2018-U+201B for ' as well, both
// to end a single-quoted string and, doubled, as an escaped quote, so every
// one of them is doubled, not only the ASCII one.
func PSQuote(s string) string {
	return "'" + psSingleQuotes.Replace(s) + "'"
}

var psSingleQuotes = strings.NewReplacer("'", "''", "\u2018", "\u2018\u2018", "\u2019", "\u2019\u2019", "\u201a", "\u201a\u201a", "\u201b", "\u201b\u201b")

// Render executes the embedded template name with data. Missing keys are
// errors, never "<no value>".
func Render(name string, data any) ([]byte, error) {
	t, err := template.New(name).Option("missingkey=error").Funcs(FuncMap()).ParseFS(templates.FS, name)
	if err != nil {
		return nil, fmt.Errorf("template %s: %w", name, err)
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		return nil, fmt.Errorf("rendering %s: %w", name, err)
	}
	return buf.Bytes(), nil
}

// CRLF converts LF line endings to CRLF (PowerShell scripts, .reg, .cmd),
// leaving existing CRLF alone.
func CRLF(b []byte) []byte {
	b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	return bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))
}
