package sdkcompat_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
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
// recorder of what actually crossed the wire, below every middleware and at the server.
type client struct {
	srv      *testServer
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
	// inner are middlewares appended inside kiota's own, the last before the wire (a
	// workaround under test).
	inner []khttp.Middleware
	// wrap, if set, is the transport between the pipeline and the wire, given the wire: for a
	// test that holds the transport's reads of a body at a chosen point.
	wrap func(next http.RoundTripper) http.RoundTripper
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

func newClient(t *testing.T, f flavour, srv *testServer, id identity, cfg clientConfig) *client {
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
	w := &wire{next: transport(t, srv), server: srv.receiver}
	c := &client{srv: srv, wire: w, tokens: tokens}
	var parent http.RoundTripper = w
	if cfg.wrap != nil {
		parent = cfg.wrap(w)
	}

	switch f {
	case graphSDK:
		opts := core.GraphClientOptions{GraphServiceVersion: "beta", GraphServiceLibraryVersion: "0.0.0-sdkcompat"}
		// core.GetDefaultClient, with the client end of the recorder as the innermost transport.
		httpClient := core.GetDefaultClient(&opts)
		mw := append(arrange(t, core.GetDefaultMiddlewaresWithOptions(&opts), cfg.order), cfg.inner...)
		c.pipeline = pipelineNames(mw)
		httpClient.Transport = khttp.NewCustomTransportWithParentTransport(parent, mw...)
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
		// khttp.GetDefaultClient, with the client end of the recorder as the innermost transport.
		httpClient := khttp.GetDefaultClient()
		mw := append(arrange(t, khttp.GetDefaultMiddlewares(), cfg.order), cfg.inner...)
		c.pipeline = pipelineNames(mw)
		httpClient.Transport = khttp.NewCustomTransportWithParentTransport(parent, mw...)
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

// transport is kiota's default transport (khttp.GetDefaultTransport: an http.Transport with
// HTTP/2 enabled), given the server's certificate when it serves TLS, as a user points it at a
// server with a private CA.
func transport(t *testing.T, srv *testServer) http.RoundTripper {
	t.Helper()
	rt := khttp.GetDefaultTransport()
	if pool := srv.CertPool(); pool != nil {
		tr, ok := rt.(*http.Transport)
		if !ok {
			t.Fatalf("kiota's default transport is a %T, not an *http.Transport", rt)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	}
	return rt
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

// What crossed the wire is recorded on both ends, and neither end changes what the SDK does.
//
// The server end (receiver, in front of the service's handler) records each request as the service
// received it: its protocol, connection, headers and body bytes, and the answer as the service
// wrote it. The client end (wire, the innermost transport of the SDK's pipeline, around kiota's
// own khttp.GetDefaultTransport) records only what the server cannot see: the request as the
// pipeline handed it to the transport (its headers and ContentLength, when it left), and what the
// transport returned (status, headers, protocol, or an error). It passes the request and the
// response through as they are: it does not read, replace, wait for or close a body, so that
// kiota's retry handler rewinds and resends a body, and leaves a response body open, exactly as
// it would without it (findings 3 and 4 of README.md).
//
// Each test's server has one client, which sends one request at a time: the i-th request the
// client sent is the i-th the server received, and exchange joins the two. checkWire fails a test
// whose two ends disagree on the number of requests.

// exchange is one HTTP request as it left the SDK's middleware pipeline and arrived at the
// service, and its answer.
type exchange struct {
	// From the client end.
	method     string
	url        *url.URL
	reqHeader  http.Header
	reqLength  int64 // the request's ContentLength: -1 unknown (chunked), 0 none
	sent       time.Time
	status     int
	respHeader http.Header
	proto      string // of the response, as the transport read it: HTTP/1.1, HTTP/2.0
	err        error  // the transport's

	// From the server end; in is nil when the server received no request for it.
	in       *received
	reqBody  []byte // the request body's bytes as the service received them
	respBody []byte // the answer's body as the service wrote it
}

// received is one request as the service received it, and the answer it wrote.
type received struct {
	proto      string // HTTP/1.1, HTTP/2.0
	method     string
	url        *url.URL
	header     http.Header
	remoteAddr string // the client's end of the connection
	length     int64  // the request's ContentLength on arrival: -1 unknown (chunked, or none said)
	arrived    time.Time
	answered   time.Time // when the service's handler returned
	done       chan struct{}

	// Written by the handler's goroutine until done is closed.
	body       bytes.Buffer
	whole      bool  // the body was read to its end
	bodyErr    error // what reading it ended with, other than its end
	status     int
	respHeader http.Header
	respBody   bytes.Buffer
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

// ---- the server end

// testServer is the emulator (remoteassisttest's: the real service on loopback, in-memory store,
// a signing key of its own, closed when the test ends) behind a receiver that records what it
// receives. Its own listener is not used: clients reach the service through the receiver's, which
// serves plain HTTP/1.1, or HTTPS with HTTP/2 and HTTP/1.1 by ALPN when the emulator was started
// with remoteassisttest.WithTLS() (as httptest does, on httptest's certificate for 127.0.0.1).
type testServer struct {
	*remoteassisttest.Server
	front    *httptest.Server
	receiver *receiver
	// proto is the protocol every exchange must use: HTTP/2.0 over TLS (kiota's default transport
	// forces an attempt at HTTP/2, and the server offers it by ALPN), HTTP/1.1 otherwise.
	proto string
}

// URL is the base URL of the API, on the receiver's listener.
func (s *testServer) URL() string { return s.front.URL + server.BasePath }

// CertPool holds the certificate of a TLS server, nil for a plain one.
func (s *testServer) CertPool() *x509.CertPool {
	cert := s.front.Certificate()
	if cert == nil {
		return nil
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool
}

// startServer puts a receiver in front of the emulator's handler.
func startServer(t *testing.T, emulator *remoteassisttest.Server) *testServer {
	t.Helper()
	rec := &receiver{next: emulator.Handler()}
	front := httptest.NewUnstartedServer(rec)
	proto := "HTTP/1.1"
	if emulator.CertPool() != nil {
		front.EnableHTTP2 = true
		front.StartTLS()
		proto = "HTTP/2.0"
	} else {
		front.Start()
	}
	t.Cleanup(front.Close)
	return &testServer{Server: emulator, front: front, receiver: rec, proto: proto}
}

// receiver records each request the service receives and passes it on. The service reads the
// body through a tap that keeps a copy of what it read; the answer is copied as it is written.
//
// A body the service did not read to its end (a request it refused first, such as a 429) is read
// further only where net/http itself would read it before the answer leaves: on HTTP/1.x, when the
// connection is kept (net/http reads up to 256 KiB of an unread body before it writes the answer's
// header, unless the connection is to close), so the recorder reads the same bytes at the same
// point, before the answer. On HTTP/2 net/http sends the answer without reading the body, and the
// recorder does the same: the record says how much of the body the service read (whole false).
type receiver struct {
	next http.Handler

	mu       sync.Mutex
	requests []*received
}

// maxPostHandlerReadBytes is how much of an unread body net/http's HTTP/1 server reads after the
// handler, to keep the connection (net/http's constant of that name).
const maxPostHandlerReadBytes = 256 << 10

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	in := &received{proto: r.Proto, method: r.Method, url: cloneURL(r.URL), header: r.Header.Clone(),
		remoteAddr: r.RemoteAddr, length: r.ContentLength, arrived: time.Now(), done: make(chan struct{})}
	rc.mu.Lock()
	rc.requests = append(rc.requests, in)
	rc.mu.Unlock()

	// A shallow copy for the service: net/http keeps the request and body it handed over, so it
	// sees the body as read through the tap and handles the connection as it would without it.
	tapped := r.WithContext(r.Context())
	var tap *bodyTap
	if r.Body != nil && r.Body != http.NoBody {
		tap = &bodyTap{body: r.Body, in: in, http1: r.ProtoMajor == 1}
		tapped.Body = tap
	} else {
		in.whole = true
	}
	rw := &answerTap{ResponseWriter: w, in: in}
	defer func() {
		in.respHeader = w.Header().Clone()
		in.answered = time.Now()
		close(in.done)
	}()
	rc.next.ServeHTTP(rw, tapped)
	if tap != nil && r.ProtoMajor == 1 && !r.Close && !strings.EqualFold(w.Header().Get("Connection"), "close") {
		tap.readRest()
	}
}

// received returns the requests received so far, once each is answered: the client has its
// answer by the time a test looks, so the wait is for the last lines of ServeHTTP at most; the
// time limit is a hang guard only.
func (rc *receiver) received() []*received {
	rc.mu.Lock()
	got := append([]*received(nil), rc.requests...)
	rc.mu.Unlock()
	for _, in := range got {
		select {
		case <-in.done:
		case <-time.After(30 * time.Second):
			panic(fmt.Sprintf("sdkcompat: the service has not answered %s %s after 30 s", in.method, in.url))
		}
	}
	return got
}

// bodyTap is the request body the service reads, copied as it is read.
type bodyTap struct {
	body  io.ReadCloser
	in    *received
	http1 bool
	mu    sync.Mutex
}

func (b *bodyTap) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.body.Read(p)
	b.in.body.Write(p[:n])
	switch {
	case err == io.EOF:
		b.in.whole = true
	case err != nil && b.in.bodyErr == nil:
		b.in.bodyErr = err
	}
	return n, err
}

// Close closes the body. On HTTP/1.x, net/http's Close of a request body reads what is left of
// it (up to 256 KiB) to keep the connection: the tap reads it first, the same bytes.
func (b *bodyTap) Close() error {
	if b.http1 {
		b.readRest()
	}
	return b.body.Close()
}

// readRest reads what is left of the body, as net/http's HTTP/1 server would after the handler.
func (b *bodyTap) readRest() {
	b.mu.Lock()
	whole, failed := b.in.whole, b.in.bodyErr != nil
	b.mu.Unlock()
	if whole || failed {
		return
	}
	buf := make([]byte, 32<<10)
	for total := 0; total <= maxPostHandlerReadBytes; {
		n, err := b.Read(buf)
		total += n
		if err != nil {
			return
		}
	}
}

// answerTap is the ResponseWriter the service writes to, copied as it is written. Unwrap lets
// http.ResponseController reach net/http's writer, as the service needs (deadlines).
type answerTap struct {
	http.ResponseWriter
	in *received
}

func (a *answerTap) WriteHeader(code int) {
	if a.in.status == 0 && code >= 200 {
		a.in.status = code
	}
	a.ResponseWriter.WriteHeader(code)
}

func (a *answerTap) Write(p []byte) (int, error) {
	if a.in.status == 0 {
		a.in.status = http.StatusOK
	}
	a.in.respBody.Write(p)
	return a.ResponseWriter.Write(p)
}

func (a *answerTap) Unwrap() http.ResponseWriter { return a.ResponseWriter }

// ---- the client end

// wire is the innermost transport of the SDK's pipeline: it records what left the pipeline and
// what the transport returned, and passes both through untouched.
type wire struct {
	next     http.RoundTripper
	server   *receiver
	pipeline string

	mu   sync.Mutex
	sent []exchange // the client end's fields only
}

func (w *wire) RoundTrip(req *http.Request) (*http.Response, error) {
	ex := exchange{method: req.Method, url: cloneURL(req.URL), reqHeader: req.Header.Clone(),
		reqLength: req.ContentLength, sent: time.Now()}
	res, err := w.next.RoundTrip(req)
	if err != nil {
		ex.err = err
	} else {
		ex.status, ex.respHeader, ex.proto = res.StatusCode, res.Header.Clone(), res.Proto
	}
	w.mu.Lock()
	w.sent = append(w.sent, ex)
	w.mu.Unlock()
	return res, err
}

// count is the number of requests the client sent so far; since(n) returns those after the
// first n, joined with what the server received.
func (w *wire) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.sent)
}

func (w *wire) since(n int) []exchange {
	all := w.exchanges()
	if n > len(all) {
		n = len(all)
	}
	return all[n:]
}

// exchanges joins every request the client sent with the one the server received in its place.
func (w *wire) exchanges() []exchange {
	w.mu.Lock()
	sent := append([]exchange(nil), w.sent...)
	w.mu.Unlock()
	got := w.server.received()
	for i := range sent {
		if i < len(got) {
			in := got[i]
			sent[i].in = in
			sent[i].reqBody = in.body.Bytes()
			sent[i].respBody = in.respBody.Bytes()
		}
	}
	return sent
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

// dump renders every exchange for a failure message, from both ends, tokens redacted.
func (w *wire) dump() string {
	all := w.exchanges()
	received := w.server.received()
	var b strings.Builder
	fmt.Fprintf(&b, "---- wire (pipeline: %s → wire → %s) ----\n", w.pipeline, "kiota's transport")
	for i, ex := range all {
		fmt.Fprintf(&b, "#%d > %s %s\n", i+1, ex.method, ex.url)
		writeHeaders(&b, "> ", ex.reqHeader)
		if ex.in == nil {
			fmt.Fprintf(&b, "> [the server received no request for it]\n")
		} else {
			in := ex.in
			fmt.Fprintf(&b, "> [received: %s from %s, ContentLength %d sent, %d received]\n", in.proto, in.remoteAddr, ex.reqLength, in.length)
			writeBody(&b, ex, in)
		}
		if ex.err != nil {
			fmt.Fprintf(&b, "#%d < transport error: %v\n", i+1, ex.err)
			if ex.in != nil {
				fmt.Fprintf(&b, "#%d < [the service answered %d]\n", i+1, ex.in.status)
			}
			continue
		}
		fmt.Fprintf(&b, "#%d < %d %s\n", i+1, ex.status, ex.proto)
		writeHeaders(&b, "< ", ex.respHeader)
		if len(ex.respBody) > 0 {
			fmt.Fprintf(&b, "< %s\n", ex.respBody)
		}
	}
	if len(received) > len(all) {
		for i, in := range received[len(all):] {
			fmt.Fprintf(&b, "#%d the server received %s %s, which the client did not send; answered %d\n", len(all)+i+1, in.method, in.url, in.status)
		}
	}
	return b.String()
}

// writeBody renders the body the server received, decoded when it says gzip.
func writeBody(b *strings.Builder, ex exchange, in *received) {
	body := ex.reqBody
	switch {
	case in.bodyErr != nil:
		fmt.Fprintf(b, "> [the body ended after %d bytes with %v]\n", len(body), in.bodyErr)
	case !in.whole:
		fmt.Fprintf(b, "> [the service answered after reading %d bytes of the body; the rest was not read]\n", len(body))
	}
	if len(body) == 0 {
		return
	}
	if strings.EqualFold(ex.reqHeader.Get("Content-Encoding"), "gzip") {
		plain, err := gunzip(body)
		if err == nil {
			fmt.Fprintf(b, "> [gzip: %d bytes, decoded below]\n", len(body))
			body = plain
		} else {
			fmt.Fprintf(b, "> [Content-Encoding says gzip, but the %d bytes are not gzip: %v]\n", len(body), err)
		}
	}
	fmt.Fprintf(b, "> %s\n", body)
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
