package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/docs"
	"github.com/remoteassist/remoteassist/internal/fastslog"
	"github.com/remoteassist/remoteassist/memory"
	"github.com/remoteassist/remoteassist/openapi"
	"github.com/remoteassist/remoteassist/postgres"
	"github.com/remoteassist/remoteassist/server"
)

// defaultShutdownGrace bounds a graceful stop: requests in flight get this long to finish, then
// the connections left are closed. It leaves room within docker stop's default 10 s.
const defaultShutdownGrace = 8 * time.Second

// listen opens serve's listener. Tests replace it to learn whether serve got that far without
// binding a port.
var listen = net.Listen

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", "serve [--addr HOST:PORT] [--data DIR] [--store URL] [flags]",
		`  remoteassist serve
  remoteassist serve --addr 127.0.0.1:9090 --data /var/lib/remoteassist
  remoteassist serve --store postgres://user:pass@db:5432/remoteassist

Every flag can also be set by the environment variable named in its description; the flag wins.
`, stdout)
	var env envDefaults
	addr := fs.String("addr", envOr("REMOTEASSIST_ADDR", "127.0.0.1:8080"), "address to listen on (env REMOTEASSIST_ADDR)")
	corsOrigins := fs.String("cors-origins", envOr("REMOTEASSIST_CORS_ORIGINS", "*"),
		`origins browsers may call the API from: "*" (any), "none", or a comma-separated list such as "http://localhost:3000,https://app.contoso.com" (env REMOTEASSIST_CORS_ORIGINS)`)
	var adminFlags adminFlags
	adminFlags.register(fs, &env)
	opsAddr := fs.String("ops-addr", envOr("REMOTEASSIST_OPS_ADDR", ""),
		"also serve /healthz, /readyz, /metrics and /debug/pprof/ on this address, for probes that must not queue behind API traffic (env REMOTEASSIST_OPS_ADDR)")
	dataDir := fs.String("data", defaultDataDir(), "data directory: signing key and embedded store (env REMOTEASSIST_DATA)")
	storeURL := fs.String("store", envOr("REMOTEASSIST_STORE", ""),
		`where settings live: empty for the embedded store in --data, "memory", or a postgres:// URL (env REMOTEASSIST_STORE)`)
	storeOpenTimeout := fs.Duration("store-open-timeout", env.duration("store-open-timeout", "REMOTEASSIST_STORE_OPEN_TIMEOUT", postgres.DefaultOpenTimeout),
		"with a postgres:// --store, how long serve tries to open it at start-up (connecting, and migrating the schema: a migration waits this long for a lock another session holds) before it exits 1, naming that session (env REMOTEASSIST_STORE_OPEN_TIMEOUT)")
	profileName := fs.String("profile", envOr("REMOTEASSIST_PROFILE", string(remoteassist.ProfileDocumented)),
		`fidelity profile: "documented" (the published page: notConfigured, PATCH 200 with the entity) or "graph" (today's Graph beta: disabled|enabled, PATCH 204, case-insensitive names) (env REMOTEASSIST_PROFILE)`)
	logFormat := fs.String("log-format", envOr("REMOTEASSIST_LOG_FORMAT", "text"), `log format: "text" or "json" (env REMOTEASSIST_LOG_FORMAT)`)
	var authFlags authFlags
	authFlags.register(fs, &env)
	var tlsFlags tlsFlags
	tlsFlags.register(fs, &env)
	throttle := fs.String("throttle", envOr("REMOTEASSIST_THROTTLE", ""),
		`rate limits: empty for none; "intune" (per tenant 2000 requests and 200 writes per 20s, per application of a tenant 1000 and 100); "REQUESTS,WRITES,WINDOW" per tenant such as "100,10,1s"; or "REQUESTS,WRITES,APP_REQUESTS,APP_WRITES,WINDOW"; each count at least 1 (env REMOTEASSIST_THROTTLE)`)
	throttleRetryAfter := fs.Bool("throttle-retry-after", env.bool("throttle-retry-after", "REMOTEASSIST_THROTTLE_RETRY_AFTER", true),
		"send Retry-After with throttling's 429s; false leaves it out, as some Intune 429s do (env REMOTEASSIST_THROTTLE_RETRY_AFTER)")
	maxConcurrent := fs.Int("max-concurrent", env.int("max-concurrent", "REMOTEASSIST_MAX_CONCURRENT", server.DefaultMaxConcurrentRequests),
		"API requests in flight before further ones get 503; 0 means the default, a negative number no cap (env REMOTEASSIST_MAX_CONCURRENT)")
	maxConns := fs.Int("max-connections", env.int("max-connections", "REMOTEASSIST_MAX_CONNECTIONS", server.DefaultLimits.MaxConnections),
		"open connections before further ones are answered 503 with Retry-After (over TLS when serving HTTPS) and closed; 0 means the default, a negative number no cap (env REMOTEASSIST_MAX_CONNECTIONS)")
	grace := fs.Duration("shutdown-grace", env.duration("shutdown-grace", "REMOTEASSIST_SHUTDOWN_GRACE", defaultShutdownGrace),
		"on SIGTERM or SIGINT, how long requests in flight get to finish before the connections left are closed (env REMOTEASSIST_SHUTDOWN_GRACE)")
	if err := parse(fs, args); err != nil {
		return err
	}
	// Every mistake in the flags and the environment is refused here, before anything is
	// created, opened or listened on.
	if err := env.check(fs); err != nil {
		return err
	}
	api := listenFlag{"addr", "REMOTEASSIST_ADDR", *addr, "127.0.0.1:8080"}
	ops := listenFlag{"ops-addr", "REMOTEASSIST_OPS_ADDR", *opsAddr, "127.0.0.1:9090"}
	if err := checkListenAddrs(fs, api, ops, listenFlag{"admin-addr", "REMOTEASSIST_ADMIN_ADDR", adminFlags.addr, "127.0.0.1:8081"}); err != nil {
		return err
	}
	origins, err := parseOrigins(*corsOrigins)
	if err != nil {
		return usageError{fmt.Errorf("%s %w", origin(fs, "cors-origins", "REMOTEASSIST_CORS_ORIGINS"), err)}
	}
	if *grace <= 0 {
		return usageError{fmt.Errorf("%s %v: want a positive duration such as 8s", origin(fs, "shutdown-grace", "REMOTEASSIST_SHUTDOWN_GRACE"), *grace)}
	}
	if *storeOpenTimeout <= 0 {
		return usageError{fmt.Errorf("%s %v: want a positive duration such as 1m", origin(fs, "store-open-timeout", "REMOTEASSIST_STORE_OPEN_TIMEOUT"), *storeOpenTimeout)}
	}
	kind := storeKind(*storeURL)
	if kind == "" {
		return usageError{fmt.Errorf(`%s %q: want empty, "memory" or a postgres:// URL`,
			origin(fs, "store", "REMOTEASSIST_STORE"), redact(*storeURL))}
	}
	profile, err := remoteassist.ParseProfile(*profileName)
	if err != nil {
		return usageError{fmt.Errorf("%s %w", origin(fs, "profile", "REMOTEASSIST_PROFILE"), err)}
	}
	logSink := newLogBuffer(stderr)
	defer logSink.Close()
	logger, err := newLogger(*logFormat, logSink)
	if err != nil {
		return usageError{fmt.Errorf("%s %w", origin(fs, "log-format", "REMOTEASSIST_LOG_FORMAT"), err)}
	}
	throttleCfg, err := parseThrottle(*throttle)
	if err != nil {
		return usageError{fmt.Errorf("%s %w", origin(fs, "throttle", "REMOTEASSIST_THROTTLE"), err)}
	}
	throttleCfg.OmitRetryAfter = !*throttleRetryAfter
	if err := authFlags.check(fs); err != nil {
		return err
	}
	if err := tlsFlags.check(fs, logger); err != nil {
		return err
	}
	if err := adminFlags.check(fs); err != nil {
		return err
	}

	// Kept alive until serve returns: see gcHeadroom.
	headroom := reserveGCHeadroom(os.Getenv)
	defer runtime.KeepAlive(headroom)

	if err := os.MkdirAll(*dataDir, 0o700); err != nil {
		return dataDirProblem(fmt.Errorf("creating data directory: %w", err), *dataDir)
	}
	tlsConfig, err := tlsFlags.config(*dataDir, logger)
	if err != nil {
		return dataDirProblem(err, *dataDir)
	}
	verifier, authMode, err := authFlags.verifier(*dataDir, logger)
	if err != nil {
		return dataDirProblem(err, *dataDir)
	}
	store, closeStore, err := openStore(ctx, kind, *storeURL, *dataDir, *storeOpenTimeout, logger)
	if err != nil {
		return dataDirProblem(err, *dataDir)
	}
	// On a signal, what the control socket is still doing gets what is left of the grace period
	// once the listeners are down (closeBy), not a bound of its own past it.
	var closeBy time.Time
	defer func() { closeStore(closeBy) }()

	served, err := openapi.Served(profile)
	if err != nil {
		return err
	}
	docsHandler, err := docs.Handler(served.YAML, served.JSON)
	if err != nil {
		return err
	}
	routes := make(map[string]http.Handler)
	for _, path := range docs.Paths() {
		routes[path] = docsHandler
	}
	ctl := adminFlags.control()
	srv, err := server.New(server.Config{
		Control:               ctl,
		Profile:               profile,
		CORSOrigins:           origins,
		Routes:                routes,
		Store:                 store,
		Authenticator:         verifier,
		Logger:                logger,
		Throttle:              throttleCfg,
		MaxConcurrentRequests: *maxConcurrent,
	})
	if err != nil {
		return err
	}
	limits := server.DefaultLimits
	limits.MaxConnections = *maxConns
	limits.Refused = srv.ConnectionRefused
	ln, err := listen("tcp", *addr)
	if err != nil {
		return err
	}
	// Over TLS the cap still counts the raw connections, under ServeTLS's TLS listener, and
	// answers those beyond it over TLS.
	if tlsConfig != nil {
		ln = server.LimitTLSListener(server.AnswerPlainHTTP(ln), limits, tlsConfig)
	} else {
		ln = server.LimitListener(ln, limits)
	}
	httpServer := server.NewHTTPServer(srv, limits, logger)
	base := tlsFlags.scheme() + "://" + ln.Addr().String() + server.BasePath
	logger.Info("serving", "base_url", base, "profile", profile, "data", *dataDir, "store", kind, "auth", authMode)
	if tlsFlags.enabled() {
		tlsFlags.announce(logger, base)
	}
	if authMode == authDev {
		logger.Info("get a token with: remoteassist token --data " + shellQuote(*dataDir) + " --tenant YOUR-TENANT")
	}
	// Where healthcheck finds this listener, whatever set its address and scheme (serveRecord).
	if ready, err := readyURL(tlsFlags.scheme(), ln.Addr().String()); err == nil {
		if removeRecord, err := writeServeRecord(*dataDir, ready); err != nil {
			logger.Warn("could not record the address in the data directory: remoteassist healthcheck needs --url, or REMOTEASSIST_ADDR (and REMOTEASSIST_TLS) to say it", "error", err)
		} else {
			defer removeRecord()
		}
	}

	opsSide, err := startSide("operations listener", *opsAddr, srv.OpsHandler(), srv.SideLimits(server.OpsListener), logger, "paths", "/healthz /readyz /metrics /debug/pprof/")
	if err != nil {
		ln.Close()
		return err
	}
	admin, err := adminFlags.start(*dataDir, store, ctl, logger, base, srv.SideLimits(server.AdminListener))
	if err != nil {
		ln.Close()
		_ = opsSide.stop(context.Background())
		return err
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- serveOn(httpServer, ln, tlsConfig) }()
	// A side listener that stops serving (its Accept failed for good) ends serve as the API's
	// would, but with the API drained first: the probes or the admin API it served are gone,
	// which an orchestrator or a test suite must be told, by the exit status, rather than find
	// out at shutdown.
	var sideErr error
	select {
	case err := <-serveErr:
		return err
	case <-opsSide.failed():
		sideErr = opsSide.failure()
	case <-admin.failed():
		sideErr = admin.failure()
	case <-ctx.Done():
	}
	// From here on every log line is written at once: a second signal kills the process (see
	// main), and must not take the last lines with it.
	logSink.Close()
	if sideErr != nil {
		logger.Error("a listener failed: shutting down", "error", sideErr)
	}
	logger.Info("shutting down", "grace", *grace, "force", "send SIGINT or SIGTERM again to stop at once")
	closeBy = time.Now().Add(*grace)
	// Requests still sending their body are answered 503 at once instead of being waited for;
	// the others get the grace period, after which whatever is left is cut.
	srv.Drain()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), *grace)
	defer cancel()
	if err := httpServer.Shutdown(shutdownCtx); err != nil {
		logger.Warn("grace period over: closing the connections left", "error", err)
		srv.Cut(httpServer) // closes what is left; the requests it cuts are logged as 503s, not as 499s
	}
	// A side listener that failed while the API drained is reported too.
	for _, side := range []*sideServer{opsSide, admin} {
		if err := side.stop(shutdownCtx); sideErr == nil {
			sideErr = err
		}
	}
	if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return sideErr
}

// dataDirProblem adds what to do to an error of writing in the data directory that the
// process may not: the container image runs as 65532:65532, and a host directory bind-mounted
// at /data is not that user's unless chowned. Other errors are returned as they are.
func dataDirProblem(err error, dataDir string) error {
	var pe *fs.PathError
	if !errors.As(err, &pe) || !errors.Is(pe.Err, fs.ErrPermission) && !errors.Is(pe.Err, syscall.EROFS) {
		return err
	}
	dir, err1 := filepath.Abs(dataDir)
	path, err2 := filepath.Abs(pe.Path)
	if rel, err3 := filepath.Rel(dir, path); err1 != nil || err2 != nil || err3 != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return err
	}
	if errors.Is(pe.Err, syscall.EROFS) {
		return fmt.Errorf("%w; the data directory %s is on a read-only file system: mount it read-write (for a container, a volume or a bind mount without :ro), or give serve another with --data (REMOTEASSIST_DATA)",
			err, dataDir)
	}
	uid, gid := os.Getuid(), os.Getgid()
	return fmt.Errorf("%w; the data directory %s must be writable by uid %d, gid %d, which serve runs as: chown %d:%d the directory (on the host, for one bind-mounted into a container), or give serve another with --data (REMOTEASSIST_DATA)",
		err, dataDir, uid, gid, uid, gid)
}

// listenFlag is one of serve's listen addresses, with the flag and variable that set it and an
// example for the message that refuses it. An empty value is a listener left off, except for the
// API's (the first checkListenAddrs is given), which serve always opens.
type listenFlag struct {
	flag, env, value, example string
}

// checkListenAddrs refuses a listen address that net.Listen would refuse only once serve has
// started (a port that is not a number from 0 to 65535: service names such as "http" are
// refused too, as they depend on the machine's /etc/services, which the container image has
// not, and healthcheck could not build a URL of one), and two listeners on the same address and
// port, which could not both bind. A port 0 never conflicts: each listener gets a port of its
// own. The first address is the API's, which must be given.
func checkListenAddrs(fs *flag.FlagSet, addrs ...listenFlag) error {
	for i, a := range addrs {
		if a.value == "" && i > 0 {
			continue
		}
		if _, _, err := splitListenAddr(a.value); err != nil {
			return usageError{fmt.Errorf("%s %q: want HOST:PORT such as %s, the port a number from 0 to 65535", origin(fs, a.flag, a.env), a.value, a.example)}
		}
		for _, b := range addrs[:i] {
			if b.value != "" && sameListenAddr(a.value, b.value) {
				return usageError{fmt.Errorf("%s %q: want HOST:PORT such as %s, other than %s (%q)",
					origin(fs, a.flag, a.env), a.value, a.example, origin(fs, b.flag, b.env), b.value)}
			}
		}
	}
	return nil
}

// splitListenAddr splits a listen address, HOST:PORT, whose port must be a number from 0 to
// 65535. HOST may be empty (every interface).
func splitListenAddr(addr string) (host string, port int, err error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	if p == "" || len(p) > 5 || strings.Trim(p, "0123456789") != "" {
		return "", 0, fmt.Errorf("port %q is not a number", p)
	}
	if port, _ = strconv.Atoi(p); port > 65535 {
		return "", 0, fmt.Errorf("port %d is over 65535", port)
	}
	return host, port, nil
}

// sameListenAddr reports whether two listen addresses, which splitListenAddr accepts, cannot
// both be bound: the same port other than 0, on the same host or where either is every
// interface (empty, 0.0.0.0 or ::, which Go listens on for IPv4 and IPv6 alike). Names are
// compared as written: "localhost" and "127.0.0.1" are not found to be the same.
func sameListenAddr(a, b string) bool {
	ha, pa, _ := splitListenAddr(a)
	hb, pb, _ := splitListenAddr(b)
	if pa != pb || pa == 0 {
		return false
	}
	ipa, ipb := net.ParseIP(ha), net.ParseIP(hb)
	wildcard := func(h string, ip net.IP) bool { return h == "" || ip != nil && ip.IsUnspecified() }
	return wildcard(ha, ipa) || wildcard(hb, ipb) || strings.EqualFold(ha, hb) || ipa != nil && ipa.Equal(ipb)
}

// storeKind returns the kind of store a --store value names, for the log: "embedded",
// "memory" or "postgres"; "" if it names none.
func storeKind(url string) string {
	switch {
	case url == "":
		return "embedded"
	case url == "memory":
		return "memory"
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		return "postgres"
	}
	return ""
}

// openStore opens the store of that kind the --store value names and returns it and a function
// that closes it, giving what is in progress until a deadline (see openEmbedded). Opening
// PostgreSQL gives up after openTimeout (--store-open-timeout).
func openStore(ctx context.Context, kind, url, dataDir string, openTimeout time.Duration, logger *slog.Logger) (store remoteassist.Store, close func(time.Time), err error) {
	switch kind {
	case "embedded":
		return openEmbedded(dataDir, logger)
	case "memory":
		return memory.New(), func(time.Time) {}, nil
	case "postgres":
		ctx, cancel := context.WithTimeout(ctx, openTimeout)
		defer cancel()
		s, err := postgres.Open(ctx, url)
		if err != nil {
			return nil, nil, postgresStartError(url, err)
		}
		return s, func(time.Time) { s.Close() }, nil
	}
	return nil, nil, fmt.Errorf("unknown store kind %q", kind)
}

// parseOrigins reads --cors-origins: "*", "none", or a list of http(s) origins. Its errors start
// with the quoted value, for the caller to prefix with where the value came from.
func parseOrigins(v string) ([]string, error) {
	switch strings.TrimSpace(v) {
	case "*":
		return []string{"*"}, nil
	case "none":
		return []string{}, nil
	}
	var origins []string
	for o := range strings.SplitSeq(v, ",") {
		o = strings.TrimSpace(o)
		u, err := neturl.Parse(o)
		if err != nil || len(o) > 2048 || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") ||
			u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return nil, fmt.Errorf(`%q: want "*", "none" or origins such as "http://localhost:3000" (scheme, host and port only)`, v)
		}
		origins = append(origins, u.Scheme+"://"+u.Host)
	}
	return origins, nil
}

// redact hides the passwords of a value an error message shows, whatever its form, since it is
// shown because it is not what was wanted: a URL's user-info password (of a URL that does not
// parse too: "postgres//u:pw@h", " postgres://…"), and the value of a password or sslpassword
// in a URL's query or in libpq's keyword=value pairs (quoted or not). It may hide more than the
// password, never less: each kind of password is found in the value as given, and every span
// any of them covers is hidden, so that a password holding what delimits another ('@' in the
// query's password, "?password=" in the user-info's) cannot shift it.
func redact(v string) string {
	var spans [][2]int
	// The user-info is taken to end at the last '@' and to start after the first "//" before
	// it, or at the start: a password may hold any of "/?#@:" unescaped.
	if at := strings.LastIndexByte(v, '@'); at >= 0 {
		start := 0
		if i := strings.Index(v[:at], "//"); i >= 0 {
			start = i + 2
		}
		if colon := strings.IndexByte(v[start:at], ':'); colon >= 0 {
			spans = append(spans, [2]int{start + colon + 1, at})
		}
	}
	for _, re := range []*regexp.Regexp{queryPassword, keywordPassword} {
		for _, m := range re.FindAllStringSubmatchIndex(v, -1) {
			spans = append(spans, [2]int{m[6], m[7]}) // the value, group 3
		}
	}
	slices.SortFunc(spans, func(a, b [2]int) int { return a[0] - b[0] })
	var b strings.Builder
	end := 0 // of what is written
	for k := 0; k < len(spans); {
		from, to := spans[k][0], spans[k][1]
		for k++; k < len(spans) && spans[k][0] <= to; k++ {
			to = max(to, spans[k][1])
		}
		b.WriteString(v[end:from])
		b.WriteString("xxxxx")
		end = to
	}
	b.WriteString(v[end:])
	return b.String()
}

var (
	// queryPassword is a password in a URL's query: up to the next parameter.
	queryPassword = regexp.MustCompile(`([?&])((?i:(?:ssl)?password))=([^&#]*)`)
	// keywordPassword is a password among keyword=value pairs: a quoted value (backslash
	// escapes), or up to the next white space.
	keywordPassword = regexp.MustCompile(`(^|\s)((?i:(?:ssl)?password))\s*=\s*('(?:[^'\\]|\\.)*'?|\S*)`)
)

// newLogger returns a logger writing in the --log-format format to w. Its error starts with the
// quoted format, for the caller to prefix with where the value came from.
func newLogger(format string, w io.Writer) (*slog.Logger, error) {
	switch format {
	case "text":
		return slog.New(fastslog.NewTextHandler(w, nil)), nil
	case "json":
		return slog.New(fastslog.NewJSONHandler(w, nil)), nil
	}
	return nil, fmt.Errorf(`%q: want "text" or "json"`, format)
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r == '/' || r == '.' || r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// maxThrottleWindow bounds --throttle's window, and so every Retry-After throttling sends.
const maxThrottleWindow = time.Hour

// parseThrottle reads the --throttle flag (and REMOTEASSIST_THROTTLE, its default). Its errors
// start with the quoted value, for the caller to prefix with where the value came from.
//
// A count is at least 1. To the server a 0 is no limit, so "0,0,1s" would start a serve that
// throttles nothing while its command line says it does; no throttling is the empty value.
// Nothing is lost by the refusal: writes are requests too, so a WRITES equal to REQUESTS leaves
// writes to the requests' limit, and the three-part form has no per-application limits.
func parseThrottle(v string) (server.ThrottleConfig, error) {
	switch v {
	case "", "off":
		return server.ThrottleConfig{}, nil
	case "intune":
		return server.IntuneThrottle, nil
	}
	parts := strings.Split(v, ",")
	if len(parts) != 3 && len(parts) != 5 {
		return server.ThrottleConfig{}, fmt.Errorf(`%q: want "intune", "REQUESTS,WRITES,WINDOW" or "REQUESTS,WRITES,APP_REQUESTS,APP_WRITES,WINDOW"`, v)
	}
	limits := make([]int, len(parts)-1)
	var errs []error
	for i := range limits {
		n, err := strconv.Atoi(strings.TrimSpace(parts[i]))
		limits[i] = n
		errs = append(errs, err)
	}
	window, err := time.ParseDuration(strings.TrimSpace(parts[len(parts)-1]))
	if err := errors.Join(append(errs, err)...); err != nil || window <= 0 || window > maxThrottleWindow {
		return server.ThrottleConfig{}, fmt.Errorf(`%q: want "REQUESTS,WRITES,WINDOW" such as "100,10,1s", or "REQUESTS,WRITES,APP_REQUESTS,APP_WRITES,WINDOW", with a window of at most an hour`, v)
	}
	if slices.Min(limits) < 1 {
		return server.ThrottleConfig{}, fmt.Errorf(`%q: want counts of at least 1 (an empty value means no throttling)`, v)
	}
	cfg := server.ThrottleConfig{Window: window, Requests: limits[0], Writes: limits[1]}
	if len(limits) == 4 {
		cfg.AppRequests, cfg.AppWrites = limits[2], limits[3]
	}
	return cfg, nil
}
