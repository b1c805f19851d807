package reportcmd

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/avdgen/avdgen/cmd/avdgen/app/cmdutil"
	"github.com/avdgen/avdgen/internal/aztest"
	"github.com/avdgen/avdgen/internal/cmdtest"
	"github.com/avdgen/avdgen/internal/fakereport"
)

const sub = fakereport.WeekSubscription

func factory(t *testing.T) (*cmdutil.Factory, *bytes.Buffer, *bytes.Buffer) {
	f, out, errOut := cmdtest.Factory(t)
	f.Now = func() time.Time { return fakereport.WeekNow }
	return f, out, errOut
}

func weekArgs(w *fakereport.Week, extra ...string) []string {
	return append([]string{"--subscription", sub, "--resource-group", "rg-avd", "--host-pool", "hp1", "--auth", "cli",
		"--arm-endpoint", w.ARM.URL, "--prices-endpoint", w.Prices.URL, "--from", fakereport.WeekFrom, "--to", fakereport.WeekTo}, extra...)
}

func execute(t *testing.T, f *cmdutil.Factory, args []string) error {
	cmd := NewCmdReport(f, nil)
	cmd.SetArgs(args)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	return cmd.Execute()
}

// TestJSONIsTheGolden: the command prints the fixed week's golden JSON and,
// one VM lacking a price, exits 1 after saying so.
func TestJSONIsTheGolden(t *testing.T) {
	azLog := aztest.StandInAz(t, sub)
	w := fakereport.NewWeek(t)
	f, out, errOut := factory(t)
	err := execute(t, f, weekArgs(w, "--json"))
	if !errors.Is(err, cmdutil.SilentError) || !strings.Contains(errOut.String(), "the report is incomplete: 1 VM(s) lack data") {
		t.Fatalf("err %v, stderr %q", err, errOut.String())
	}
	want, err := os.ReadFile(filepath.Join("..", "..", "..", "..", "fleet", "report", "testdata", "week.golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), want) {
		t.Errorf("--json differs from the golden file:\n%s", out.String())
	}
	args, _ := os.ReadFile(azLog)
	if !strings.Contains(string(args), "https://management.azure.com") {
		t.Errorf("stand-in az called with %q", args)
	}
	if strings.Contains(errOut.String(), "report: ") {
		t.Errorf("progress printed although stderr is not a terminal: %q", errOut.String())
	}
}

// TestRateCompletesAndFilesAreWritten: --rate prices the size Retail
// Prices lacks, so the report is complete (exit 0); --html and --csv are
// written; a rerun with --force and nothing changed rewrites nothing; a
// rerun without --force is refused before any request.
func TestRateCompletesAndFilesAreWritten(t *testing.T) {
	aztest.StandInAz(t, sub)
	w := fakereport.NewWeek(t)
	dir := t.TempDir()
	page, sheet := filepath.Join(dir, "week.html"), filepath.Join(dir, "week.csv")
	f, out, errOut := factory(t)
	f.IO.ErrIsTerminal = true
	args := weekArgs(w, "--rate", "Standard_E2s_v5=0.126", "--html", page, "--csv", sheet)
	if err := execute(t, f, args); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	// vm-noprice: 168 h running at 0.126, nothing saved: total saved unchanged at 104.92.
	if !strings.Contains(out.String(), "104.92") || !strings.Contains(out.String(), "vm-noprice") || strings.Contains(out.String(), "Incomplete") {
		t.Errorf("table:\n%s", out.String())
	}
	if !strings.Contains(errOut.String(), "report: Activity Log pages fetched: 7") || !strings.Contains(errOut.String(), "report: session hosts: 6") {
		t.Errorf("progress on a terminal stderr: %q", errOut.String())
	}
	h, _ := os.ReadFile(page)
	c, _ := os.ReadFile(sheet)
	if !bytes.HasPrefix(h, []byte("<!DOCTYPE html>")) || !bytes.HasPrefix(c, []byte("vm,id,sessionHost,")) || !bytes.Contains(c, []byte("vm-noprice")) {
		t.Fatalf("files: %.40q %.40q", h, c)
	}
	before, _ := os.Stat(page)
	time.Sleep(20 * time.Millisecond)
	f2, _, errOut2 := factory(t)
	if err := execute(t, f2, append(args, "--force")); err != nil {
		t.Fatalf("%v\n%s", err, errOut2.String())
	}
	if after, _ := os.Stat(page); !after.ModTime().Equal(before.ModTime()) {
		t.Error("a rerun with nothing changed rewrote the page")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("%d files in the output folder (temporary files left?)", len(entries))
	}
	reads := w.ARM.Total()
	f3, _, _ := factory(t)
	if err := execute(t, f3, args); !cmdutil.IsUsage(err) || !strings.Contains(err.Error(), "pass --force to overwrite it") {
		t.Errorf("existing files without --force: %v", err)
	}
	if w.ARM.Total() != reads {
		t.Error("requests sent although the output files were refused")
	}
}

// TestBadInputSendsNothingWritesNothing: each bad flag exits 2 naming it,
// before any request and without writing a file.
func TestBadInputSendsNothingWritesNothing(t *testing.T) {
	w := fakereport.NewWeek(t)
	dir := t.TempDir()
	existing := filepath.Join(dir, "existing.html")
	os.WriteFile(existing, []byte("keep"), 0o644)
	out := filepath.Join(dir, "new.html")
	base := func(from, to string, extra ...string) []string {
		return append([]string{"--subscription", sub, "--resource-group", "rg-avd", "--host-pool", "hp1", "--auth", "cli",
			"--arm-endpoint", w.ARM.URL, "--prices-endpoint", w.Prices.URL, "--from", from, "--to", to, "--html", out}, extra...)
	}
	for name, c := range map[string]struct {
		args []string
		want string
	}{
		"reversed":        {base("2026-11-08", "2026-11-01"), "--from 2026-11-08 --to 2026-11-01: the range is reversed or empty"},
		"empty":           {base("2026-11-01", "2026-11-01"), "reversed or empty"},
		"future":          {base("2026-12-01", "2026-12-09"), "--to 2026-12-09: in the future"},
		"beyond 90 days":  {base("2026-08-01", "2026-08-08"), "older than the Activity Log keeps events (90 days)"},
		"not a date":      {base("yesterday", "2026-11-08"), `--from "yesterday": not a date`},
		"no from":         {[]string{"--subscription", sub, "--resource-group", "rg-avd", "--host-pool", "hp1", "--to", "2026-11-08"}, "--from and --to are required"},
		"rate syntax":     {base("2026-11-01", "2026-11-08", "--rate", "D4s=0.2"), `--rate "D4s=0.2": give SIZE=USD_PER_HOUR`},
		"rate price":      {base("2026-11-01", "2026-11-08", "--rate", "Standard_D4s_v5=-1"), `the price "-1" must be a number`},
		"rate twice":      {base("2026-11-01", "2026-11-08", "--rate", "Standard_D4s_v5=0.2", "--rate", "standard_d4s_v5=0.3"), "given twice"},
		"prices remote":   {base("2026-11-01", "2026-11-08", "--prices-endpoint", "https://prices.azure.com"), `--prices-endpoint "https://prices.azure.com": only a loopback http URL`},
		"prices lan":      {base("2026-11-01", "2026-11-08", "--prices-endpoint", "http://10.0.0.1:80"), "only a loopback http URL"},
		"prices path":     {base("2026-11-01", "2026-11-08", "--prices-endpoint", w.Prices.URL+"/api/retail/prices"), "only a loopback http URL without path"},
		"arm remote http": {base("2026-11-01", "2026-11-08", "--arm-endpoint", "http://management.azure.com"), "--arm-endpoint"},
		"html exists":     {base("2026-11-01", "2026-11-08", "--html", existing), "pass --force to overwrite it"},
		"same file":       {base("2026-11-01", "2026-11-08", "--csv", out), "--html and --csv"},
		"no folder":       {base("2026-11-01", "2026-11-08", "--csv", filepath.Join(dir, "missing", "x.csv")), "does not exist"},
	} {
		f, _, _ := factory(t)
		err := execute(t, f, c.args)
		if !cmdutil.IsUsage(err) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want a usage error containing %q", name, err, c.want)
		}
	}
	if w.ARM.Total()+w.Prices.Requests() != 0 {
		t.Errorf("%d requests sent on bad input", w.ARM.Total()+w.Prices.Requests())
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a file was written on bad input")
	}
	if b, _ := os.ReadFile(existing); string(b) != "keep" {
		t.Error("an existing file was overwritten")
	}
}

// TestUnknownOrPooledPoolExits2: only ARM can tell; exit 2 naming
// --host-pool, and no file is written.
func TestUnknownOrPooledPoolExits2(t *testing.T) {
	aztest.StandInAz(t, sub)
	w := fakereport.NewWeek(t)
	page := filepath.Join(t.TempDir(), "week.html")
	f, _, _ := factory(t)
	args := weekArgs(w, "--html", page)
	args[5] = "hp-typo"
	if err := execute(t, f, args); !cmdutil.IsUsage(err) || !strings.Contains(err.Error(), `--host-pool "hp-typo": no such host pool`) {
		t.Errorf("unknown pool: %v", err)
	}
	w.ARM.HostPoolType = "Pooled"
	f2, _, _ := factory(t)
	if err := execute(t, f2, weekArgs(w, "--html", page)); !cmdutil.IsUsage(err) || !strings.Contains(err.Error(), "personal host pools only") {
		t.Errorf("pooled: %v", err)
	}
	if _, err := os.Stat(page); err == nil {
		t.Error("a page was written for a refused pool")
	}
}

// TestOtherCloudNeedsRates: the Retail Prices API covers the public cloud
// only; in usgov every size needs --rate and none is looked up.
func TestOtherCloudNeedsRates(t *testing.T) {
	aztest.StandInAz(t, sub)
	w := fakereport.NewWeek(t)
	f, out, _ := factory(t)
	args := []string{"--subscription", sub, "--resource-group", "rg-avd", "--host-pool", "hp1", "--auth", "cli", "--cloud", "usgov",
		"--arm-endpoint", w.ARM.URL, "--from", fakereport.WeekFrom, "--to", fakereport.WeekTo, "--rate", "Standard_D4s_v5=0.25"}
	if err := execute(t, f, args); !errors.Is(err, cmdutil.SilentError) {
		t.Fatalf("err %v", err)
	}
	if !strings.Contains(out.String(), "vm-stopped: no rate for Standard_D2s_v5: this cloud has no Retail Prices API; pass --rate Standard_D2s_v5=USD_PER_HOUR") {
		t.Errorf("output:\n%s", out.String())
	}
	if w.Prices.Requests() != 0 {
		t.Errorf("%d Retail Prices requests in usgov", w.Prices.Requests())
	}
}
