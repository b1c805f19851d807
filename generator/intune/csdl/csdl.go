// Package csdl is test support: it checks JSON request bodies against a Microsoft Graph CSDL
// (OData v4 $metadata): entity and complex types with their base types,
// property names, enum members (flags as comma lists), primitive kinds and
// "@odata.type" values. Tests use it as an oracle we did not write the
// schema for: the CSDL comes from microsoftgraph/msgraph-metadata.
package csdl

import (
	"bytes"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/beevik/etree"
)

// Schema is the parsed microsoft.graph namespace of one API version.
type Schema struct {
	Version string
	types   map[string]*structured
	enums   map[string]*enum
}

type structured struct {
	name, base string
	abstract   bool
	open       bool
	props      map[string]property
}

type property struct {
	typ      string // "graph.x", "Edm.String", "Collection(...)"
	nullable bool
	nav      bool
}

type enum struct {
	flags   bool
	members map[string]bool
}

// The trimmed schemas (testdata/PROVENANCE.md at the repository root).
var (
	//go:embed testdata/graph-beta.trimmed.csdl
	betaCSDL []byte
	//go:embed testdata/graph-v1.0.trimmed.csdl
	v1CSDL []byte
)

// Beta is Graph beta's schema, trimmed to the types avdgen sends.
func Beta() *Schema { return mustParse(betaCSDL, "beta") }

// V1 is Graph v1.0's schema, trimmed likewise.
func V1() *Schema { return mustParse(v1CSDL, "v1.0") }

func mustParse(b []byte, version string) *Schema {
	s, err := Parse(b, version)
	if err != nil {
		panic(err)
	}
	return s
}

// Parse reads a CSDL document. version names it in errors ("beta", "v1.0").
func Parse(b []byte, version string) (*Schema, error) {
	path := "graph " + version + " CSDL"
	doc := etree.NewDocument()
	if _, err := doc.ReadFrom(bytes.NewReader(b)); err != nil {
		return nil, fmt.Errorf("csdl %s: %w", path, err)
	}
	s := &Schema{Version: version, types: map[string]*structured{}, enums: map[string]*enum{}}
	for _, schema := range doc.FindElements("//Schema") {
		if schema.SelectAttrValue("Namespace", "") != "microsoft.graph" {
			continue
		}
		for _, el := range schema.ChildElements() {
			name := el.SelectAttrValue("Name", "")
			switch el.Tag {
			case "EnumType":
				e := &enum{flags: el.SelectAttrValue("IsFlags", "") == "true", members: map[string]bool{}}
				for _, m := range el.SelectElements("Member") {
					e.members[m.SelectAttrValue("Name", "")] = true
				}
				s.enums[name] = e
			case "EntityType", "ComplexType":
				t := &structured{name: name, base: strings.TrimPrefix(el.SelectAttrValue("BaseType", ""), "graph."),
					abstract: el.SelectAttrValue("Abstract", "") == "true", open: el.SelectAttrValue("OpenType", "") == "true",
					props: map[string]property{}}
				for _, p := range el.ChildElements() {
					if p.Tag != "Property" && p.Tag != "NavigationProperty" {
						continue
					}
					t.props[p.SelectAttrValue("Name", "")] = property{typ: p.SelectAttrValue("Type", ""),
						nullable: p.SelectAttrValue("Nullable", "true") != "false", nav: p.Tag == "NavigationProperty"}
				}
				if _, dup := s.types[name]; dup {
					return nil, fmt.Errorf("csdl %s: type %s defined twice", path, name)
				}
				s.types[name] = t
			}
		}
	}
	return s, nil
}

// HasType reports whether the schema declares the entity or complex type.
func (s *Schema) HasType(name string) bool { _, ok := s.types[name]; return ok }

// EnumMembers lists an enum's members, sorted; nil if there is no such enum.
func (s *Schema) EnumMembers(name string) []string {
	e, ok := s.enums[name]
	if !ok {
		return nil
	}
	var out []string
	for m := range e.members {
		out = append(out, m)
	}
	sort.Strings(out)
	return out
}

// Properties lists the property names of a type and its base types.
func (s *Schema) Properties(name string) []string {
	var out []string
	for t := s.types[name]; t != nil; t = s.types[t.base] {
		for p := range t.props {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// Validate checks body (JSON) as a value of declared type (e.g.
// "mobileApp"). Every problem is reported, each with its JSON path.
func (s *Schema) Validate(body []byte, declared string) error {
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("graph %s: body is not JSON: %w", s.Version, err)
	}
	var errs []string
	s.value(v, "graph."+declared, "$", false, &errs)
	if len(errs) > 0 {
		return fmt.Errorf("graph %s: body does not match the %s schema:\n  %s", s.Version, declared, strings.Join(errs, "\n  "))
	}
	return nil
}

func (s *Schema) value(v any, typ, path string, nullable bool, errs *[]string) {
	add := func(format string, a ...any) { *errs = append(*errs, path+": "+fmt.Sprintf(format, a...)) }
	if v == nil {
		if !nullable {
			add("null, but %s is not nullable", typ)
		}
		return
	}
	if inner, ok := strings.CutPrefix(typ, "Collection("); ok {
		arr, ok := v.([]any)
		if !ok {
			add("want a JSON array for %s, got %T", typ, v)
			return
		}
		inner = strings.TrimSuffix(inner, ")")
		for i, item := range arr {
			s.value(item, inner, fmt.Sprintf("%s[%d]", path, i), false, errs)
		}
		return
	}
	switch typ {
	case "Edm.String", "Edm.DateTimeOffset", "Edm.Duration", "Edm.Guid", "Edm.TimeOfDay", "Edm.Date":
		str, ok := v.(string)
		if !ok {
			add("want a string for %s, got %T", typ, v)
		} else if re := formats[typ]; re != nil && !re.MatchString(str) {
			add("%q is not an %s", str, typ)
		}
		return
	case "Edm.Binary":
		str, ok := v.(string)
		if !ok {
			add("want base64 string for Edm.Binary, got %T", v)
		} else if _, err := base64.StdEncoding.DecodeString(str); err != nil {
			add("Edm.Binary is not base64: %v", err)
		}
		return
	case "Edm.Boolean":
		if _, ok := v.(bool); !ok {
			add("want true/false for Edm.Boolean, got %T", v)
		}
		return
	case "Edm.Int32", "Edm.Int64", "Edm.Double", "Edm.Single":
		f, ok := v.(float64)
		if !ok {
			add("want a number for %s, got %T", typ, v)
		} else if (typ == "Edm.Int32" || typ == "Edm.Int64") && f != float64(int64(f)) {
			add("want an integer for %s, got %v", typ, f)
		}
		return
	}
	name := strings.TrimPrefix(typ, "graph.")
	if e, ok := s.enums[name]; ok {
		str, ok := v.(string)
		if !ok {
			add("want an enum string for %s, got %T", name, v)
			return
		}
		parts := []string{str}
		if e.flags {
			parts = strings.Split(str, ",")
		}
		for _, p := range parts {
			if !e.members[strings.TrimSpace(p)] {
				add("%q is not a member of %s (members: %s)", p, name, strings.Join(s.EnumMembers(name), ", "))
			}
		}
		return
	}
	t, ok := s.types[name]
	if !ok {
		add("type %s is not in the trimmed %s CSDL (add it to testdata)", typ, s.Version)
		return
	}
	obj, ok := v.(map[string]any)
	if !ok {
		add("want a JSON object for %s, got %T", name, v)
		return
	}
	if odt, ok := obj["@odata.type"]; ok {
		str, _ := odt.(string)
		actual, found := strings.CutPrefix(str, "#microsoft.graph.")
		switch {
		case !found:
			add("@odata.type %q: want \"#microsoft.graph.<type>\"", str)
			return
		case s.types[actual] == nil:
			add("@odata.type %q: no such type in Graph %s", str, s.Version)
			return
		case !s.derives(actual, name):
			add("@odata.type %q is not %s or derived from it", str, name)
			return
		}
		t = s.types[actual]
	}
	if t.abstract {
		add("%s is abstract: the body needs an @odata.type naming a concrete type", t.name)
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if strings.HasPrefix(k, "@odata.") || strings.Contains(k, "@odata.") {
			continue
		}
		p, ok := s.lookup(t, k)
		if !ok {
			if !t.open {
				add("property %q is not declared on %s or its base types", k, t.name)
			}
			continue
		}
		s.value(obj[k], p.typ, path+"."+k, p.nullable, errs)
	}
}

// formats are the OData ABNF forms of the string-encoded primitives Graph
// refuses when malformed.
var formats = map[string]*regexp.Regexp{
	"Edm.Guid":           regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`),
	"Edm.DateTimeOffset": regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,12})?)?(Z|[+-]\d{2}:\d{2})$`),
	"Edm.Date":           regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`),
	"Edm.TimeOfDay":      regexp.MustCompile(`^\d{2}:\d{2}(:\d{2}(\.\d{1,12})?)?$`),
	"Edm.Duration":       regexp.MustCompile(`^-?P(\d+D)?(T(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$`),
}

func (s *Schema) lookup(t *structured, prop string) (property, bool) {
	for ; t != nil; t = s.types[t.base] {
		if p, ok := t.props[prop]; ok {
			return p, true
		}
	}
	return property{}, false
}

func (s *Schema) derives(actual, declared string) bool {
	for t := s.types[actual]; t != nil; t = s.types[t.base] {
		if t.name == declared {
			return true
		}
	}
	return false
}
