package contract

import "testing"

func TestSplitTag(t *testing.T) {
	n, v, err := SplitTag(" keep = Yes ")
	if err != nil || n != "keep" || v != "Yes" {
		t.Errorf("got %q %q %v", n, v, err)
	}
	if n, v, err := SplitTag(DefaultExcludeTag); err != nil || n != "avdgen-exclude" || v != "true" {
		t.Errorf("default: got %q %q %v", n, v, err)
	}
	if n, v, err := SplitTag("keep="); err != nil || n != "keep" || v != "" {
		t.Errorf("empty value: got %q %q %v", n, v, err)
	}
	for _, bad := range []string{"novalue", "=x", " =x", ""} {
		if _, _, err := SplitTag(bad); err == nil {
			t.Errorf("SplitTag(%q) accepted", bad)
		}
	}
}

// The agent and the sweep exclude the same VMs: names and values match
// case-insensitively after trimming, and nothing else matches.
func TestHasTag(t *testing.T) {
	tags := map[string]string{"Avdgen-Exclude": " True ", "owner": "x"}
	for _, c := range []struct {
		name, value string
		want        bool
	}{
		{"avdgen-exclude", "true", true},
		{"AVDGEN-EXCLUDE", "TRUE", true},
		{"avdgen-exclude", "false", false},
		{"avdgen-exclud", "true", false},
		{"owner", "x ", true},
		{"owner", "", false},
	} {
		if got := HasTag(tags, c.name, c.value); got != c.want {
			t.Errorf("HasTag(%q, %q) = %v, want %v", c.name, c.value, got, c.want)
		}
	}
	if HasTag(nil, "avdgen-exclude", "true") {
		t.Error("no tags matched")
	}
}
