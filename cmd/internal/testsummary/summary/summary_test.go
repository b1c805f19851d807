package summary

import (
	"strings"
	"testing"
)

const run = `{"Action":"start","Package":"p"}
{"Action":"run","Package":"p","Test":"TestA"}
{"Action":"output","Package":"p","Test":"TestA","Output":"=== RUN   TestA\n"}
{"Action":"pass","Package":"p","Test":"TestA"}
{"Action":"run","Package":"p","Test":"TestB"}
{"Action":"output","Package":"p","Test":"TestB","Output":"    b_test.go:9: skipping, oracle unavailable: xmllint missing\n"}
{"Action":"skip","Package":"p","Test":"TestB"}
{"Action":"run","Package":"p","Test":"TestC"}
{"Action":"output","Package":"p","Test":"TestC","Output":"    c_test.go:3: want 2, got 3\n"}
{"Action":"fail","Package":"p","Test":"TestC"}
{"Action":"output","Package":"p","Output":"FAIL\tp\t0.1s\n"}
{"Action":"fail","Package":"p"}
`

func TestCountsAndReports(t *testing.T) {
	var out strings.Builder
	res, err := Read(strings.NewReader(run), &out)
	if err != nil {
		t.Fatal(err)
	}
	if res.Passed != 1 || res.Failed != 1 || res.Skipped != 1 {
		t.Fatalf("counts %+v", res)
	}
	if !strings.Contains(out.String(), "want 2, got 3") || !strings.Contains(out.String(), "FAIL\tp") {
		t.Errorf("failed test output missing:\n%s", out.String())
	}
	if strings.Contains(out.String(), "=== RUN   TestA") {
		t.Error("a passing test's output is printed")
	}
	var tail strings.Builder
	if code := res.ExitCode(false, &tail); code != 1 {
		t.Errorf("exit %d with a failure", code)
	}
	if !strings.Contains(tail.String(), "tests: 1 passed, 1 failed, 1 skipped\n") ||
		!strings.Contains(tail.String(), "p TestB: b_test.go:9: skipping, oracle unavailable: xmllint missing") {
		t.Errorf("closing lines:\n%s", tail.String())
	}
}

func TestSkipFailsOnlyWhenStrict(t *testing.T) {
	skipOnly := strings.Join(strings.Split(run, "\n")[:7], "\n")
	res, _ := Read(strings.NewReader(skipOnly), &strings.Builder{})
	if code := res.ExitCode(false, &strings.Builder{}); code != 0 {
		t.Errorf("local run with a skip: exit %d", code)
	}
	if code := res.ExitCode(true, &strings.Builder{}); code != 1 {
		t.Errorf("CI run with a skip: exit %d", code)
	}
}

func TestNoTestRanFails(t *testing.T) {
	res, _ := Read(strings.NewReader(`{"Action":"output","Package":"q","Output":"?   \tq\t[no test files]\n"}`+"\n"), &strings.Builder{})
	if code := res.ExitCode(false, &strings.Builder{}); code != 1 {
		t.Errorf("exit %d when nothing ran", code)
	}
}
