package docs

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// The browser test loads /docs in a real headless Chromium (Debian's /usr/bin/chromium, or the
// binary named by $CHROMIUM), served by the handler on a loopback httptest.Server, and checks
// what a person would see and what the page asks the network for.
//
// It fails, and does not skip, when Chromium is missing: install it with
// scripts/install-chromium.sh.
//
// The screenshot (docs/screenshot.png, shown in the README) and its record
// (docs/screenshot.inputs) are rewritten only with UPDATE_SCREENSHOT=1, and only when the test
// passes otherwise; in any other run the screenshot goes to a temporary directory and is checked
// to be a PNG of the window's size, and the test fails when the committed one is stale: taken of
// other inputs than the page has now (see screenshot_test.go).
//
//	UPDATE_SCREENSHOT=1 go test ./docs -run TestBrowserRendersDocs

const (
	defaultChromium = "/usr/bin/chromium"
	windowWidth     = 1440
	windowHeight    = 900

	// Bounds that only stop a hang, never a measure of speed: on an idle machine a browser test
	// takes a few seconds, the page renders in one or two.
	browserHangBound = 3 * time.Minute // a whole browser test, Chromium's start included
	renderHangBound  = 2 * time.Minute // the page to render or hydrate
)

// browserLog collects, in order, what the page did: every network request, every failed load,
// every non-2xx/3xx response, console errors and warnings, exceptions and browser log entries.
type browserLog struct {
	mu       sync.Mutex
	requests []string // URLs, in order
	problems []string
	last     time.Time // time of the last network request
}

func (l *browserLog) listen(ev any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		l.requests = append(l.requests, ev.Request.URL)
		l.last = time.Now()
	case *network.EventResponseReceived:
		if s := ev.Response.Status; s >= 400 {
			l.problems = append(l.problems, fmt.Sprintf("HTTP %d for %s", s, ev.Response.URL))
		}
	case *network.EventLoadingFailed:
		l.problems = append(l.problems, fmt.Sprintf("load failed (%s %s) of request %s", ev.ErrorText, ev.BlockedReason, ev.RequestID))
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		text := d.Text
		if d.Exception != nil && d.Exception.Description != "" {
			text += " " + d.Exception.Description
		}
		l.problems = append(l.problems, "exception: "+text)
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeWarning || ev.Type == runtime.ConsoleAPICalledTypeAssert {
			var parts []string
			for _, a := range ev.Args {
				if a.Description != "" {
					parts = append(parts, a.Description)
				} else {
					parts = append(parts, string(a.Value))
				}
			}
			l.problems = append(l.problems, fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(parts, " ")))
		}
	case *log.EventEntryAdded:
		// Content-Security-Policy violations, blocked or failed loads and other browser
		// complaints about the page arrive here.
		if e := ev.Entry; e.Level == log.EntryLevelError || e.Level == log.EntryLevelWarning {
			l.problems = append(l.problems, fmt.Sprintf("browser log %s/%s: %s %s", e.Source, e.Level, e.Text, e.URL))
		}
	}
}

func (l *browserLog) snapshot() (requests, problems []string, last time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.requests), slices.Clone(l.problems), l.last
}

func chromiumPath(t *testing.T) string {
	t.Helper()
	path := os.Getenv("CHROMIUM")
	if path == "" {
		path = defaultChromium
	}
	if fi, err := os.Stat(path); err != nil || fi.IsDir() {
		t.Fatalf("Chromium not found at %s (set $CHROMIUM, or run scripts/install-chromium.sh): %v", path, err)
	}
	return path
}

func TestBrowserRendersDocs(t *testing.T) {
	chromium := chromiumPath(t)
	start := time.Now()

	// Serve the handler over real HTTP on the loopback interface, and note what it is asked for.
	var servedMu sync.Mutex
	var served []string
	h := newTestHandler(t)
	update := os.Getenv("UPDATE_SCREENSHOT") == "1"
	inputs := screenshotInputs(t, h)
	if !update {
		checkScreenshotCurrent(t, inputs)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		servedMu.Lock()
		served = append(served, r.Method+" "+r.URL.Path)
		servedMu.Unlock()
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	origin, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if ip := net.ParseIP(origin.Hostname()); ip == nil || !ip.IsLoopback() {
		t.Fatalf("test server is not on loopback: %s", srv.URL)
	}

	tabCtx, blog := startBrowser(t, chromium, origin.Hostname(), origin.Host)

	t.Logf("Chromium started in %v", time.Since(start).Round(time.Millisecond))
	if err := chromedp.Do(tabCtx,
		chromedp.EmulateViewport(windowWidth, windowHeight),
		chromedp.Navigate(srv.URL+PathDocs),
	); err != nil {
		t.Fatalf("navigate: %v", err)
	}

	// Redoc has rendered when the operations are on the page.
	needles := []string{
		"Get remoteAssistanceSettings",
		"Update remoteAssistanceSettings",
		"notConfigured", "disabled", "enabled",
		"ODataError", "innerError",
	}
	_, err = chromedp.Run(tabCtx, chromedp.PollFunction[chromedp.Void](
		`(needles) => document.documentElement.getAttribute('data-redoc') === 'error' ||
			(document.documentElement.getAttribute('data-redoc') === 'ready' &&
			 needles.every((n) => document.body.textContent.includes(n)))`,
		chromedp.WithPollingArgs(needles),
		chromedp.WithPollingInterval(100*time.Millisecond),
		chromedp.WithPollingTimeout(renderHangBound),
	))
	if err != nil {
		text, _ := chromedp.Run(tabCtx, chromedp.Evaluate[string](`document.body.innerText.slice(0, 2000)`))
		reqs, probs, _ := blog.snapshot()
		t.Fatalf("Redoc did not render the contract: %v\nrequests: %v\nproblems: %v\npage text: %s", err, reqs, probs, text)
	}
	if state, _ := chromedp.Run(tabCtx, chromedp.Evaluate[string](`document.documentElement.getAttribute('data-redoc')`)); state != "ready" {
		t.Fatalf("Redoc reported an error (data-redoc=%q)", state)
	}
	t.Logf("rendered after %v", time.Since(start).Round(time.Millisecond))

	// Let late requests (images set after the first render, the search worker) happen.
	waitQuiet(t, tabCtx, blog)

	// What a person sees: the two operations as headings, the enum values and the error
	// envelope in the visible text, not only somewhere in the DOM.
	visible, err := chromedp.Run(tabCtx, chromedp.Evaluate[string](`document.body.innerText`))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range append(needles,
		`Enum: "notConfigured" "disabled" "enabled"`, // the remoteAssistanceState schema
		"object (MainError)", "object (InnerError)",  // the expanded 400 response: error.innerError
		"DeviceManagementConfiguration.ReadWrite.All", // the operations' x-graph-permissions
		"Permissions.", // written into each operation's description, as a list
	) {
		if !strings.Contains(visible, n) {
			t.Errorf("%q is not in the visible text", n)
		}
	}
	// The permissions read as text, not as the raw JSON array of the extension.
	if strings.Contains(visible, `["DeviceManagement`) || strings.Contains(visible, "graph-permissions") {
		t.Error("the x-graph-permissions extension is rendered raw")
	}
	headings, err := chromedp.Run(tabCtx, chromedp.Evaluate[[]string](
		`Array.from(document.querySelectorAll('h2')).map((h) => h.textContent.trim())`))
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range []string{"Get remoteAssistanceSettings", "Update remoteAssistanceSettings"} {
		if !slices.Contains(headings, op) {
			t.Errorf("no <h2> %q among %q", op, headings)
		}
	}
	// The footer logo was neutralised, not loaded: no <img> points anywhere but data: or here.
	imgs, err := chromedp.Run(tabCtx, chromedp.Evaluate[[]string](
		`Array.from(document.images).map((i) => i.getAttribute('src') || '')`))
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range imgs {
		if !strings.HasPrefix(src, "data:") && !strings.HasPrefix(src, "/") {
			t.Errorf("an <img> still has src %q", src)
		}
	}

	// Every request went to the test server (or stayed in the browser: data:, blob:).
	checkRequests(t, blog, onlyServer(srv.URL))

	servedMu.Lock()
	gotServed := slices.Clone(served)
	servedMu.Unlock()
	for _, path := range screenshotPageLoads {
		if want := "GET " + path; !slices.Contains(gotServed, want) {
			t.Errorf("the server was not asked for %s (asked: %q)", want, gotServed)
		}
	}

	// A screenshot of the window, as the README shows it: the GET operation, with its
	// parameters, responses and samples.
	if err := chromedp.Do(tabCtx, chromedp.Evaluate[chromedp.Void](
		`document.querySelector(`+strconv.Quote(screenshotTarget)+`).scrollIntoView()`),
		chromedp.Sleep(300*time.Millisecond), // let the side menu follow the scroll
	); err != nil {
		t.Fatalf("scroll to the GET operation: %v", err)
	}
	shot, err := chromedp.Run(tabCtx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != windowWidth || b.Dy() != windowHeight {
		t.Errorf("screenshot is %dx%d, want %dx%d", b.Dx(), b.Dy(), windowWidth, windowHeight)
	}
	switch {
	case update && t.Failed():
		t.Errorf("docs/%s not updated: the page failed the checks above", screenshotPath)
	case update:
		writeScreenshot(t, shot, inputs)
		t.Logf("docs/%s (%d bytes) and docs/%s written; whole test %v", screenshotPath, len(shot), screenshotInputsPath, time.Since(start).Round(time.Millisecond))
	default:
		out := filepath.Join(t.TempDir(), screenshotPath)
		if err := os.WriteFile(out, shot, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot (%d bytes) written to %s; whole test %v", len(shot), out, time.Since(start).Round(time.Millisecond))
	}
}

// startBrowser starts Chromium with a fresh profile and opens a tab whose events the returned
// log records; the browser gets browserHangBound, from now, to do everything the test asks.
//
// Chromium must reach nothing but loopback, and four things see to it:
//   - only host resolves (--host-resolver-rules): a request to any other host fails without
//     leaving the machine, and the tab's events still show that the page tried (Chromium 156
//     maps IP literals by the rule too, but that is not documented, so nothing rests on it);
//   - every HTTP(S) and WebSocket connection not to loopback goes through a proxy on
//     127.0.0.1:9, where nothing serves a proxy: a URL with a non-loopback IP literal fails
//     closed there, and the environment's *_proxy variables are not used;
//   - the features that talk to the network on their own (media-router discovery over mDNS and
//     SSDP, optimization hints, translation, autofill's server) and the component extensions
//     with background pages are off;
//   - and, independently of the three: Chromium writes a net-log of its network service (the
//     browser's own traffic included, not only the tab's), and when the test ends the browser
//     is closed and every address it connected to (TCP or UDP) or sent a datagram to is checked
//     to be loopback (checkNetLog). Each address of servers (host:port) must be among them, so
//     that the check is known to see the connections it checks.
func startBrowser(t *testing.T, chromium, host string, servers ...string) (context.Context, *browserLog) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), browserHangBound)
	t.Cleanup(cancel)
	netLog := filepath.Join(t.TempDir(), "net.json")
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox, // root in a container
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		// Chromium puts a directory of its own (org.chromium.Chromium.*) in $TMPDIR and leaves
		// it behind: give it one that the test removes.
		chromedp.Env("TMPDIR="+t.TempDir()),
		chromedp.WindowSize(windowWidth, windowHeight),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("disable-component-extensions-with-background-pages", true),
		// chromedp's default list (Translate,BlinkGenPropertyTrees), and the features that
		// reach the network of their own accord.
		chromedp.Flag("disable-features", "Translate,BlinkGenPropertyTrees,MediaRouter,DialMediaRouteProvider,"+
			"OptimizationHints,AutofillServerCommunication"),
		chromedp.Flag("no-pings", true),
		chromedp.Flag("lang", "en-US"),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE "+host),
		chromedp.Flag("proxy-server", deadProxy),
		// <-loopback> removes the implicit bypass rules (loopback, and link-local too), and the
		// rest bypasses loopback alone.
		chromedp.Flag("proxy-bypass-list", "<-loopback>;127.0.0.0/8;[::1];localhost"),
		chromedp.Flag("log-net-log", netLog),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	blog := new(browserLog)
	tabCtx, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithListener(blog.listen))
	t.Cleanup(cancelTab)
	if err := chromedp.Do(tabCtx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	// Runs before the cancels above (cleanups run last first): the browser is closed gracefully,
	// so that it finishes its net-log, and then the log is read.
	t.Cleanup(func() { checkNetLog(t, tabCtx, netLog, servers) })
	return tabCtx, blog
}

// deadProxy is the proxy of every connection of Chromium's but those to loopback: a port on
// loopback where nothing serves a proxy (9 is discard's), so that they fail.
const deadProxy = "http://127.0.0.1:9"

// checkNetLog closes the browser of tabCtx, which then completes its net-log at path, and fails
// the test for every address the log shows a connection to, or a datagram sent to, that is not
// a loopback address (a UDP socket connected to one, which sends nothing, is only logged); and
// for every address of servers that it does not show a connection to.
func checkNetLog(t *testing.T, tabCtx context.Context, path string, servers []string) {
	t.Helper()
	if err := chromedp.Cancel(tabCtx); err != nil {
		t.Errorf("close Chromium: %v", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("Chromium's net-log: %v", err)
		return
	}
	peers, err := netLogPeers(b)
	if err != nil {
		t.Errorf("Chromium's net-log %s: %v", path, err)
		return
	}
	seen, silent := map[string]bool{}, map[string]bool{}
	for _, p := range peers {
		seen[p.Address] = true
		switch {
		case loopbackAddress(p.Address):
		case p.Silent:
			silent[p.Address] = true
		default:
			t.Errorf("Chromium reached %s, which is not loopback (net-log event %s of source %d)", p.Address, p.Event, p.Source)
		}
	}
	if len(silent) > 0 {
		t.Logf("Chromium connected UDP sockets to %v and sent nothing on them: route lookups (the IPv6 reachability probe), not traffic", slices.Sorted(maps.Keys(silent)))
	}
	for _, s := range servers {
		if !seen[s] {
			t.Errorf("Chromium's net-log shows no connection to the test server %s: the check above does not see what it checks (addresses: %v)", s, slices.Sorted(maps.Keys(seen)))
		}
	}
	t.Logf("Chromium's net-log: %d connection events, to %v", len(peers), slices.Sorted(maps.Keys(seen)))
}

// waitQuiet waits until the page has made no network request for a second.
func waitQuiet(t *testing.T, ctx context.Context, blog *browserLog) {
	t.Helper()
	quietSince := time.Now()
	for {
		_, _, last := blog.snapshot()
		if last.After(quietSince) {
			quietSince = last
		}
		if time.Since(quietSince) >= time.Second {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// onlyServer allows the requests of a page served at base (http://host:port) that go to base
// or stay in the browser (data:, and blob: URLs of base).
func onlyServer(base string) func(*url.URL) bool {
	origin, err := url.Parse(base)
	if err != nil {
		panic(err)
	}
	return func(u *url.URL) bool {
		switch u.Scheme {
		case "data":
			return true
		case "blob":
			return strings.HasPrefix(u.Opaque, base+"/")
		case "http":
			return u.Host == origin.Host
		}
		return false
	}
}

// checkRequests fails the test for every request of the page that allowed refuses, and for
// every problem the browser reported (failed loads, CSP violations, console errors,
// exceptions).
func checkRequests(t *testing.T, blog *browserLog, allowed func(*url.URL) bool) {
	t.Helper()
	requests, problems := requestProblems(blog, allowed)
	if len(requests) == 0 {
		t.Fatal("no network request was recorded")
	}
	for _, p := range problems {
		t.Error(p)
	}
	short := make([]string, len(requests))
	for i, r := range requests {
		if len(r) > 100 {
			r = r[:100] + "..."
		}
		short[i] = r
	}
	t.Logf("page requests: %q", short)
}

// requestProblems returns the page's requests, and what checkRequests fails the test for: every
// request that allowed refuses, then every problem the browser reported.
func requestProblems(blog *browserLog, allowed func(*url.URL) bool) (requests, problems []string) {
	requests, reported, _ := blog.snapshot()
	for _, raw := range requests {
		if u, err := url.Parse(raw); err != nil || !allowed(u) {
			problems = append(problems, fmt.Sprintf("the page requested %s, which is not allowed", raw))
		}
	}
	for _, p := range reported {
		problems = append(problems, "browser: "+p)
	}
	return requests, problems
}

// TestBrowserCheckerCatchesOffHostRequests is the negative control of the browser tests: a page
// that loads an image from another host and fetches from another origin (another port of the
// loopback server's address) makes the request checker, with the same browser set-up and the
// same rule as TestBrowserRendersDocs, report both, and not the page itself.
func TestBrowserCheckerCatchesOffHostRequests(t *testing.T) {
	chromium := chromiumPath(t)
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "{}")
	}))
	defer other.Close()
	const page = "/page.html"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != page {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>off-host</title>
<img src="http://offhost.example/x.png" alt="">
<script>fetch(%q).catch(() => {});</script>`, other.URL+"/data.json")
	}))
	defer srv.Close()
	origin, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}

	tabCtx, blog := startBrowser(t, chromium, origin.Hostname(), origin.Host, strings.TrimPrefix(other.URL, "http://"))
	if err := chromedp.Do(tabCtx, chromedp.Navigate(srv.URL+page)); err != nil {
		t.Fatalf("navigate: %v", err)
	}
	waitQuiet(t, tabCtx, blog)

	requests, problems := requestProblems(blog, onlyServer(srv.URL))
	for _, want := range []string{"http://offhost.example/x.png", other.URL + "/data.json"} {
		if !slices.Contains(problems, fmt.Sprintf("the page requested %s, which is not allowed", want)) {
			t.Errorf("the checker did not report the request of %s\nrequests: %q\nproblems: %q", want, requests, problems)
		}
	}
	if !slices.Contains(requests, srv.URL+page) {
		t.Errorf("the page's own request was not recorded: %q", requests)
	}
	for _, p := range problems {
		if strings.Contains(p, srv.URL+page+",") {
			t.Errorf("the checker refused the page's own request: %s", p)
		}
	}
}

// TestBrowserStaticBuild checks the static page of scripts/docs-build.sh: opened from disk, it
// must render the documented profile's served document and request nothing but itself and data:/blob: URLs. The script runs
// this test with DOCS_STATIC_HTML set to the page it built. Without DOCS_STATIC_HTML (as in
// `go test ./...`) the test builds the page itself, with the same script, into a temporary
// directory (about a second). It fails, and does not skip, when the page cannot be built: Node.js
// and npm are installed by scripts/install-deps.sh, the root's node_modules by
// `bash scripts/lint-npm-env.sh install .` (scripts/test.sh's dependency step runs both); the
// script is told not to install them itself (REMOTEASSIST_NPM_NO_INSTALL=1), so that go test
// reaches no registry.
func TestBrowserStaticBuild(t *testing.T) {
	page := os.Getenv("DOCS_STATIC_HTML")
	if page == "" {
		page = buildStaticPage(t)
	}
	page, err := filepath.Abs(page)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(page); err != nil {
		t.Fatal(err)
	}
	chromium := chromiumPath(t)
	tabCtx, blog := startBrowser(t, chromium, "127.0.0.1") // a file: page, no server
	if err := chromedp.Do(tabCtx,
		chromedp.EmulateViewport(windowWidth, windowHeight),
		chromedp.Navigate((&url.URL{Scheme: "file", Path: page}).String()),
	); err != nil {
		t.Fatalf("navigate: %v", err)
	}
	// The page is prerendered. Wait for React to hydrate it, which is when Redoc's footer logo
	// would be requested.
	_, err = chromedp.Run(tabCtx, chromedp.Poll[chromedp.Void](
		`Object.keys(document.getElementById('redoc') || {}).some((k) => k.startsWith('__react'))`,
		chromedp.WithPollingInterval(100*time.Millisecond),
		chromedp.WithPollingTimeout(renderHangBound),
	))
	if err != nil {
		t.Fatalf("the page did not hydrate: %v", err)
	}
	waitQuiet(t, tabCtx, blog)

	// This Redoc (Redocly CLI's) renders the introduction first and an operation when it is
	// opened from the side menu: open each, and read what the page shows (innerText, which leaves
	// out the contract inlined in the page's scripts). The page is of the document a server
	// serves (openapi/documented.yaml), not of the contract as written: each operation's
	// description has its permissions.
	var text strings.Builder
	for _, op := range []string{"Get remoteAssistanceSettings", "Update remoteAssistanceSettings"} {
		_, err := chromedp.Run(tabCtx, chromedp.PollFunction[chromedp.Void](
			`(op) => {
				const links = Array.from(document.querySelectorAll('.menu-content a'));
				const link = links.find((a) => a.innerText.includes(op));
				if (!link) {
					links.find((a) => a.innerText.trim() === 'deviceManagement.remoteAssistanceSettings')?.click();
					return false;
				}
				if (!location.hash.endsWith(link.getAttribute('href').replace(/^#/, ''))) link.click();
				const main = document.body.innerText;
				return main.includes('Copy\nRequest') && main.includes(op + '\nCopy');
			}`,
			chromedp.WithPollingArgs(op),
			chromedp.WithPollingInterval(100*time.Millisecond),
			chromedp.WithPollingTimeout(renderHangBound),
		))
		if err != nil {
			shown, _ := chromedp.Run(tabCtx, chromedp.Evaluate[string](`document.body.innerText.slice(0, 3000)`))
			t.Fatalf("%s did not open from the side menu: %v\npage text: %s", op, err, shown)
		}
		shown, err := chromedp.Run(tabCtx, chromedp.Evaluate[string](`document.body.innerText`))
		if err != nil {
			t.Fatal(err)
		}
		text.WriteString(shown)
	}
	for _, n := range []string{
		"Get remoteAssistanceSettings", "Update remoteAssistanceSettings", "notConfigured", "innerError", "ODataError",
		"Permissions. The token must carry one of these",
		"DeviceManagementConfiguration.Read.All",
	} {
		if !strings.Contains(text.String(), n) {
			t.Errorf("%q is not on the page", n)
		}
	}
	checkRequests(t, blog, func(u *url.URL) bool {
		switch u.Scheme {
		case "data":
			return true
		case "blob":
			return strings.HasPrefix(u.Opaque, "null/") || strings.HasPrefix(u.Opaque, "file://")
		case "file":
			return u.Path == page
		}
		return false
	})
}

// buildStaticPage runs scripts/docs-build.sh into a temporary directory, without its own browser
// check (DOCS_BUILD_VERIFY=0: the caller is that check), and returns the page it wrote.
func buildStaticPage(t *testing.T) string {
	t.Helper()
	const install = "install Node.js and npm with scripts/install-deps.sh (Debian: apt-get install -y nodejs npm) and the " +
		"packages with `bash scripts/lint-npm-env.sh install .`, or set DOCS_STATIC_HTML to a page built by scripts/docs-build.sh"
	for _, tool := range []string{"bash", "node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("cannot build the static docs page: %v; %s", err, install)
		}
	}
	dir := t.TempDir()
	start := time.Now()
	cmd := exec.CommandContext(t.Context(), "bash", filepath.Join("..", "scripts", "docs-build.sh"), dir)
	cmd.Env = append(os.Environ(), "DOCS_BUILD_VERIFY=0", "REMOTEASSIST_NPM_NO_INSTALL=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/docs-build.sh %s: %v\n%s\nif Node.js, npm or node_modules are missing or stale, %s", dir, err, out, install)
	}
	t.Logf("built the static page with scripts/docs-build.sh in %v", time.Since(start).Round(time.Millisecond))
	return filepath.Join(dir, "docs.html")
}
