package sdkcompat_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	abs "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoft/kiota-abstractions-go/authentication"
	absser "github.com/microsoft/kiota-abstractions-go/serialization"
	khttp "github.com/microsoft/kiota-http-go"
	formserialization "github.com/microsoft/kiota-serialization-form-go"
	jsonserialization "github.com/microsoft/kiota-serialization-json-go"
	multipartserialization "github.com/microsoft/kiota-serialization-multipart-go"
	textserialization "github.com/microsoft/kiota-serialization-text-go"
	core "github.com/microsoftgraph/msgraph-sdk-go-core"

	"github.com/remoteassist/remoteassist/remoteassisttest"
	"github.com/remoteassist/remoteassist/server"
)

const (
	odataType    = "#microsoft.graph.remoteAssistanceSettings"
	settingsPath = server.BasePath + "/deviceManagement/remoteAssistanceSettings"
)

// Versions of Microsoft's modules under test; TestVersions checks them against the build.
var sdkModules = map[string]string{
	"github.com/microsoft/kiota-abstractions-go":            "v1.9.3",
	"github.com/microsoft/kiota-http-go":                    "v1.5.4",
	"github.com/microsoft/kiota-serialization-json-go":      "v1.1.2",
	"github.com/microsoft/kiota-serialization-text-go":      "v1.1.3",
	"github.com/microsoftgraph/msgraph-sdk-go-core":         "v1.4.0",
	"github.com/microsoft/kiota-serialization-form-go":      "v1.1.2",
	"github.com/microsoft/kiota-serialization-multipart-go": "v1.1.2",
}

// graphAllowedHosts are the hosts msgraph-sdk-go's NewGraphServiceClientWithCredentials lets
// its token provider send tokens to when the caller names none.
var graphAllowedHosts = []string{
	"graph.microsoft.com", "graph.microsoft.us", "dod-graph.microsoft.us", "graph.microsoft.de",
	"microsoftgraph.chinacloudapi.cn", "canary.graph.microsoft.com", "graph.microsoft-ppe.com",
}

// ---- the server ----------------------------------------------------------------------------

// The server is remoteassisttest's: the real service on loopback with an in-memory store and a
// signing key of its own, closed when the test ends. Tests read its state with Settings.

// identity is whom a client's tokens are minted for: a user of tenant holding permissions in
// the scp claim, as remoteassisttest.Server.Token mints them.
type identity struct {
	tenant      string
	permissions []string
}

// delegated is a delegated identity for tenant holding permissions; none given means
// remoteassisttest.PermissionReadWrite, as Token has it.
func delegated(tenant string, permissions ...string) identity {
	return identity{tenant: tenant, permissions: permissions}
}

// ---- authentication ------------------------------------------------------------------------

// tokenProvider is the AccessTokenProvider behind kiota's BaseBearerTokenAuthenticationProvider.
// It behaves like kiota-authentication-azure-go's: no token for a host outside the allowed
// hosts, and an error for plain http unless the host is loopback. The token is minted by the
// remoteassisttest.Server instead of fetched from Entra ID.
type tokenProvider struct {
	mint   func() string
	hosts  *authentication.AllowedHostsValidator
	issued atomic.Int32
}

func (p *tokenProvider) GetAuthorizationToken(_ context.Context, u *url.URL, _ map[string]any) (string, error) {
	if !p.hosts.IsUrlHostValid(u) {
		return "", nil
	}
	if !strings.EqualFold(u.Scheme, "https") {
		if ip := net.ParseIP(u.Hostname()); u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return "", errors.New("url scheme must be https")
		}
	}
	p.issued.Add(1)
	return p.mint(), nil
}

func (p *tokenProvider) GetAllowedHostsValidator() *authentication.AllowedHostsValidator {
	return p.hosts
}

// ---- the client ----------------------------------------------------------------------------

// flavour is how a client is assembled.
type flavour string

const (
	// graphSDK is what msgraph-beta-sdk-go builds: msgraph-sdk-go-core's GraphRequestAdapterBase
	// (a kiota NetHttpRequestAdapter) on core.GetDefaultClient's pipeline (Graph telemetry and
	// URL-replace handlers, then kiota's defaults), the default serializer registries filled the
	// way GraphBaseServiceClient fills them, and the backing store enabled.
	graphSDK flavour = "graphSDK"
	// plainKiota is a bare kiota NetHttpRequestAdapter on kiota's GetDefaultMiddlewares, with its
	// own JSON and text factories and no backing store: a Kiota client generated without -b.
	plainKiota flavour = "plainKiota"
)

var flavours = []flavour{graphSDK, plainKiota}

// client is one SDK client: the request adapter, the generated request builder on it, and a
// recorder of what actually crossed the wire, below every middleware.
type client struct {
	adapter  abs.RequestAdapter
	settings *RemoteAssistanceSettingsRequestBuilder
	wire     *wire
	tokens   *tokenProvider
	// sdkVersion is the SdkVersion header the Graph telemetry handler sends; empty for plainKiota.
	sdkVersion string
	// pipeline names the middleware, outermost first.
	pipeline string
}

type clientConfig struct {
	baseURL      string   // default <server>/beta
	allowedHosts []string // default 127.0.0.1
	order        pipelineOrder
}

// pipelineOrder says where kiota's retry and compression handlers sit in the pipeline.
// kiota-http-go v1.5.4 builds its default middleware list by ranging over a map, so the order
// of the two is random from one client to the next; tests that depend on it pin it.
type pipelineOrder int

const (
	// orderAsBuilt keeps whatever order the SDK's own constructor produced.
	orderAsBuilt pipelineOrder = iota
	// orderCompressionFirst puts compression outside retry, as the Graph SDK design requires.
	orderCompressionFirst
	// orderRetryFirst puts retry outside compression, as kiota-http-go's list had it before
	// the map, and as the map yields for about two clients out of three.
	orderRetryFirst
)

// arrange swaps the retry and compression handlers into order, leaving the rest in place.
func arrange(t *testing.T, mw []khttp.Middleware, order pipelineOrder) []khttp.Middleware {
	t.Helper()
	if order == orderAsBuilt {
		return mw
	}
	retry, compression := -1, -1
	for i, m := range mw {
		switch m.(type) {
		case *khttp.RetryHandler:
			retry = i
		case *khttp.CompressionHandler:
			compression = i
		}
	}
	if retry < 0 || compression < 0 {
		t.Fatalf("default pipeline lacks the retry or compression handler: %s", pipelineNames(mw))
	}
	if (order == orderCompressionFirst) != (compression < retry) {
		mw[retry], mw[compression] = mw[compression], mw[retry]
	}
	return mw
}

// pipelineNames lists the middleware types, outermost first.
func pipelineNames(mw []khttp.Middleware) string {
	names := make([]string, len(mw))
	for i, m := range mw {
		name := fmt.Sprintf("%T", m)
		names[i] = name[strings.LastIndex(name, ".")+1:]
	}
	return strings.Join(names, " → ")
}

var graphRegistries sync.Once

// registerGraphSerializers fills the process-wide default registries exactly as the generated
// GraphBaseServiceClient constructor does, before any adapter enables the backing store on them.
func registerGraphSerializers() {
	abs.RegisterDefaultSerializer(func() absser.SerializationWriterFactory {
		return jsonserialization.NewJsonSerializationWriterFactory()
	})
	abs.RegisterDefaultSerializer(func() absser.SerializationWriterFactory {
		return textserialization.NewTextSerializationWriterFactory()
	})
	abs.RegisterDefaultSerializer(func() absser.SerializationWriterFactory {
		return formserialization.NewFormSerializationWriterFactory()
	})
	abs.RegisterDefaultSerializer(func() absser.SerializationWriterFactory {
		return multipartserialization.NewMultipartSerializationWriterFactory()
	})
	abs.RegisterDefaultDeserializer(func() absser.ParseNodeFactory {
		return jsonserialization.NewJsonParseNodeFactory()
	})
	abs.RegisterDefaultDeserializer(func() absser.ParseNodeFactory {
		return textserialization.NewTextParseNodeFactory()
	})
	abs.RegisterDefaultDeserializer(func() absser.ParseNodeFactory {
		return formserialization.NewFormParseNodeFactory()
	})
}

func newClient(t *testing.T, f flavour, srv *remoteassisttest.Server, id identity, cfg clientConfig) *client {
	t.Helper()
	if cfg.baseURL == "" {
		cfg.baseURL = srv.URL()
	}
	if cfg.allowedHosts == nil {
		cfg.allowedHosts = []string{"127.0.0.1"}
	}
	hosts, err := authentication.NewAllowedHostsValidatorErrorCheck(cfg.allowedHosts)
	if err != nil {
		t.Fatal(err)
	}
	tokens := &tokenProvider{mint: func() string { return srv.Token(id.tenant, id.permissions...) }, hosts: hosts}
	auth := authentication.NewBaseBearerTokenAuthenticationProvider(tokens)
	w := &wire{next: khttp.GetDefaultTransport()}
	c := &client{wire: w, tokens: tokens}

	switch f {
	case graphSDK:
		opts := core.GraphClientOptions{GraphServiceVersion: "beta", GraphServiceLibraryVersion: "0.0.0-sdkcompat"}
		// core.GetDefaultClient, with the recorder as the innermost transport.
		httpClient := core.GetDefaultClient(&opts)
		mw := arrange(t, core.GetDefaultMiddlewaresWithOptions(&opts), cfg.order)
		c.pipeline = pipelineNames(mw)
		httpClient.Transport = khttp.NewCustomTransportWithParentTransport(w, mw...)
		adapter, err := core.NewGraphRequestAdapterBaseWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(auth, opts, nil, nil, httpClient)
		if err != nil {
			t.Fatal(err)
		}
		// What GraphBaseServiceClient's constructor does with the adapter.
		graphRegistries.Do(registerGraphSerializers)
		if adapter.GetBaseUrl() == "" {
			adapter.SetBaseUrl(cfg.baseURL)
		}
		adapter.EnableBackingStore(nil)
		c.adapter = adapter
		c.sdkVersion = "graph-go-beta/0.0.0-sdkcompat, graph-go-core/" + core.CoreVersion
	case plainKiota:
		parseNodes := absser.NewParseNodeFactoryRegistry()
		parseNodes.ContentTypeAssociatedFactories["application/json"] = jsonserialization.NewJsonParseNodeFactory()
		parseNodes.ContentTypeAssociatedFactories["text/plain"] = textserialization.NewTextParseNodeFactory()
		writers := absser.NewSerializationWriterFactoryRegistry()
		writers.ContentTypeAssociatedFactories["application/json"] = jsonserialization.NewJsonSerializationWriterFactory()
		writers.ContentTypeAssociatedFactories["text/plain"] = textserialization.NewTextSerializationWriterFactory()
		// khttp.GetDefaultClient, with the recorder as the innermost transport.
		httpClient := khttp.GetDefaultClient()
		mw := arrange(t, khttp.GetDefaultMiddlewares(), cfg.order)
		c.pipeline = pipelineNames(mw)
		httpClient.Transport = khttp.NewCustomTransportWithParentTransport(w, mw...)
		adapter, err := khttp.NewNetHttpRequestAdapterWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(auth, parseNodes, writers, httpClient)
		if err != nil {
			t.Fatal(err)
		}
		adapter.SetBaseUrl(cfg.baseURL)
		c.adapter = adapter
	default:
		t.Fatalf("unknown flavour %q", f)
	}
	w.pipeline = c.pipeline
	c.settings = NewRemoteAssistanceSettingsRequestBuilderInternal(map[string]string{"baseurl": cfg.baseURL}, c.adapter)
	return c
}

// get reads the settings through the request builder, as client.DeviceManagement().
// RemoteAssistanceSettings().Get(ctx, config) does.
func (c *client) get(ctx context.Context, config *RemoteAssistanceSettingsRequestBuilderGetRequestConfiguration) (RemoteAssistanceSettingsable, error) {
	return c.settings.Get(ctx, config)
}

// patch updates the settings through the request builder; options, if any, are the request's
// (a RetryHandlerOptions, for instance).
func (c *client) patch(ctx context.Context, body RemoteAssistanceSettingsable, options ...abs.RequestOption) (RemoteAssistanceSettingsable, error) {
	var config *RemoteAssistanceSettingsRequestBuilderPatchRequestConfiguration
	if len(options) > 0 {
		config = &RemoteAssistanceSettingsRequestBuilderPatchRequestConfiguration{Options: options}
	}
	return c.settings.Patch(ctx, body, config)
}

// throttleClock is the emulator's clock in the tests of throttling and kiota's retries. It stands
// still, so that a request follows another in the same throttling window however slowly the
// machine runs, and moves on by one window each time kiota decides to retry (from the retry
// handler's ShouldRetry callback, just before kiota waits out Retry-After), so that the retry
// falls in a new window. kiota's wait itself is real: the wire's timestamps still show it.
type throttleClock struct {
	window time.Duration

	mu  sync.Mutex
	now time.Time
}

func newThrottleClock(window time.Duration) *throttleClock {
	return &throttleClock{window: window, now: time.Now()}
}

func (c *throttleClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// retryOptions are kiota's default retry options (3 retries, Retry-After honoured), with a
// ShouldRetry that moves the clock on by a window before each retry.
func (c *throttleClock) retryOptions() *khttp.RetryHandlerOptions {
	return &khttp.RetryHandlerOptions{ShouldRetry: func(time.Duration, int, *http.Request, *http.Response) bool {
		c.mu.Lock()
		c.now = c.now.Add(c.window)
		c.mu.Unlock()
		return true
	}}
}

// mustGet reads the settings and fails the test on any error.
func (c *client) mustGet(t *testing.T) RemoteAssistanceSettingsable {
	t.Helper()
	m, err := c.get(t.Context(), nil)
	if err != nil {
		t.Fatalf("GET through the SDK: %v\n%s", describe(err), c.wire.dump())
	}
	if m == nil {
		t.Fatalf("GET through the SDK returned no model\n%s", c.wire.dump())
	}
	return m
}

// ---- the wire recorder ---------------------------------------------------------------------

// exchange is one HTTP request as it left the SDK's middleware pipeline and the response as it
// arrived, before any middleware saw it.
type exchange struct {
	method     string
	url        *url.URL
	reqHeader  http.Header
	reqBody    []byte // as sent: gzip when Content-Encoding says so
	reqLength  int64  // the request's ContentLength: -1 unknown (chunked), 0 none
	sent       time.Time
	status     int
	respHeader http.Header
	respBody   []byte
	err        error
}

// body is the request body decoded from its Content-Encoding.
func (e exchange) body(t *testing.T) []byte {
	t.Helper()
	if !strings.EqualFold(e.reqHeader.Get("Content-Encoding"), "gzip") {
		return e.reqBody
	}
	plain, err := gunzip(e.reqBody)
	if err != nil {
		t.Fatalf("request body says gzip but is not: %v", err)
	}
	return plain
}

func gunzip(data []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(zr)
}

// jsonBody is the request body decoded as a JSON object.
func (e exchange) jsonBody(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(e.body(t), &m); err != nil {
		t.Fatalf("request body is not a JSON object: %v: %q", err, e.body(t))
	}
	return m
}

// wire is the innermost transport of the SDK's pipeline: it records every exchange and passes
// it on unchanged. A request body stays seekable, as the retry handler needs.
type wire struct {
	next     http.RoundTripper
	pipeline string

	mu        sync.Mutex
	exchanges []exchange
}

func (w *wire) RoundTrip(req *http.Request) (*http.Response, error) {
	ex := exchange{method: req.Method, url: cloneURL(req.URL), reqHeader: req.Header.Clone(),
		reqLength: req.ContentLength, sent: time.Now()}
	if req.Body != nil && req.Body != http.NoBody {
		if prev, ok := req.Body.(*attemptBody); ok {
			// kiota's retry handler sends the same body again, rewound, as soon as the previous
			// attempt's RoundTrip returned; but the transport may still be writing that attempt's
			// body (the service may answer 429 before reading it), which http.RoundTripper allows
			// until it closes the body. Wait for that, as the contract asks of a caller reusing a
			// body, so that what is recorded and sent is the whole body, whatever the timing.
			select {
			case <-prev.closed:
			case <-time.After(30 * time.Second): // a hang guard only
				return nil, errors.New("wire: the previous attempt's body was never closed")
			}
			req.Body = prev.body
		}
		if s, ok := req.Body.(io.Seeker); ok {
			if _, err := s.Seek(0, io.SeekStart); err != nil {
				return nil, err
			}
		}
		data, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		if rsc, ok := req.Body.(io.ReadSeekCloser); ok {
			if _, err := rsc.Seek(0, io.SeekStart); err != nil {
				return nil, err
			}
			req.Body = &attemptBody{body: rsc, closed: make(chan struct{})}
		} else {
			req.Body = io.NopCloser(bytes.NewReader(data))
		}
		ex.reqBody = data
	}
	res, err := w.next.RoundTrip(req)
	if err != nil {
		ex.err = err
		w.record(ex)
		return nil, err
	}
	data, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		ex.err = err
		w.record(ex)
		return nil, err
	}
	res.Body = io.NopCloser(bytes.NewReader(data))
	ex.status, ex.respHeader, ex.respBody = res.StatusCode, res.Header.Clone(), data
	w.record(ex)
	return res, nil
}

// attemptBody is a rewindable request body as one attempt passed it on: closed is closed once
// the transport closed the body, which it may do after RoundTrip returned.
type attemptBody struct {
	body   io.ReadSeekCloser
	closed chan struct{}
	once   sync.Once
}

func (b *attemptBody) Read(p []byte) (int, error) { return b.body.Read(p) }
func (b *attemptBody) Seek(offset int64, whence int) (int64, error) {
	return b.body.Seek(offset, whence)
}
func (b *attemptBody) Close() error {
	err := b.body.Close()
	b.once.Do(func() { close(b.closed) })
	return err
}

func (w *wire) record(ex exchange) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.exchanges = append(w.exchanges, ex)
}

// count is the number of exchanges so far; since(n) returns those after the first n.
func (w *wire) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.exchanges)
}

func (w *wire) since(n int) []exchange {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]exchange(nil), w.exchanges[n:]...)
}

// one returns the single exchange after the first n, failing when there is not exactly one.
func (w *wire) one(t *testing.T, n int) exchange {
	t.Helper()
	got := w.since(n)
	if len(got) != 1 {
		t.Fatalf("%d requests on the wire, want 1\n%s", len(got), w.dump())
	}
	return got[0]
}

// dump renders every exchange for a failure message, tokens redacted.
func (w *wire) dump() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "---- wire (pipeline: %s → wire) ----\n", w.pipeline)
	for i, ex := range w.exchanges {
		fmt.Fprintf(&b, "#%d > %s %s\n", i+1, ex.method, ex.url)
		writeHeaders(&b, "> ", ex.reqHeader)
		if len(ex.reqBody) > 0 {
			body := ex.reqBody
			if strings.EqualFold(ex.reqHeader.Get("Content-Encoding"), "gzip") {
				plain, err := gunzip(body)
				if err == nil {
					fmt.Fprintf(&b, "> [gzip: %d bytes on the wire (ContentLength %d), decoded below]\n", len(body), ex.reqLength)
					body = plain
				} else {
					fmt.Fprintf(&b, "> [Content-Encoding says gzip, but the %d bytes on the wire (ContentLength %d) are not gzip: %v]\n", len(body), ex.reqLength, err)
				}
			}
			fmt.Fprintf(&b, "> %s\n", body)
		}
		if ex.err != nil {
			fmt.Fprintf(&b, "#%d < transport error: %v\n", i+1, ex.err)
			continue
		}
		fmt.Fprintf(&b, "#%d < %d\n", i+1, ex.status)
		writeHeaders(&b, "< ", ex.respHeader)
		if len(ex.respBody) > 0 {
			fmt.Fprintf(&b, "< %s\n", ex.respBody)
		}
	}
	return b.String()
}

func writeHeaders(b *strings.Builder, prefix string, h http.Header) {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range h[k] {
			if strings.EqualFold(k, "Authorization") && len(v) > 20 {
				v = v[:20] + "...(redacted)"
			}
			fmt.Fprintf(b, "%s%s: %s\n", prefix, k, v)
		}
	}
}

func cloneURL(u *url.URL) *url.URL {
	c := *u
	return &c
}

// ---- assertions ----------------------------------------------------------------------------

// asODataError asserts that err is the SDK's typed Graph error with the status and code, and
// that its envelope is consistent with the response headers.
func asODataError(t *testing.T, c *client, err error, status int, code string) *ODataError {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %d %s\n%s", status, code, c.wire.dump())
	}
	var oe *ODataError
	if !errors.As(err, &oe) {
		t.Fatalf("error is %T (%v), want *ODataError %d %s\n%s", err, err, status, code, c.wire.dump())
	}
	if oe.GetStatusCode() != status {
		t.Errorf("status %d, want %d\n%s", oe.GetStatusCode(), status, c.wire.dump())
	}
	main := oe.GetErrorEscaped()
	if main == nil {
		t.Fatalf("ODataError without error object\n%s", c.wire.dump())
	}
	if got := deref(main.GetCode()); got != code {
		t.Errorf("error.code %q, want %q\n%s", got, code, c.wire.dump())
	}
	if deref(main.GetMessage()) == "" {
		t.Errorf("error.message is empty")
	}
	if oe.Error() != deref(main.GetMessage()) {
		t.Errorf("Error() %q, want error.message %q", oe.Error(), deref(main.GetMessage()))
	}
	inner := main.GetInnerError()
	if inner == nil {
		t.Fatalf("error.innerError missing\n%s", c.wire.dump())
	}
	requestID := first(oe.GetResponseHeaders().Get("request-id"))
	if requestID == "" || deref(inner.GetRequestId()) != requestID {
		t.Errorf("innerError.request-id %q, response header %q", deref(inner.GetRequestId()), requestID)
	}
	// The service writes the date in UTC without a zone, as Graph does; kiota's JSON parse node
	// reads a zone-less time as local time, so compare wall clocks.
	if d := inner.GetDate(); d == nil {
		t.Errorf("innerError.date missing or unparsed")
	} else if wall := time.Date(d.Year(), d.Month(), d.Day(), d.Hour(), d.Minute(), d.Second(), 0, time.UTC); time.Since(wall).Abs() > time.Minute {
		t.Errorf("innerError.date %v is not the UTC time of the error", *d)
	}
	if got, want := deref(inner.GetClientRequestId()), first(oe.GetResponseHeaders().Get("client-request-id")); got == "" || got != want {
		t.Errorf("innerError.client-request-id %q, response header %q", got, want)
	}
	return oe
}

// describe renders an SDK error with the envelope when it is an ODataError.
func describe(err error) string {
	var oe *ODataError
	if errors.As(err, &oe) && oe.GetErrorEscaped() != nil {
		return fmt.Sprintf("ODataError %d %s: %s", oe.GetStatusCode(), deref(oe.GetErrorEscaped().GetCode()), deref(oe.GetErrorEscaped().GetMessage()))
	}
	return fmt.Sprintf("%T: %v", err, err)
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func ptr[T any](v T) *T { return &v }

func first(values []string) string {
	if len(values) == 0 {
		return ""
	}
	return values[0]
}

// keys returns the sorted keys of a JSON object.
func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
