package server

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// unknownOperation is the operation label of requests that match no operation of the contract:
// unknown paths and methods, health probes, metrics scrapes, docs.
const unknownOperation = "unknown"

// failureClass is why a request was refused before reaching the handler's work, as counted in
// remoteassist_validation_failures_total.
type failureClass uint8

// The failure classes.
const (
	failNone        failureClass = iota
	failContentType              // 415: Content-Type or Content-Encoding
	failTooLarge                 // 413: body over the limit, compressed or not
	failJSON                     // 400: unreadable body: not JSON, not gzip, duplicate property, missing
	failSchema                   // 400: a value or parameter out of contract
	failEmptyPatch               // 400: a patch that changes nothing
	failAuth                     // 401
	failForbidden                // 403
	failThrottled                // 429
	numFailureClasses
)

// failureClassNames are the failure classes' values of the metric's class label.
var failureClassNames = [numFailureClasses]string{
	failContentType: "content_type",
	failTooLarge:    "too_large",
	failJSON:        "json",
	failSchema:      "schema",
	failEmptyPatch:  "empty_patch",
	failAuth:        "auth",
	failForbidden:   "forbidden",
	failThrottled:   "throttled",
}

// latencyBuckets suit a service that answers in tens of microseconds from memory and in
// milliseconds from a database.
var latencyBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}

// metrics are the server's Prometheus metrics. Label values are bounded: the operation is an
// operationId or "unknown", the method one of the standard methods or "OTHER", the code an
// HTTP status; the tenant is deliberately not a label.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	failures [numFailureClasses]prometheus.Counter
	store    *prometheus.HistogramVec
	// refused counts the connections the connection cap refused, answered (a 503) or not.
	refused [2]prometheus.Counter
	// sideRefused counts those each side listener's cap refused (SideLimits), likewise.
	sideRefused [numSideListeners][2]prometheus.Counter

	// unknown holds the series of requests outside the operations. Each operation holds its
	// own (operation.metrics, from metrics.operation), resolved at start-up so that the hot path
	// does not hash label values.
	unknown *opMetrics
}

// opMetrics are the series of one operation.
type opMetrics struct {
	id       string
	duration prometheus.Observer
	// byStatus holds the request counters of the statuses the operation usually answers,
	// for the one method the operation has.
	byStatus map[int]prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, inFlight func() float64) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "remoteassist_http_requests_total",
			Help: "HTTP requests served, by contract operation (operationId, or unknown), method and status code.",
		}, []string{"operation", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "remoteassist_http_request_duration_seconds",
			Help:    "Time from the request reaching the service to its response being written, by contract operation.",
			Buckets: latencyBuckets,
		}, []string{"operation"}),
		store: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "remoteassist_store_duration_seconds",
			Help:    "Time spent in the settings store, by store operation.",
			Buckets: latencyBuckets,
		}, []string{"op"}),
	}
	failures := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "remoteassist_validation_failures_total",
		Help: "Requests refused before the handler's work, by class: content_type, too_large, json, schema, empty_patch, auth, forbidden, throttled.",
	}, []string{"class"})
	gauge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "remoteassist_http_requests_in_flight",
		Help: "API requests being served now.",
	}, inFlight)
	refused := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "remoteassist_connections_refused_total",
		Help: "Connections refused by the connection cap (--max-connections): answered 503 (answered=\"true\"), or closed unanswered (answered=\"false\": too many refusals were being written, or the client left or failed its TLS handshake first).",
	}, []string{"answered"})
	m.refused = [2]prometheus.Counter{refused.WithLabelValues("false"), refused.WithLabelValues("true")}
	collectors := []prometheus.Collector{m.requests, m.duration, m.store, failures, gauge, refused}
	// A metric of its own for each side listener rather than a label on the API's: a label
	// would split the existing series, and queries of
	// remoteassist_connections_refused_total{answered="true"} would count the side listeners'
	// refusals too.
	for side, d := range sideListeners {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "remoteassist_" + d.metric + "_connections_refused_total",
			Help: "Connections refused by the " + d.what + "'s cap (" + d.flag + ", " + strconv.Itoa(d.maxConnections) +
				" connections open at once), answered as for remoteassist_connections_refused_total.",
		}, []string{"answered"})
		m.sideRefused[side] = [2]prometheus.Counter{c.WithLabelValues("false"), c.WithLabelValues("true")}
		collectors = append(collectors, c)
	}
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for class := failContentType; class < numFailureClasses; class++ {
		m.failures[class] = failures.WithLabelValues(failureClassNames[class])
	}
	m.unknown = &opMetrics{id: unknownOperation, duration: m.duration.WithLabelValues(unknownOperation)}
	return m, nil
}

// operation returns the series of the contract's operation id, served with method, which
// usually answers with statuses.
func (m *metrics) operation(id, method string, statuses []int) *opMetrics {
	om := &opMetrics{id: id, duration: m.duration.WithLabelValues(id), byStatus: map[int]prometheus.Counter{}}
	for _, status := range statuses {
		om.byStatus[status] = m.requests.WithLabelValues(id, method, strconv.Itoa(status))
	}
	return om
}

// observe counts a finished request of the operation om (nil for none), with its failure class.
func (m *metrics) observe(om *opMetrics, failure failureClass, method string, status int, latency time.Duration) {
	if om == nil {
		om = m.unknown
	}
	om.duration.Observe(latency.Seconds())
	if c, ok := om.byStatus[status]; ok {
		c.Inc()
	} else {
		m.requests.WithLabelValues(om.id, methodLabel(method), strconv.Itoa(status)).Inc()
	}
	if failure != failNone {
		m.failures[failure].Inc()
	}
}

// methodLabel bounds the method label: a client can send any token as a method.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return method
	}
	return "OTHER"
}
