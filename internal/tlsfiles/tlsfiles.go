// Package tlsfiles serves a TLS certificate and key from files: it checks a pair before a
// server listens, so that a bad file is refused with its name and the reason, and it reloads
// the pair when the files change, for new handshakes, without a restart and without touching
// the connections already open.
package tlsfiles

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// NotBeforeLeeway is how far in the future a certificate's NotBefore may be and still be
// accepted: a certificate made a moment ago on a machine whose clock runs a little ahead.
const NotBeforeLeeway = 5 * time.Minute

// DefaultCheckInterval is how often, at most, a Reloader looks at its files.
const DefaultCheckInterval = time.Second

// FileError says why a certificate or key file cannot be served.
type FileError struct {
	// Key is true when the key file is at fault, false for the certificate file.
	Key bool
	// Path is the file's name, as given.
	Path string
	// Reason says what is wrong, in a few words: "no such file or directory",
	// "not PEM", "expired on 2026-01-02T03:04:05Z", ...
	Reason string
}

func (e *FileError) Error() string { return e.Path + ": " + e.Reason }

// Load reads a certificate chain and its private key from PEM files and checks that they can
// be served at now: both files readable and PEM, the first certificate parses and is valid at
// now (NotBeforeLeeway allowed on NotBefore), and the key is the certificate's. Its errors are
// *FileError values naming the file at fault. The certificate's Leaf is set.
func Load(certFile, keyFile string, now time.Time) (*tls.Certificate, error) {
	certPEM, err := readFile(certFile, false)
	if err != nil {
		return nil, err
	}
	keyPEM, err := readFile(keyFile, true)
	if err != nil {
		return nil, err
	}
	certFault := func(format string, args ...any) error {
		return &FileError{Path: certFile, Reason: fmt.Sprintf(format, args...)}
	}
	keyFault := func(format string, args ...any) error {
		return &FileError{Key: true, Path: keyFile, Reason: fmt.Sprintf(format, args...)}
	}

	var leafDER []byte
	if types := pemTypes(certPEM); len(types) == 0 {
		return nil, certFault("not PEM (want a -----BEGIN CERTIFICATE----- block)")
	} else if leafDER = firstBlock(certPEM, "CERTIFICATE"); leafDER == nil {
		return nil, certFault("no CERTIFICATE block (found %s)", strings.Join(types, ", "))
	}
	leaf, err := x509.ParseCertificate(leafDER)
	if err != nil {
		return nil, certFault("the certificate does not parse: %v", err)
	}
	if types := pemTypes(keyPEM); len(types) == 0 {
		return nil, keyFault("not PEM (want a -----BEGIN PRIVATE KEY----- block)")
	} else if !hasKeyBlock(keyPEM) {
		return nil, keyFault("no PRIVATE KEY block (found %s)", strings.Join(types, ", "))
	}
	if keyEncrypted(keyPEM) {
		return nil, keyFault("the key is encrypted (a server cannot ask for its passphrase): decrypt it into another file, e.g. openssl pkey -in %s -out decrypted-key.pem", keyFile)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		if strings.Contains(err.Error(), "does not match") {
			if n := keyCertificate(certPEM, keyPEM); n > 1 {
				return nil, certFault("the server's certificate must come first: the key is the one of certificate %d of the file (a chain is the server's certificate, then the intermediates)", n)
			}
			return nil, keyFault("the key does not match the certificate in %s", certFile)
		}
		return nil, keyFault("%s", strings.TrimPrefix(err.Error(), "tls: "))
	}
	switch {
	case now.After(leaf.NotAfter):
		return nil, certFault("the certificate expired on %s", leaf.NotAfter.UTC().Format(time.RFC3339))
	case now.Add(NotBeforeLeeway).Before(leaf.NotBefore):
		return nil, certFault("the certificate is not valid before %s", leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	pair.Leaf = leaf
	return &pair, nil
}

// readFile reads a file for Load, turning a failure into a *FileError with the system's reason.
func readFile(path string, key bool) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if len(bytes.TrimSpace(b)) == 0 {
			return nil, &FileError{Key: key, Path: path, Reason: "the file is empty"}
		}
		return b, nil
	}
	reason := err.Error()
	var pe *fs.PathError
	if errors.As(err, &pe) {
		reason = pe.Err.Error()
	}
	return nil, &FileError{Key: key, Path: path, Reason: reason}
}

// pemTypes lists the types of the PEM blocks in data, in order, each once.
func pemTypes(data []byte) []string {
	var types []string
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return types
		}
		if !contains(types, b.Type) {
			types = append(types, b.Type)
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// firstBlock returns the bytes of the first PEM block of that type in data, nil if none.
func firstBlock(data []byte, typ string) []byte {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil
		}
		if b.Type == typ {
			return b.Bytes
		}
	}
}

// hasKeyBlock reports whether data holds a private key block of a kind crypto/tls reads.
func hasKeyBlock(data []byte) bool { return firstKeyBlock(data) != nil }

// firstKeyBlock is the first private key block of data, the one crypto/tls reads; nil if none.
func firstKeyBlock(data []byte) *pem.Block {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil || b.Type == "PRIVATE KEY" || strings.HasSuffix(b.Type, " PRIVATE KEY") {
			return b
		}
	}
}

// keyCertificate returns the position (from 1) of the first CERTIFICATE block of certPEM whose
// public key is keyPEM's, 0 if none is.
func keyCertificate(certPEM, keyPEM []byte) int {
	n := 0
	for {
		var b *pem.Block
		b, certPEM = pem.Decode(certPEM)
		if b == nil {
			return 0
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		n++
		if _, err := tls.X509KeyPair(pem.EncodeToMemory(b), keyPEM); err == nil {
			return n
		}
	}
}

// keyEncrypted reports whether the private key block crypto/tls would read from data (the
// first one) is encrypted: PKCS #8's ENCRYPTED PRIVATE KEY, or OpenSSL's legacy encryption of a
// PKCS #1 or SEC 1 key (a Proc-Type: 4,ENCRYPTED header), which crypto/tls reports only as "failed
// to parse private key".
func keyEncrypted(data []byte) bool {
	b := firstKeyBlock(data)
	return b != nil && (b.Type == "ENCRYPTED PRIVATE KEY" || strings.Contains(b.Headers["Proc-Type"], "ENCRYPTED"))
}

// ServerConfig is the TLS configuration of a server that takes its certificate from
// getCertificate: TLS 1.2 at least, HTTP/2 and HTTP/1.1 offered by ALPN, h2 first.
func ServerConfig(getCertificate func(*tls.ClientHelloInfo) (*tls.Certificate, error)) *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{"h2", "http/1.1"},
		GetCertificate: getCertificate,
	}
}

// Reloader serves the pair in two files and loads it again when they change. Its
// GetCertificate, for tls.Config, looks at the files' modification times and sizes at most
// once per CheckInterval, during a handshake; when they changed it loads the pair, checks it as
// Load does and serves it from then on. A pair that fails (a file half-written, a key that does
// not match yet, an expired certificate) is logged once and the last good pair stays in
// service. Connections already open are never affected: a certificate only matters during the
// handshake.
type Reloader struct {
	certFile, keyFile string
	logger            *slog.Logger
	interval          time.Duration
	now               func() time.Time

	current atomic.Pointer[tls.Certificate]

	mu      sync.Mutex
	checked time.Time // when the files were last looked at
	seen    stamp     // the files as they were when the pair in service was loaded
	refused stamp     // the files as they were when they last failed to load, warned about once
}

// stamp is what a Reloader compares to notice that its files changed.
type stamp struct {
	certMod, keyMod   time.Time
	certSize, keySize int64
	certErr, keyErr   string // why a stat failed, "" when it did not
}

// Options tune a Reloader; the zero value is the default.
type Options struct {
	// Logger receives a line for each reload and each failed one; nil discards them.
	Logger *slog.Logger
	// CheckInterval is how often, at most, the files are looked at; 0 means
	// DefaultCheckInterval.
	CheckInterval time.Duration
	// Now is the clock expiry is checked against; nil means time.Now.
	Now func() time.Time
}

// NewReloader loads the pair with Load and returns a Reloader serving it. Its error is Load's.
func NewReloader(certFile, keyFile string, o Options) (*Reloader, error) {
	r := &Reloader{certFile: certFile, keyFile: keyFile, logger: o.Logger, interval: o.CheckInterval, now: o.Now}
	if r.logger == nil {
		r.logger = slog.New(slog.DiscardHandler)
	}
	if r.interval <= 0 {
		r.interval = DefaultCheckInterval
	}
	if r.now == nil {
		r.now = time.Now
	}
	// The stamp is taken before the files are read: a change made while they are read is then
	// seen as a change at the next check rather than missed.
	r.seen = r.stamp()
	cert, err := Load(certFile, keyFile, r.now())
	if err != nil {
		return nil, err
	}
	r.current.Store(cert)
	r.checked = r.now()
	return r, nil
}

// Certificate returns the pair in service.
func (r *Reloader) Certificate() *tls.Certificate { return r.current.Load() }

// GetCertificate returns the pair in service, after loading the files again if they changed.
// It never fails once NewReloader succeeded.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.maybeReload()
	return r.current.Load(), nil
}

func (r *Reloader) maybeReload() {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	if now.Sub(r.checked) < r.interval && !now.Before(r.checked) {
		return
	}
	r.checked = now
	s := r.stamp()
	if s == r.seen {
		return
	}
	// Files that failed to load are tried again at every check, not only once they change:
	// what failed may be other than their content (a certificate not valid yet, a key's owner
	// or mode fixed with chown or chmod, which leave its time and size alone). The failure is
	// logged once for each state of the files.
	cert, err := Load(r.certFile, r.keyFile, now)
	if err != nil {
		if s != r.refused {
			r.refused = s
			old := r.current.Load()
			r.logger.Warn("TLS certificate files changed but cannot be served; still serving the previous certificate",
				"error", err.Error(), "previous_not_after", old.Leaf.NotAfter.UTC().Format(time.RFC3339))
		}
		return
	}
	r.seen, r.refused = s, stamp{}
	r.current.Store(cert)
	r.logger.Info("TLS certificate reloaded", "cert", r.certFile, "subject", cert.Leaf.Subject.String(),
		"serial", cert.Leaf.SerialNumber.Text(16), "not_after", cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
}

// stamp looks at both files.
func (r *Reloader) stamp() stamp {
	var s stamp
	if fi, err := os.Stat(r.certFile); err != nil {
		s.certErr = err.Error()
	} else {
		s.certMod, s.certSize = fi.ModTime(), fi.Size()
	}
	if fi, err := os.Stat(r.keyFile); err != nil {
		s.keyErr = err.Error()
	} else {
		s.keyMod, s.keySize = fi.ModTime(), fi.Size()
	}
	return s
}
