package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/remoteassist/remoteassist/internal/devca"
	"github.com/remoteassist/remoteassist/internal/tlsfiles"
)

// tlsFlags are serve's HTTPS settings: none (plain HTTP), a development CA made in the data
// directory (--tls), or a certificate and key from files (--tls-cert, --tls-key), reloaded
// when they change.
type tlsFlags struct {
	dev               bool
	certFile, keyFile string

	reloader *tlsfiles.Reloader // the files' pair, loaded by check
	dataCA   string             // the development CA's certificate, once config made it
}

func (f *tlsFlags) register(fs *flag.FlagSet, env *envDefaults) {
	fs.BoolVar(&f.dev, "tls", env.bool("tls", "REMOTEASSIST_TLS", false),
		"serve HTTPS and HTTP/2 with a development CA and a certificate for localhost, 127.0.0.1 and ::1, made in --data and reused (trust its ca.pem in clients) (env REMOTEASSIST_TLS)")
	fs.StringVar(&f.certFile, "tls-cert", envOr("REMOTEASSIST_TLS_CERT", ""),
		"serve HTTPS and HTTP/2 with the PEM certificate chain in this file, reloaded when it changes; needs --tls-key (env REMOTEASSIST_TLS_CERT)")
	fs.StringVar(&f.keyFile, "tls-key", envOr("REMOTEASSIST_TLS_KEY", ""),
		"the PEM private key of --tls-cert, reloaded with it (env REMOTEASSIST_TLS_KEY)")
}

// check refuses impossible combinations and certificate files that cannot be served, as usage
// errors naming the flag or variable and the file, before anything is created or listened on.
func (f *tlsFlags) check(fs *flag.FlagSet, logger *slog.Logger) error {
	certOrigin := origin(fs, "tls-cert", "REMOTEASSIST_TLS_CERT")
	keyOrigin := origin(fs, "tls-key", "REMOTEASSIST_TLS_KEY")
	switch {
	case f.dev && (f.certFile != "" || f.keyFile != ""):
		given := certOrigin
		if f.certFile == "" {
			given = keyOrigin
		}
		return usageError{fmt.Errorf("%s with %s: --tls makes its own certificate; give either --tls or --tls-cert and --tls-key",
			origin(fs, "tls", "REMOTEASSIST_TLS"), given)}
	case f.certFile != "" && f.keyFile == "":
		return usageError{fmt.Errorf("%s needs --tls-key (or REMOTEASSIST_TLS_KEY), the certificate's private key", certOrigin)}
	case f.keyFile != "" && f.certFile == "":
		return usageError{fmt.Errorf("%s needs --tls-cert (or REMOTEASSIST_TLS_CERT), the certificate of the key", keyOrigin)}
	case f.certFile == "":
		return nil
	}
	r, err := tlsfiles.NewReloader(f.certFile, f.keyFile, tlsfiles.Options{Logger: logger})
	var fe *tlsfiles.FileError
	if errors.As(err, &fe) {
		name := certOrigin
		if fe.Key {
			name = keyOrigin
		}
		return usageError{fmt.Errorf("%s %s", name, fe)}
	}
	if err != nil {
		return usageError{fmt.Errorf("%s: %w", certOrigin, err)}
	}
	f.reloader = r
	return nil
}

// enabled reports whether serve speaks TLS.
func (f *tlsFlags) enabled() bool { return f.dev || f.reloader != nil }

// scheme is the base URL's scheme.
func (f *tlsFlags) scheme() string {
	if f.enabled() {
		return "https"
	}
	return "http"
}

// config returns the server's TLS configuration, nil for plain HTTP. In development mode it
// makes or reuses the CA and the certificate in dataDir first.
func (f *tlsFlags) config(dataDir string, logger *slog.Logger) (*tls.Config, error) {
	if f.dev {
		files, err := devca.Ensure(dataDir, time.Now())
		if err != nil {
			return nil, err
		}
		if files.NewCA != "" {
			logger.Info("created a development CA: clients that trusted an earlier one must trust this ca.pem",
				"ca", files.CA, "why", files.NewCA)
		}
		if files.NewCert != "" {
			logger.Info("issued a certificate for localhost, 127.0.0.1 and ::1", "cert", files.Cert, "why", files.NewCert,
				"not_after", files.NotAfter.UTC().Format(time.RFC3339))
		}
		r, err := tlsfiles.NewReloader(files.Cert, files.CertKey, tlsfiles.Options{Logger: logger})
		if err != nil {
			return nil, err
		}
		f.reloader, f.dataCA = r, files.CA
	}
	if f.reloader == nil {
		return nil, nil
	}
	return tlsfiles.ServerConfig(f.reloader.GetCertificate), nil
}

// announce logs, after the base URL, what a client needs to verify the server.
func (f *tlsFlags) announce(logger *slog.Logger, base string) {
	leaf := f.reloader.Certificate().Leaf
	if f.dataCA == "" {
		logger.Info("TLS from files, reloaded when they change", "cert", f.certFile, "key", f.keyFile,
			"subject", leaf.Subject.String(), "not_after", leaf.NotAfter.UTC().Format(time.RFC3339))
		return
	}
	ca := shellQuote(f.dataCA)
	logger.Info("TLS with a development CA: trust "+f.dataCA+" to reach "+base, "ca", f.dataCA,
		"not_after", leaf.NotAfter.UTC().Format(time.RFC3339))
	// curl built on OpenSSL (Debian's) does not read SSL_CERT_FILE; it reads CURL_CA_BUNDLE.
	logger.Info("  Go, Python: SSL_CERT_FILE=" + ca + " (replaces their system CAs)")
	logger.Info("  curl: --cacert " + ca + ", or CURL_CA_BUNDLE=" + ca)
	logger.Info("  Node.js: NODE_EXTRA_CA_CERTS=" + ca)
	logger.Info("  remoteassist get/set: --ca-file " + ca + "; Go client: client.WithCAFile(" + strconv.Quote(f.dataCA) + ")")
}

// serveOn serves httpServer on ln, over TLS when cfg is not nil: HTTP/2 and HTTP/1.1 by ALPN.
// ln is the raw listener, under its connection cap (server.LimitTLSListener with the same cfg
// when TLS): ServeTLS puts the TLS listener over it, so that net/http gets the *tls.Conn it
// handshakes and negotiates HTTP/2 on.
func serveOn(httpServer *http.Server, ln net.Listener, cfg *tls.Config) error {
	if cfg == nil {
		return httpServer.Serve(ln)
	}
	httpServer.TLSConfig = cfg
	return httpServer.ServeTLS(ln, "", "")
}
