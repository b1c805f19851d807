package textrender

import (
	"testing"
	"text/template"
)

func TestFuncMapIsHermetic(t *testing.T) {
	m := FuncMap()
	for _, name := range []string{"env", "expandenv", "now", "date", "randAlphaNum", "uuidv4", "genPrivateKey"} {
		if _, ok := m[name]; ok {
			t.Errorf("func map still has non-hermetic %q", name)
		}
	}
	if _, ok := m["upper"]; !ok {
		t.Errorf("func map lost sprig's pure functions (upper)")
	}
	// A template calling a removed function must not parse.
	if _, err := template.New("x").Funcs(m).Parse(`{{ env "HOME" }}`); err == nil {
		t.Errorf("template using env parsed; want an error")
	}
}

func TestPSQuote(t *testing.T) {
	for in, want := range map[string]string{`a`: `'a'`, `it's`: `'it''s'`, ``: `''`, `C:\x y`: `'C:\x y'`,
		// PowerShell ends a single-quoted string at any of these (issue 15 finding 6).
		"a\u2019; calc; \u2019": "'a\u2019\u2019; calc; \u2019\u2019'", "\u2018\u201a\u201b": "'\u2018\u2018\u201a\u201a\u201b\u201b'"} {
		if got := PSQuote(in); got != want {
			t.Errorf("PSQuote(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCRLF(t *testing.T) {
	if got := string(CRLF([]byte("a\nb\r\nc\n"))); got != "a\r\nb\r\nc\r\n" {
		t.Errorf("CRLF = %q", got)
	}
}
