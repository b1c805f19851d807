package spec

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Load reads and strictly decodes a spec file (defaults not applied).
func Load(path string) (Spec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Spec{}, fmt.Errorf("reading spec: %w", err)
	}
	return Decode(path, b)
}

// Decode strictly decodes YAML: an unknown key is an error naming the key,
// its line and the closest known key.
func Decode(name string, b []byte) (Spec, error) {
	var s Spec
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return s, fmt.Errorf("%s: %w", name, err)
	}
	if len(root.Content) == 0 {
		return s, nil // empty file: all defaults
	}
	if err := checkKeys(name, root.Content[0], reflect.TypeOf(s), ""); err != nil {
		return s, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		return s, fmt.Errorf("%s: %w", name, cleanYAMLError(err))
	}
	return s, nil
}

func cleanYAMLError(err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		return errors.New(strings.Join(te.Errors, "; "))
	}
	return err
}

var durationType = reflect.TypeOf(time.Duration(0))

// checkKeys walks a mapping node against the struct's yaml tags.
func checkKeys(file string, n *yaml.Node, t reflect.Type, path string) error {
	if t.Kind() != reflect.Struct || t == reflect.TypeOf(Limit{}) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		where := path
		if where == "" {
			where = "the document"
		}
		return fmt.Errorf("%s:%d: %s must be a mapping of keys to values", file, n.Line, where)
	}
	known := map[string]reflect.Type{}
	var names []string
	for i := 0; i < t.NumField(); i++ {
		tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		known[tag] = t.Field(i).Type
		names = append(names, tag)
	}
	sort.Strings(names)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		ft, ok := known[k.Value]
		if !ok {
			in := ""
			if path != "" {
				in = " in " + path
			}
			return fmt.Errorf("%s:%d: unknown key %q%s (did you mean %q? known keys: %s)", file, k.Line, k.Value, in, closest(k.Value, names), strings.Join(names, ", "))
		}
		p := k.Value
		if path != "" {
			p = path + "." + k.Value
		}
		switch {
		case ft == reflect.TypeOf(Limit{}):
			if _, err := ParseLimit(p, v.Value); err != nil {
				return fmt.Errorf("%s:%d: %w", file, v.Line, err)
			}
		case ft == durationType:
			if _, err := time.ParseDuration(v.Value); err != nil {
				return fmt.Errorf("%s:%d: %s %q: not a duration (e.g. 90s, 2m)", file, v.Line, p, v.Value)
			}
		case ft.Kind() == reflect.Struct:
			if err := checkKeys(file, v, ft, p); err != nil {
				return err
			}
		default:
			if err := checkScalar(file, p, v, ft); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkScalar decodes a plain field's value on its own, so that a wrong
// value is reported with its key and line rather than as yaml's "cannot
// unmarshal !!str into bool".
func checkScalar(file, key string, v *yaml.Node, t reflect.Type) error {
	want := map[reflect.Kind]string{reflect.Bool: "true or false", reflect.String: "a single text value (quote it if it starts with a special character)"}[t.Kind()]
	if want == "" {
		want = "a " + t.String()
	}
	if v.Kind != yaml.ScalarNode {
		return fmt.Errorf("%s:%d: %s: want %s, not a list or mapping", file, v.Line, key, want)
	}
	if err := v.Decode(reflect.New(t).Interface()); err != nil {
		return fmt.Errorf("%s:%d: %s %q: want %s", file, v.Line, key, v.Value, want)
	}
	return nil
}

// closest returns the known key with the smallest edit distance.
func closest(key string, names []string) string {
	best, bestD := "", 1<<30
	for _, n := range names {
		if d := editDistance(strings.ToLower(key), strings.ToLower(n)); d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
