package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// runHealthcheck GETs the readiness endpoint of a serve on this machine and succeeds on a 200:
// the container image's HEALTHCHECK, which has no curl. By default it asks the URL the serve of
// its data directory recorded once it listened (see serveRecord), which follows serve's --addr
// and --tls flags and the port a port 0 got; without one, the address of REMOTEASSIST_ADDR, as
// serve reads it.
//
// Every failure exits 1, a mistake in its flags or environment too (with the same one line):
// the README promises 0 or 1, and Docker reserves a HEALTHCHECK's exit status 2.
func runHealthcheck(ctx context.Context, args []string, stdout, _ io.Writer) error {
	err := healthcheck(ctx, args, stdout)
	if ue := (usageError{}); errors.As(err, &ue) {
		return &exitError{msg: "remoteassist healthcheck: " + ue.Error(), code: 1}
	}
	return err
}

func healthcheck(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet("healthcheck", "healthcheck [--url URL] [--data DIR] [--timeout 5s]",
		`  remoteassist healthcheck
  remoteassist healthcheck --url http://127.0.0.1:9090/readyz

In a Dockerfile or compose file: HEALTHCHECK CMD ["/remoteassist", "healthcheck"].
Exit status 0 when the URL answers 200, 1 otherwise (a mistake in the flags too: Docker
reserves 2).
`, stdout)
	addrEnv := os.Getenv("REMOTEASSIST_ADDR")
	addr := envOr("REMOTEASSIST_ADDR", "127.0.0.1:8080")
	url := fs.String("url", "", "URL to GET; default the one the serve of --data recorded when it started listening (its --addr and --tls, flags or not), else http://ADDR/readyz, ADDR from REMOTEASSIST_ADDR (0.0.0.0 and :: become loopback), https when REMOTEASSIST_TLS or REMOTEASSIST_TLS_CERT is set, else https and then http (the certificate not verified)")
	dataDir := fs.String("data", defaultDataDir(), "the data directory of the serve to ask, for the URL it recorded (env REMOTEASSIST_DATA)")
	timeout := fs.Duration("timeout", 5*time.Second, "give up after this long; must be positive")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *timeout <= 0 {
		return usageError{fmt.Errorf("--timeout must be positive")}
	}
	urls := []string{*url}
	if *url == "" {
		var err error
		if urls, err = defaultReadyURLs(*dataDir, addrEnv, addr); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	var code int
	var status string
	var err error
	asked := urls[0]
	for _, u := range urls {
		if code, status, err = probe(ctx, u); err == nil {
			asked = u
			break
		}
	}
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return &exitError{msg: fmt.Sprintf("unhealthy: GET %s: %s", asked, status), code: 1}
	}
	return nil
}

// defaultReadyURLs returns the URLs healthcheck asks without --url, in turn until one answers:
// the one the live serve of dataDir recorded, if it saw the same REMOTEASSIST_ADDR (addrEnv);
// else one made of addr, the variable's value or its default.
func defaultReadyURLs(dataDir, addrEnv, addr string) ([]string, error) {
	rec, err := findServeRecord(dataDir, addrEnv)
	if err != nil {
		return nil, usageError{err}
	}
	if rec != nil {
		return []string{rec.URL}, nil
	}
	u, err := readyURL("http", addr)
	if err != nil {
		return nil, usageError{fmt.Errorf("REMOTEASSIST_ADDR %q: want HOST:PORT such as 127.0.0.1:8080, the port a number from 0 to 65535 (or pass --url)", addr)}
	}
	if serveUsesTLS() {
		return []string{"https://" + strings.TrimPrefix(u, "http://")}, nil
	}
	// Without a record, serve's TLS may still come from its flags (a serve that could not write
	// its record), which the environment this runs in does not show: the URL is asked over https
	// first, which a plain port answers with net/http's 400 to bytes that are not HTTP, logging
	// nothing, and then over http. The other way round, a TLS port logged a handshake warning for
	// every probe.
	return []string{"https://" + strings.TrimPrefix(u, "http://"), u}, nil
}

// probe GETs url and returns the response's status code and line.
func probe(ctx context.Context, url string) (code int, status string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", usageError{fmt.Errorf("--url: %w", err)}
	}
	// No proxy: the endpoint is on this machine, whatever HTTP_PROXY says. Over https the
	// certificate is not verified: this probes the local process, whose certificate may be for
	// a public name rather than the loopback address asked.
	c := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true,
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // a local liveness probe
	res, err := c.Do(req)
	if err != nil {
		return 0, "", &exitError{msg: fmt.Sprintf("unhealthy: %v", err), code: 1}
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 4<<10))
	return res.StatusCode, res.Status, nil
}

// readyURL is the readiness URL of a serve listening on addr with scheme (http or https),
// reached from the same machine. addr is read as serve reads it (splitListenAddr).
func readyURL(scheme, addr string) (string, error) {
	host, port, err := splitListenAddr(addr)
	if err != nil {
		return "", err
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return scheme + "://" + net.JoinHostPort(host, strconv.Itoa(port)) + "/readyz", nil
}

// serveUsesTLS reports whether the environment makes serve speak HTTPS (REMOTEASSIST_TLS or
// REMOTEASSIST_TLS_CERT), so that the default URL is https.
func serveUsesTLS() bool {
	on, _ := strconv.ParseBool(os.Getenv("REMOTEASSIST_TLS"))
	return on || os.Getenv("REMOTEASSIST_TLS_CERT") != ""
}
