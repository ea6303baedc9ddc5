package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// tlsFixtures are certificate files for serve's TLS tests, in one directory.
type tlsFixtures struct {
	dir                 string
	cert, key, otherKey string // a good pair, and a key of another certificate
	expired, expiredKey string
}

func (f tlsFixtures) path(name string) string { return filepath.Join(f.dir, name) }

func newTLSFixtures(t *testing.T) tlsFixtures {
	t.Helper()
	dir := t.TempDir()
	f := tlsFixtures{dir: dir}
	now := time.Now()
	f.cert, f.key = writeSelfSigned(t, dir, "good", now.Add(-time.Hour), now.Add(time.Hour))
	_, f.otherKey = writeSelfSigned(t, dir, "other", now.Add(-time.Hour), now.Add(time.Hour))
	f.expired, f.expiredKey = writeSelfSigned(t, dir, "expired", now.Add(-2*time.Hour), now.Add(-time.Hour))
	for name, data := range map[string]string{"empty.pem": "", "garbage.pem": "not a certificate\n"} {
		if err := os.WriteFile(f.path(name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// writeSelfSigned writes a self-signed certificate for 127.0.0.1 and its key as NAME.pem and
// NAME-key.pem.
func writeSelfSigned(t *testing.T, dir, name string, notBefore, notAfter time.Time) (certPath, keyPath string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
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
	certPath, keyPath = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certPath, keyPath
}
