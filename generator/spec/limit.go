package spec

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// AllowedLimits are the only values (ms) GPMC and Intune can set for the
// Session Time Limits enums (FORMATS.md §1); 0 is "never".
var AllowedLimits = []uint32{
	0, 60000, 300000, 600000, 900000, 1800000, 3600000, 7200000, 10800000, 21600000, 28800000,
	43200000, 57600000, 64800000, 86400000, 172800000, 259200000, 345600000, 432000000,
}

// FormatMs renders ms in the canonical spelling: never, 15m, 2h, 1d.
func FormatMs(ms uint32) string {
	switch {
	case ms == 0:
		return "never"
	case ms%86400000 == 0:
		return fmt.Sprintf("%dd", ms/86400000)
	case ms%3600000 == 0:
		return fmt.Sprintf("%dh", ms/3600000)
	case ms%60000 == 0:
		return fmt.Sprintf("%dm", ms/60000)
	}
	return (time.Duration(ms) * time.Millisecond).String()
}

func (l Limit) String() string {
	if !l.Set {
		return "not configured"
	}
	return FormatMs(l.Ms)
}

// ParseLimit parses a limit for field: never, or a duration such as 15m,
// 2h, 1d, 90m; it must be one of AllowedLimits.
func ParseLimit(field, s string) (Limit, error) {
	in := strings.TrimSpace(strings.ToLower(s))
	if in == "never" || in == "0" {
		return Limit{Ms: 0, Set: true}, nil
	}
	var d time.Duration
	var err error
	if days, ok := strings.CutSuffix(in, "d"); ok {
		var n int
		n, err = strconv.Atoi(days)
		d = time.Duration(n) * 24 * time.Hour
	} else {
		d, err = time.ParseDuration(in)
	}
	if err != nil || d <= 0 {
		return Limit{}, fmt.Errorf("%s %q: not a duration; write never, or minutes, hours or days such as 15m, 2h, 1d (allowed: %s)", field, s, allowedList())
	}
	ms := d.Milliseconds()
	for _, a := range AllowedLimits {
		if int64(a) == ms {
			return Limit{Ms: a, Set: true}, nil
		}
	}
	return Limit{}, fmt.Errorf("%s %q: not a value Group Policy or Intune can set; nearest allowed: %s (allowed: %s)", field, s, nearest(ms), allowedList())
}

func allowedList() string {
	parts := make([]string, len(AllowedLimits))
	for i, a := range AllowedLimits {
		parts[i] = FormatMs(a)
	}
	return strings.Join(parts, ", ")
}

// nearest names the allowed values just below and above ms.
func nearest(ms int64) string {
	var below, above []string
	for _, a := range AllowedLimits[1:] {
		if int64(a) < ms {
			below = []string{FormatMs(a)}
		} else if int64(a) > ms && above == nil {
			above = []string{FormatMs(a)}
		}
	}
	return strings.Join(append(below, above...), ", ")
}

// UnmarshalYAML reads a limit from a scalar.
func (l *Limit) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseLimit("", n.Value)
	if err != nil {
		return err
	}
	*l = v
	return nil
}

// MarshalYAML writes the canonical spelling.
func (l Limit) MarshalYAML() (any, error) { return FormatMs(l.Ms), nil }

// MarshalText lets --json print limits readably.
func (l Limit) MarshalText() ([]byte, error) { return []byte(l.String()), nil }
