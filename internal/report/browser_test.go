package report

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/awacompat/awacompat/internal/results"
)

// The reports opened in a real browser (Debian's chromium, which `make setup` installs): the
// shipped matrix's picture fits a 1400 x 900 screen without sideways scrolling, every square
// links to a cell section that exists, a click lands on it, and nothing is logged to the
// console, in the light and the dark palette. Screenshots are kept in the test's artifact
// directory (go test -artifacts -outputdir DIR keeps them).

const (
	screenW = 1400
	screenH = 900
)

// browserEnv names a browser binary to use instead of looking for chromium on PATH.
const browserEnv = "AWACOMPAT_CHROMIUM"

// findBrowser returns a Chromium binary, or skips the test saying why there is none. Under CI
// (where `make setup` has installed chromium, and a skip would go unseen in go test's quiet
// output) a missing browser fails the test instead.
func findBrowser(t *testing.T) string {
	t.Helper()
	if p := os.Getenv(browserEnv); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	why := fmt.Sprintf("no headless browser: chromium is not on PATH (make setup installs Debian's chromium; or set %s)", browserEnv)
	if ci := os.Getenv("CI"); ci != "" {
		t.Fatalf("%s; CI=%q is set, where the browser checks must run", why, ci)
	}
	t.Skip(why)
	return ""
}

// browser starts a headless Chromium for the test, with a 1400 x 900 viewport, and collects
// what pages write to the console.
func browser(t *testing.T) (context.Context, func() []string) {
	t.Helper()
	exe := findBrowser(t)
	opts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(exe), chromedp.WindowSize(screenW, screenH), chromedp.UserDataDir(t.TempDir())}
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses to run as root with its sandbox
	}
	ctx, cancel := chromedp.NewContext(context.Background(), chromedp.WithAllocatorOptions(opts...))
	t.Cleanup(cancel)
	// The first Run starts the browser; it must not run under the deadline below, which would
	// end the browser with it.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(screenW, screenH)); err != nil {
		t.Fatalf("start %s: %v", exe, err)
	}
	var mu sync.Mutex
	var console []string
	go func() {
		for m, err := range chromedp.Console(ctx) {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleWarning || m.IsException() {
				mu.Lock()
				console = append(console, m.String())
				mu.Unlock()
			}
		}
	}()
	tctx, tcancel := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(tcancel)
	return tctx, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), console...)
	}
}

// pageFacts is what the browser measured on a report.
type pageFacts struct {
	ScrollWidth  float64  `json:"scrollWidth"`
	InnerWidth   float64  `json:"innerWidth"`
	PictureW     float64  `json:"pictureW"`
	PictureH     float64  `json:"pictureH"`
	PictureTop   float64  `json:"pictureTop"`
	Links        []string `json:"links"`
	Dangling     []string `json:"dangling"`
	TextsOutside []string `json:"textsOutside"`
	Background   string   `json:"background"`
	Scripts      int      `json:"scripts"`
}

// measure runs in the page: the picture's size and place, its links and whether each one's
// target exists (in this page, or in targetIDs for a standalone SVG), labels drawn outside the
// picture, and the page's background.
const measure = `(() => {
  const svg = document.querySelector('figure.picture svg') || document.documentElement;
  const box = svg.getBoundingClientRect();
  const links = [...svg.querySelectorAll('a')].map(a => a.getAttribute('href'));
  const exists = id => (typeof targetIDs !== 'undefined') ? targetIDs.has(id) : !!document.getElementById(id);
  const dangling = links.filter(h => !exists(decodeURIComponent(h.slice(h.indexOf('#') + 1))));
  const vb = svg.viewBox.baseVal;
  const outside = [...svg.querySelectorAll('text')].filter(t => {
    const b = t.getBBox(); const m = t.getCTM();
    const x0 = m.a * b.x + m.c * b.y + m.e, x1 = m.a * (b.x + b.width) + m.c * (b.y + b.height) + m.e;
    const y0 = m.b * b.x + m.d * b.y + m.f, y1 = m.b * (b.x + b.width) + m.d * (b.y + b.height) + m.f;
    return Math.min(x0, x1) < -0.5 || Math.max(x0, x1) > vb.width + 0.5 || Math.min(y0, y1) < -0.5 || Math.max(y0, y1) > vb.height + 0.5;
  }).map(t => t.textContent);
  return {
    scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
    pictureW: box.width, pictureH: box.height, pictureTop: box.top + window.scrollY,
    links, dangling, textsOutside: outside,
    background: getComputedStyle(document.body || document.documentElement).backgroundColor,
    scripts: document.scripts.length,
  };
})()`

func fileURL(t *testing.T, path string) string {
	t.Helper()
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	return "file://" + filepath.ToSlash(abs)
}

func screenshot(t *testing.T, ctx context.Context, name string) string {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(t.ArtifactDir(), name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", path, len(png))
	return path
}

func setDark(t *testing.T, ctx context.Context, dark bool) {
	t.Helper()
	v := "light"
	if dark {
		v = "dark"
	}
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: v}}}); err != nil {
		t.Fatal(err)
	}
}

// open loads a file and measures it; targetIDs, when given, are the ids a standalone SVG's
// links must find in report.html.
func open(t *testing.T, ctx context.Context, path string, targetIDs []string) pageFacts {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(fileURL(t, path))); err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	script := measure
	if targetIDs != nil {
		ids, _ := json.Marshal(targetIDs)
		script = fmt.Sprintf("(() => { const targetIDs = new Set(%s); return %s; })()", ids, measure)
	}
	f, err := chromedp.Run(ctx, chromedp.Evaluate[pageFacts](script))
	if err != nil {
		t.Fatalf("measure %s: %v", path, err)
	}
	return f
}

// expectedEntries counts the squares the picture must draw: one per grid entry that holds a
// cell, over every schema path.
func expectedEntries(r *results.Results) int {
	n := 0
	for _, b := range pictureBlocks(r) {
		for _, row := range b.Grid.Rows {
			for _, c := range row.Cells {
				if len(c.Groups) > 0 {
					n++
				}
			}
		}
	}
	return n
}

func TestBrowserShippedReport(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	r, err := results.Read("testdata/shipped-519")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.ArtifactDir()
	if err := WriteFiles(dir, r); err != nil {
		t.Fatal(err)
	}
	ctx, consoleLog := browser(t)

	for _, dark := range []bool{false, true} {
		setDark(t, ctx, dark)
		f := open(t, ctx, filepath.Join(dir, HTMLFile), nil)
		t.Logf("report.html (dark %v): picture %.0f x %.0f at y=%.0f, page %.0f wide in a %.0f viewport, %d links, background %s",
			dark, f.PictureW, f.PictureH, f.PictureTop, f.ScrollWidth, f.InnerWidth, len(f.Links), f.Background)
		if f.PictureW > screenW || f.PictureH > screenH {
			t.Errorf("picture is %.0f x %.0f, larger than %d x %d", f.PictureW, f.PictureH, screenW, screenH)
		}
		if f.PictureTop+f.PictureH > screenH {
			t.Errorf("picture ends at y=%.0f, below the first %d px screen", f.PictureTop+f.PictureH, screenH)
		}
		if f.ScrollWidth > f.InnerWidth {
			t.Errorf("page scrolls sideways: %.0f px wide in a %.0f px viewport", f.ScrollWidth, f.InnerWidth)
		}
		if want := expectedEntries(r); len(f.Links) != want {
			t.Errorf("picture has %d links, want one per entry: %d", len(f.Links), want)
		}
		if len(f.Dangling) > 0 {
			t.Errorf("%d links lead nowhere, first %s", len(f.Dangling), f.Dangling[0])
		}
		if len(f.TextsOutside) > 0 {
			t.Errorf("labels drawn outside the picture: %q", f.TextsOutside)
		}
		if f.Scripts != 0 {
			t.Errorf("report.html has %d scripts; it must work without JavaScript", f.Scripts)
		}
		if dark != (f.Background == "rgb(13, 17, 23)") {
			t.Errorf("dark=%v, page background %s", dark, f.Background)
		}
		name := "report-1400x900.png"
		if dark {
			name = "report-1400x900-dark.png"
		}
		screenshot(t, ctx, name)
	}
	setDark(t, ctx, false)

	// One click away: clicking a square lands on its cell's section.
	first := `figure.picture svg a`
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(first))); err != nil {
		t.Fatalf("click the first square: %v", err)
	}
	landed, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]any](`(() => {
		const el = document.getElementById(decodeURIComponent(location.hash.slice(1)));
		return {hash: location.hash, found: !!el, top: el ? el.getBoundingClientRect().top : -1};
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	if landed["found"] != true || landed["top"].(float64) < -2 || landed["top"].(float64) > screenH {
		t.Errorf("clicking the first square: %v", landed)
	}

	// The standalone picture: the same fit, and every link finds its section in report.html.
	ids := anchorsIn(t, ctx, filepath.Join(dir, HTMLFile))
	f := open(t, ctx, filepath.Join(dir, SVGFile), ids)
	t.Logf("support.svg: %.0f x %.0f, %d links", f.PictureW, f.PictureH, len(f.Links))
	if f.PictureW > screenW || f.PictureH > screenH {
		t.Errorf("support.svg is %.0f x %.0f, larger than %d x %d", f.PictureW, f.PictureH, screenW, screenH)
	}
	if len(f.Dangling) > 0 || len(f.Links) != expectedEntries(r) {
		t.Errorf("support.svg: %d links (want %d), %d lead nowhere in report.html (first %v)", len(f.Links), expectedEntries(r), len(f.Dangling), f.Dangling)
	}
	for _, l := range f.Links {
		if !strings.HasPrefix(l, HTMLFile+"#") {
			t.Errorf("support.svg link %q does not point into %s", l, HTMLFile)
			break
		}
	}
	if len(f.TextsOutside) > 0 {
		t.Errorf("support.svg draws labels outside itself: %q", f.TextsOutside)
	}
	screenshot(t, ctx, "support.png")

	if msgs := consoleLog(); len(msgs) > 0 {
		t.Errorf("console errors and warnings:\n%s", strings.Join(msgs, "\n"))
	}
}

// The fixture's run differs from its matrix in every way a run can: the cells that differ are
// listed above the picture, and every link of the page leads somewhere.
func TestBrowserFixtureReport(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	r := fixture(t)
	dir := t.ArtifactDir()
	if err := WriteFiles(dir, r); err != nil {
		t.Fatal(err)
	}
	ctx, consoleLog := browser(t)
	f := open(t, ctx, filepath.Join(dir, HTMLFile), nil)
	if f.ScrollWidth > f.InnerWidth {
		t.Errorf("page scrolls sideways: %.0f px wide in a %.0f px viewport", f.ScrollWidth, f.InnerWidth)
	}
	if len(f.Dangling) > 0 || len(f.Links) != expectedEntries(r) {
		t.Errorf("%d links (want %d), dangling %v", len(f.Links), expectedEntries(r), f.Dangling)
	}
	listed, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('.problems a')].map(a => a.getAttribute('href')).filter(h => !document.getElementById(decodeURIComponent(h.slice(1))))`))
	if err != nil {
		t.Fatal(err)
	}
	if len(listed) > 0 {
		t.Errorf("cells listed above the picture link nowhere: %v", listed)
	}
	screenshot(t, ctx, "fixture-report.png")
	f = open(t, ctx, filepath.Join(dir, SVGFile), anchorsIn(t, ctx, filepath.Join(dir, HTMLFile)))
	if len(f.Dangling) > 0 || len(f.TextsOutside) > 0 {
		t.Errorf("support.svg: dangling links %v, labels outside %q", f.Dangling, f.TextsOutside)
	}
	screenshot(t, ctx, "fixture-support.png")
	if msgs := consoleLog(); len(msgs) > 0 {
		t.Errorf("console errors and warnings:\n%s", strings.Join(msgs, "\n"))
	}
}

// anchorsIn lists the element ids of an HTML file, as the browser parsed them.
func anchorsIn(t *testing.T, ctx context.Context, path string) []string {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(fileURL(t, path))); err != nil {
		t.Fatal(err)
	}
	ids, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('[id]')].map(e => e.id)`))
	if err != nil {
		t.Fatal(err)
	}
	return ids
}
