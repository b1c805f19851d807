package report

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/avdgen/avdgen/internal/testkit"
	"golang.org/x/net/html"
)

// chromium finds Debian's headless Chromium (.ci/deps installs it). Missing,
// it skips locally and fails in CI, like the project's other oracles.
func chromium(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("chromium")
	if err != nil {
		testkit.Unavailable(t, "chromium not installed (make deps: .ci/deps installs Debian's chromium): %v", err)
	}
	return p
}

// runChromium runs headless Chromium on a local file. It reads nothing from
// the network (the page has no external resource; CI cuts the network).
func runChromium(t *testing.T, args ...string) []byte {
	t.Helper()
	bin := chromium(t)
	base := []string{"--headless", "--disable-gpu", "--no-first-run", "--no-default-browser-check", "--disable-extensions",
		"--disable-background-networking", "--disable-component-update", "--hide-scrollbars", "--force-device-scale-factor=1",
		"--user-data-dir=" + t.TempDir()}
	if os.Geteuid() == 0 {
		base = append(base, "--no-sandbox") // Chromium refuses to run as root with its sandbox
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, errOut.String())
	}
	return out.Bytes()
}

func writePage(t *testing.T) (*Report, string) {
	_, rep := runWeek(t)
	path := filepath.Join(t.TempDir(), "report.html")
	if err := os.WriteFile(path, rep.HTML(), 0o644); err != nil {
		t.Fatal(err)
	}
	return rep, path
}

func walk(n *html.Node, f func(*html.Node)) {
	f(n)
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, f)
	}
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func hasClass(n *html.Node, c string) bool {
	for _, f := range strings.Fields(attr(n, "class")) {
		if f == c {
			return true
		}
	}
	return false
}

func find(root *html.Node, ok func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	walk(root, func(n *html.Node) {
		if n.Type == html.ElementNode && ok(n) {
			out = append(out, n)
		}
	})
	return out
}

func byID(root *html.Node, id string) *html.Node {
	if n := find(root, func(n *html.Node) bool { return attr(n, "id") == id }); len(n) == 1 {
		return n[0]
	}
	return nil
}

func text(n *html.Node) string {
	var b strings.Builder
	walk(n, func(c *html.Node) {
		if c.Type == html.TextNode {
			b.WriteString(c.Data)
		}
	})
	return b.String()
}

// TestHTMLIsSelfContained: no script, no stylesheet link, no external
// URL in any src, href or CSS: the page works offline, from a mail
// attachment or a share.
func TestHTMLIsSelfContained(t *testing.T) {
	_, rep := runWeek(t)
	page := rep.HTML()
	doc, err := html.Parse(bytes.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range find(doc, func(*html.Node) bool { return true }) {
		switch n.Data {
		case "script", "link", "iframe", "img", "object", "embed", "image", "use":
			t.Errorf("element <%s> in a self-contained page", n.Data)
		}
		for _, a := range n.Attr {
			if (a.Key == "src" || a.Key == "href") || strings.Contains(a.Val, "://") && a.Key != "xmlns" {
				t.Errorf("<%s %s=%q>: an external reference", n.Data, a.Key, a.Val)
			}
		}
	}
	for _, bad := range []string{"@import", "url(", "@font-face"} {
		if bytes.Contains(page, []byte(bad)) {
			t.Errorf("the page's CSS has %s", bad)
		}
	}
}

// TestHTMLInChromium renders the fixed week's page in headless Chromium
// and checks the DOM Chromium built (charts, bars, findings, formula) and a
// screenshot: its size, and the chart colours painted in it.
// `go test ./fleet/report -run TestHTMLInChromium -update` also refreshes
// docs/report.png.
func TestHTMLInChromium(t *testing.T) {
	rep, path := writePage(t)
	dom := runChromium(t, "--dump-dom", "file://"+path)
	doc, err := html.Parse(bytes.NewReader(dom))
	if err != nil {
		t.Fatal(err)
	}
	daily := byID(doc, "daily-chart")
	if daily == nil || daily.Namespace != "svg" {
		t.Fatalf("no SVG #daily-chart in Chromium's DOM")
	}
	days := find(daily, func(n *html.Node) bool { return n.Data == "g" && hasClass(n, "day") })
	if len(days) != 7 {
		t.Fatalf("%d day groups, want 7", len(days))
	}
	// Nov 1: running 105 h, deallocated 39 h of the pool's 6 x 24 = 144 h;
	// the chart is 220 px high, so the running bar is 105/144 x 220 px.
	first := map[string]*html.Node{}
	for _, r := range find(days[0], func(n *html.Node) bool { return n.Data == "rect" }) {
		first[attr(r, "class")] = r
	}
	if attr(days[0], "data-date") != "2026-11-01" || attr(first["running"], "data-hours") != "105" || attr(first["deallocated"], "data-hours") != "39" || attr(first["stopped"], "data-hours") != "0" {
		t.Errorf("day 1 bars: %v", days[0].Attr)
	}
	if h, _ := strconv.ParseFloat(attr(first["running"], "height"), 64); h < 160.41 || h > 160.42 {
		t.Errorf("day 1 running bar %v px high, want 105/144 x 220 = 160.42", h)
	}
	vms := find(byID(doc, "vm-chart"), func(n *html.Node) bool { return n.Data == "g" && hasClass(n, "vm") })
	if len(vms) != len(rep.VMs) {
		t.Fatalf("%d VM bars, want %d", len(vms), len(rep.VMs))
	}
	saved := map[string]string{}
	for _, g := range vms {
		for _, r := range find(g, func(n *html.Node) bool { return n.Data == "rect" && hasClass(n, "saved") }) {
			saved[attr(g, "data-vm")] = attr(r, "data-usd")
		}
	}
	if saved["vm-agent"] != "29.70" || saved["vm-autoscale"] != "38.02" || saved["vm-noprice"] != "n/a" {
		t.Errorf("saved bars %v", saved)
	}
	findings := find(byID(doc, "findings"), func(n *html.Node) bool { return n.Data == "li" && hasClass(n, "finding") })
	kinds := map[string]int{}
	for _, f := range findings {
		kinds[attr(f, "data-vm")+" "+attr(f, "data-kind")]++
	}
	for _, k := range []string{"vm-autoscale wrong-meter", "vm-stopped stopped-billed", "vm-never never-deallocated", "vm-never failed-deallocation", "vm-noprice never-deallocated"} {
		if kinds[k] != 1 {
			t.Errorf("finding %q shown %d times (all: %v)", k, kinds[k], kinds)
		}
	}
	if len(findings) != 5 {
		t.Errorf("%d findings, want 5", len(findings))
	}
	if f := byID(doc, "formula-text"); f == nil || !strings.Contains(text(f), "saved = deallocated hours × hourly rate") {
		t.Errorf("formula missing")
	}
	if strings.Contains(text(doc), "%!") {
		t.Errorf("a formatting error is on the page: %q", text(doc)[strings.Index(text(doc), "%!")-40:][:120])
	}
	if row := find(byID(doc, "vm-table"), func(n *html.Node) bool { return n.Data == "tr" && attr(n, "data-vm") == "vm-stopped" }); len(row) != 1 ||
		!strings.Contains(text(row[0]), "3.60") || !strings.Contains(text(row[0]), "4.80") {
		t.Errorf("vm-stopped's table row does not show saved 3.60 and leaked 4.80")
	}
	if s := byID(doc, "total-saved"); s == nil || text(s) != "$104.92" {
		t.Errorf("total saved shown as %q", text(s))
	}

	shot := filepath.Join(t.TempDir(), "shot.png")
	runChromium(t, "--screenshot="+shot, "--window-size=1100,1500", "file://"+path)
	b, err := os.ReadFile(shot)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if img.Bounds() != image.Rect(0, 0, 1100, 1500) {
		t.Errorf("screenshot %v, want 1100x1500", img.Bounds())
	}
	// Every chart colour is painted: count exact-colour pixels (bar
	// interiors are not anti-aliased).
	for name, hex := range map[string]string{"running": ColourRunning, "deallocated": ColourDeallocated, "stopped": ColourStopped, "saved": ColourSaved, "leaked": ColourLeaked} {
		want := parseHex(hex)
		n := 0
		for y := 0; y < img.Bounds().Dy(); y++ {
			for x := 0; x < img.Bounds().Dx(); x++ {
				r, g, b, _ := img.At(x, y).RGBA()
				if uint8(r>>8) == want.R && uint8(g>>8) == want.G && uint8(b>>8) == want.B {
					n++
				}
			}
		}
		if n < 200 {
			t.Errorf("%s colour %s painted on %d pixels, want a bar's worth (200+)", name, hex, n)
		}
	}
	if *update {
		if err := os.WriteFile(filepath.Join("..", "..", "docs", "report.png"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func parseHex(s string) color.RGBA {
	v, _ := strconv.ParseUint(strings.TrimPrefix(s, "#"), 16, 32)
	return color.RGBA{R: uint8(v >> 16), G: uint8(v >> 8), B: uint8(v), A: 255}
}
