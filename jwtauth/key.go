package jwtauth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/remoteassist/remoteassist"
)

// DevIssuer is the issuer of development tokens minted by a Key, and the issuer NewDevVerifier
// accepts.
const DevIssuer = "https://sts.remoteassist.local/"

// The audiences under which Entra ID issues tokens for Microsoft Graph: its URI and its
// application id. A Verifier accepts both unless configured otherwise.
const (
	GraphAudience = "https://graph.microsoft.com"
	GraphAppID    = "00000003-0000-0000-c000-000000000000"
)

// KeyFile is the name of the development key file inside the directory given to
// LoadOrCreateKey.
const KeyFile = "signing-key.pem"

// DefaultTTL is the lifetime of a minted token when TokenSpec.TTL is zero; it matches the usual
// Entra access token lifetime.
const DefaultTTL = time.Hour

// Key is an ECDSA P-256 signing key for development tokens. It is safe for concurrent use.
type Key struct {
	priv *ecdsa.PrivateKey
	pub  PublicKey
	jwks []byte
}

// GenerateKey returns a new in-memory signing key, for tests and throwaway servers.
func GenerateKey() (*Key, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("jwtauth: generate key: %w", err)
	}
	return newKey(priv)
}

func newKey(priv *ecdsa.PrivateKey) (*Key, error) {
	if priv.Curve != elliptic.P256() {
		return nil, fmt.Errorf("jwtauth: signing key is on %s, want P-256", priv.Curve.Params().Name)
	}
	j, err := ecJWK(&priv.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("jwtauth: encode public key: %w", err)
	}
	j.Kid = thumbprint(j)
	j.Use = "sig"
	j.Alg = "ES256"
	set, err := json.Marshal(jwkSet{Keys: []jwk{j}})
	if err != nil {
		return nil, fmt.Errorf("jwtauth: encode JWKS: %w", err)
	}
	return &Key{
		priv: priv,
		pub:  PublicKey{KID: j.Kid, Key: &priv.PublicKey, Alg: "ES256"},
		jwks: set,
	}, nil
}

// LoadOrCreateKey returns the development signing key kept in dir/signing-key.pem, creating dir
// (mode 0700) and a new key (mode 0600) on first use.
//
// An existing key file readable or writable by group or others is refused, not repaired: the
// key may already have been copied, and anybody holding it can mint tokens for every tenant, so
// the operator should decide whether to chmod it or delete it for a fresh key.
//
// Concurrent first calls, in one process or several, agree on one key: each writes a complete
// temporary file and hard-links it into place, which fails rather than overwrites if another
// caller got there first, and the loser then loads the winner's key.
func LoadOrCreateKey(dir string) (*Key, error) {
	if dir == "" {
		return nil, errors.New("jwtauth: key directory is empty")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("jwtauth: create key directory: %w", err)
	}
	path := filepath.Join(dir, KeyFile)
	k, err := loadKey(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}

	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("jwtauth: generate key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("jwtauth: encode key: %w", err)
	}
	// CreateTemp opens with O_EXCL and mode 0600, so the key is never readable by others, not
	// even while it is being written.
	tmp, err := os.CreateTemp(dir, ".signing-key-*.tmp")
	if err != nil {
		return nil, fmt.Errorf("jwtauth: create key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := pem.Encode(tmp, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("jwtauth: write key file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("jwtauth: write key file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("jwtauth: write key file: %w", err)
	}
	// Link, unlike rename, never replaces an existing file, so a concurrent creator's key that
	// may already be in use is never clobbered.
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return loadKey(path)
		}
		return nil, fmt.Errorf("jwtauth: install key file: %w", err)
	}
	syncDir(dir)
	return newKey(priv)
}

// syncDir makes the new directory entry durable; failure only risks regenerating the key after
// a crash, so it is not reported.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

func loadKey(path string) (*Key, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err // fs.ErrNotExist tells the caller to create the key
	}
	defer f.Close()
	// Stat the open file rather than the path, so the checked file is the one read.
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("jwtauth: stat key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("jwtauth: key file %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("jwtauth: key file %s has mode %#o, which lets other users read or change it; "+
			"run chmod 600 on it, or delete it to generate a new key", path, perm)
	}
	// A key file is a few hundred bytes; the limit only stops a wrong path from eating memory.
	data, err := io.ReadAll(io.LimitReader(f, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("jwtauth: read key file: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("jwtauth: key file %s holds no PEM block", path)
	}
	var priv *ecdsa.PrivateKey
	switch block.Type {
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("jwtauth: key file %s: %w", path, err)
		}
		var ok bool
		if priv, ok = k.(*ecdsa.PrivateKey); !ok {
			return nil, fmt.Errorf("jwtauth: key file %s holds a %T, want an ECDSA P-256 key", path, k)
		}
	case "EC PRIVATE KEY":
		if priv, err = x509.ParseECPrivateKey(block.Bytes); err != nil {
			return nil, fmt.Errorf("jwtauth: key file %s: %w", path, err)
		}
	default:
		return nil, fmt.Errorf("jwtauth: key file %s holds a %q PEM block, want PRIVATE KEY", path, block.Type)
	}
	k, err := newKey(priv)
	if err != nil {
		return nil, fmt.Errorf("jwtauth: key file %s: %w", path, err)
	}
	return k, nil
}

// KeyID returns the key's kid: the RFC 7638 thumbprint of its public key.
func (k *Key) KeyID() string { return k.pub.KID }

// PublicKey returns the verification half of the key, for Config.Keys.
func (k *Key) PublicKey() PublicKey { return k.pub }

// JWKS returns the public key as a JSON Web Key Set, as an identity provider would publish it.
func (k *Key) JWKS() []byte { return append([]byte(nil), k.jwks...) }

// TokenSpec describes a token to mint.
type TokenSpec struct {
	// Tenant is the tid claim. Empty omits it, which verifiers refuse; tests use that.
	Tenant string
	// Subject is written as both sub and oid, as Entra does for a user's or app's object id.
	// Empty omits both.
	Subject string
	// Scopes are the delegated permissions, written space-separated as scp. Empty omits scp.
	Scopes []string
	// Roles are the application permissions, written as the roles array. Empty omits roles.
	Roles []string
	// App is the client application's id, written as appid (Entra's v1 claim; v2 tokens carry
	// azp, which the verifier reads too). Empty omits it.
	App string
	// TTL is the lifetime from IssuedAt to exp. Zero means DefaultTTL; a negative value mints an
	// already expired token.
	TTL time.Duration
	// Issuer is the iss claim. Empty means DevIssuer.
	Issuer string
	// Audience is the aud claim. Empty means GraphAudience.
	Audience string
	// IssuedAt is the iat claim and the start of TTL. Zero means now.
	IssuedAt time.Time
	// NotBefore is the nbf claim. Zero means IssuedAt.
	NotBefore time.Time
}

// Mint signs an ES256 access token for spec with the key, naming the key's kid in the header.
func (k *Key) Mint(spec TokenSpec) (string, error) {
	iat := spec.IssuedAt
	if iat.IsZero() {
		iat = time.Now()
	}
	nbf := spec.NotBefore
	if nbf.IsZero() {
		nbf = iat
	}
	ttl := spec.TTL
	if ttl == 0 {
		ttl = DefaultTTL
	}
	iss := spec.Issuer
	if iss == "" {
		iss = DevIssuer
	}
	aud := spec.Audience
	if aud == "" {
		aud = GraphAudience
	}
	// A token the verifier would refuse for the length of its ids is not made at all.
	if remoteassist.IDTooLong(spec.Tenant) || remoteassist.IDTooLong(spec.App) {
		return "", fmt.Errorf("jwtauth: a tenant or application id has at most %d characters", remoteassist.MaxIDLength)
	}
	claims := jwt.MapClaims{
		"iss": iss,
		"aud": aud,
		"iat": iat.Unix(),
		"nbf": nbf.Unix(),
		"exp": iat.Add(ttl).Unix(),
	}
	if spec.Tenant != "" {
		claims["tid"] = spec.Tenant
	}
	if spec.Subject != "" {
		claims["sub"] = spec.Subject
		claims["oid"] = spec.Subject
	}
	if len(spec.Scopes) > 0 {
		claims["scp"] = strings.Join(spec.Scopes, " ")
	}
	if spec.App != "" {
		claims["appid"] = spec.App
	}
	if len(spec.Roles) > 0 {
		claims["roles"] = spec.Roles
	}
	t := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	t.Header["kid"] = k.pub.KID
	s, err := t.SignedString(k.priv)
	if err != nil {
		return "", fmt.Errorf("jwtauth: sign token: %w", err)
	}
	return s, nil
}
