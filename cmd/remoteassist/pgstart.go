package main

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/remoteassist/remoteassist"
)

// postgresStartError is the line serve ends with when the PostgreSQL store does not open: what
// failed (connecting, or migrating the schema), where (host:port, database and user, never the
// password) and why, in pgx's words. postgres.Open's errors are the store's, made for the API:
// a *remoteassist.Error whose message ("The service is temporarily unavailable. Retry later.")
// is what a Graph client is told, and means nothing to the operator starting serve.
func postgresStartError(dsn string, err error) error {
	target, addrs := "PostgreSQL", []string(nil)
	if cfg, perr := pgxpool.ParseConfig(dsn); perr == nil {
		c := cfg.ConnConfig
		addrs = []string{pgAddr(c.Host, c.Port)}
		for _, f := range c.Fallbacks {
			if a := pgAddr(f.Host, f.Port); !slices.Contains(addrs, a) {
				addrs = append(addrs, a)
			}
		}
		target = fmt.Sprintf("PostgreSQL at %s (database %q, user %q)", strings.Join(addrs, ", "), c.Database, c.User)
	}
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) {
		// pgx's text quotes the URL with its password masked at its best, which a password
		// holding an unescaped '@' defeats: the URL is quoted by redact here, which hides
		// from the first ':' of the user-info to its last '@', and pgx's reason follows.
		reason := pe.Error()
		if i := strings.LastIndex(reason, "`: "); i >= 0 {
			reason = reason[i+len("`: "):]
		}
		return fmt.Errorf("PostgreSQL URL %s: %s", redact(dsn), pgOneLine(reason))
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return fmt.Errorf("connecting to %s: %s", target, connectReasons(ce, len(addrs) == 1))
	}
	var re *remoteassist.Error
	if errors.As(err, &re) && re.Err != nil {
		// Open wraps only the migration's errors so: the pool connects on first use.
		return fmt.Errorf("%s: migrating the schema: %s", target, pgOneLine(re.Err.Error()))
	}
	return fmt.Errorf("%s: %s", target, pgOneLine(strings.TrimPrefix(err.Error(), "postgres: ")))
}

// pgAddr is a host and port as pgx dials them: HOST:PORT, or a Unix socket's directory.
func pgAddr(host string, port uint16) string {
	if strings.HasPrefix(host, "/") {
		return host + "/.s.PGSQL." + strconv.Itoa(int(port))
	}
	return net.JoinHostPort(host, strconv.Itoa(int(port)))
}

// perDialPrefix is how pgx starts the error of one connection attempt: the address dialled and,
// in parentheses, the host name it came from.
var perDialPrefix = regexp.MustCompile(`^\S+ \(\S*\)$`)

// connectReasons lists, once each and on one line, why pgx's connection attempts failed (one
// for each host, and a second without TLS under sslmode=prefer or allow). Attempts that all
// name one address, the one the message names already, are given without it.
func connectReasons(ce *pgconn.ConnectError, oneAddr bool) string {
	type reason struct{ prefix, text string }
	var all []reason
	// walk adds the reasons of err, each after outer (what wraps them: "hostname resolving error").
	var walk func(err error, outer string)
	walk = func(err error, outer string) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e, outer)
			}
			return
		}
		text := err.Error()
		if inner := errors.Unwrap(err); inner != nil {
			if p, ok := strings.CutSuffix(text, ": "+inner.Error()); ok {
				if perDialPrefix.MatchString(p) {
					all = append(all, reason{p, outer + inner.Error()})
					return
				}
				if _, multi := inner.(interface{ Unwrap() []error }); multi {
					walk(inner, outer+p+": ")
					return
				}
			}
		}
		all = append(all, reason{"", outer + text})
	}
	walk(errors.Unwrap(ce), "")
	prefixes := map[string]bool{}
	for _, r := range all {
		prefixes[r.prefix] = true
	}
	var texts []string
	for _, r := range all {
		t := r.text
		if r.prefix != "" && (!oneAddr || len(prefixes) > 1) {
			t = r.prefix + ": " + t
		}
		if t = pgOneLine(t); !slices.Contains(texts, t) {
			texts = append(texts, t)
		}
	}
	if len(texts) == 0 {
		return pgOneLine(ce.Error())
	}
	return strings.Join(texts, "; ")
}

// pgOneLine joins the lines of a message (pgx indents the parts of a joined error) with "; ".
func pgOneLine(s string) string {
	var parts []string
	for line := range strings.SplitSeq(s, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			parts = append(parts, line)
		}
	}
	return strings.Join(parts, "; ")
}
