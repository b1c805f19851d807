package graphpublish

import (
	"encoding/json"
	"strings"
)

// covers reports whether have (what Graph returned) holds everything want
// (what avdgen sends) sets, recursively: an object covers another when every
// member want sets is covered in it, whatever else it holds, because Graph
// fills in members the body never sent (a real GET of a win32LobApp carries
// installExperience.maxRunTimeInMinutes: 60, null URLs, counters, read-only
// state); an array covers another of the same length whose items it covers
// one to one, in any order. A null in want is "not set" and "@odata.*"
// annotations are skipped (Graph leaves out the type of a value of its
// declared type). Only what avdgen sets can be drift; nothing else counts.
func covers(want, have any) bool {
	switch w := want.(type) {
	case nil:
		return true
	case map[string]any:
		h, ok := have.(map[string]any)
		if !ok {
			return false
		}
		for k, v := range w {
			if strings.HasPrefix(k, "@odata.") || v == nil {
				continue
			}
			if !covers(v, h[k]) {
				return false
			}
		}
		return true
	case []any:
		h, ok := have.([]any)
		if !ok || len(h) != len(w) {
			return false
		}
		used := make([]bool, len(h))
		for _, wv := range w {
			found := false
			for i, hv := range h {
				if !used[i] && covers(wv, hv) {
					used[i], found = true, true
					break
				}
			}
			if !found {
				return false
			}
		}
		return true
	case []string:
		a := make([]any, len(w))
		for i, s := range w {
			a[i] = s
		}
		return covers(a, have)
	case json.Number:
		return asFloat(w) == asFloat(have)
	case float64, int, int64:
		return asFloat(w) == asFloat(have)
	}
	return want == have
}

func asFloat(v any) any {
	switch x := v.(type) {
	case float64:
		return x
	case int:
		return float64(x)
	case int64:
		return float64(x)
	case json.Number:
		f, _ := x.Float64()
		return f
	}
	return v
}

// drift lists the members of want that have does not cover, in keys order.
func drift(want, have map[string]any, keys []string) []string {
	var out []string
	for _, k := range keys {
		if strings.HasPrefix(k, "@odata.") {
			continue
		}
		if _, set := want[k]; set && !covers(want[k], have[k]) {
			out = append(out, k)
		}
	}
	return out
}
