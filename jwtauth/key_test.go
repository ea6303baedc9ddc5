package jwtauth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/remoteassist/remoteassist"
)

func TestLoadOrCreateKeyCreatesPrivateFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "keys") // does not exist yet
	k1, err := LoadOrCreateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("key file mode %#o, want 0600", perm)
	}
	di, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := di.Mode().Perm(); perm != 0o700 {
		t.Errorf("key directory mode %#o, want 0700", perm)
	}

	k2, err := LoadOrCreateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if k1.KeyID() != k2.KeyID() || !k1.priv.Equal(k2.priv) {
		t.Fatalf("reload gave another key: %s vs %s", k1.KeyID(), k2.KeyID())
	}
	// A token minted before a restart verifies after it.
	tok, err := k1.Mint(TokenSpec{Tenant: testTenant})
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewDevVerifier(k2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Authenticate(t.Context(), tok); err != nil {
		t.Fatalf("token from before the reload: %v", err)
	}
}

func TestLoadOrCreateKeyConcurrentFirstStart(t *testing.T) {
	for round := range 5 {
		dir := filepath.Join(t.TempDir(), "keys")
		const n = 16
		kids := make([]string, n)
		errs := make([]error, n)
		var start, wg sync.WaitGroup
		start.Add(1)
		for i := range n {
			wg.Go(func() {
				start.Wait()
				k, err := LoadOrCreateKey(dir)
				errs[i] = err
				if err == nil {
					kids[i] = k.KeyID()
				}
			})
		}
		start.Done()
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("round %d caller %d: %v", round, i, errs[i])
			}
			if kids[i] != kids[0] {
				t.Fatalf("round %d: callers disagree on the key: %s vs %s", round, kids[i], kids[0])
			}
		}
		// The agreed key is the one on disk, and no temporary file is left behind.
		k, err := LoadOrCreateKey(dir)
		if err != nil || k.KeyID() != kids[0] {
			t.Fatalf("round %d: on-disk key %v, %v; callers got %s", round, k, err, kids[0])
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 1 || entries[0].Name() != KeyFile {
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			t.Fatalf("round %d: directory holds %v", round, names)
		}
	}
}

func TestLoadOrCreateKeyRefusesBadFiles(t *testing.T) {
	p384 := newECKey(t, elliptic.P384())
	p384DER, err := x509.MarshalPKCS8PrivateKey(p384)
	if err != nil {
		t.Fatal(err)
	}
	rsaDER, err := x509.MarshalPKCS8PrivateKey(testRSAKey())
	if err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(writeKey(t))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		data []byte
		mode os.FileMode
		want string
	}{
		{"readable by others", good, 0o644, "chmod 600"},
		{"writable by group", good, 0o620, "chmod 600"},
		{"not PEM", []byte("hello"), 0o600, "no PEM block"},
		{"wrong PEM type", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}}), 0o600, "CERTIFICATE"},
		{"RSA key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: rsaDER}), 0o600, "want an ECDSA P-256 key"},
		{"P-384 key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p384DER}), 0o600, "want P-256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, KeyFile)
			if err := os.WriteFile(path, tt.data, tt.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil { // WriteFile's mode is filtered by umask
				t.Fatal(err)
			}
			k, err := LoadOrCreateKey(dir)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("LoadOrCreateKey = %v, %v; want an error containing %q", k, err, tt.want)
			}
			// The file is refused, never replaced.
			if got, _ := os.ReadFile(path); string(got) != string(tt.data) {
				t.Fatal("the key file was changed")
			}
		})
	}
}

func TestLoadOrCreateKeyAcceptsSEC1(t *testing.T) {
	priv := newECKey(t, elliptic.P256())
	der, err := x509.MarshalECPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, KeyFile), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	k, err := LoadOrCreateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !k.priv.Equal(priv) {
		t.Fatal("loaded another key")
	}
}

func writeKey(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if _, err := LoadOrCreateKey(dir); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, KeyFile)
}

// TestKeyIDIsThumbprint recomputes the RFC 7638 thumbprint from the DER encoding of the public
// key, independently of the JWK code.
func TestKeyIDIsThumbprint(t *testing.T) {
	k := testDevKey()
	der, err := x509.MarshalPKIXPublicKey(&k.priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		t.Fatal(err)
	}
	point := pub.(*ecdsa.PublicKey)
	raw, err := point.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	e := base64.RawURLEncoding.EncodeToString
	canon := `{"crv":"P-256","kty":"EC","x":"` + e(raw[1:33]) + `","y":"` + e(raw[33:]) + `"}`
	sum := sha256.Sum256([]byte(canon))
	if want := e(sum[:]); k.KeyID() != want {
		t.Fatalf("kid %s, want thumbprint %s", k.KeyID(), want)
	}
	// The published JWKS round-trips to the same key and kid.
	keys, err := ParseJWKS(k.JWKS())
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0].KID != k.KeyID() || keys[0].Alg != "ES256" || !k.priv.PublicKey.Equal(keys[0].Key) {
		t.Fatalf("JWKS parses to %+v", keys)
	}
}

func TestMintClaims(t *testing.T) {
	k := testDevKey()
	iat := time.Unix(1_800_000_000, 0)
	decode := func(t *testing.T, tok string) (hdr, claims map[string]any) {
		t.Helper()
		parts := strings.Split(tok, ".")
		if len(parts) != 3 {
			t.Fatalf("%d parts", len(parts))
		}
		for i, dst := range []*map[string]any{&hdr, &claims} {
			b, err := base64.RawURLEncoding.DecodeString(parts[i])
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, dst); err != nil {
				t.Fatal(err)
			}
		}
		return hdr, claims
	}
	tests := []struct {
		name   string
		spec   TokenSpec
		want   map[string]any // claims that must be present with these values
		absent []string
	}{
		{
			name: "defaults",
			spec: TokenSpec{Tenant: "t", IssuedAt: iat},
			want: map[string]any{"tid": "t", "iss": DevIssuer, "aud": GraphAudience,
				"iat": float64(iat.Unix()), "nbf": float64(iat.Unix()), "exp": float64(iat.Add(DefaultTTL).Unix())},
			absent: []string{"scp", "roles", "sub", "oid"},
		},
		{
			name:   "delegated",
			spec:   TokenSpec{Tenant: "t", Subject: "u", Scopes: []string{"a", "b"}, IssuedAt: iat, TTL: time.Minute},
			want:   map[string]any{"sub": "u", "oid": "u", "scp": "a b", "exp": float64(iat.Add(time.Minute).Unix())},
			absent: []string{"roles"},
		},
		{
			name:   "application",
			spec:   TokenSpec{Tenant: "t", Roles: []string{"r1", "r2"}, IssuedAt: iat},
			want:   map[string]any{"roles": []any{"r1", "r2"}},
			absent: []string{"scp"},
		},
		{
			name: "explicit issuer, audience, nbf",
			spec: TokenSpec{Tenant: "t", Issuer: "https://i/", Audience: GraphAppID, IssuedAt: iat, NotBefore: iat.Add(time.Minute)},
			want: map[string]any{"iss": "https://i/", "aud": GraphAppID, "nbf": float64(iat.Add(time.Minute).Unix())},
		},
		{
			name:   "no tenant",
			spec:   TokenSpec{IssuedAt: iat},
			absent: []string{"tid"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := k.Mint(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			hdr, claims := decode(t, tok)
			if hdr["alg"] != "ES256" || hdr["kid"] != k.KeyID() || hdr["typ"] != "JWT" {
				t.Errorf("header %v", hdr)
			}
			for name, want := range tt.want {
				if got, _ := json.Marshal(claims[name]); string(got) != string(must(json.Marshal(want))) {
					t.Errorf("%s = %s, want %v", name, got, want)
				}
			}
			for _, name := range tt.absent {
				if _, ok := claims[name]; ok {
					t.Errorf("%s present: %v", name, claims[name])
				}
			}
		})
	}
}

// TestMintRefusesLongIDs: a token whose tenant or application id the verifier would refuse is
// not made; the longest it takes is.
func TestMintRefusesLongIDs(t *testing.T) {
	k := testDevKey()
	long := strings.Repeat("é", remoteassist.MaxIDLength)
	for _, tc := range []struct {
		name string
		spec TokenSpec
		ok   bool
	}{
		{"longest tenant", TokenSpec{Tenant: long}, true},
		{"longest app", TokenSpec{Tenant: "contoso", App: long}, true},
		{"tenant one too long", TokenSpec{Tenant: long + "x"}, false},
		{"app one too long", TokenSpec{Tenant: "contoso", App: long + "x"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, clk := newTestVerifier(t, nil)
			tc.spec.IssuedAt = clk.Now()
			tok, err := k.Mint(tc.spec)
			if (err == nil) != tc.ok {
				t.Fatalf("Mint: %v", err)
			}
			if tc.ok {
				if p, err := v.Authenticate(t.Context(), tok); err != nil || p.Tenant != tc.spec.Tenant || p.App != tc.spec.App {
					t.Errorf("the verifier: %+v %v", p, err)
				}
			}
		})
	}
}
