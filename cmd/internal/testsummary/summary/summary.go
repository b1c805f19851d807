// Package summary condenses `go test -json` output: see cmd/internal/testsummary.
package summary

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
)

// event is one line of test2json output.
type event struct {
	Action     string
	Package    string
	Test       string
	Output     string
	ImportPath string
}

// Result counts the tests of one run.
type Result struct {
	Passed, Failed, Skipped int
	// FailedPackages are packages that failed to build or failed outside a test.
	FailedPackages []string
	Skips          []string // "pkg TestName: reason"
}

// Read consumes test2json events from r, writes package lines and failed
// tests' output to w as they finish, and returns the counts.
func Read(r io.Reader, w io.Writer) (*Result, error) {
	res := &Result{}
	outputs := map[string]*strings.Builder{} // package + test -> output so far
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if err := json.Unmarshal(line, &e); err != nil {
			// go test prints build errors as plain text before any JSON.
			fmt.Fprintln(w, string(line))
			continue
		}
		key := e.Package + "\x00" + e.Test
		switch e.Action {
		case "build-output":
			fmt.Fprint(w, e.Output)
		case "build-fail":
			res.FailedPackages = append(res.FailedPackages, e.ImportPath)
		case "output":
			if e.Test == "" {
				// Package-level lines: "ok  pkg 1.2s", "FAIL pkg", "? pkg [no test files]", panics.
				if t := strings.TrimSpace(e.Output); strings.HasPrefix(t, "ok ") || strings.HasPrefix(t, "FAIL") ||
					strings.HasPrefix(t, "?") || strings.HasPrefix(t, "panic") || strings.HasPrefix(t, "#") {
					fmt.Fprint(w, e.Output)
				}
				continue
			}
			b := outputs[key]
			if b == nil {
				b = &strings.Builder{}
				outputs[key] = b
			}
			b.WriteString(e.Output)
		case "pass":
			if e.Test != "" {
				res.Passed++
			}
			delete(outputs, key)
		case "skip":
			if e.Test != "" {
				res.Skipped++
				res.Skips = append(res.Skips, fmt.Sprintf("%s %s: %s", e.Package, e.Test, skipReason(outputs[key])))
			}
			delete(outputs, key)
		case "fail":
			if e.Test == "" {
				res.FailedPackages = append(res.FailedPackages, e.Package)
				continue
			}
			res.Failed++
			if b := outputs[key]; b != nil {
				fmt.Fprint(w, b.String())
			}
			delete(outputs, key)
		}
	}
	sort.Strings(res.Skips)
	return res, sc.Err()
}

// skipReason is the last message a skipped test logged.
func skipReason(b *strings.Builder) string {
	if b == nil {
		return "(no reason given)"
	}
	var last string
	for _, l := range strings.Split(b.String(), "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasPrefix(l, "=== ") && !strings.HasPrefix(l, "--- SKIP") {
			last = l
		}
	}
	if last == "" {
		return "(no reason given)"
	}
	return last
}

// ExitCode prints the skipped tests and the closing line, and returns the
// process exit code: 1 on any failure, or on any skip when strict.
func (r *Result) ExitCode(strict bool, w io.Writer) int {
	for _, s := range r.Skips {
		fmt.Fprintln(w, "skipped:", s)
	}
	fmt.Fprintf(w, "tests: %d passed, %d failed, %d skipped\n", r.Passed, r.Failed, r.Skipped)
	switch {
	case r.Failed > 0 || len(r.FailedPackages) > 0:
		if len(r.FailedPackages) > 0 {
			fmt.Fprintln(w, "failed packages:", strings.Join(r.FailedPackages, " "))
		}
		return 1
	case strict && r.Skipped > 0:
		fmt.Fprintln(w, "CI=true: a skipped test is a check that did not run; install what it names (make deps)")
		return 1
	case r.Passed == 0:
		fmt.Fprintln(w, "no test ran")
		return 1
	}
	return 0
}
