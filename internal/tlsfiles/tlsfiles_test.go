package tlsfiles_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/remoteassist/remoteassist/internal/tlsfiles"
)

// pair is a self-signed certificate and its key as PEM.
type pair struct {
	cert, key []byte
	serial    *big.Int
}

var serials = struct {
	sync.Mutex
	n int64
}{n: 100}

func newPair(t *testing.T, notBefore, notAfter time.Time) pair {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serials.Lock()
	serials.n++
	serial := big.NewInt(serials.n)
	serials.Unlock()
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: notBefore, NotAfter: notAfter, DNSNames: []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pair{
		cert:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		key:    pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		serial: serial,
	}
}

func valid(t *testing.T) pair {
	return newPair(t, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
}

func write(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestLoadRefusals(t *testing.T) {
	dir := t.TempDir()
	good, other := valid(t), valid(t)
	expired := newPair(t, time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour))
	future := newPair(t, time.Now().Add(time.Hour), time.Now().Add(2*time.Hour))
	files := map[string][]byte{
		"cert.pem": good.cert, "key.pem": good.key, "other-key.pem": other.key,
		"expired.pem": expired.cert, "expired-key.pem": expired.key,
		"future.pem": future.cert, "future-key.pem": future.key,
		"garbage.pem": []byte("hello, not a certificate\n"), "empty.pem": []byte("\n"),
		// A chain the wrong way round: another certificate (an issuer's) before the server's.
		"issuer-first.pem": append(append([]byte(nil), other.cert...), good.cert...),
		"bad-der.pem":      pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("nope")}),
		// As openssl writes a key with a passphrase: PKCS #8 (genpkey -aes256), and the
		// legacy form of a PKCS #1 key (rsa -traditional -aes128). Their content does not matter:
		// no key can be read without the passphrase.
		"pkcs8-encrypted.pem": pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte("ciphertext")}),
		"legacy-encrypted.pem": pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY",
			Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,60245C58FB4407520A7E2D9EAAF0C1B1"}, Bytes: []byte("ciphertext")}),
	}
	for name, data := range files {
		write(t, filepath.Join(dir, name), data)
	}
	if err := os.Mkdir(filepath.Join(dir, "a-directory"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, cert, key string
		keyAtFault      bool
		reason          string
	}{
		{"missing certificate", "missing.pem", "key.pem", false, "no such file or directory"},
		{"missing key", "cert.pem", "missing.pem", true, "no such file or directory"},
		{"certificate is a directory", "a-directory", "key.pem", false, "is a directory"},
		{"empty certificate", "empty.pem", "key.pem", false, "the file is empty"},
		{"certificate not PEM", "garbage.pem", "key.pem", false, "not PEM"},
		{"key not PEM", "cert.pem", "garbage.pem", true, "not PEM"},
		{"files swapped", "key.pem", "cert.pem", false, "no CERTIFICATE block (found PRIVATE KEY)"},
		{"key file holds the certificate", "cert.pem", "cert.pem", true, "no PRIVATE KEY block (found CERTIFICATE)"},
		{"certificate does not parse", "bad-der.pem", "key.pem", false, "the certificate does not parse"},
		{"key encrypted (PKCS #8)", "cert.pem", "pkcs8-encrypted.pem", true, "the key is encrypted"},
		{"key encrypted (OpenSSL's legacy form)", "cert.pem", "legacy-encrypted.pem", true, "the key is encrypted"},
		{"chain with the server's certificate second", "issuer-first.pem", "key.pem", false, "the server's certificate must come first: the key is the one of certificate 2 of the file"},
		{"key of another certificate", "cert.pem", "other-key.pem", true, "the key does not match the certificate in"},
		{"expired", "expired.pem", "expired-key.pem", false, "the certificate expired on"},
		{"not yet valid", "future.pem", "future-key.pem", false, "the certificate is not valid before"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cert, key := filepath.Join(dir, tc.cert), filepath.Join(dir, tc.key)
			_, err := tlsfiles.Load(cert, key, time.Now())
			var fe *tlsfiles.FileError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v (%T), want a *FileError", err, err)
			}
			want := cert
			if tc.keyAtFault {
				want = key
			}
			if fe.Key != tc.keyAtFault || fe.Path != want || !strings.Contains(fe.Reason, tc.reason) {
				t.Errorf("FileError{Key: %v, Path: %s, Reason: %q}, want the %s named with %q", fe.Key, fe.Path, fe.Reason, want, tc.reason)
			}
			if err.Error() != fe.Path+": "+fe.Reason {
				t.Errorf("Error() %q", err.Error())
			}
		})
	}
	c, err := tlsfiles.Load(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), time.Now())
	if err != nil || c.Leaf == nil || c.Leaf.SerialNumber.Cmp(good.serial) != 0 {
		t.Fatalf("a good pair: %v, %v", c, err)
	}
}

// logRecorder collects log lines.
type logRecorder struct {
	mu      sync.Mutex
	records []string
}

func (l *logRecorder) lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.records...)
}

func (l *logRecorder) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.records = append(l.records, strings.TrimSpace(string(p)))
	return len(p), nil
}

func TestReloader(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	first := valid(t)
	write(t, certPath, first.cert)
	write(t, keyPath, first.key)

	var rec logRecorder
	clock := time.Now()
	r, err := tlsfiles.NewReloader(certPath, keyPath, tlsfiles.Options{
		Logger: slog.New(slog.NewTextHandler(&rec, nil)), Now: func() time.Time { return clock },
	})
	if err != nil {
		t.Fatal(err)
	}
	serial := func() *big.Int {
		t.Helper()
		c, err := r.GetCertificate(nil)
		if err != nil || c == nil {
			t.Fatalf("GetCertificate: %v, %v", c, err)
		}
		return c.Leaf.SerialNumber
	}
	if s := serial(); s.Cmp(first.serial) != 0 {
		t.Fatalf("serving %v, want %v", s, first.serial)
	}

	// Replaced: not looked at before the interval has passed, then served.
	second := valid(t)
	write(t, certPath, second.cert)
	write(t, keyPath, second.key)
	if s := serial(); s.Cmp(first.serial) != 0 {
		t.Errorf("the files were looked at again within the interval")
	}
	clock = clock.Add(tlsfiles.DefaultCheckInterval)
	if s := serial(); s.Cmp(second.serial) != 0 {
		t.Errorf("after the interval: serving %v, want the new %v", s, second.serial)
	}
	if l := rec.lines(); len(l) != 1 || !strings.Contains(l[0], "TLS certificate reloaded") {
		t.Errorf("log %q, want one reload line", l)
	}

	// A half-done rotation (new certificate, old key) and a broken file keep the last good
	// pair in service and are logged once each.
	third := valid(t)
	write(t, certPath, third.cert)
	for range 3 {
		clock = clock.Add(tlsfiles.DefaultCheckInterval)
		if s := serial(); s.Cmp(second.serial) != 0 {
			t.Errorf("a mismatched pair: serving %v, want the previous %v", s, second.serial)
		}
	}
	write(t, keyPath, []byte("garbage that is longer than a key, so that the size changes for sure ..........................................................................................................................................................................................................................."))
	for range 3 {
		clock = clock.Add(tlsfiles.DefaultCheckInterval)
		if s := serial(); s.Cmp(second.serial) != 0 {
			t.Errorf("a broken key: serving %v, want the previous %v", s, second.serial)
		}
	}
	l := rec.lines()
	if len(l) != 3 || !strings.Contains(l[1], "level=WARN") || !strings.Contains(l[1], "does not match") ||
		!strings.Contains(l[2], "not PEM") || !strings.Contains(l[2], "still serving the previous certificate") {
		t.Errorf("log %q, want the reload and one warning for each failure", l)
	}

	// The rotation completed: served.
	write(t, keyPath, third.key)
	clock = clock.Add(tlsfiles.DefaultCheckInterval)
	if s := serial(); s.Cmp(third.serial) != 0 {
		t.Errorf("after the key: serving %v, want %v", s, third.serial)
	}

	// An expired replacement is refused the same way.
	old := newPair(t, clock.Add(-2*time.Hour), clock.Add(-time.Hour))
	write(t, certPath, old.cert)
	write(t, keyPath, old.key)
	clock = clock.Add(tlsfiles.DefaultCheckInterval)
	if s := serial(); s.Cmp(third.serial) != 0 {
		t.Errorf("an expired replacement is served")
	}
	if l := rec.lines(); !strings.Contains(l[len(l)-1], "expired") {
		t.Errorf("last log line %q, want the expiry", l[len(l)-1])
	}
	// A replacement not valid yet is refused, once logged, and served as soon as it is valid,
	// though the files did not change meanwhile.
	early := newPair(t, clock.Add(20*time.Minute), clock.Add(48*time.Hour))
	write(t, certPath, early.cert)
	write(t, keyPath, early.key)
	warnings := len(rec.lines())
	for range 3 {
		clock = clock.Add(tlsfiles.DefaultCheckInterval)
		if s := serial(); s.Cmp(third.serial) != 0 {
			t.Errorf("a replacement not valid yet is served")
		}
	}
	if l := rec.lines(); len(l) != warnings+1 || !strings.Contains(l[len(l)-1], "still serving the previous certificate") {
		t.Errorf("log %q, want one warning for the replacement not valid yet", l[warnings:])
	}
	clock = clock.Add(20 * time.Minute)
	if s := serial(); s.Cmp(early.serial) != 0 {
		t.Errorf("once valid: serving %v, want the replacement %v", s, early.serial)
	}
	third = early

	// Files removed: the last good pair stays.
	os.Remove(certPath)
	clock = clock.Add(tlsfiles.DefaultCheckInterval)
	if s := serial(); s.Cmp(third.serial) != 0 {
		t.Errorf("files removed: serving %v", s)
	}
}

func TestServerConfig(t *testing.T) {
	c := tlsfiles.ServerConfig(nil)
	if c.MinVersion != tls.VersionTLS12 || strings.Join(c.NextProtos, ",") != "h2,http/1.1" {
		t.Errorf("MinVersion %x, NextProtos %v", c.MinVersion, c.NextProtos)
	}
}
