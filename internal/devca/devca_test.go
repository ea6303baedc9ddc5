package devca_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/remoteassist/remoteassist/internal/devca"
)

func read(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEnsureCreatesThenReuses(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	now := time.Now()
	f, err := devca.Ensure(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	if f.NewCA == "" || f.NewCert == "" {
		t.Errorf("first Ensure: NewCA %q, NewCert %q, want both made", f.NewCA, f.NewCert)
	}
	for path, mode := range map[string]os.FileMode{f.CA: 0o644, f.CAKey: 0o600, f.Cert: 0o644, f.CertKey: 0o600, filepath.Join(dir, devca.LockFile): 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v", filepath.Base(path), fi.Mode().Perm(), mode)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 5 {
		t.Errorf("%d files in the directory, want the 4 and the lock (no temporary file left)", len(entries))
	}

	// The certificate verifies for every loopback name with ca.pem, and is the key's.
	pool, err := devca.Pool(f.CA)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(f.Cert, f.CertKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"localhost", "127.0.0.1", "::1"} {
		if _, err := pair.Leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: pool}); err != nil {
			t.Errorf("verify for %s: %v", name, err)
		}
	}
	if !f.NotAfter.Equal(pair.Leaf.NotAfter) {
		t.Errorf("NotAfter %v, certificate %v", f.NotAfter, pair.Leaf.NotAfter)
	}

	before := map[string][]byte{}
	for _, p := range []string{f.CA, f.CAKey, f.Cert, f.CertKey} {
		before[p] = read(t, p)
	}
	again, err := devca.Ensure(dir, now.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if again.NewCA != "" || again.NewCert != "" {
		t.Errorf("second Ensure: NewCA %q, NewCert %q, want both reused", again.NewCA, again.NewCert)
	}
	for p, b := range before {
		if !bytes.Equal(read(t, p), b) {
			t.Errorf("%s changed on reuse", filepath.Base(p))
		}
	}
}

func TestEnsureRenews(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	first, err := devca.Ensure(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	ca, cert := read(t, first.CA), read(t, first.Cert)

	// Close to the certificate's expiry: a new certificate from the same CA.
	later := first.NotAfter.Add(-devca.RenewBefore + time.Hour)
	renewed, err := devca.Ensure(dir, later)
	if err != nil {
		t.Fatal(err)
	}
	if renewed.NewCA != "" || !strings.Contains(renewed.NewCert, "expires") {
		t.Errorf("near expiry: NewCA %q, NewCert %q", renewed.NewCA, renewed.NewCert)
	}
	if !bytes.Equal(read(t, renewed.CA), ca) || bytes.Equal(read(t, renewed.Cert), cert) {
		t.Errorf("near expiry: want the same CA and a new certificate")
	}

	// A CA replaced under the certificate: the certificate no longer verifies and is reissued.
	os.Remove(first.CA)
	os.Remove(first.CAKey)
	cert = read(t, first.Cert)
	replaced, err := devca.Ensure(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	if replaced.NewCA == "" || !strings.Contains(replaced.NewCert, "does not verify") {
		t.Errorf("new CA: NewCA %q, NewCert %q", replaced.NewCA, replaced.NewCert)
	}
	if bytes.Equal(read(t, replaced.Cert), cert) {
		t.Errorf("the certificate of the old CA was kept")
	}

	// Files that do not parse are replaced, not refused.
	if err := os.WriteFile(first.CA, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	broken, err := devca.Ensure(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(broken.NewCA, "unusable") || broken.NewCert == "" {
		t.Errorf("garbage ca.pem: NewCA %q, NewCert %q", broken.NewCA, broken.NewCert)
	}
}

// TestCAIsNameConstrained: a certificate for another site signed with the CA's key does not
// verify, so a leaked ca-key.pem cannot impersonate anything but localhost.
func TestCAIsNameConstrained(t *testing.T) {
	dir := t.TempDir()
	f, err := devca.Ensure(dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	caPair, err := tls.LoadX509KeyPair(f.CA, f.CAKey)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(42), Subject: pkix.Name{CommonName: "graph.microsoft.com"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"graph.microsoft.com"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caPair.Leaf, key.Public(), caPair.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	evil, _ := x509.ParseCertificate(der)
	pool, _ := devca.Pool(f.CA)
	if _, err := evil.Verify(x509.VerifyOptions{DNSName: "graph.microsoft.com", Roots: pool}); err == nil {
		t.Error("a certificate for graph.microsoft.com signed by the development CA verifies")
	}
}
