package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/remoteassist/remoteassist/jwtauth"
	"github.com/remoteassist/remoteassist/memory"
	"github.com/remoteassist/remoteassist/server"
)

// serveEnv lists every environment variable serve reads.
var serveEnv = []string{
	"REMOTEASSIST_ADDR", "REMOTEASSIST_DATA", "REMOTEASSIST_STORE", "REMOTEASSIST_LOG_FORMAT",
	"REMOTEASSIST_JWKS_URL", "REMOTEASSIST_JWKS_FILE", "REMOTEASSIST_ISSUER", "REMOTEASSIST_AUDIENCE",
	"REMOTEASSIST_TENANTS", "REMOTEASSIST_LEEWAY", "REMOTEASSIST_DEV_TOKENS", "REMOTEASSIST_THROTTLE",
	"REMOTEASSIST_MAX_CONCURRENT", "REMOTEASSIST_MAX_CONNECTIONS", "REMOTEASSIST_PROFILE", "REMOTEASSIST_SHUTDOWN_GRACE",
	"REMOTEASSIST_STORE_OPEN_TIMEOUT", "REMOTEASSIST_OPS_ADDR", "REMOTEASSIST_CORS_ORIGINS", "REMOTEASSIST_THROTTLE_RETRY_AFTER",
	"REMOTEASSIST_TLS", "REMOTEASSIST_TLS_CERT", "REMOTEASSIST_TLS_KEY",
	"REMOTEASSIST_ADMIN_ADDR", "REMOTEASSIST_ADMIN_TOKEN", "REMOTEASSIST_FAULT_PREFER", "REMOTEASSIST_JOURNAL_SIZE",
}

// clearServeEnv keeps the developer's own REMOTEASSIST_* settings out of a serve test.
func clearServeEnv(t *testing.T) {
	t.Helper()
	setServeEnv(t, nil)
}

// setServeEnv clears serve's environment variables, then sets env's for the rest of the test.
func setServeEnv(t *testing.T, env map[string]string) {
	t.Helper()
	for _, name := range serveEnv {
		t.Setenv(name, "")
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
}

// errNotListening is what the fake listen answers.
var errNotListening = errors.New("test: listening is not allowed here")

// fakeListen replaces listen for the rest of the test. A serve that gets as far as listening
// is recorded and told it cannot, so it returns at once and no port is ever bound. It returns
// the addresses serve asked to listen on.
func fakeListen(t *testing.T) *[]string {
	t.Helper()
	var asked []string
	orig := listen
	listen = func(network, addr string) (net.Listener, error) {
		asked = append(asked, addr)
		return nil, errNotListening
	}
	t.Cleanup(func() { listen = orig })
	return &asked
}

// assertRefused checks how a usage error must reach the user: exit 2, nothing on stdout, one
// line on stderr from the command that names what to fix.
func assertRefused(t *testing.T, cmd string, code int, stdout, stderr, want string) {
	t.Helper()
	if code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	if stdout != "" {
		t.Errorf("stdout %q, want nothing", stdout)
	}
	if !strings.HasPrefix(stderr, "remoteassist "+cmd+": ") || !strings.Contains(stderr, want) ||
		strings.Count(stderr, "\n") != 1 || !strings.HasSuffix(stderr, "\n") {
		t.Errorf("stderr %q, want one line from remoteassist %s containing %q", stderr, cmd, want)
	}
}

// assertNotCreated checks that a refused command left its data directory alone.
func assertNotCreated(t *testing.T, dataDir string) {
	t.Helper()
	if _, err := os.Stat(dataDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("data directory %s was created (%v)", dataDir, err)
	}
}

// TestServeRefusals checks every mistake serve refuses, in its flags and in its environment:
// each exits 2 with one line naming the flag or variable, before anything is created in the
// data directory and before anything listens.
func TestServeRefusals(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string // in stderr
		hide string // must not be in stderr
	}{
		{name: "unknown flag", args: []string{"--bogus"}, want: "flag provided but not defined: -bogus"},
		{name: "unexpected argument", args: []string{"extra"}, want: `unexpected argument "extra"`},
		{name: "max-concurrent not a number", args: []string{"--max-concurrent", "abc"}, want: `invalid value "abc" for flag -max-concurrent`},
		{name: "leeway not a duration", args: []string{"--leeway", "30"}, want: `invalid value "30" for flag -leeway`},
		{name: "dev-tokens not a boolean", args: []string{"--dev-tokens=maybe"}, want: `invalid boolean value "maybe" for -dev-tokens`},

		{name: "addr without a port", args: []string{"--addr", "localhost"}, want: `--addr "localhost": want HOST:PORT`},
		{name: "empty addr", args: []string{"--addr="}, want: `--addr "": want HOST:PORT`},
		{name: "REMOTEASSIST_ADDR without a port", env: map[string]string{"REMOTEASSIST_ADDR": "8080"}, want: `REMOTEASSIST_ADDR "8080": want HOST:PORT`},
		{name: "addr port not a number", args: []string{"--addr", "127.0.0.1:notaport"},
			want: `--addr "127.0.0.1:notaport": want HOST:PORT such as 127.0.0.1:8080, the port a number from 0 to 65535`},
		{name: "addr port over 65535", args: []string{"--addr", ":99999"}, want: `--addr ":99999": want HOST:PORT`},
		{name: "addr port of six digits", args: []string{"--addr", ":000080"}, want: `--addr ":000080": want HOST:PORT`},
		{name: "addr port signed", args: []string{"--addr", "127.0.0.1:+80"}, want: `--addr "127.0.0.1:+80": want HOST:PORT`},
		{name: "addr port negative", args: []string{"--addr", "127.0.0.1:-1"}, want: `--addr "127.0.0.1:-1": want HOST:PORT`},
		{name: "addr empty port", args: []string{"--addr", "127.0.0.1:"}, want: `--addr "127.0.0.1:": want HOST:PORT`},
		{name: "addr port a service name", args: []string{"--addr", "127.0.0.1:http"}, want: `--addr "127.0.0.1:http": want HOST:PORT`},
		{name: "REMOTEASSIST_ADDR port not a number", env: map[string]string{"REMOTEASSIST_ADDR": "127.0.0.1:notaport"},
			want: `REMOTEASSIST_ADDR "127.0.0.1:notaport": want HOST:PORT`},

		{name: "unknown store", args: []string{"--store", "memroy"}, want: `--store "memroy": want empty, "memory" or a postgres:// URL`},
		{name: "store of another database", args: []string{"--store", "mysql://app:s3cret@db/settings"},
			want: `--store "mysql://app:xxxxx@db/settings"`, hide: "s3cret"},
		{name: "REMOTEASSIST_STORE unknown", env: map[string]string{"REMOTEASSIST_STORE": "sqlite"}, want: `REMOTEASSIST_STORE "sqlite": want empty`},
		// A PostgreSQL DSN in a form --store does not take still names its password: never echoed.
		{name: "store as keyword=value pairs", args: []string{"--store", "host=127.0.0.1 user=app password=s3cret dbname=settings"},
			want: `--store "host=127.0.0.1 user=app password=xxxxx dbname=settings"`, hide: "s3cret"},
		{name: "store as keyword=value pairs, password quoted", env: map[string]string{"REMOTEASSIST_STORE": "host=127.0.0.1 password='s3 cret' dbname=settings"},
			want: `REMOTEASSIST_STORE "host=127.0.0.1 password=xxxxx dbname=settings"`, hide: "cret"},
		{name: "store URL after a space", args: []string{"--store", " postgres://app:s3cret@127.0.0.1/settings"},
			want: `--store " postgres://app:xxxxx@127.0.0.1/settings"`, hide: "s3cret"},
		{name: "store URL without its colon", args: []string{"--store", "postgres//app:s3cret@127.0.0.1/settings"},
			want: `--store "postgres//app:xxxxx@127.0.0.1/settings"`, hide: "s3cret"},
		{name: "store URL with its password in the query", args: []string{"--store", "pgsql://127.0.0.1/settings?user=app&password=s3cret"},
			want: `--store "pgsql://127.0.0.1/settings?user=app&password=xxxxx"`, hide: "s3cret"},
		{name: "store URL with an '@' in the query's password", args: []string{"--store", "pgsql://127.0.0.1:5432/settings?password=s3@cret-tail"},
			want: `--store "pgsql://127.0.0.1:xxxxx"`, hide: "cret-tail"},
		{name: "store URL with a query in the user-info's password", args: []string{"--store", "pgsql://app:a-head?password=s3cret@127.0.0.1/settings"},
			want: `--store "pgsql://app:xxxxx"`, hide: "a-head"},

		{name: "unknown log format", args: []string{"--log-format", "xml"}, want: `--log-format "xml": want "text" or "json"`},
		{name: "empty log format", args: []string{"--log-format="}, want: `--log-format "": want "text" or "json"`},
		{name: "log format in the wrong case", args: []string{"--log-format", "JSON"}, want: `--log-format "JSON"`},
		{name: "REMOTEASSIST_LOG_FORMAT unknown", env: map[string]string{"REMOTEASSIST_LOG_FORMAT": "yaml"}, want: `REMOTEASSIST_LOG_FORMAT "yaml": want "text" or "json"`},

		{name: "throttle by an unknown name", args: []string{"--throttle", "graph"}, want: `--throttle "graph": want "intune", "REQUESTS,WRITES,WINDOW" or`},
		{name: "throttle with two parts", args: []string{"--throttle", "100,10"}, want: `--throttle "100,10": want`},
		{name: "throttle with four parts", args: []string{"--throttle", "100,10,1s,1"}, want: `--throttle "100,10,1s,1": want`},
		{name: "throttle requests not a number", args: []string{"--throttle", "many,10,1s"}, want: `--throttle "many,10,1s": want "REQUESTS,WRITES,WINDOW" such as "100,10,1s"`},
		{name: "throttle writes not a number", args: []string{"--throttle", "100,x,1s"}, want: `--throttle "100,x,1s": want`},
		{name: "throttle window not a duration", args: []string{"--throttle", "100,10,1"}, want: `--throttle "100,10,1": want`},
		{name: "throttle negative requests", args: []string{"--throttle", "-1,10,1s"}, want: `--throttle "-1,10,1s": want`},
		{name: "throttle negative writes", args: []string{"--throttle", "100,-1,1s"}, want: `--throttle "100,-1,1s": want`},
		{name: "throttle of four numbers", args: []string{"--throttle", "1,2,3,1s"}, want: `--throttle "1,2,3,1s": want "intune"`},
		{name: "throttle negative app writes", args: []string{"--throttle", "100,10,50,-5,1s"}, want: `--throttle "100,10,50,-5,1s": want`},
		{name: "REMOTEASSIST_THROTTLE_RETRY_AFTER not a boolean", env: map[string]string{"REMOTEASSIST_THROTTLE_RETRY_AFTER": "no"}, want: `REMOTEASSIST_THROTTLE_RETRY_AFTER "no": want true or false`},
		{name: "throttle window over an hour", args: []string{"--throttle", "100,10,2h"}, want: `with a window of at most an hour`},
		{name: "throttle zero window", args: []string{"--throttle", "100,10,0s"}, want: `--throttle "100,10,0s": want`},
		{name: "throttle negative window", args: []string{"--throttle", "100,10,-1s"}, want: `--throttle "100,10,-1s": want`},
		{name: "REMOTEASSIST_THROTTLE malformed", env: map[string]string{"REMOTEASSIST_THROTTLE": "100/1s"}, want: `REMOTEASSIST_THROTTLE "100/1s": want`},
		// A count of 0 is no limit at all to the server: refused, not a silent "no throttling".
		{name: "throttle zero counts", args: []string{"--throttle", "0,0,1s"},
			want: `--throttle "0,0,1s": want counts of at least 1 (an empty value means no throttling)`},
		{name: "throttle zero writes", args: []string{"--throttle", "100,0,1s"}, want: `--throttle "100,0,1s": want counts of at least 1`},
		{name: "throttle zero requests", args: []string{"--throttle", "0,10,1s"}, want: `--throttle "0,10,1s": want counts of at least 1`},
		{name: "throttle zero app counts", args: []string{"--throttle", "2000,200,0,0,20s"}, want: `--throttle "2000,200,0,0,20s": want counts of at least 1`},
		{name: "throttle all five zero", args: []string{"--throttle", "0,0,0,0,1s"}, want: `--throttle "0,0,0,0,1s": want counts of at least 1`},
		{name: "throttle negative count", args: []string{"--throttle", "-5,10,1s"}, want: `--throttle "-5,10,1s": want counts of at least 1`},
		{name: "REMOTEASSIST_THROTTLE zero counts", env: map[string]string{"REMOTEASSIST_THROTTLE": "0,0,1s"},
			want: `REMOTEASSIST_THROTTLE "0,0,1s": want counts of at least 1 (an empty value means no throttling)`},

		{name: "unknown profile", args: []string{"--profile", "beta"}, want: `--profile "beta": want the profile documented or graph`},
		{name: "profile in the wrong case", args: []string{"--profile", "Graph"}, want: `--profile "Graph": want`},
		{name: "REMOTEASSIST_PROFILE unknown", env: map[string]string{"REMOTEASSIST_PROFILE": "v1.0"}, want: `REMOTEASSIST_PROFILE "v1.0": want`},
		{name: "ops-addr not HOST:PORT", args: []string{"--ops-addr", "9090"}, want: `--ops-addr "9090": want HOST:PORT`},
		{name: "ops-addr the API's address", args: []string{"--addr", "127.0.0.1:9", "--ops-addr", "127.0.0.1:9"},
			want: `--ops-addr "127.0.0.1:9": want HOST:PORT such as 127.0.0.1:9090, other than --addr ("127.0.0.1:9")`},
		{name: "ops-addr the API's port on every interface", args: []string{"--addr", "127.0.0.1:9", "--ops-addr", ":9"}, want: `--ops-addr ":9": want HOST:PORT such as 127.0.0.1:9090, other than --addr`},
		{name: "ops-addr the port of an API on every interface", args: []string{"--addr", "0.0.0.0:9", "--ops-addr", "[::1]:9"}, want: `other than --addr ("0.0.0.0:9")`},
		{name: "ops-addr port not a number", args: []string{"--ops-addr", "127.0.0.1:abc"},
			want: `--ops-addr "127.0.0.1:abc": want HOST:PORT such as 127.0.0.1:9090, the port a number from 0 to 65535`},
		{name: "ops-addr port over 65535", args: []string{"--ops-addr", "127.0.0.1:65536"}, want: `--ops-addr "127.0.0.1:65536": want HOST:PORT`},
		{name: "REMOTEASSIST_OPS_ADDR port not a number", env: map[string]string{"REMOTEASSIST_OPS_ADDR": "127.0.0.1:abc"}, want: `REMOTEASSIST_OPS_ADDR "127.0.0.1:abc": want HOST:PORT`},
		{name: "REMOTEASSIST_OPS_ADDR the address of REMOTEASSIST_ADDR", env: map[string]string{"REMOTEASSIST_ADDR": "127.0.0.1:9", "REMOTEASSIST_OPS_ADDR": "127.0.0.1:9"},
			want: `REMOTEASSIST_OPS_ADDR "127.0.0.1:9": want HOST:PORT such as 127.0.0.1:9090, other than REMOTEASSIST_ADDR ("127.0.0.1:9")`},
		{name: "cors origin with a path", args: []string{"--cors-origins", "http://localhost:3000/app"}, want: `--cors-origins "http://localhost:3000/app": want "*", "none" or origins`},
		{name: "cors origin without a scheme", args: []string{"--cors-origins", "localhost:3000"}, want: `--cors-origins "localhost:3000"`},
		{name: "REMOTEASSIST_CORS_ORIGINS empty entry", env: map[string]string{"REMOTEASSIST_CORS_ORIGINS": "http://a.test,,http://b.test"}, want: `REMOTEASSIST_CORS_ORIGINS "http://a.test,,http://b.test"`},
		{name: "admin-addr not HOST:PORT", args: []string{"--admin-addr", "8081"}, want: `--admin-addr "8081": want HOST:PORT`},
		{name: "admin-addr the API's", args: []string{"--addr", "127.0.0.1:9", "--admin-addr", "127.0.0.1:9"}, want: `--admin-addr "127.0.0.1:9": want HOST:PORT such as 127.0.0.1:8081, other than --addr ("127.0.0.1:9")`},
		{name: "admin-addr the ops listener's", args: []string{"--ops-addr", "127.0.0.1:9", "--admin-addr", "127.0.0.1:9"},
			want: `--admin-addr "127.0.0.1:9": want HOST:PORT such as 127.0.0.1:8081, other than --ops-addr ("127.0.0.1:9")`},
		{name: "admin-addr the ops listener's port on every interface", args: []string{"--ops-addr", "[::]:9", "--admin-addr", "localhost:9"}, want: `other than --ops-addr ("[::]:9")`},
		{name: "REMOTEASSIST_ADMIN_ADDR the address of REMOTEASSIST_OPS_ADDR", env: map[string]string{"REMOTEASSIST_OPS_ADDR": "127.0.0.1:9", "REMOTEASSIST_ADMIN_ADDR": "127.0.0.1:9"},
			want: `REMOTEASSIST_ADMIN_ADDR "127.0.0.1:9": want HOST:PORT such as 127.0.0.1:8081, other than REMOTEASSIST_OPS_ADDR ("127.0.0.1:9")`},
		{name: "admin-addr port not a number", args: []string{"--admin-addr", "127.0.0.1:abc"},
			want: `--admin-addr "127.0.0.1:abc": want HOST:PORT such as 127.0.0.1:8081, the port a number from 0 to 65535`},
		{name: "REMOTEASSIST_ADMIN_ADDR port over 65535", env: map[string]string{"REMOTEASSIST_ADMIN_ADDR": "127.0.0.1:70000"}, want: `REMOTEASSIST_ADMIN_ADDR "127.0.0.1:70000": want HOST:PORT`},
		{name: "admin token without admin-addr", args: []string{"--admin-token", "0123456789abcdef0123"}, want: "--admin-token without --admin-addr (or REMOTEASSIST_ADMIN_ADDR): there is no admin API to protect"},
		{name: "admin token without admin-addr, REMOTEASSIST_ADMIN_TOKEN set too", args: []string{"--admin-token", "0123456789abcdef0123"},
			env: map[string]string{"REMOTEASSIST_ADMIN_TOKEN": "0123456789abcdef0123"}, want: "--admin-token without --admin-addr"},
		{name: "admin token too short", args: []string{"--admin-addr", "127.0.0.1:0", "--admin-token", "short"}, want: "--admin-token: want at least 16 characters"},
		{name: "admin token blank", args: []string{"--admin-addr", "127.0.0.1:0", "--admin-token", "  "},
			env: map[string]string{"REMOTEASSIST_ADMIN_TOKEN": "0123456789abcdef0123"}, want: "--admin-token is blank"},
		{name: "REMOTEASSIST_ADMIN_TOKEN too short", args: []string{"--admin-addr", "127.0.0.1:0"}, env: map[string]string{"REMOTEASSIST_ADMIN_TOKEN": "short"},
			want: "REMOTEASSIST_ADMIN_TOKEN: want at least 16 characters"},
		{name: "REMOTEASSIST_ADMIN_TOKEN too short for REMOTEASSIST_ADMIN_ADDR", env: map[string]string{"REMOTEASSIST_ADMIN_ADDR": "127.0.0.1:0", "REMOTEASSIST_ADMIN_TOKEN": "short"},
			want: "REMOTEASSIST_ADMIN_TOKEN: want at least 16 characters"},
		{name: "zero journal", args: []string{"--journal-size", "0"}, want: "--journal-size 0: want a positive number"},
		{name: "zero admin body", args: []string{"--admin-max-body", "0"}, want: "--admin-max-body 0: want a positive number of bytes"},
		{name: "journal over the cap", args: []string{"--journal-size", "1000001"}, want: "--journal-size 1000001: want a positive number, at most 1000000"},
		{name: "REMOTEASSIST_FAULT_PREFER not a boolean", env: map[string]string{"REMOTEASSIST_FAULT_PREFER": "on"}, want: `REMOTEASSIST_FAULT_PREFER "on": want true or false`},
		{name: "zero shutdown grace", args: []string{"--shutdown-grace", "0s"}, want: "--shutdown-grace 0s: want a positive duration"},
		{name: "REMOTEASSIST_SHUTDOWN_GRACE not a duration", env: map[string]string{"REMOTEASSIST_SHUTDOWN_GRACE": "8"},
			want: `REMOTEASSIST_SHUTDOWN_GRACE "8": want a duration such as "30s" (or pass --shutdown-grace)`},
		{name: "zero store open timeout", args: []string{"--store-open-timeout", "0s"}, want: "--store-open-timeout 0s: want a positive duration such as 1m"},
		{name: "REMOTEASSIST_STORE_OPEN_TIMEOUT negative", env: map[string]string{"REMOTEASSIST_STORE_OPEN_TIMEOUT": "-1s"},
			want: "REMOTEASSIST_STORE_OPEN_TIMEOUT -1s: want a positive duration such as 1m"},
		{name: "REMOTEASSIST_STORE_OPEN_TIMEOUT not a duration", env: map[string]string{"REMOTEASSIST_STORE_OPEN_TIMEOUT": "60"},
			want: `REMOTEASSIST_STORE_OPEN_TIMEOUT "60": want a duration such as "30s" (or pass --store-open-timeout)`},

		{name: "negative leeway", args: []string{"--leeway", "-1s"}, want: "--leeway -1s: must not be negative (0 means no leeway)"},
		{name: "REMOTEASSIST_LEEWAY negative", env: map[string]string{"REMOTEASSIST_LEEWAY": "-30s"}, want: "REMOTEASSIST_LEEWAY -30s: must not be negative"},
		{name: "REMOTEASSIST_LEEWAY not a duration", env: map[string]string{"REMOTEASSIST_LEEWAY": "30"},
			want: `REMOTEASSIST_LEEWAY "30": want a duration such as "30s" (or pass --leeway)`},
		{name: "REMOTEASSIST_DEV_TOKENS not a boolean", env: map[string]string{"REMOTEASSIST_DEV_TOKENS": "yes"},
			want: `REMOTEASSIST_DEV_TOKENS "yes": want true or false (or pass --dev-tokens)`},
		{name: "REMOTEASSIST_MAX_CONCURRENT not a number", env: map[string]string{"REMOTEASSIST_MAX_CONCURRENT": "abc"},
			want: `REMOTEASSIST_MAX_CONCURRENT "abc": want an integer (or pass --max-concurrent)`},
		{name: "REMOTEASSIST_MAX_CONCURRENT with a unit", env: map[string]string{"REMOTEASSIST_MAX_CONCURRENT": "4k"}, want: `REMOTEASSIST_MAX_CONCURRENT "4k"`},
		{name: "REMOTEASSIST_MAX_CONNECTIONS not a number", env: map[string]string{"REMOTEASSIST_MAX_CONNECTIONS": "1.5"},
			want: `REMOTEASSIST_MAX_CONNECTIONS "1.5": want an integer (or pass --max-connections)`},

		{name: "jwks-url without issuer", args: []string{"--jwks-url", "https://login.example/keys"},
			want: "--jwks-url needs --issuer (or REMOTEASSIST_ISSUER), the issuers whose tokens to accept"},
		{name: "jwks-file without issuer", args: []string{"--jwks-file", "keys.json"}, want: "--jwks-file needs --issuer (or REMOTEASSIST_ISSUER)"},
		{name: "issuer of only commas", args: []string{"--jwks-url", "https://login.example/keys", "--issuer", " , "},
			want: `--issuer " , ": want the issuers to accept, comma-separated, as --jwks-url needs`},
		{name: "REMOTEASSIST_ISSUER of only commas", env: map[string]string{"REMOTEASSIST_JWKS_FILE": "keys.json", "REMOTEASSIST_ISSUER": ","},
			want: `REMOTEASSIST_ISSUER ",": want the issuers to accept, comma-separated, as REMOTEASSIST_JWKS_FILE needs`},
		{name: "REMOTEASSIST_JWKS_URL without issuer", env: map[string]string{"REMOTEASSIST_JWKS_URL": "https://login.example/keys"},
			want: "REMOTEASSIST_JWKS_URL needs --issuer (or REMOTEASSIST_ISSUER)"},
		{name: "REMOTEASSIST_JWKS_FILE without issuer", env: map[string]string{"REMOTEASSIST_JWKS_FILE": "keys.json"},
			want: "REMOTEASSIST_JWKS_FILE needs --issuer (or REMOTEASSIST_ISSUER)"},
		{name: "jwks-url not http", args: []string{"--jwks-url", "ftp://login.example/keys", "--issuer", "i"}, want: `--jwks-url "ftp://login.example/keys": want an http(s) URL`},
		{name: "jwks-url without a scheme", args: []string{"--jwks-url", "login.example/keys", "--issuer", "i"}, want: `--jwks-url "login.example/keys"`},
		{name: "REMOTEASSIST_JWKS_URL not http", env: map[string]string{"REMOTEASSIST_JWKS_URL": "file:///keys.json", "REMOTEASSIST_ISSUER": "i"},
			want: `REMOTEASSIST_JWKS_URL "file:///keys.json": want an http(s) URL`},

		{name: "tls not a boolean", args: []string{"--tls=yes"}, want: `invalid boolean value "yes" for -tls`},
		{name: "REMOTEASSIST_TLS not a boolean", env: map[string]string{"REMOTEASSIST_TLS": "on"},
			want: `REMOTEASSIST_TLS "on": want true or false (or pass --tls)`},
		{name: "tls with tls-cert", args: []string{"--tls", "--tls-cert", "c.pem", "--tls-key", "k.pem"},
			want: "--tls with --tls-cert: --tls makes its own certificate; give either --tls or --tls-cert and --tls-key"},
		{name: "tls with tls-key", args: []string{"--tls", "--tls-key", "k.pem"}, want: "--tls with --tls-key: --tls makes its own certificate"},
		{name: "REMOTEASSIST_TLS with REMOTEASSIST_TLS_CERT", env: map[string]string{"REMOTEASSIST_TLS": "true", "REMOTEASSIST_TLS_CERT": "c.pem", "REMOTEASSIST_TLS_KEY": "k.pem"},
			want: "REMOTEASSIST_TLS with REMOTEASSIST_TLS_CERT: --tls makes its own certificate"},
		{name: "tls-cert without tls-key", args: []string{"--tls-cert", "c.pem"}, want: "--tls-cert needs --tls-key (or REMOTEASSIST_TLS_KEY)"},
		{name: "tls-key without tls-cert", args: []string{"--tls-key", "k.pem"}, want: "--tls-key needs --tls-cert (or REMOTEASSIST_TLS_CERT)"},
		{name: "REMOTEASSIST_TLS_CERT without a key", env: map[string]string{"REMOTEASSIST_TLS_CERT": "c.pem"}, want: "REMOTEASSIST_TLS_CERT needs --tls-key"},
		{name: "empty tls-key", args: []string{"--tls-cert", "c.pem", "--tls-key="}, want: "--tls-cert needs --tls-key"},
		{name: "tls-cert missing", args: []string{"--tls-cert", "/nonexistent/cert.pem", "--tls-key", "/nonexistent/key.pem"},
			want: "--tls-cert /nonexistent/cert.pem: no such file or directory"},
		{name: "REMOTEASSIST_TLS_CERT missing", env: map[string]string{"REMOTEASSIST_TLS_CERT": "/nonexistent/cert.pem", "REMOTEASSIST_TLS_KEY": "/nonexistent/key.pem"},
			want: "REMOTEASSIST_TLS_CERT /nonexistent/cert.pem: no such file or directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			setServeEnv(t, tc.env)
			asked := fakeListen(t)
			dataDir := filepath.Join(t.TempDir(), "data")
			args := []string{"serve", "--data", dataDir}
			if tc.env["REMOTEASSIST_ADDR"] == "" {
				// Should the refusal be missed, serve must not try the default port.
				args = append(args, "--addr", "127.0.0.1:0")
			}
			code, stdout, stderr := runCLI(t.Context(), append(args, tc.args...)...)
			assertRefused(t, "serve", code, stdout, stderr, tc.want)
			if tc.hide != "" && strings.Contains(stderr, tc.hide) {
				t.Errorf("stderr %q shows %q", stderr, tc.hide)
			}
			if len(*asked) != 0 {
				t.Errorf("serve went on to listen on %q", *asked)
			}
			assertNotCreated(t, dataDir)
		})
	}
}

// TestServeAccepts checks values near the refused ones that serve must accept: each gets as far
// as listening, on the address expected. The fake listen fails, so each exits 1.
func TestServeAccepts(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		wantAddr string
	}{
		{name: "no flags", wantAddr: "127.0.0.1:8080"},
		{name: "addr flag", args: []string{"--addr", "127.0.0.1:0"}, wantAddr: "127.0.0.1:0"},
		{name: "addr without a host", args: []string{"--addr", ":0"}, wantAddr: ":0"},
		{name: "addr port 65535", args: []string{"--addr", "127.0.0.1:65535"}, wantAddr: "127.0.0.1:65535"},
		{name: "addr of IPv6 loopback", args: []string{"--addr", "[::1]:0"}, wantAddr: "[::1]:0"},
		{name: "addr, ops-addr and admin-addr all port 0", args: []string{"--addr", "127.0.0.1:0", "--ops-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"}, wantAddr: "127.0.0.1:0"},
		{name: "ops-addr the API's port on another host", args: []string{"--addr", "127.0.0.1:9", "--ops-addr", "[::1]:9"}, wantAddr: "127.0.0.1:9"},
		{name: "REMOTEASSIST_ADDR", env: map[string]string{"REMOTEASSIST_ADDR": "127.0.0.1:9"}, wantAddr: "127.0.0.1:9"},
		{name: "addr flag wins over REMOTEASSIST_ADDR", args: []string{"--addr", "127.0.0.1:0"}, env: map[string]string{"REMOTEASSIST_ADDR": "nonsense"}, wantAddr: "127.0.0.1:0"},
		{name: "memory store and json log", args: []string{"--store", "memory", "--log-format", "json"}},
		{name: "intune throttle", args: []string{"--throttle", "intune"}},
		{name: "throttle per application, no Retry-After", args: []string{"--throttle", "2000,200,1000,100,20s", "--throttle-retry-after=false"}},
		{name: "throttle off", args: []string{"--throttle", "off"}},
		{name: "throttle with spaces", args: []string{"--throttle", " 100, 10 , 1ms"}},
		{name: "throttle of counts 1", args: []string{"--throttle", "1,1,1,1,1h"}},
		{name: "REMOTEASSIST_THROTTLE empty", env: map[string]string{"REMOTEASSIST_THROTTLE": ""}},
		{name: "empty throttle", args: []string{"--throttle="}},
		{name: "leeway zero", args: []string{"--leeway", "0"}},
		{name: "graph profile", args: []string{"--profile", "graph"}},
		{name: "store open timeout", args: []string{"--store-open-timeout", "5s"}, env: map[string]string{"REMOTEASSIST_STORE_OPEN_TIMEOUT": "2m"}},
		{name: "cors origins", args: []string{"--cors-origins", "http://localhost:3000, https://app.contoso.com/"}},
		{name: "cors none", args: []string{"--cors-origins", "none"}},
		{name: "REMOTEASSIST_PROFILE", env: map[string]string{"REMOTEASSIST_PROFILE": "graph", "REMOTEASSIST_SHUTDOWN_GRACE": "1s"}},
		{name: "max-concurrent zero and negative", args: []string{"--max-concurrent", "0", "--max-connections", "-1"}},
		{name: "environment", env: map[string]string{
			"REMOTEASSIST_LEEWAY": "0s", "REMOTEASSIST_DEV_TOKENS": "true", "REMOTEASSIST_MAX_CONCURRENT": "-1",
			"REMOTEASSIST_MAX_CONNECTIONS": "0", "REMOTEASSIST_THROTTLE": "intune", "REMOTEASSIST_LOG_FORMAT": "json",
		}},
		// The variable remoteassist admin reads too: without an admin address serve ignores it.
		{name: "REMOTEASSIST_ADMIN_TOKEN without admin-addr", env: map[string]string{"REMOTEASSIST_ADMIN_TOKEN": "0123456789abcdef0123"}},
		{name: "REMOTEASSIST_ADMIN_TOKEN too short without admin-addr", env: map[string]string{"REMOTEASSIST_ADMIN_TOKEN": "short"}},
		{name: "flags win over malformed variables", args: []string{
			"--max-concurrent", "10", "--max-connections", "10", "--leeway", "1s", "--dev-tokens=false",
			"--store", "memory", "--log-format", "text", "--throttle", "intune",
		}, env: map[string]string{
			"REMOTEASSIST_MAX_CONCURRENT": "abc", "REMOTEASSIST_MAX_CONNECTIONS": "abc", "REMOTEASSIST_LEEWAY": "-1s",
			"REMOTEASSIST_DEV_TOKENS": "maybe", "REMOTEASSIST_STORE": "sqlite", "REMOTEASSIST_LOG_FORMAT": "xml",
			"REMOTEASSIST_THROTTLE": "bogus",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			setServeEnv(t, tc.env)
			asked := fakeListen(t)
			args := append([]string{"serve", "--data", t.TempDir()}, tc.args...)
			code, stdout, stderr := runCLI(t.Context(), args...)
			if code != 1 || stdout != "" || stderr != "remoteassist serve: "+errNotListening.Error()+"\n" {
				t.Errorf("exit %d, stdout %q, stderr %q; want 1 from the fake listen", code, stdout, stderr)
			}
			want := tc.wantAddr
			if want == "" {
				want = "127.0.0.1:8080"
			}
			if len(*asked) != 1 || (*asked)[0] != want {
				t.Errorf("listened on %q, want %q", *asked, want)
			}
		})
	}
}

// TestLeeway checks what --leeway means: the default is jwtauth's 30s, 0 is no leeway at all
// (not jwtauth's default), and REMOTEASSIST_LEEWAY sets it when the flag does not.
func TestLeeway(t *testing.T) {
	dataDir := t.TempDir()
	key, err := jwtauth.LoadOrCreateKey(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	// Valid from 10 seconds from now: accepted only with a leeway of more than 10s.
	early, err := key.Mint(jwtauth.TokenSpec{Tenant: "t", Subject: "s", Scopes: []string{defaultScopes}, NotBefore: time.Now().Add(10 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		args   []string
		env    string // REMOTEASSIST_LEEWAY
		accept bool
	}{
		{name: "default", accept: true},
		{name: "zero is none", args: []string{"--leeway", "0"}, accept: false},
		{name: "zero seconds is none", args: []string{"--leeway=0s"}, accept: false},
		{name: "five seconds", args: []string{"--leeway", "5s"}, accept: false},
		{name: "twenty seconds", args: []string{"--leeway", "20s"}, accept: true},
		{name: "REMOTEASSIST_LEEWAY zero is none", env: "0", accept: false},
		{name: "REMOTEASSIST_LEEWAY", env: "1m", accept: true},
		{name: "flag wins over REMOTEASSIST_LEEWAY", args: []string{"--leeway", "0"}, env: "1m", accept: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clearServeEnv(t)
			t.Setenv("REMOTEASSIST_LEEWAY", tc.env)
			var env envDefaults
			var a authFlags
			fs := flag.NewFlagSet("serve", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			a.register(fs, &env)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			if err := env.check(fs); err != nil {
				t.Fatal(err)
			}
			if err := a.check(fs); err != nil {
				t.Fatal(err)
			}
			v, _, err := a.verifier(dataDir, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = v.Authenticate(t.Context(), early)
			if accepted := err == nil; accepted != tc.accept {
				t.Errorf("token valid in 10s: accepted %v (%v), want %v", accepted, err, tc.accept)
			}
		})
	}
}

// TestDevTokensEnvironment checks that REMOTEASSIST_DEV_TOKENS does what --dev-tokens does.
func TestDevTokensEnvironment(t *testing.T) {
	for _, tc := range []struct {
		env  string
		args []string
		want bool
	}{
		{"", nil, false},
		{"true", nil, true},
		{"1", nil, true},
		{"false", nil, false},
		{"true", []string{"--dev-tokens=false"}, false},
		{"", []string{"--dev-tokens"}, true},
	} {
		clearServeEnv(t)
		t.Setenv("REMOTEASSIST_DEV_TOKENS", tc.env)
		var env envDefaults
		var a authFlags
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		a.register(fs, &env)
		if err := fs.Parse(tc.args); err != nil || env.check(fs) != nil {
			t.Fatalf("REMOTEASSIST_DEV_TOKENS=%q %v: %v %v", tc.env, tc.args, err, env.check(fs))
		}
		if a.devTokens != tc.want {
			t.Errorf("REMOTEASSIST_DEV_TOKENS=%q %v: dev tokens %v, want %v", tc.env, tc.args, a.devTokens, tc.want)
		}
	}
}

// TestTokenRefusals checks every mistake token refuses: each exits 2 with one line naming the
// flag, before a signing key is created.
func TestTokenRefusals(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no tenant", nil, "--tenant is required"},
		{"empty tenant", []string{"--tenant="}, "--tenant is required"},
		{"blank tenant", []string{"--tenant", " \t"}, "--tenant is required"},
		{"zero ttl", []string{"--tenant", "t", "--ttl", "0s"}, "--ttl must be positive"},
		{"negative ttl", []string{"--tenant", "t", "--ttl", "-1h"}, "--ttl must be positive"},
		{"ttl not a duration", []string{"--tenant", "t", "--ttl", "60"}, `invalid value "60" for flag -ttl`},
		{"tenant too long", []string{"--tenant", strings.Repeat("t", 257)}, "--tenant has 257 characters: want at most 256"},
		{"tenant too long in characters, not bytes", []string{"--tenant", strings.Repeat("é", 257)}, "--tenant has 257 characters: want at most 256"},
		{"app too long", []string{"--tenant", "t", "--app", strings.Repeat("a", 300)}, "--app has 300 characters: want at most 256"},
		{"subject makes the token too large", []string{"--tenant", "t", "--subject", strings.Repeat("s", 9000)},
			"--subject makes the token "},
		{"scopes make the token too large", []string{"--tenant", "t", "--scopes", strings.Repeat("Scope.Read ", 2000)},
			"--scopes makes the token "},
		{"roles make the token too large", []string{"--tenant", "t", "--roles", strings.Repeat("Role.Read ", 2000)},
			"--roles makes the token "},
		{"the largest flag is named", []string{"--tenant", "t", "--subject", strings.Repeat("s", 4000), "--roles", strings.Repeat("R ", 5000)},
			"--roles makes the token "},
		{"unknown flag", []string{"--tenant", "t", "--sub", "x"}, "flag provided but not defined: -sub"},
		{"unexpected argument", []string{"--tenant", "t", "extra"}, `unexpected argument "extra"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dataDir := filepath.Join(t.TempDir(), "data")
			code, stdout, stderr := runCLI(t.Context(), append([]string{"token", "--data", dataDir}, tc.args...)...)
			assertRefused(t, "token", code, stdout, stderr, tc.want)
			assertNotCreated(t, dataDir)
		})
	}
}

// TestTokenNewKey checks token on a data directory without a signing key, such as a mistyped
// --data: it makes the key (the first use may come before serve's), prints the token alone on
// stdout for $(...), and says on stderr, in one line, that only a server on that directory
// accepts it. With the key there, it says nothing.
func TestTokenNewKey(t *testing.T) {
	t.Setenv("REMOTEASSIST_DATA", "")
	for _, tc := range []struct {
		name string
		dir  func(t *testing.T) string
	}{
		{"missing directory", func(t *testing.T) string { return filepath.Join(t.TempDir(), "typo") }},
		{"empty directory", func(t *testing.T) string { return t.TempDir() }},
		{"relative directory", func(t *testing.T) string { t.Chdir(t.TempDir()); return "data" }},
		{"directory named by REMOTEASSIST_DATA", func(t *testing.T) string {
			dir := filepath.Join(t.TempDir(), "env")
			t.Setenv("REMOTEASSIST_DATA", dir)
			return ""
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dataDir := tc.dir(t)
			args := []string{"token", "--tenant", "contoso"}
			if dataDir != "" {
				args = append(args, "--data", dataDir)
			} else {
				dataDir = os.Getenv("REMOTEASSIST_DATA")
			}
			abs, err := filepath.Abs(dataDir)
			if err != nil {
				t.Fatal(err)
			}
			code, stdout, stderr := runCLI(t.Context(), args...)
			if code != 0 || strings.Count(stdout, "\n") != 1 || strings.Count(strings.TrimSpace(stdout), ".") != 2 {
				t.Fatalf("exit %d, stdout %q; want 0 and the token alone", code, stdout)
			}
			want := "remoteassist token: created a new signing key at " + filepath.Join(abs, jwtauth.KeyFile) +
				"; only a server using --data " + abs + " accepts this token\n"
			if stderr != want {
				t.Errorf("stderr %q, want %q", stderr, want)
			}
			key, err := jwtauth.LoadOrCreateKey(dataDir)
			if err != nil {
				t.Fatal(err)
			}
			v, err := jwtauth.NewDevVerifier(key)
			if err != nil {
				t.Fatal(err)
			}
			if p, err := v.Authenticate(t.Context(), strings.TrimSpace(stdout)); err != nil || p.Tenant != "contoso" {
				t.Errorf("the token is not the new key's: %+v, %v", p, err)
			}

			code, stdout, stderr = runCLI(t.Context(), args...)
			if code != 0 || stderr != "" || strings.Count(stdout, "\n") != 1 {
				t.Errorf("with the key there: exit %d, stdout %q, stderr %q; want 0, the token and nothing on stderr", code, stdout, stderr)
			}
		})
	}
}

// TestTokenLongestIDs checks that the longest tenant and application ids a server accepts are
// accepted here too, counted in characters.
func TestTokenLongestIDs(t *testing.T) {
	dataDir := t.TempDir()
	if _, err := jwtauth.LoadOrCreateKey(dataDir); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"--tenant", strings.Repeat("t", 256)},
		{"--tenant", strings.Repeat("é", 256), "--app", strings.Repeat("é", 256)},
		{"--tenant", "t", "--app", " " + strings.Repeat("a", 256) + " "}, // --app is trimmed
		{"--tenant", " " + strings.Repeat("t", 256) + " "},               // and so is --tenant
	} {
		code, stdout, stderr := runCLI(t.Context(), append([]string{"token", "--data", dataDir}, args...)...)
		if code != 0 || stderr != "" || strings.Count(stdout, "\n") != 1 {
			t.Errorf("%.40q: exit %d, stdout %q, stderr %q; want 0 and a token", args, code, stdout, stderr)
		}
	}
}

// TestTokenSizeBound checks that token's bound on a token's size is the server's, exactly: the
// largest token it makes (--scopes grown a byte at a time) is answered 200 by a server with
// serve's limits (its 32 KiB of headers and its verifier's 16 KiB of token), and the token one
// byte of --scopes longer, which it refuses, naming the flag, is refused by that server too.
func TestTokenSizeBound(t *testing.T) {
	dataDir := t.TempDir()
	key, err := jwtauth.LoadOrCreateKey(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := jwtauth.NewDevVerifier(key)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Store: memory.New(), Authenticator: verifier})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(srv)
	ts.Config = server.NewHTTPServer(srv, server.DefaultLimits, nil)
	ts.Start()
	t.Cleanup(ts.Close)
	get := func(tok string) int {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, ts.URL+server.BasePath+"/deviceManagement/remoteAssistanceSettings", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	scopes := func(n int) string { return defaultScopes + " " + strings.Repeat("s", n) }
	token := func(n int) (int, string, string) {
		return runCLI(t.Context(), "token", "--data", dataDir, "--tenant", "contoso", "--scopes", scopes(n))
	}
	// The largest n whose token is made: n = 0 makes one, n = 16 KiB cannot.
	lo, hi := 0, jwtauth.MaxTokenSize
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if code, _, _ := token(mid); code == 0 {
			lo = mid
		} else {
			hi = mid
		}
	}
	code, stdout, stderr := token(lo)
	if code != 0 || stderr != "" {
		t.Fatalf("--scopes of %d bytes: exit %d, stderr %q", len(scopes(lo)), code, stderr)
	}
	if status := get(strings.TrimSpace(stdout)); status != http.StatusOK {
		t.Errorf("the largest token token makes (%d bytes) is answered %d, want 200", len(strings.TrimSpace(stdout)), status)
	}

	code, stdout, stderr = token(hi)
	tooLarge, err := key.Mint(jwtauth.TokenSpec{Tenant: "contoso", Subject: "cli-contoso", Scopes: strings.Fields(scopes(hi)), TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	assertRefused(t, "token", code, stdout, stderr, fmt.Sprintf("--scopes makes the token %d bytes: want at most %d, as a server refuses a larger token",
		len(tooLarge), jwtauth.MaxTokenSize))
	if status := get(tooLarge); status != http.StatusUnauthorized {
		t.Errorf("the token one byte of --scopes past the largest (%d bytes) is answered %d, want 401", len(tooLarge), status)
	}
}

// TestTokenSubject checks --subject and its default, and that the tenant is the one meant.
func TestTokenSubject(t *testing.T) {
	dataDir := t.TempDir()
	// The key already there, as for a running serve, so that token writes nothing on stderr.
	if _, err := jwtauth.LoadOrCreateKey(dataDir); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--tenant", "contoso"}, "cli-contoso"},
		{[]string{"--tenant", "contoso", "--subject", "alice", "--ttl", "10m"}, "alice"},
		{[]string{"--tenant", " contoso\t"}, "cli-contoso"}, // --tenant is trimmed, as --app is
	} {
		code, stdout, stderr := runCLI(t.Context(), append([]string{"token", "--data", dataDir}, tc.args...)...)
		if code != 0 || stderr != "" || strings.Count(stdout, "\n") != 1 {
			t.Fatalf("%v: exit %d, stdout %q, stderr %q", tc.args, code, stdout, stderr)
		}
		parts := strings.Split(strings.TrimSpace(stdout), ".")
		if len(parts) != 3 {
			t.Fatalf("%v: not a JWT: %q", tc.args, stdout)
		}
		payload, err := base64.RawURLEncoding.DecodeString(parts[1])
		if err != nil {
			t.Fatal(err)
		}
		var claims struct{ Sub, Oid, Tid string }
		if err := json.Unmarshal(payload, &claims); err != nil {
			t.Fatal(err)
		}
		if claims.Sub != tc.want || claims.Oid != tc.want || claims.Tid != "contoso" {
			t.Errorf("%v: sub %q oid %q tid %q, want sub and oid %q", tc.args, claims.Sub, claims.Oid, claims.Tid, tc.want)
		}
	}
}

// TestServeTLSRefusals checks that certificate files serve cannot use are refused like any other
// mistake (exit 2, one line naming the flag or variable, the file and the reason, nothing created,
// nothing listened on), and that a good pair and --tls get as far as listening.
func TestServeTLSRefusals(t *testing.T) {
	fx := newTLSFixtures(t)
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"certificate missing", []string{"--tls-cert", fx.path("missing.pem"), "--tls-key", fx.key}, nil,
			"--tls-cert " + fx.path("missing.pem") + ": no such file or directory"},
		{"key missing", []string{"--tls-cert", fx.cert, "--tls-key", fx.path("missing.pem")}, nil,
			"--tls-key " + fx.path("missing.pem") + ": no such file or directory"},
		{"certificate unreadable (a directory)", []string{"--tls-cert", fx.dir, "--tls-key", fx.key}, nil,
			"--tls-cert " + fx.dir + ": is a directory"},
		{"certificate empty", []string{"--tls-cert", fx.path("empty.pem"), "--tls-key", fx.key}, nil,
			"--tls-cert " + fx.path("empty.pem") + ": the file is empty"},
		{"certificate not PEM", []string{"--tls-cert", fx.path("garbage.pem"), "--tls-key", fx.key}, nil,
			"--tls-cert " + fx.path("garbage.pem") + ": not PEM"},
		{"key not PEM", []string{"--tls-cert", fx.cert, "--tls-key", fx.path("garbage.pem")}, nil,
			"--tls-key " + fx.path("garbage.pem") + ": not PEM"},
		{"files swapped", []string{"--tls-cert", fx.key, "--tls-key", fx.cert}, nil,
			"--tls-cert " + fx.key + ": no CERTIFICATE block (found PRIVATE KEY)"},
		{"key of another certificate", []string{"--tls-cert", fx.cert, "--tls-key", fx.otherKey}, nil,
			"--tls-key " + fx.otherKey + ": the key does not match the certificate in " + fx.cert},
		{"expired", []string{"--tls-cert", fx.expired, "--tls-key", fx.expiredKey}, nil,
			"--tls-cert " + fx.expired + ": the certificate expired on "},
		{"REMOTEASSIST_TLS_KEY of another certificate", nil, map[string]string{"REMOTEASSIST_TLS_CERT": fx.cert, "REMOTEASSIST_TLS_KEY": fx.otherKey},
			"REMOTEASSIST_TLS_KEY " + fx.otherKey + ": the key does not match"},
		{"flag names the file when the variable is overridden", []string{"--tls-cert", fx.expired},
			map[string]string{"REMOTEASSIST_TLS_CERT": fx.cert, "REMOTEASSIST_TLS_KEY": fx.expiredKey},
			"--tls-cert " + fx.expired + ": the certificate expired on "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			setServeEnv(t, tc.env)
			asked := fakeListen(t)
			dataDir := filepath.Join(t.TempDir(), "data")
			args := append([]string{"serve", "--data", dataDir, "--addr", "127.0.0.1:0"}, tc.args...)
			code, stdout, stderr := runCLI(t.Context(), args...)
			assertRefused(t, "serve", code, stdout, stderr, tc.want)
			if len(*asked) != 0 {
				t.Errorf("serve went on to listen on %q", *asked)
			}
			assertNotCreated(t, dataDir)
		})
	}

	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"a good pair", []string{"--tls-cert", fx.cert, "--tls-key", fx.key}, nil},
		{"a good pair from the environment", nil, map[string]string{"REMOTEASSIST_TLS_CERT": fx.cert, "REMOTEASSIST_TLS_KEY": fx.key}},
		{"tls", []string{"--tls"}, nil},
		{"REMOTEASSIST_TLS", nil, map[string]string{"REMOTEASSIST_TLS": "true"}},
		{"tls=false with a pair", []string{"--tls=false", "--tls-cert", fx.cert, "--tls-key", fx.key}, nil},
	} {
		t.Run("accepts "+tc.name, func(t *testing.T) {
			setServeEnv(t, tc.env)
			asked := fakeListen(t)
			args := append([]string{"serve", "--data", t.TempDir(), "--addr", "127.0.0.1:0"}, tc.args...)
			code, stdout, stderr := runCLI(t.Context(), args...)
			if code != 1 || stdout != "" || !strings.HasSuffix(stderr, "remoteassist serve: "+errNotListening.Error()+"\n") {
				t.Errorf("exit %d, stdout %q, stderr %q; want 1 from the fake listen", code, stdout, stderr)
			}
			if len(*asked) != 1 {
				t.Errorf("listened on %q, want one address", *asked)
			}
		})
	}
}
