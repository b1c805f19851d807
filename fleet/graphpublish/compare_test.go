package graphpublish

import (
	"encoding/json"
	"testing"
)

func TestCovers(t *testing.T) {
	for _, c := range []struct {
		want, have string
		ok         bool
	}{
		{`{"a":1}`, `{"a":1,"b":2}`, true},
		{`{"a":{"x":1}}`, `{"a":{"x":1,"y":null}}`, true},
		{`{"a":{"x":1}}`, `{"a":{"x":2}}`, false},
		{`{"a":[{"x":1},{"x":2}]}`, `{"a":[{"x":2,"id":"b"},{"x":1,"id":"a"}]}`, true},
		{`{"a":[{"x":1},{"x":1}]}`, `{"a":[{"x":1},{"x":2}]}`, false},
		{`{"a":[1]}`, `{"a":[1,2]}`, false},
		{`{"a":null}`, `{}`, true},
		{`{"a":"x"}`, `{}`, false},
		{`{"@odata.type":"#t","a":1}`, `{"a":1}`, true},
	} {
		var w, h any
		json.Unmarshal([]byte(c.want), &w)
		json.Unmarshal([]byte(c.have), &h)
		if covers(w, h) != c.ok {
			t.Errorf("covers(%s, %s) = %v", c.want, c.have, !c.ok)
		}
	}
}
