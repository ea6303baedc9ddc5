// Package docs serves the service's API reference and its contract: a Redoc page rendered in
// the browser from a vendored Redoc bundle, and the OpenAPI document as YAML and as JSON.
//
// Everything the page needs comes from the same handler, so the page makes no request to any
// other host: Redoc 2.5.2 is embedded (assets/redoc.standalone.js.gz, compressed from the npm
// package's bundle by scripts/docs-vendor.sh; RedocVersion and RedocSHA256 pin it), fonts are
// the system's, and a small script stops Redoc's footer logo from loading from Redocly's CDN.
// The page's Content-Security-Policy allows the serving host only.
//
// # Routes
//
// [Handler] answers exactly these paths (GET and HEAD; other methods get 405):
//
//	/                           302 to /docs
//	/docs                       the HTML page (text/html)
//	/docs/                      301 to /docs
//	/docs/redoc.standalone.js   the Redoc bundle (text/javascript)
//	/docs/redoc-init.js         the script that starts Redoc (text/javascript)
//	/openapi.yaml               the contract in YAML, exactly the bytes given to Handler (application/yaml)
//	/openapi.json               the contract in JSON, exactly the bytes given to Handler (application/json)
//
// Any other path gets 404. No route needs authentication. The page refers to the other routes by
// absolute path, so mount the handler at the root of the host, not under a prefix. With echo:
//
//	h, err := docs.Handler(openapi.YAML, openapi.JSON)
//	...
//	e.GET("/", echo.WrapHandler(h))
//	e.Any("/docs*", echo.WrapHandler(h))
//	e.Any("/openapi.yaml", echo.WrapHandler(h))
//	e.Any("/openapi.json", echo.WrapHandler(h))
//
// (or loop over [Paths]).
//
// # Compression
//
// Every body goes out gzip-compressed to a client whose Accept-Encoding prefers gzip to no
// coding (acceptsGzip), and as it is to any other, with Vary: Accept-Encoding on both: the Redoc
// bundle as embedded (940 KB, 287 KB gzipped), the others compressed once, when the handler is
// made (the contract's 34 KB of YAML go out as under 7). Each representation has its own ETag,
// and its Content-Length, ranges and HEAD are those of the bytes sent.
//
// # Caching
//
// Every 200 carries a strong ETag (a hash of the body) and a Cache-Control; a request whose
// If-None-Match names the ETag gets 304 with no body. The page and the contract may change with
// a deploy: "public, max-age=300" ([SpecMaxAge]). The page loads the two scripts with ?v=HASH,
// the hash of the script; a request with the current hash gets "public, max-age=31536000,
// immutable", any other request for a script (no or an old v) gets "public, max-age=300".
package docs

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The paths the handler serves.
const (
	PathRoot     = "/"
	PathDocs     = "/docs"
	PathRedocJS  = "/docs/redoc.standalone.js"
	PathInitJS   = "/docs/redoc-init.js"
	PathSpecYAML = "/openapi.yaml"
	PathSpecJSON = "/openapi.json"
)

// Paths lists every path [Handler] answers with something other than 404, for mounting it on a
// router route by route: the ones above and "/docs/" (a redirect to /docs).
func Paths() []string {
	return []string{PathRoot, PathDocs, PathDocs + "/", PathRedocJS, PathInitJS, PathSpecYAML, PathSpecJSON}
}

const (
	// SpecMaxAge is how long a client may keep the page, the contract and an unversioned script
	// before it revalidates (with If-None-Match).
	SpecMaxAge = 300 * time.Second
	// AssetMaxAge is how long a client may keep a script requested with its current ?v= hash.
	AssetMaxAge = 365 * 24 * time.Hour

	// ContentSecurityPolicy is sent with the page. It allows the serving host only: scripts and
	// the contract from 'self'; inline styles, which Redoc (styled-components) writes at run
	// time; data: images (Redoc's icons, and the footer logo the guard script neutralises); and
	// the blob: worker of Redoc's search.
	ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
		"img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; " +
		"object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

var (
	// The Redoc bundle, gzip-compressed: a third of its size in the binary (and the image), and
	// what nearly every browser takes as it is.
	//
	//go:embed assets/redoc.standalone.js.gz
	redocGzip []byte
	//go:embed assets/VERSION
	redocVersionFile string
	//go:embed assets/redoc.standalone.js.sha256
	redocSumFile string
	//go:embed assets/redoc-guard.js
	guardJS []byte
	//go:embed assets/redoc-init.js
	initJS []byte
	//go:embed assets/index.html
	pageHTML string
)

var (
	// RedocVersion is the version of the embedded Redoc bundle (assets/VERSION), the exact
	// "redoc" version pinned in package.json.
	RedocVersion = strings.TrimSpace(redocVersionFile)
	// RedocSHA256 is the recorded sha256 (hex) of the embedded bundle
	// (assets/redoc.standalone.js.sha256, written by scripts/docs-vendor.sh). The tests check
	// that the embedded bytes have it.
	RedocSHA256, _, _ = strings.Cut(strings.TrimSpace(redocSumFile), " ")
)

var pageTemplate = template.Must(template.New("index.html").Parse(pageHTML))

// resource is one body the handler serves, with its headers computed once.
type resource struct {
	body        []byte
	contentType string
	etag        string
	// gzipped, when set, is the body gzip-compressed: a client that accepts gzip gets it (its
	// ETag gzipETag), another the body; for the Redoc bundle, body is nil and another client gets
	// what plain() decompresses, once.
	gzipped   []byte
	gzipETag  string
	plain     func() ([]byte, error)
	version   string // the ?v= value that earns the long cache, when versioned
	versioned bool   // a script the page loads with ?v=version
	page      bool   // sends the Content-Security-Policy
}

// newResource is a body served as it is, and gzip-compressed, once, here, to a client that
// accepts gzip, unless compressing does not make it smaller.
func newResource(body []byte, contentType string) *resource {
	sum := sha256.Sum256(body)
	r := newHashedResource(body, hex.EncodeToString(sum[:]), contentType)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(body) // a bytes.Buffer does not fail
	zw.Close()
	if gz.Len() < len(body) {
		r.gzipped, r.gzipETag = gz.Bytes(), `"`+hex.EncodeToString(sum[:16])+`-gzip"`
	}
	return r
}

// newHashedResource is newResource for a body whose sha256 (hex) is already known: hashing the
// 940 KB Redoc bundle would be most of the handler's start-up cost.
func newHashedResource(body []byte, sha256Hex, contentType string) *resource {
	return &resource{
		body:        body,
		contentType: contentType,
		etag:        `"` + sha256Hex[:32] + `"`,
		version:     sha256Hex[:12],
	}
}

// newGzippedResource is newHashedResource for a body kept gzip-compressed; sha256Hex is the
// hash of the body, not of gz.
func newGzippedResource(gz []byte, sha256Hex, contentType string) *resource {
	r := newHashedResource(nil, sha256Hex, contentType)
	r.gzipped, r.gzipETag = gz, `"`+sha256Hex[:32]+`-gzip"`
	r.plain = sync.OnceValues(func() ([]byte, error) {
		zr, err := gzip.NewReader(bytes.NewReader(gz))
		if err != nil {
			return nil, err
		}
		return io.ReadAll(zr)
	})
	return r
}

// acceptsGzip reports whether a request's Accept-Encoding (RFC 9110, 12.5.3) takes gzip and
// does not prefer no coding: gzip (or x-gzip), or else "*", has a weight above zero, and
// identity, or else "*", is not given a higher one. A weight that does not parse is zero.
func acceptsGzip(h http.Header) bool {
	gzipQ, identityQ, anyQ := -1.0, -1.0, -1.0 // -1: not said
	for _, line := range h.Values("Accept-Encoding") {
		for part := range strings.SplitSeq(line, ",") {
			coding, params, _ := strings.Cut(part, ";")
			coding = strings.TrimSpace(coding)
			q := 1.0
			for param := range strings.SplitSeq(params, ";") {
				name, value, _ := strings.Cut(strings.TrimSpace(param), "=")
				if strings.EqualFold(name, "q") {
					var err error
					if q, err = strconv.ParseFloat(strings.TrimSpace(value), 64); err != nil || q < 0 {
						q = 0
					}
				}
			}
			switch {
			case strings.EqualFold(coding, "gzip") || strings.EqualFold(coding, "x-gzip"):
				gzipQ = max(gzipQ, q)
			case strings.EqualFold(coding, "identity"):
				identityQ = max(identityQ, q)
			case coding == "*":
				anyQ = max(anyQ, q)
			}
		}
	}
	if gzipQ < 0 {
		gzipQ = anyQ
	}
	if identityQ < 0 {
		identityQ = anyQ
	}
	return gzipQ > 0 && gzipQ >= identityQ
}

// versionedURL is the path of a script with its content hash, as the page refers to it.
func (r *resource) versionedURL(path string) string { return path + "?v=" + r.version }

type handler struct {
	page, redoc, init, yaml, json *resource
}

// Handler returns the handler of the routes listed in the package documentation. specYAML and
// specJSON are the OpenAPI document in its two forms (openapi.YAML and openapi.JSON, which go
// generate keeps in step); each is served unchanged, and the page's title is the JSON's
// info.title. Handler fails if either is empty or specJSON is not a JSON object.
func Handler(specYAML, specJSON []byte) (http.Handler, error) {
	if len(specYAML) == 0 || len(specJSON) == 0 {
		return nil, errors.New("docs: empty spec")
	}
	title, err := specTitle(specJSON)
	if err != nil {
		return nil, err
	}
	if len(RedocSHA256) != sha256.Size*2 {
		return nil, fmt.Errorf("docs: recorded Redoc sha256 %q is not a sha256", RedocSHA256)
	}
	h := &handler{
		redoc: newGzippedResource(redocGzip, RedocSHA256, "text/javascript; charset=utf-8"),
		init:  newResource(joinScripts(guardJS, initJS), "text/javascript; charset=utf-8"),
		yaml:  newResource(bytes.Clone(specYAML), "application/yaml"),
		json:  newResource(bytes.Clone(specJSON), "application/json"),
	}
	var page bytes.Buffer
	err = pageTemplate.Execute(&page, struct {
		Title, RedocJS, InitJS, SpecYAML, SpecJSON string
	}{
		Title:    title,
		RedocJS:  h.redoc.versionedURL(PathRedocJS),
		InitJS:   h.init.versionedURL(PathInitJS),
		SpecYAML: PathSpecYAML,
		SpecJSON: PathSpecJSON,
	})
	if err != nil {
		return nil, fmt.Errorf("docs: render page: %w", err)
	}
	h.redoc.versioned, h.init.versioned = true, true
	h.page = newResource(page.Bytes(), "text/html; charset=utf-8")
	h.page.page = true
	return h, nil
}

func joinScripts(parts ...[]byte) []byte {
	var b bytes.Buffer
	for _, p := range parts {
		b.Write(p)
		if !bytes.HasSuffix(p, []byte("\n")) {
			b.WriteByte('\n')
		}
		b.WriteString(";\n")
	}
	return b.Bytes()
}

// specTitle reads the document's info.title; "API" when it has none.
func specTitle(specJSON []byte) (string, error) {
	var doc struct {
		Info struct {
			Title string `json:"title"`
		} `json:"info"`
	}
	if err := json.Unmarshal(specJSON, &doc); err != nil {
		return "", fmt.Errorf("docs: read spec: %w", err)
	}
	if doc.Info.Title == "" {
		return "API", nil
	}
	return doc.Info.Title, nil
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var res *resource
	switch r.URL.Path {
	case PathRoot:
		h.redirect(w, r, PathDocs, http.StatusFound)
		return
	case PathDocs + "/":
		h.redirect(w, r, PathDocs, http.StatusMovedPermanently)
		return
	case PathDocs:
		res = h.page
	case PathRedocJS:
		res = h.redoc
	case PathInitJS:
		res = h.init
	case PathSpecYAML:
		res = h.yaml
	case PathSpecJSON:
		res = h.json
	default:
		http.NotFound(w, r)
		return
	}
	if !allowed(w, r) {
		return
	}

	hdr := w.Header()
	content, etag := res.body, res.etag
	if res.gzipped != nil {
		hdr.Add("Vary", "Accept-Encoding")
		if acceptsGzip(r.Header) {
			content, etag = res.gzipped, res.gzipETag
			w = gzipEncoded{w}
		} else if content == nil {
			var err error
			if content, err = res.plain(); err != nil {
				// Only reachable with a damaged build: the tests decompress the embedded copy.
				http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
				return
			}
		}
	}
	hdr.Set("Content-Type", res.contentType)
	hdr.Set("ETag", etag)
	hdr.Set("X-Content-Type-Options", "nosniff")
	if res.versioned && r.URL.Query().Get("v") == res.version {
		hdr.Set("Cache-Control", "public, max-age="+strconv.Itoa(int(AssetMaxAge.Seconds()))+", immutable")
	} else {
		hdr.Set("Cache-Control", "public, max-age="+strconv.Itoa(int(SpecMaxAge.Seconds())))
	}
	varyOrigin(hdr)
	if res.page {
		hdr.Set("Content-Security-Policy", ContentSecurityPolicy)
		hdr.Set("Referrer-Policy", "no-referrer")
		hdr.Set("X-Frame-Options", "DENY")
	}
	// ServeContent answers If-None-Match (304) and If-Match from the ETag set above, HEAD with
	// no body, and Range requests, all of the representation chosen above.
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(content))
}

// gzipEncoded is the ResponseWriter ServeContent writes the gzipped bytes to: it says
// "Content-Encoding: gzip" on the 200 or 206 that carries them. Said before ServeContent runs,
// it would keep ServeContent from sending a Content-Length (it does not know that the bytes
// are already compressed), and be on its 416, whose body is not gzip.
type gzipEncoded struct{ http.ResponseWriter }

func (w gzipEncoded) WriteHeader(code int) {
	if code == http.StatusOK || code == http.StatusPartialContent {
		w.Header().Set("Content-Encoding", "gzip")
	}
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the writer underneath.
func (w gzipEncoded) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (h *handler) redirect(w http.ResponseWriter, r *http.Request, to string, code int) {
	if !allowed(w, r) {
		return
	}
	w.Header().Set("Cache-Control", "public, max-age="+strconv.Itoa(int(SpecMaxAge.Seconds())))
	varyOrigin(w.Header())
	http.Redirect(w, r, to, code)
}

// varyOrigin says that an answer browsers may cache depends on Origin, as the CORS layer in front
// says of the answers to a request with one: the answer to a request without (the page at /docs
// fetches the contract same-origin, with none) carries no Access-Control-Allow-Origin, and a
// browser that kept it must not hand it to a page of another origin, whose fetch it would fail.
func varyOrigin(hdr http.Header) {
	for _, v := range hdr.Values("Vary") {
		for _, name := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(name), "Origin") {
				return
			}
		}
	}
	hdr.Add("Vary", "Origin")
}

// allowed answers 405 to methods other than GET and HEAD.
func allowed(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
	return false
}
