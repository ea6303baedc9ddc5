// Package server is the HTTP service: an echo server that implements the interface generated
// from the contract in package openapi (gen/echoapi) and enforces that contract on every
// request with kin-openapi.
//
// A request to the API travels, in order:
//
//   - the entry layer (middleware.go): request ids, panic recovery, and at the end the metrics
//     and the one access-log line;
//   - echo's router: an unknown path is 404, a method the path lacks 405;
//   - the operation's pipeline (middleware.go): concurrency cap (503), authentication (401),
//     per-tenant throttling (429), authorization from the contract's x-graph-permissions (403),
//     then kin-openapi's validation of the parameters and of the body (validate.go, with the
//     contract's yes/no gate in front of it, gate.go; the body is read, decompressed and
//     decoded once, by body.go: 415, 413, 400);
//   - the generated wrapper, which binds the parameters, and the handler (handler.go), which
//     binds the validated body into the generated type, calls the store through the domain's
//     mapping and answers with the generated entity.
//
// Every error on that path leaves as the Graph error envelope, written in one place
// (errors.go), but for a request whose client has gone: it is left unanswered and recorded as
// a 499; one the server itself cut (a shutdown past its grace) is recorded as the 503 it was
// owed.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/control"
	"github.com/remoteassist/remoteassist/gen/echoapi"
	"github.com/remoteassist/remoteassist/internal/urlpath"
	"github.com/remoteassist/remoteassist/openapi"
)

// MetricsPath is where the Prometheus metrics are served, without authentication.
const MetricsPath = "/metrics"

// DefaultMaxBodyBytes bounds a request body, before and after decompression. The entity is a
// few hundred bytes; the limit leaves room for whitespace and unknown-but-refused properties.
const DefaultMaxBodyBytes = 64 << 10

// defaultRetryAfter is sent with 503s whose cause named no better delay.
const defaultRetryAfter = 5 * time.Second

// defaultDrainTimeout bounds how long the answer to a refused request waits for the rest of its
// body.
const defaultDrainTimeout = time.Second

// Config is what the server is built from.
type Config struct {
	// Profile is the fidelity profile served: its document is the contract validated against,
	// and says how values read and what PATCH answers. Empty means ProfileDocumented.
	Profile remoteassist.Profile
	// Store keeps the settings. Required.
	Store remoteassist.Store
	// Authenticator verifies bearer tokens. Required.
	Authenticator remoteassist.Authenticator
	// Logger receives the access log (one line per request: at Info, at Error for a 5xx) and
	// the server's errors; nil discards them. Tokens and bodies are never logged.
	Logger *slog.Logger
	// MaxBodyBytes bounds request bodies; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Throttle limits each tenant's request rate; the zero value does not throttle.
	Throttle ThrottleConfig
	// MaxConcurrentRequests caps the API requests the service works on at once; beyond it
	// requests get 503 with Retry-After. A tenant may hold a quarter of it, a token a sixteenth,
	// beyond which its requests get 429 (admission.go). 0 means DefaultMaxConcurrentRequests;
	// negative means no cap.
	MaxConcurrentRequests int
	// BodyTimeout bounds reading a request body, which happens before the request counts
	// against MaxConcurrentRequests; beyond it the request gets 408. 0 means DefaultBodyTimeout.
	BodyTimeout time.Duration
	// CORSOrigins are the origins browsers may call the API and fetch the contract from (scheme,
	// host and port, such as "http://localhost:3000", or "*" for any). Nil means
	// DefaultCORSOrigins; an empty, non-nil list allows none.
	CORSOrigins []string
	// Control, when set, is the test control plane: its fault rules apply to the API's requests
	// and its journal records them (the admin API, NewAdmin, drives it). Nil means neither.
	Control *control.Control
	// Now is the clock; nil means time.Now. Tests use it to move throttling windows.
	Now func() time.Time
	// Routes, when set, are mounted outside the API and without authentication, for GET and HEAD
	// (other methods get the Graph 405 with an Allow header): the docs and
	// the served contract, for instance. Keys are echo route paths.
	Routes map[string]http.Handler
	// Metrics is the registry the server's metrics are registered in; they are served from it
	// at MetricsPath. Nil means a registry of the server's own (with the Go runtime and process
	// collectors), never the global one, so that several servers can live in one process.
	Metrics *prometheus.Registry
}

// Server is the HTTP service. It is an http.Handler.
type Server struct {
	echo      *echo.Echo
	store     remoteassist.Store
	auth      remoteassist.Authenticator
	logger    *slog.Logger
	maxBody   int64
	metrics   *metrics
	throttle  *throttle
	admission *admission
	// readiness checks the store for the readiness probes, one check at a time, its result
	// kept briefly (readiness.go).
	readiness readiness
	// metricsHandler serves the registry at MetricsPath.
	metricsHandler http.Handler
	// fold is set when the profile matches names and enumerated values without regard to case.
	fold bool
	// strictQuery refuses every query parameter an operation does not declare (the admin API's),
	// not only the OData options ("$" and a name) the API refuses.
	strictQuery bool
	// control, when set, injects faults into the operations' answers and journals them.
	control *control.Control
	// allow is the Allow header of a 405, by route path.
	allow map[string][]string
	// routeSegments are the routes' paths, split at '/', for a 404's message (unresolvedSegment).
	routeSegments [][]string
	// routeTemplates are the API paths whose path item gives an OData route template
	// (routeTemplateExtension), by route path: a method they lack is answered with NoRoute.
	routeTemplates map[string]routeTemplate
	// drainTimeout bounds the wait for the rest of a refused request's body (bound); always
	// defaultDrainTimeout but in tests of that bound.
	drainTimeout time.Duration
	// cutting is set by Cut: the requests still in flight are being cut by the server.
	cutting atomic.Bool
	// active counts the requests being served, for Cut to wait for the ones it cut.
	active atomic.Int64
}

// New wires the API: the layers, the handlers and the routes, in the order the package
// documentation describes.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Authenticator == nil {
		return nil, errors.New("server: Config.Store and Config.Authenticator are required")
	}
	doc, err := openapi.Shared(cfg.Profile)
	if err != nil {
		return nil, err
	}
	return build(cfg, surface{doc: doc, basePath: BasePath, permissions: true, probes: true,
		register: func(s *Server, r composingRouter, ops map[string]*operation, mws map[string][]echo.MiddlewareFunc) {
			h := &handler{store: s.store, readRules: readRules(doc, ops)}
			echoapi.RegisterHandlersWithOptions(r, h, echoapi.RegisterHandlersOptions{BaseURL: BasePath, OperationMiddlewares: mws})
		}})
}

// surface is what one server serves: a contract, the handlers of its operations, whether its
// operations need Graph's permissions and the probes are served beside them, and whether a query
// parameter an operation does not declare is refused (strictQuery) or, as Graph does, ignored.
type surface struct {
	doc         *openapi3.T
	basePath    string
	permissions bool
	probes      bool
	strictQuery bool
	register    func(s *Server, r composingRouter, ops map[string]*operation, mws map[string][]echo.MiddlewareFunc)
}

// build wires a server for the surface: the API's (New) or the admin API's (NewAdmin).
func build(cfg Config, surf surface) (*Server, error) {
	fold := caseInsensitive(surf.doc)
	ops, err := compileContract(surf.doc, surf.permissions, fold)
	if err != nil {
		return nil, err
	}
	s := &Server{
		echo:    echo.New(),
		auth:    cfg.Authenticator,
		logger:  cfg.Logger,
		maxBody: cfg.MaxBodyBytes,
		fold:    fold,
		control: cfg.Control,

		strictQuery: surf.strictQuery,

		drainTimeout: defaultDrainTimeout,
	}
	s.echo.SchemeExtractor = schemeExtractor(echo.ExtractSchemeFromHeaders())
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	var slots int64
	switch n := cfg.MaxConcurrentRequests; {
	case n == 0:
		slots = DefaultMaxConcurrentRequests
	case n > 0:
		slots = int64(n)
	}
	bodyTimeout := cfg.BodyTimeout
	if bodyTimeout <= 0 {
		bodyTimeout = DefaultBodyTimeout
	}
	s.admission = newAdmission(slots, bodyTimeout)
	if cfg.Throttle.enabled() {
		now := cfg.Now
		if now == nil {
			now = time.Now
		}
		s.throttle = newThrottle(cfg.Throttle, now)
	}
	reg := cfg.Metrics
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	if s.metrics, err = newMetrics(reg, func() float64 { return float64(s.admission.inFlight.Load()) }); err != nil {
		return nil, fmt.Errorf("server: registering metrics: %w", err)
	}
	for _, op := range ops {
		op.metrics = s.metrics.operation(op.id, op.method, op.statuses)
	}
	s.store = instrumentStore(cfg.Store, s.metrics)
	s.readiness.now = time.Now
	if p, ok := s.store.(remoteassist.Pinger); ok {
		s.readiness.ping = p
	}

	e := s.echo
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.echoErrorHandler
	origins := cfg.CORSOrigins
	if origins == nil {
		origins = DefaultCORSOrigins
	}
	e.Use(globalLayers(s.entry, cors(origins, s.allowed)))

	// methods records every route's methods, for the Allow header of a 405.
	methods := map[string][]string{}
	route := func(path string, h echo.HandlerFunc, verbs ...string) {
		for _, verb := range verbs {
			e.Add(verb, path, h)
		}
		methods[path] = append(methods[path], verbs...)
	}
	s.metricsHandler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	if surf.probes {
		// HEAD as well, as orchestrators and uptime checkers probe, and as the ops listener's
		// "GET /x" patterns take it: echo, unlike net/http's ServeMux, routes HEAD only where it
		// is registered. net/http sends no body to a HEAD.
		route("/healthz", s.healthz, http.MethodGet, http.MethodHead)
		route("/readyz", s.readyz, http.MethodGet, http.MethodHead)
		route(MetricsPath, echo.WrapHandler(s.metricsHandler), http.MethodGet, http.MethodHead)
	}
	for path, h := range cfg.Routes {
		route(path, echo.WrapHandler(h), http.MethodGet, http.MethodHead)
	}

	perOperation := make(map[string][]echo.MiddlewareFunc, len(ops))
	var apiPaths []string
	for id, op := range ops {
		perOperation[id] = []echo.MiddlewareFunc{s.pipeline(op)}
		path := surf.basePath + echoPath(op.path)
		methods[path] = append(methods[path], op.method)
		apiPaths = append(apiPaths, path)
		if template, ok := op.route.PathItem.Extensions[routeTemplateExtension].(string); ok {
			if s.routeTemplates == nil {
				s.routeTemplates = map[string]routeTemplate{}
			}
			s.routeTemplates[path] = routeTemplate{template: template, path: op.path}
		}
	}
	if s.fold {
		e.Pre(foldPath(apiPaths))
	}
	surf.register(s, composingRouter{e}, ops, perOperation)
	// A 405's Allow lists the route's methods (echo's own would add OPTIONS), the contract's for
	// the API. Echo also answers OPTIONS on any route with a bare 204 of its own; no route has
	// an OPTIONS operation, so it gets the same answer as any other method a route lacks.
	s.allow = make(map[string][]string, len(methods))
	for path, m := range methods {
		slices.Sort(m)
		s.allow[path] = []string{strings.Join(m, ", ")}
		s.routeSegments = append(s.routeSegments, strings.Split(strings.Trim(path, "/"), "/"))
		e.OPTIONS(path, func(echo.Context) error { return echo.ErrMethodNotAllowed })
	}
	return s, nil
}

// allowed is the Allow header of a 405 on route: its methods, comma-separated.
func (s *Server) allowed(route string) string {
	if allow := s.allow[route]; len(allow) > 0 {
		return allow[0]
	}
	return ""
}

// echoPath writes a contract path ("/admin/faults/{id}") as an echo route ("/admin/faults/:id").
func echoPath(path string) string {
	var b strings.Builder
	for part := range strings.SplitSeq(path, "/") {
		if part == "" {
			continue
		}
		b.WriteByte('/')
		if strings.HasPrefix(part, "{") && strings.HasSuffix(part, "}") {
			part = ":" + part[1:len(part)-1]
		}
		b.WriteString(part)
	}
	return b.String()
}

// Drain prepares a shutdown: body reads in progress are cut short, and requests that have yet to
// send their body are refused with 503, so that a graceful stop does not wait on slow clients.
// Requests whose body is in finish normally. Call it just before http.Server.Shutdown; there is
// no undoing it.
func (s *Server) Drain() { s.admission.drain() }

// cutWait bounds how long Cut waits for the requests it cut to end.
const cutWait = time.Second

// ConnectionRefused counts a connection the connection cap refused in the server's metrics
// (remoteassist_connections_refused_total): the Limits.Refused of the listener in front of s.
func (s *Server) ConnectionRefused(answered bool) { s.metrics.refused[refusedIndex(answered)].Inc() }

// SideLimits are the Limits of the side listener side: its cap, its refusals counted in s's
// metrics, in remoteassist_ops_connections_refused_total or
// remoteassist_admin_connections_refused_total. Serve the listener through LimitListener with
// them; s is the API's Server, whose /metrics show the count.
func (s *Server) SideLimits(side SideListener) Limits {
	counters := &s.metrics.sideRefused[side]
	return Limits{MaxConnections: sideListeners[side].maxConnections, Refused: func(answered bool) { counters[refusedIndex(answered)].Inc() }}
}

// refusedIndex is the index of a refusal's counter: answered 503 or closed without it.
func refusedIndex(answered bool) int {
	if answered {
		return 1
	}
	return 0
}

// Cut ends a shutdown whose grace is over (http.Server.Shutdown ran out of time): it closes hs,
// the http.Server serving s, which cuts the requests still in flight, and waits for them to end,
// up to cutWait (they end as soon as they see their context cancelled), so that their access-log
// lines are written before the process exits. They are recorded in the access log and the
// metrics as the 503s they were owed, at ERROR, rather than as clients that went away (499);
// nothing more is sent to them than before. It returns hs.Close's error. Like Drain, it ends the
// Server's life: there is no undoing it, and a request it serves afterwards counts as cut.
func (s *Server) Cut(hs *http.Server) error {
	s.cutting.Store(true)
	err := hs.Close()
	for deadline := time.Now().Add(cutWait); s.active.Load() > 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	return err
}

// ServeHTTP serves one request. A path spelling unreserved characters percent-encoded
// ("remoteAssistance%53ettings") is routed as the characters, as RFC 3986 makes them equivalent,
// while an encoded '/' stays inside its segment (urlpath.Normalize): echo routes on the escaped
// path when net/http kept one (URL.RawPath), and the validation and the handlers see the request
// as echo routed it. Here rather than as an echo Pre layer, which would make echo compose its
// chain anew, with allocations, on every request.
//
// The request's state (exchange) comes from a pool, as echo's own context does: nothing holds it
// once echo has served the request (the journal and the log copy what they keep), so it is
// cleared and put back then, and a request does not allocate it. One that panics out of here
// (a dropped connection) leaves its state to the collector.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	urlpath.Normalize(r.URL)
	s.active.Add(1)
	defer s.active.Add(-1)
	x := exchanges.Get().(*exchange)
	x.ResponseWriter = w
	s.echo.ServeHTTP(x, r)
	*x = exchange{}
	exchanges.Put(x)
}

// exchanges are the request states not in use (ServeHTTP).
var exchanges = sync.Pool{New: func() any { return new(exchange) }}

// healthz answers 200 while the process serves requests.
func (s *Server) healthz(c echo.Context) error {
	return c.JSONBlob(http.StatusOK, []byte(healthy))
}

// readyz answers 200 when the store can serve requests and 503 when it cannot.
func (s *Server) readyz(c echo.Context) error {
	if err := s.ready(c.Request().Context()); err != nil {
		return err
	}
	return c.JSONBlob(http.StatusOK, []byte(ready))
}

// The bodies of the probes' 200s.
const (
	healthy = "{\"status\":\"ok\"}\n"
	ready   = "{\"status\":\"ready\"}\n"
)

// ready reports whether the server can take requests: it is not shutting down and its store is
// reachable. Both /readyz (the API's and the ops listener's) answer from it, so that probes on
// either share the one store check (readiness).
func (s *Server) ready(ctx context.Context) error {
	// Once shutdown began, readiness fails so that load balancers stop sending new requests
	// while those in flight finish.
	if s.admission.isDraining() {
		return errDraining
	}
	// Never cached, unlike the store's answer: draining must be seen by the next probe.
	if err := s.readiness.check(ctx); err != nil {
		return &remoteassist.Error{Code: remoteassist.EUNAVAILABLE, Message: "The store is unreachable.", Err: err}
	}
	return nil
}

// OpsHandler serves what operators and orchestrators probe, for a listener of its own
// ("remoteassist serve --ops-addr", capped by SideLimits(OpsListener)) so that probes never
// queue behind API traffic or its connection cap: /healthz (liveness: 200 while the process
// serves), /readyz (readiness: 200 while the store can serve, 503 otherwise), /metrics
// (Prometheus) and /debug/pprof/ (Go's profiles, but for cmdline: the process's command line
// may carry a secret, such as serve's --admin-token or a database password in --store). It
// writes no access log. The same probes are also served on the API's listener.
func (s *Server) OpsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, healthy)
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if err := s.ready(r.Context()); err != nil {
			w.Header().Set("Retry-After", strconv.Itoa(int(defaultRetryAfter/time.Second)))
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "{\"status\":\"unavailable\"}\n")
			return
		}
		io.WriteString(w, ready)
	})
	mux.Handle("GET "+MetricsPath, s.metricsHandler)
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}
