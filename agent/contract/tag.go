package contract

import (
	"fmt"
	"strings"
)

// The exclusion tag rule, shared by the agent (avd-agent --exclude-tag), the
// sweep (avdgen sweep --exclude-tag) and anything else that must leave the
// same VMs alone: one parser and one comparison, so the agent and the admin
// side can never disagree about which VM is excluded.

// SplitTag parses an --exclude-tag value NAME=VALUE (spaces around either
// are trimmed; the value may be empty, the name may not).
func SplitTag(tag string) (name, value string, err error) {
	name, value, ok := strings.Cut(tag, "=")
	name = strings.TrimSpace(name)
	if !ok || name == "" {
		return "", "", fmt.Errorf("--exclude-tag %q: want name=value, e.g. %s", tag, DefaultExcludeTag)
	}
	return name, strings.TrimSpace(value), nil
}

// HasTag reports whether tags hold name=value. Tag names are
// case-insensitive in Azure; values are compared case-insensitively too
// (after trimming), so avdgen-exclude=True excludes as well as =true.
func HasTag(tags map[string]string, name, value string) bool {
	for k, v := range tags {
		if strings.EqualFold(k, name) && strings.EqualFold(strings.TrimSpace(v), strings.TrimSpace(value)) {
			return true
		}
	}
	return false
}
