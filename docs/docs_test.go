package docs

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"go.yaml.in/yaml/v3"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/openapi"
)

// documented is the contract the tests serve: the documented profile's.
var documented = func() openapi.Document {
	d, err := openapi.Served(remoteassist.ProfileDocumented)
	if err != nil {
		panic(err)
	}
	return d
}()

func newTestHandler(t *testing.T) http.Handler {
	t.Helper()
	h, err := Handler(documented.YAML, documented.JSON)
	if err != nil {
		t.Fatalf("Handler: %v", err)
	}
	return h
}

func do(t *testing.T, h http.Handler, method, target string, hdr map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, res *http.Response) []byte {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// redocPlain is the embedded bundle decompressed.
func redocPlain(t *testing.T) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(redocGzip))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The vendored bundle is the one recorded: its sha256 is assets/redoc.standalone.js.sha256, its
// version assets/VERSION, which is the exact redoc pin of package.json and package-lock.json.
func TestRedocBundlePinned(t *testing.T) {
	redocJS := redocPlain(t)
	sum := sha256.Sum256(redocJS)
	if got := hex.EncodeToString(sum[:]); got != RedocSHA256 {
		t.Fatalf("sha256 of assets/redoc.standalone.js = %s, recorded %s: run scripts/docs-vendor.sh", got, RedocSHA256)
	}
	if f := strings.Fields(redocSumFile); len(f) != 2 || f[1] != "redoc.standalone.js" || len(f[0]) != 64 {
		t.Fatalf("assets/redoc.standalone.js.sha256 is not a sha256sum line for redoc.standalone.js: %q", redocSumFile)
	}
	if !regexp.MustCompile(`^\d+\.\d+\.\d+$`).MatchString(RedocVersion) {
		t.Fatalf("RedocVersion %q is not an exact version", RedocVersion)
	}
	// The bundle names its own version (its error screen shows it).
	if marker := `" ReDoc Version: ","` + RedocVersion + `"`; !bytes.Contains(redocJS, []byte(marker)) {
		t.Fatalf("the bundle does not say it is Redoc %s", RedocVersion)
	}

	var pkg struct {
		DevDependencies map[string]string `json:"devDependencies"`
	}
	readJSON(t, "../package.json", &pkg)
	if got := pkg.DevDependencies["redoc"]; got != RedocVersion {
		t.Errorf("package.json pins redoc %q, vendored %s", got, RedocVersion)
	}
	var lock struct {
		Packages map[string]struct {
			Version string `json:"version"`
		} `json:"packages"`
	}
	readJSON(t, "../package-lock.json", &lock)
	if got := lock.Packages["node_modules/redoc"].Version; got != RedocVersion {
		t.Errorf("package-lock.json has redoc %q, vendored %s", got, RedocVersion)
	}

	// With node_modules installed, the vendored copy is byte for byte the npm package's.
	if nm, err := os.ReadFile("../node_modules/redoc/bundles/redoc.standalone.js"); err == nil {
		if !bytes.Equal(nm, redocJS) {
			t.Errorf("assets/redoc.standalone.js differs from node_modules/redoc: run scripts/docs-vendor.sh")
		}
	} else {
		t.Logf("node_modules not installed, not compared with the npm package: %v", err)
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// /openapi.yaml is exactly the embedded contract; /openapi.json is the same document.
func TestSpecRoutes(t *testing.T) {
	h := newTestHandler(t)

	res := do(t, h, "GET", PathSpecYAML, nil)
	if res.StatusCode != 200 {
		t.Fatalf("GET %s: %d", PathSpecYAML, res.StatusCode)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/yaml" {
		t.Errorf("Content-Type %q", ct)
	}
	yamlBody := body(t, res)
	if !bytes.Equal(yamlBody, documented.YAML) {
		t.Fatalf("GET %s is not the documented profile's YAML", PathSpecYAML)
	}

	res = do(t, h, "GET", PathSpecJSON, nil)
	if res.StatusCode != 200 {
		t.Fatalf("GET %s: %d", PathSpecJSON, res.StatusCode)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	jsonBody := body(t, res)

	var fromYAML, fromJSON any
	if err := yaml.Unmarshal(documented.YAML, &fromYAML); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(jsonBody, &fromJSON); err != nil {
		t.Fatalf("GET %s is not JSON: %v", PathSpecJSON, err)
	}
	if want := normalize(t, fromYAML); !reflect.DeepEqual(fromJSON, want) {
		t.Fatalf("GET %s is not the document of documented.YAML", PathSpecJSON)
	}
	var servedYAML any
	if err := yaml.Unmarshal(yamlBody, &servedYAML); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(normalize(t, servedYAML), fromJSON) {
		t.Fatal("the YAML and the JSON served differ")
	}

	// The keys keep the YAML order, so tools list things as the contract does.
	var node yaml.Node
	if err := yaml.Unmarshal(documented.YAML, &node); err != nil {
		t.Fatal(err)
	}
	if got, want := jsonKeys(t, jsonBody), yamlKeys(node.Content[0]); len(want) < 100 || !reflect.DeepEqual(got, want) {
		t.Errorf("JSON keys in order\n%v\nYAML keys in order\n%v", got, want)
	}

	// Tools that read JSON get a valid contract.
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(jsonBody)
	if err != nil {
		t.Fatalf("kin-openapi cannot load %s: %v", PathSpecJSON, err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("%s is not a valid contract: %v", PathSpecJSON, err)
	}
}

// normalize gives a value decoded from YAML the types encoding/json decodes to.
func normalize(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// jsonKeys lists every object key of a JSON document, depth first, in document order.
func jsonKeys(t *testing.T, b []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	var keys []string
	type frame struct{ object, wantKey bool }
	var stack []frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return keys
		}
		if err != nil {
			t.Fatal(err)
		}
		isKey := len(stack) > 0 && stack[len(stack)-1].object && stack[len(stack)-1].wantKey
		switch tok := tok.(type) {
		case json.Delim:
			switch tok {
			case '{', '[':
				if len(stack) > 0 && stack[len(stack)-1].object {
					stack[len(stack)-1].wantKey = true
				}
				stack = append(stack, frame{object: tok == '{', wantKey: true})
				continue
			default:
				stack = stack[:len(stack)-1]
				if len(stack) > 0 && stack[len(stack)-1].object {
					stack[len(stack)-1].wantKey = true
				}
				continue
			}
		default:
			if isKey {
				keys = append(keys, tok.(string))
				stack[len(stack)-1].wantKey = false
			} else if len(stack) > 0 && stack[len(stack)-1].object {
				stack[len(stack)-1].wantKey = true
			}
		}
	}
}

func yamlKeys(n *yaml.Node) []string {
	var keys []string
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			keys = append(keys, n.Content[i].Value)
			keys = append(keys, yamlKeys(n.Content[i+1])...)
		}
	case yaml.SequenceNode:
		for _, c := range n.Content {
			keys = append(keys, yamlKeys(c)...)
		}
	case yaml.AliasNode:
		keys = append(keys, yamlKeys(n.Alias)...)
	}
	return keys
}

func TestRoutesAndHeaders(t *testing.T) {
	h := newTestHandler(t)
	hh := h.(*handler)
	redocJS := redocPlain(t)
	immutable := "public, max-age=31536000, immutable"
	short := "public, max-age=300"

	for _, tc := range []struct {
		target, contentType, cacheControl string
		body                              []byte
	}{
		{PathDocs, "text/html; charset=utf-8", short, hh.page.body},
		{PathRedocJS, "text/javascript; charset=utf-8", short, redocJS},
		{PathRedocJS + "?v=" + hh.redoc.version, "text/javascript; charset=utf-8", immutable, redocJS},
		{PathRedocJS + "?v=0000", "text/javascript; charset=utf-8", short, redocJS},
		{PathInitJS, "text/javascript; charset=utf-8", short, hh.init.body},
		{PathInitJS + "?v=" + hh.init.version, "text/javascript; charset=utf-8", immutable, hh.init.body},
		{PathSpecYAML, "application/yaml", short, documented.YAML},
		{PathSpecJSON, "application/json", short, hh.json.body},
	} {
		t.Run(tc.target, func(t *testing.T) {
			res := do(t, h, "GET", tc.target, nil)
			b := body(t, res)
			if res.StatusCode != 200 {
				t.Fatalf("status %d", res.StatusCode)
			}
			if got := res.Header.Get("Content-Type"); got != tc.contentType {
				t.Errorf("Content-Type %q, want %q", got, tc.contentType)
			}
			if got := res.Header.Get("Cache-Control"); got != tc.cacheControl {
				t.Errorf("Cache-Control %q, want %q", got, tc.cacheControl)
			}
			if got := res.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options %q", got)
			}
			if !bytes.Equal(b, tc.body) {
				t.Errorf("body differs")
			}
			etag := res.Header.Get("ETag")
			sum := sha256.Sum256(tc.body)
			if want := `"` + hex.EncodeToString(sum[:16]) + `"`; etag != want {
				t.Fatalf("ETag %q, want %q (the body's hash)", etag, want)
			}

			for _, inm := range []string{etag, "W/" + etag, `"other", ` + etag, "*"} {
				res := do(t, h, "GET", tc.target, map[string]string{"If-None-Match": inm})
				if b := body(t, res); res.StatusCode != http.StatusNotModified || len(b) != 0 {
					t.Errorf("If-None-Match %s: status %d, %d bytes; want 304, empty", inm, res.StatusCode, len(b))
				}
				if res.Header.Get("ETag") != etag || res.Header.Get("Cache-Control") != tc.cacheControl {
					t.Errorf("If-None-Match %s: 304 without ETag/Cache-Control: %v", inm, res.Header)
				}
			}
			res = do(t, h, "GET", tc.target, map[string]string{"If-None-Match": `"other"`})
			if body(t, res); res.StatusCode != 200 {
				t.Errorf("If-None-Match other: status %d", res.StatusCode)
			}

			res = do(t, h, "HEAD", tc.target, nil)
			if b := body(t, res); res.StatusCode != 200 || len(b) != 0 || res.Header.Get("ETag") != etag {
				t.Errorf("HEAD: status %d, %d bytes, ETag %q", res.StatusCode, len(b), res.Header.Get("ETag"))
			}
			// Every body goes out gzip-compressed to a client that accepts gzip, the same bytes
			// once decompressed (TestGzipEveryBody tells the representations apart).
			res = do(t, h, "GET", tc.target, map[string]string{"Accept-Encoding": "gzip"})
			if b := body(t, res); res.Header.Get("Content-Encoding") != "gzip" || !bytes.Equal(gunzip(t, b), tc.body) {
				t.Errorf("Accept-Encoding gzip: Content-Encoding %q", res.Header.Get("Content-Encoding"))
			}

			res = do(t, h, "POST", tc.target, nil)
			if body(t, res); res.StatusCode != http.StatusMethodNotAllowed || res.Header.Get("Allow") != "GET, HEAD" {
				t.Errorf("POST: status %d, Allow %q", res.StatusCode, res.Header.Get("Allow"))
			}
		})
	}

	for _, tc := range []struct {
		target   string
		status   int
		location string
	}{
		{"/", http.StatusFound, "/docs"},
		{"/docs/", http.StatusMovedPermanently, "/docs"},
		{"/docs/nothing", http.StatusNotFound, ""},
		{"/docs/redoc.standalone.js.map", http.StatusNotFound, ""},
		{"/openapi", http.StatusNotFound, ""},
		{"/index.html", http.StatusNotFound, ""},
	} {
		res := do(t, h, "GET", tc.target, nil)
		if res.StatusCode != tc.status || res.Header.Get("Location") != tc.location {
			t.Errorf("GET %s: %d Location %q, want %d %q", tc.target, res.StatusCode, res.Header.Get("Location"), tc.status, tc.location)
		}
	}

	// Every path Paths lists is answered.
	for _, p := range Paths() {
		if res := do(t, h, "GET", p, nil); res.StatusCode >= 400 {
			t.Errorf("GET %s (in Paths): %d", p, res.StatusCode)
		}
	}
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return plain
}

// TestGzipEveryBody: over loopback, every document the handler serves (the contract as YAML
// and JSON, the page and its scripts) goes out gzip-compressed to a client whose Accept-Encoding
// prefers gzip to no coding, and as it is to any other; both with Vary: Accept-Encoding, each
// with its own ETag, its Content-Length, and HEAD, If-None-Match and Range of its own bytes.
func TestGzipEveryBody(t *testing.T) {
	h := newTestHandler(t)
	hh := h.(*handler)
	srv := httptest.NewServer(h)
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}} // the bytes as sent
	get := func(t *testing.T, method, target string, hdr map[string]string) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+target, nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		return res, body(t, res)
	}
	for _, tc := range []struct {
		target string
		body   []byte
	}{
		{PathSpecYAML, documented.YAML},
		{PathSpecJSON, documented.JSON},
		{PathDocs, hh.page.body},
		{PathInitJS, hh.init.body},
		{PathRedocJS, redocPlain(t)},
	} {
		t.Run(tc.target, func(t *testing.T) {
			res, plain := get(t, "GET", tc.target, nil)
			if res.StatusCode != 200 || res.Header.Get("Content-Encoding") != "" || res.Header.Get("Vary") != "Accept-Encoding" ||
				!bytes.Equal(plain, tc.body) || res.ContentLength != int64(len(tc.body)) {
				t.Fatalf("plain: %d, Content-Encoding %q, Vary %q, Content-Length %d, %d bytes of %d",
					res.StatusCode, res.Header.Get("Content-Encoding"), res.Header.Get("Vary"), res.ContentLength, len(plain), len(tc.body))
			}
			plainETag := res.Header.Get("ETag")

			res, gz := get(t, "GET", tc.target, map[string]string{"Accept-Encoding": "gzip, deflate, br"})
			gzETag := res.Header.Get("ETag")
			if res.StatusCode != 200 || res.Header.Get("Content-Encoding") != "gzip" || res.Header.Get("Vary") != "Accept-Encoding" ||
				res.ContentLength != int64(len(gz)) || len(gz) >= len(tc.body) || !bytes.Equal(gunzip(t, gz), tc.body) ||
				gzETag == plainETag || !strings.HasSuffix(gzETag, `-gzip"`) {
				t.Fatalf("gzip: %d, Content-Encoding %q, Vary %q, Content-Length %d, %d bytes for %d, ETag %s (plain %s)",
					res.StatusCode, res.Header.Get("Content-Encoding"), res.Header.Get("Vary"), res.ContentLength, len(gz), len(tc.body), gzETag, plainETag)
			}
			// The same request gets the same bytes: compressed once, not per request.
			if _, again := get(t, "GET", tc.target, map[string]string{"Accept-Encoding": "gzip"}); !bytes.Equal(again, gz) {
				t.Error("a second gzip answer differs from the first")
			}

			res, b := get(t, "HEAD", tc.target, map[string]string{"Accept-Encoding": "gzip"})
			if res.StatusCode != 200 || len(b) != 0 || res.Header.Get("Content-Encoding") != "gzip" ||
				res.Header.Get("Content-Length") != strconv.Itoa(len(gz)) || res.Header.Get("ETag") != gzETag {
				t.Errorf("HEAD gzip: %d, %d bytes, Content-Encoding %q, Content-Length %q, ETag %s",
					res.StatusCode, len(b), res.Header.Get("Content-Encoding"), res.Header.Get("Content-Length"), res.Header.Get("ETag"))
			}
			res, b = get(t, "HEAD", tc.target, nil)
			if res.StatusCode != 200 || len(b) != 0 || res.Header.Get("Content-Encoding") != "" ||
				res.Header.Get("Content-Length") != strconv.Itoa(len(tc.body)) || res.Header.Get("ETag") != plainETag {
				t.Errorf("HEAD plain: %d, %d bytes, Content-Encoding %q, Content-Length %q, ETag %s",
					res.StatusCode, len(b), res.Header.Get("Content-Encoding"), res.Header.Get("Content-Length"), res.Header.Get("ETag"))
			}

			// Each representation is revalidated by its own ETag, and only by it.
			for _, rv := range []struct {
				acceptEncoding, ifNoneMatch string
				status                      int
			}{
				{"gzip", gzETag, http.StatusNotModified},
				{"", plainETag, http.StatusNotModified},
				{"gzip", plainETag, http.StatusOK},
				{"", gzETag, http.StatusOK},
			} {
				hdr := map[string]string{"If-None-Match": rv.ifNoneMatch}
				if rv.acceptEncoding != "" {
					hdr["Accept-Encoding"] = rv.acceptEncoding
				}
				if res, _ := get(t, "GET", tc.target, hdr); res.StatusCode != rv.status || res.Header.Get("Vary") != "Accept-Encoding" {
					t.Errorf("Accept-Encoding %q, If-None-Match %s: %d, Vary %q; want %d", rv.acceptEncoding, rv.ifNoneMatch,
						res.StatusCode, res.Header.Get("Vary"), rv.status)
				}
			}

			// A range is of the bytes of the representation sent.
			res, b = get(t, "GET", tc.target, map[string]string{"Accept-Encoding": "gzip", "Range": "bytes=0-9"})
			if res.StatusCode != http.StatusPartialContent || !bytes.Equal(b, gz[:10]) || res.Header.Get("Content-Range") != "bytes 0-9/"+strconv.Itoa(len(gz)) {
				t.Errorf("Range gzip: %d, Content-Range %q", res.StatusCode, res.Header.Get("Content-Range"))
			}
			// An unsatisfiable range gets ServeContent's 416, which is not gzip.
			res, _ = get(t, "GET", tc.target, map[string]string{"Accept-Encoding": "gzip", "Range": "bytes=999999999-"})
			if res.StatusCode != http.StatusRequestedRangeNotSatisfiable || res.Header.Get("Content-Encoding") != "" {
				t.Errorf("Range past the end, gzip: %d, Content-Encoding %q", res.StatusCode, res.Header.Get("Content-Encoding"))
			}
			res, b = get(t, "GET", tc.target, map[string]string{"Range": "bytes=0-9"})
			if res.StatusCode != http.StatusPartialContent || !bytes.Equal(b, tc.body[:10]) || res.Header.Get("Content-Range") != "bytes 0-9/"+strconv.Itoa(len(tc.body)) {
				t.Errorf("Range plain: %d, Content-Range %q", res.StatusCode, res.Header.Get("Content-Range"))
			}
		})
	}

	// What Accept-Encoding asks for, for the contract: gzip unless it is refused (q=0, or by "*"
	// without a weight of its own) or no coding is preferred to it.
	for _, tc := range []struct {
		acceptEncoding string
		gzip           bool
	}{
		{"gzip", true},
		{"GZIP;Q=1", true},
		{"x-gzip", true},
		{"*", true},
		{"br;q=1.0, gzip;q=0.5", true},
		{"identity, gzip", true},
		{"gzip, identity;q=0.5", true},
		{"gzip;q=0.5, identity;q=0.5", true},
		{"identity;q=0, gzip", true},
		{"*, identity;q=0", true},
		{"*;q=0.1, gzip", true},
		{"", false},
		{"identity", false},
		{"br, zstd", false},
		{"gzip;q=0", false},
		{"gzip; q=0.000", false},
		{"gzip;q=0, *", false},
		{"*;q=0", false},
		{"*;q=0, identity", false},
		{"gzip;q=0.5, identity", false},
		{"gzip;q=0.5, identity;q=0.6", false},
		{"*;q=0.1, identity;q=0.2", false},
		{"gzip;q=nonsense", false},
	} {
		hdr := map[string]string{"Accept-Encoding": tc.acceptEncoding}
		res, b := get(t, "GET", PathSpecYAML, hdr)
		if got := res.Header.Get("Content-Encoding") == "gzip"; got != tc.gzip || res.Header.Get("Vary") != "Accept-Encoding" {
			t.Errorf("Accept-Encoding %q: gzip %v, want %v (Vary %q)", tc.acceptEncoding, got, tc.gzip, res.Header.Get("Vary"))
		} else if !tc.gzip && !bytes.Equal(b, documented.YAML) {
			t.Errorf("Accept-Encoding %q: the body is not the YAML", tc.acceptEncoding)
		}
	}
}

// The Redoc bundle goes out gzip-compressed, as embedded, to a client whose Accept-Encoding takes
// gzip, and decompressed to any other, each representation with its own ETag and a Vary.
func TestRedocGzip(t *testing.T) {
	h := newTestHandler(t)
	plain := redocPlain(t)
	if len(redocGzip)*2 > len(plain) {
		t.Errorf("the compressed bundle is %d bytes of %d", len(redocGzip), len(plain))
	}
	var gzipETag string
	for _, tc := range []struct {
		acceptEncoding string
		gzip           bool
	}{
		{"gzip", true},
		{"gzip, deflate, br, zstd", true}, // Chromium's
		{"br;q=1.0, gzip;q=0.5", true},
		{"GZIP", true},
		{"x-gzip", true},
		{"*", true},
		{"", false},
		{"identity", false},
		{"br", false},
		{"gzip;q=0", false},
		{"gzip; q=0.000", false},
		{"gzip;q=0, *", false},
		{"*;q=0", false},
		{"gzip;q=nonsense", false},
	} {
		t.Run(tc.acceptEncoding, func(t *testing.T) {
			hdr := map[string]string{}
			if tc.acceptEncoding != "" {
				hdr["Accept-Encoding"] = tc.acceptEncoding
			}
			res := do(t, h, "GET", PathRedocJS, hdr)
			b := body(t, res)
			if res.StatusCode != 200 || res.Header.Get("Vary") != "Accept-Encoding" ||
				res.Header.Get("Content-Type") != "text/javascript; charset=utf-8" {
				t.Fatalf("status %d, Vary %q, Content-Type %q", res.StatusCode, res.Header.Get("Vary"), res.Header.Get("Content-Type"))
			}
			etag := res.Header.Get("ETag")
			if tc.gzip {
				if res.Header.Get("Content-Encoding") != "gzip" || !bytes.Equal(b, redocGzip) || !strings.HasSuffix(etag, `-gzip"`) {
					t.Errorf("Content-Encoding %q, %d bytes, ETag %s; want the embedded gzip", res.Header.Get("Content-Encoding"), len(b), etag)
				}
				gzipETag = etag
			} else if res.Header.Get("Content-Encoding") != "" || !bytes.Equal(b, plain) || strings.HasSuffix(etag, `-gzip"`) {
				t.Errorf("Content-Encoding %q, %d bytes, ETag %s; want the bundle plain", res.Header.Get("Content-Encoding"), len(b), etag)
			}
			// Each representation is revalidated with its own ETag.
			res = do(t, h, "GET", PathRedocJS, map[string]string{"Accept-Encoding": tc.acceptEncoding, "If-None-Match": etag})
			if body(t, res); res.StatusCode != http.StatusNotModified {
				t.Errorf("If-None-Match %s: %d", etag, res.StatusCode)
			}
		})
	}
	// A client switching representations is not told its copy is current.
	res := do(t, h, "GET", PathRedocJS, map[string]string{"If-None-Match": gzipETag})
	if b := body(t, res); res.StatusCode != 200 || !bytes.Equal(b, plain) {
		t.Errorf("the plain bundle with the gzip ETag: %d, %d bytes", res.StatusCode, len(b))
	}
	// Through a real client that asks for gzip itself (as Go's does) and decompresses.
	srv := httptest.NewServer(h)
	defer srv.Close()
	res, err := srv.Client().Get(srv.URL + PathRedocJS)
	if err != nil {
		t.Fatal(err)
	}
	if b := body(t, res); !res.Uncompressed || !bytes.Equal(b, plain) {
		t.Errorf("Go's client: uncompressed %v, %d bytes", res.Uncompressed, len(b))
	}
}

// The page loads its scripts and the contract from its own host, by absolute path, with a
// Content-Security-Policy that allows nothing else.
func TestPage(t *testing.T) {
	h := newTestHandler(t)
	res := do(t, h, "GET", PathDocs, nil)
	page := string(body(t, res))

	if got := res.Header.Get("Content-Security-Policy"); got != ContentSecurityPolicy {
		t.Errorf("Content-Security-Policy %q", got)
	}
	// The page sends no Referer to anything it links, and no other site may frame it.
	if got := res.Header.Get("Referrer-Policy"); got != "no-referrer" {
		t.Errorf("Referrer-Policy %q, want %q", got, "no-referrer")
	}
	if got := res.Header.Get("X-Frame-Options"); got != "DENY" {
		t.Errorf("X-Frame-Options %q, want %q", got, "DENY")
	}
	for _, d := range strings.Split(ContentSecurityPolicy, ";") {
		for _, src := range strings.Fields(d)[1:] {
			switch src {
			case "'self'", "'none'", "'unsafe-inline'", "data:", "blob:":
			default:
				t.Errorf("CSP directive %q allows %s", strings.TrimSpace(d), src)
			}
		}
	}
	if !strings.Contains(ContentSecurityPolicy, "default-src 'self'") || !strings.Contains(ContentSecurityPolicy, "script-src 'self';") {
		t.Errorf("CSP is not strict: %s", ContentSecurityPolicy)
	}

	refs := regexp.MustCompile(`(?:src|href|data-spec-url)="([^"]*)"`).FindAllStringSubmatch(page, -1)
	if len(refs) < 5 {
		t.Fatalf("found only %d references in the page", len(refs))
	}
	for _, m := range refs {
		u := m[1]
		if u == "data:," {
			continue
		}
		if !strings.HasPrefix(u, "/") || strings.HasPrefix(u, "//") {
			t.Errorf("page refers to %q, not an absolute path on this host", u)
		}
	}
	hh := h.(*handler)
	for _, want := range []string{
		`<script src="/docs/redoc.standalone.js?v=` + hh.redoc.version + `"></script>`,
		`<script src="/docs/redoc-init.js?v=` + hh.init.version + `"></script>`,
		`data-spec-url="/openapi.json"`,
		`<title>Remote assistance settings (Microsoft Graph beta emulator) — API reference</title>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if strings.Contains(page, "<script>") {
		t.Error("page has an inline script, which the CSP forbids")
	}

	// The init script is the guard, then the Redoc start-up.
	init := string(hh.init.body)
	if !strings.HasPrefix(init, string(guardJS)) || !strings.Contains(init, "Redoc.init(") {
		t.Error("redoc-init.js is not the guard followed by the init script")
	}
}

func TestHandlerRefusesBadSpecs(t *testing.T) {
	for name, spec := range map[string][2]string{
		"empty yaml":      {"", `{"openapi":"3.0.3"}`},
		"empty json":      {"openapi: 3.0.3\n", ""},
		"json not json":   {"openapi: 3.0.3\n", "openapi: 3.0.3\n"},
		"json not object": {"openapi: 3.0.3\n", `["openapi"]`},
	} {
		if _, err := Handler([]byte(spec[0]), []byte(spec[1])); err == nil {
			t.Errorf("%s: Handler accepted %q", name, spec)
		}
	}
	if _, err := Handler([]byte("openapi: 3.0.3\n"), []byte(`{"openapi":"3.0.3"}`)); err != nil {
		t.Errorf("Handler refused a minimal spec: %v", err)
	}
}
