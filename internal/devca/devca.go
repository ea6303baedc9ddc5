// Package devca keeps a development certificate authority and a localhost certificate it
// signed in a directory, for "remoteassist serve --tls": files a developer can point a client's
// trust store at, made once and reused on later starts.
//
// The directory holds, beside the service's other files:
//
//	ca.pem             the CA's certificate: what clients trust (SSL_CERT_FILE, NODE_EXTRA_CA_CERTS, ...)
//	ca-key.pem         the CA's private key, mode 0600
//	localhost.pem      the server's certificate, for localhost, 127.0.0.1 and ::1, signed by the CA
//	localhost-key.pem  its private key, mode 0600
//	ca.lock            empty, locked (flock) by whoever loads or makes the four, mode 0600
//
// The CA is name-constrained to localhost and the loopback addresses, so that even a leaked CA
// key cannot vouch for any other site to a machine that trusts it.
//
// Several processes may share the directory (replicas on one volume starting at once): Ensure
// loads or makes the files under an exclusive lock, so that they agree on one CA.
package devca

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"
)

// File names in the directory.
const (
	CAFile      = "ca.pem"
	CAKeyFile   = "ca-key.pem"
	CertFile    = "localhost.pem"
	CertKeyFile = "localhost-key.pem"
	LockFile    = "ca.lock"
)

// Lifetimes and when to renew.
const (
	// CALifetime is how long a new CA is valid.
	CALifetime = 10 * 365 * 24 * time.Hour
	// CertLifetime is how long a new server certificate is valid: under the 398 days browsers
	// accept.
	CertLifetime = 397 * 24 * time.Hour
	// RenewBefore is how long before its expiry a CA or certificate is replaced.
	RenewBefore = 30 * 24 * time.Hour
)

// DNSNames and IPs are the names the server certificate is for.
var (
	DNSNames = []string{"localhost"}
	IPs      = []net.IP{net.IPv4(127, 0, 0, 1).To4(), net.IPv6loopback}
)

// Files is the state of a directory after Ensure.
type Files struct {
	CA, CAKey, Cert, CertKey string // paths
	// NewCA is why a CA was made at this start ("" when the existing one was reused): clients
	// that trusted the previous one must be given the new ca.pem.
	NewCA string
	// NewCert is why a server certificate was issued at this start, "" when it was reused.
	NewCert string
	// NotAfter is when the server certificate expires.
	NotAfter time.Time
}

// Ensure makes sure dir holds a usable CA and a server certificate signed by it, valid at now
// for at least RenewBefore: existing files are reused when they are, replaced otherwise (a CA
// close to expiry, a certificate of another CA, files that do not parse). It fails only when
// a file cannot be read for another reason than its absence, or cannot be written.
//
// Processes calling Ensure on the same directory at once (replicas starting together on a
// fresh shared volume) take turns: the first makes the files, the others load them, and none
// ends with a certificate of a CA whose ca.pem another has overwritten. So do goroutines.
func Ensure(dir string, now time.Time) (Files, error) {
	f := Files{
		CA: filepath.Join(dir, CAFile), CAKey: filepath.Join(dir, CAKeyFile),
		Cert: filepath.Join(dir, CertFile), CertKey: filepath.Join(dir, CertKeyFile),
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return f, fmt.Errorf("devca: %w", err)
	}
	unlock, err := lock(filepath.Join(dir, LockFile))
	if err != nil {
		return f, err
	}
	defer unlock()
	return ensureLocked(f, now)
}

// lock takes the exclusive lock of path (flock(2)), made if missing, waiting for another
// holder to let go; the function it returns lets go.
//
// A lock around the whole load-or-make rather than each file made by link(2) or O_EXCL, which
// lets exactly one creator win a name: the state is two pairs of files that must match (ca.pem
// with ca-key.pem, localhost.pem signed by that CA, with its key), and it is replaced as well as
// made (a CA near expiry, files that do not parse), where no name is free to win. With the lock
// the next holder loads what the first made, whatever that was. flock rather than a lock file
// made with O_EXCL: the kernel lets go of it when its holder dies, so a replica killed while
// making the files leaves no stale lock to delete by hand. The data directory supports flock
// already: the embedded store's bbolt takes one on its file.
//
// The file is opened for writing, though nothing is written to it: NFS, where a volume several
// replicas mount often lives, emulates flock with a byte-range lock of the whole file, and grants
// an exclusive one only on a descriptor open for writing (flock(2), "NFS details"); opened read
// only, the lock failed there with EBADF, and so did serve --tls.
//
// A directory this process cannot make the lock file in (or open it for writing) is one it
// cannot make the other files in either: Ensure then goes on unlocked, which can still load
// them, and fails, as it did before there was a lock, if they need making.
func lock(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS) {
		return func() {}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("devca: %w", err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("devca: locking %s: %w", path, err)
	}
	// Closing the file lets go of the lock.
	return func() { f.Close() }, nil
}

// ensureLocked is Ensure's work, with the directory locked.
func ensureLocked(f Files, now time.Time) (Files, error) {
	ca, caKey, why, err := loadCA(f.CA, f.CAKey, now)
	if err != nil {
		return f, err
	}
	if why != "" {
		f.NewCA = why
		if ca, caKey, err = newCA(now); err != nil {
			return f, err
		}
		// The key first: a ca.pem on disk always has its key beside it.
		if err := writeKey(f.CAKey, caKey); err != nil {
			return f, err
		}
		if err := writeCert(f.CA, ca.Raw); err != nil {
			return f, err
		}
	}
	leaf, why, err := loadCert(f.Cert, f.CertKey, ca, now)
	if err != nil {
		return f, err
	}
	if why != "" {
		f.NewCert = why
		var key *ecdsa.PrivateKey
		if leaf, key, err = newCert(ca, caKey, now); err != nil {
			return f, err
		}
		if err := writeKey(f.CertKey, key); err != nil {
			return f, err
		}
		if err := writeCert(f.Cert, leaf.Raw); err != nil {
			return f, err
		}
	}
	f.NotAfter = leaf.NotAfter
	return f, nil
}

// loadCA reads the CA and its key. It returns why a new one is needed ("" if none is), or an
// error when a file exists but cannot be read.
func loadCA(certPath, keyPath string, now time.Time) (*x509.Certificate, crypto.Signer, string, error) {
	certPEM, keyPEM, why, err := readPair(certPath, keyPath)
	if why != "" || err != nil {
		return nil, nil, why, err
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, nil, fmt.Sprintf("the existing CA is unusable (%v)", err), nil
	}
	ca := pair.Leaf
	signer, ok := pair.PrivateKey.(crypto.Signer)
	switch {
	case !ok || !ca.IsCA || ca.KeyUsage&x509.KeyUsageCertSign == 0:
		return nil, nil, "the existing ca.pem is not a CA certificate", nil
	case now.Add(RenewBefore).After(ca.NotAfter):
		return nil, nil, "the existing CA expires on " + ca.NotAfter.UTC().Format(time.DateOnly), nil
	case now.Before(ca.NotBefore):
		return nil, nil, "the existing CA is not valid yet", nil
	}
	return ca, signer, "", nil
}

// loadCert reads the server certificate and its key. It returns why a new one is needed ("" if
// none is), or an error when a file exists but cannot be read.
func loadCert(certPath, keyPath string, ca *x509.Certificate, now time.Time) (*x509.Certificate, string, error) {
	certPEM, keyPEM, why, err := readPair(certPath, keyPath)
	if why != "" || err != nil {
		return nil, why, err
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Sprintf("the existing certificate is unusable (%v)", err), nil
	}
	leaf := pair.Leaf
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	for _, name := range append(slices.Clone(DNSNames), "127.0.0.1", "::1") {
		if _, err := leaf.Verify(x509.VerifyOptions{
			DNSName: name, Roots: roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}); err != nil {
			return nil, fmt.Sprintf("the existing certificate does not verify for %s with the CA (%v)", name, err), nil
		}
	}
	if now.Add(RenewBefore).After(leaf.NotAfter) {
		return nil, "the existing certificate expires on " + leaf.NotAfter.UTC().Format(time.DateOnly), nil
	}
	return leaf, "", nil
}

// readPair reads a certificate file and a key file; a missing one is a reason for a new pair.
func readPair(certPath, keyPath string) (certPEM, keyPEM []byte, why string, err error) {
	certPEM, err = os.ReadFile(certPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, "none existed", nil
	}
	if err != nil {
		return nil, nil, "", fmt.Errorf("devca: %w", err)
	}
	keyPEM, err = os.ReadFile(keyPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, filepath.Base(keyPath) + " was missing", nil
	}
	if err != nil {
		return nil, nil, "", fmt.Errorf("devca: %w", err)
	}
	return certPEM, keyPEM, "", nil
}

func newCA(now time.Time) (*x509.Certificate, crypto.Signer, error) {
	key, serial, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	host, _ := os.Hostname()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			Organization: []string{"remoteassist development CA"},
			CommonName:   "remoteassist development CA " + serial.Text(16)[:8] + " on " + host,
		},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(CALifetime),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		// Only ever localhost and loopback: a leaked key cannot impersonate anything else.
		PermittedDNSDomainsCritical: true,
		PermittedDNSDomains:         DNSNames,
		PermittedIPRanges: []*net.IPNet{
			{IP: net.IPv4(127, 0, 0, 0).To4(), Mask: net.CIDRMask(8, 32)},
			{IP: net.IPv6loopback, Mask: net.CIDRMask(128, 128)},
		},
	}
	ca, err := sign(tmpl, tmpl, key, key)
	if err != nil {
		return nil, nil, err
	}
	return ca, key, nil
}

func newCert(ca *x509.Certificate, caKey crypto.Signer, now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, serial, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	notAfter := now.Add(CertLifetime)
	if notAfter.After(ca.NotAfter) {
		notAfter = ca.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{Organization: []string{"remoteassist development"}, CommonName: "localhost"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     DNSNames,
		IPAddresses:  IPs,
	}
	leaf, err := sign(tmpl, ca, key, caKey)
	if err != nil {
		return nil, nil, err
	}
	return leaf, key, nil
}

// newKey is what every certificate here starts from: a key of its own, P-256, and a random
// serial number.
func newKey() (*ecdsa.PrivateKey, *big.Int, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("devca: %w", err)
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, nil, err
	}
	return key, serial, nil
}

// sign makes the certificate tmpl describes for key, issued by parent with parentKey (the CA is
// its own parent), and parses it back: its callers keep the parsed certificate.
func sign(tmpl, parent *x509.Certificate, key *ecdsa.PrivateKey, parentKey crypto.Signer) (*x509.Certificate, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		return nil, fmt.Errorf("devca: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("devca: %w", err)
	}
	return cert, nil
}

func serialNumber() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("devca: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil // never zero
}

// writeKey writes a private key in PKCS #8 PEM, mode 0600 from the first byte on.
func writeKey(path string, key crypto.Signer) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("devca: %w", err)
	}
	return writeFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
}

// writeCert writes a certificate in PEM, mode 0644: it is public.
func writeCert(path string, der []byte) error {
	return writeFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

// writeFile replaces path with data atomically: readers see the old file or the new one,
// never a part, and a server reloading the file never reads half of it.
func writeFile(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	// CreateTemp opens with mode 0600, so a key is never readable by others, not even while
	// it is written.
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+"-*.tmp")
	if err != nil {
		return fmt.Errorf("devca: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(mode)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("devca: writing %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	if testHookWritten != nil {
		testHookWritten(path)
	}
	return nil
}

// testHookWritten, when set (by the package's tests only), is called after each file written,
// so that a test of concurrent creators can widen the windows between writes in which another
// process's writes could interleave.
var testHookWritten func(path string)

// Pool returns a pool holding the certificates of a PEM file such as ca.pem.
func Pool(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) || !bytes.Contains(b, []byte("CERTIFICATE")) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return pool, nil
}
