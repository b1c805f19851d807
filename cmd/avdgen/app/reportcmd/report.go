// Package reportcmd implements `avdgen report`.
package reportcmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/avdgen/avdgen/agent/azure"
	"github.com/avdgen/avdgen/cmd/avdgen/app/azureflags"
	"github.com/avdgen/avdgen/cmd/avdgen/app/cmdutil"
	"github.com/avdgen/avdgen/fleet/report"
)

// Options of `avdgen report`.
type Options struct {
	Factory        *cmdutil.Factory
	Azure          azureflags.Flags
	From, To       string
	JSON           bool
	HTML, CSV      string
	PricesEndpoint string
	Rates          []string
	Force          bool
}

// NewCmdReport builds the command.
func NewCmdReport(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{Factory: f}
	cmd := &cobra.Command{
		Use:   "report --subscription S --resource-group RG --host-pool HP --from YYYY-MM-DD --to YYYY-MM-DD",
		Short: "What deallocation saved, what stopped VMs leaked, and which hosts never deallocate",
		Long: `Reads a personal host pool's session hosts and VMs, the Activity Log of their resource groups
(start, deallocate and powerOff events: who did what, when) and the Azure Retail Prices API, and
reports per VM the hours running, deallocated (by the agent, by autoscale, by anyone else) and
stopped but still billed, the money saved and leaked at the pay-as-you-go rate, and findings:
hosts that never deallocate, failed deallocations, stopped-but-billed time, the Windows meter on a
Windows 10/11 host without licenseType Windows_Client.

--from and --to are UTC dates; --to is exclusive (--from 2026-11-01 --to 2026-11-08 is one week).
The Activity Log keeps 90 days. The identity needs Reader on the pool's and the VMs' resource groups.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if runF != nil {
				return runF(opts)
			}
			return run(opts)
		},
	}
	azureflags.Add(cmd, &opts.Azure)
	fs := cmd.Flags()
	fs.StringVar(&opts.From, "from", "", "first `DAY` of the window, YYYY-MM-DD UTC (required)")
	fs.StringVar(&opts.To, "to", "", "`DAY` after the window, YYYY-MM-DD UTC, exclusive (required)")
	fs.BoolVar(&opts.JSON, "json", false, "print the report as JSON")
	fs.StringVar(&opts.HTML, "html", "", "also write a self-contained HTML page to `FILE`")
	fs.StringVar(&opts.CSV, "csv", "", "also write one CSV row per VM to `FILE`")
	fs.StringVar(&opts.PricesEndpoint, "prices-endpoint", "", "Retail Prices API `URL` override (loopback http only, for tests)")
	fs.StringArrayVar(&opts.Rates, "rate", nil, "`SIZE=USD` hourly price for a VM size (negotiated prices), e.g. Standard_D4s_v5=0.19; repeatable")
	fs.BoolVar(&opts.Force, "force", false, "overwrite the --html and --csv files when they exist")
	return cmd
}

// New is the registration hook for commands.go.
func New(f *cmdutil.Factory) *cobra.Command { return NewCmdReport(f, nil) }

var sizeRe = regexp.MustCompile(`(?i)^(Standard|Basic)_[A-Za-z0-9_-]{1,60}$`)

// parseRates checks every --rate SIZE=USD_PER_HOUR.
func parseRates(raw []string) (map[string]float64, error) {
	out := map[string]float64{}
	for _, r := range raw {
		size, price, ok := strings.Cut(r, "=")
		size, price = strings.TrimSpace(size), strings.TrimSpace(price)
		if !ok || !sizeRe.MatchString(size) {
			return nil, fmt.Errorf("--rate %q: give SIZE=USD_PER_HOUR with an Azure VM size, e.g. Standard_D4s_v5=0.19", r)
		}
		usd, err := strconv.ParseFloat(price, 64)
		if err != nil || usd <= 0 || usd >= 1000 {
			return nil, fmt.Errorf("--rate %q: the price %q must be a number of USD per hour above 0 and below 1000, e.g. 0.19", r, price)
		}
		for k := range out {
			if strings.EqualFold(k, size) {
				return nil, fmt.Errorf("--rate %q: %s is given twice", r, size)
			}
		}
		out[size] = usd
	}
	return out, nil
}

// parsePricesOverride accepts only a plain http URL on a loopback address:
// the real API is https://prices.azure.com.
func parsePricesOverride(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Scheme != "http" || !azure.IsLoopbackHost(u.Host) || u.User != nil || u.RawQuery != "" || (u.Path != "" && u.Path != "/") {
		return "", fmt.Errorf("--prices-endpoint %q: only a loopback http URL without path is allowed (e.g. http://127.0.0.1:8080, a test fake); leave it out to use %s", raw, report.PricesEndpoint)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// checkOut refuses an output file that exists (without --force) or whose
// folder does not.
func checkOut(flag, path string, force bool) error {
	if path == "" {
		return nil
	}
	if fi, err := os.Stat(filepath.Dir(path)); err != nil || !fi.IsDir() {
		return fmt.Errorf("%s %q: the folder %s does not exist", flag, path, filepath.Dir(path))
	}
	if fi, err := os.Stat(path); err == nil {
		if fi.IsDir() {
			return fmt.Errorf("%s %q: is a folder; give a file name", flag, path)
		}
		if !force {
			return fmt.Errorf("%s %q: the file exists; pass --force to overwrite it", flag, path)
		}
	}
	return nil
}

// writeFile writes aside and renames, and leaves an identical file alone.
func writeFile(path string, b []byte) (bool, error) {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, b) {
		return false, nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return false, err
	}
	_, werr := tmp.Write(b)
	cerr := tmp.Close()
	if werr != nil || cerr != nil {
		os.Remove(tmp.Name())
		return false, errors.Join(werr, cerr)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		os.Remove(tmp.Name())
		return false, err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return false, err
	}
	return true, nil
}

func run(o *Options) error {
	f := o.Factory
	if err := o.Azure.Validate(); err != nil {
		return err
	}
	now := time.Now
	if f.Now != nil {
		now = f.Now
	}
	var errs []string
	if o.From == "" || o.To == "" {
		errs = append(errs, "--from and --to are required: the window's first day and the day after it, YYYY-MM-DD UTC (e.g. --from 2026-11-01 --to 2026-11-08)")
	}
	var from, to time.Time
	if len(errs) == 0 {
		var err error
		if from, to, err = report.ParseRange(o.From, o.To, now()); err != nil {
			errs = append(errs, err.Error())
		}
	}
	rates, err := parseRates(o.Rates)
	if err != nil {
		errs = append(errs, err.Error())
	}
	cloud, _ := azure.CloudByName(o.Azure.Cloud)
	pricesBase := report.PricesEndpoint
	if o.PricesEndpoint != "" {
		if pricesBase, err = parsePricesOverride(o.PricesEndpoint); err != nil {
			errs = append(errs, err.Error())
		}
	}
	for _, c := range []struct{ flag, path string }{{"--html", o.HTML}, {"--csv", o.CSV}} {
		if err := checkOut(c.flag, c.path, o.Force); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if o.HTML != "" && o.CSV != "" && filepath.Clean(o.HTML) == filepath.Clean(o.CSV) {
		errs = append(errs, fmt.Sprintf("--html and --csv %q: the same file; give two names", o.HTML))
	}
	if len(errs) > 0 {
		return cmdutil.Usagef("%s", strings.Join(errs, "; "))
	}
	c, err := o.Azure.Client(f)
	if err != nil {
		return err
	}
	opts := report.Options{Pool: o.Azure.Pool, From: from, To: to, Rates: rates}
	// The Retail Prices API covers the public cloud only; elsewhere --rate
	// prices every size.
	if cloud.Name == "public" || o.PricesEndpoint != "" {
		opts.Prices = report.NewPrices(pricesBase, &http.Client{Transport: f.Transport}, azure.DefaultRetry)
	}
	if f.IO.ErrIsTerminal {
		opts.Progress = func(format string, args ...any) { fmt.Fprintf(f.IO.ErrOut, "report: "+format+"\n", args...) }
	}
	rep, err := report.Run(context.Background(), c, opts)
	var ie *report.InputError
	if errors.As(err, &ie) {
		return cmdutil.Usagef("%s", ie.Msg)
	}
	if err != nil {
		return err
	}
	for _, w := range []struct {
		path string
		body func() []byte
	}{{o.HTML, rep.HTML}, {o.CSV, rep.CSV}} {
		if w.path == "" {
			continue
		}
		if _, err := writeFile(w.path, w.body()); err != nil {
			return fmt.Errorf("writing %s: %w", w.path, err)
		}
	}
	if o.JSON {
		f.IO.Out.Write(rep.JSON())
	} else {
		rep.WriteTable(f.IO.Out)
	}
	if len(rep.Incomplete) > 0 {
		fmt.Fprintf(f.IO.ErrOut, "avdgen: the report is incomplete: %d VM(s) lack data (listed under incomplete); their money is not guessed\n", len(rep.Incomplete))
		return cmdutil.SilentError
	}
	return nil
}
