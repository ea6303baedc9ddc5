package jwtauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/internal/testutil"
)

// toJWK encodes a public key as a JWK with the given kid and (possibly empty) alg.
func toJWK(t testing.TB, kid, alg string, pub any) jwk {
	t.Helper()
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return jwk{Kty: "RSA", Kid: kid, Alg: alg, Use: "sig",
			N: b64.EncodeToString(k.N.Bytes()), E: b64.EncodeToString(big.NewInt(int64(k.E)).Bytes())}
	case *ecdsa.PublicKey:
		j, err := ecJWK(k)
		if err != nil {
			t.Fatal(err)
		}
		j.Kid, j.Alg, j.Use = kid, alg, "sig"
		return j
	}
	t.Fatalf("unsupported key %T", pub)
	return jwk{}
}

func jwksOf(t testing.TB, keys ...jwk) []byte {
	t.Helper()
	b, err := json.Marshal(jwkSet{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// jwksServer is an identity provider's key endpoint whose keys and health tests can change.
type jwksServer struct {
	*httptest.Server
	hits   atomic.Int64
	body   atomic.Pointer[[]byte]
	broken atomic.Bool
}

func newJWKSServer(t testing.TB, body []byte) *jwksServer {
	s := &jwksServer{}
	s.serve(body)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		if s.broken.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(*s.body.Load())
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) serve(body []byte) { s.body.Store(&body) }

// waitHits waits for a background fetch to reach the server.
func (s *jwksServer) waitHits(t *testing.T, n int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for s.hits.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("JWKS fetched %d times, want %d", s.hits.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestJWKSRotation(t *testing.T) {
	keyA := testRSAKey()                 // the provider's current key, RS256
	keyB := newECKey(t, elliptic.P256()) // its next key, ES256
	keyC := newECKey(t, elliptic.P384()) // and the one after, ES384
	srv := newJWKSServer(t, jwksOf(t, toJWK(t, "a", "", &keyA.PublicKey)))
	clk := newClock()
	v, err := NewVerifier(Config{JWKSURL: srv.URL + "/keys", Issuers: []string{DevIssuer}, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if srv.hits.Load() != 0 {
		t.Fatal("NewVerifier fetched the JWKS; it should be fetched on first use")
	}
	tokA := func() string {
		c := claimsAt(clk.Now())
		c["jti"] = fmt.Sprint(time.Now().UnixNano()) // a distinct token each time
		return sign(t, jwt.SigningMethodRS256, keyA, "a", c)
	}
	tokB := func() string { return sign(t, jwt.SigningMethodES256, keyB, "b", claimsAt(clk.Now())) }
	accept := func(step, tok string) {
		t.Helper()
		if _, err := v.Authenticate(t.Context(), tok); err != nil {
			t.Fatalf("%s: refused: %v", step, err)
		}
	}
	refuse := func(step, tok string) {
		t.Helper()
		p, err := v.Authenticate(t.Context(), tok)
		if err == nil {
			t.Fatalf("%s: accepted", step)
		}
		requireUnauthenticated(t, p, err, tok, msgSignature)
	}
	wantHits := func(step string, n int64) {
		t.Helper()
		if got := srv.hits.Load(); got != n {
			t.Fatalf("%s: JWKS fetched %d times, want %d", step, got, n)
		}
	}

	a1 := tokA()
	accept("first token", a1)
	wantHits("first token", 1)
	accept("same token again", a1)
	accept("another token, same key", tokA())
	wantHits("known key", 1)

	// The provider replaces key a by key b.
	srv.serve(jwksOf(t, toJWK(t, "b", "", &keyB.PublicKey)))
	clk.Advance(DefaultMinRefreshInterval)
	accept("new key without restart", tokB())
	wantHits("new kid", 2)

	// A token verified while its key was trusted is refused once the key is removed, cached or
	// not: a provider removes a key to revoke it, and a token of a leaked key may carry any exp.
	refuse("cached token of the removed key", a1)
	wantHits("cached token of the removed key, within the rate limit", 2)
	a2 := tokA()
	refuse("new token of the removed key", a2)
	wantHits("unknown kid within the rate limit", 2)
	clk.Advance(DefaultMinRefreshInterval)
	refuse("new token of the removed key, after the rate limit", tokA())
	wantHits("unknown kid after the rate limit", 3)

	// Background refresh: once the set is older than RefreshInterval, a lookup triggers a fetch
	// without waiting for it; the provider has added key c meanwhile.
	srv.serve(jwksOf(t, toJWK(t, "b", "", &keyB.PublicKey), toJWK(t, "c", "ES384", &keyC.PublicKey)))
	clk.Advance(DefaultRefreshInterval)
	accept("known key from a stale set", tokB())
	srv.waitHits(t, 4)
	waitFor(t, func() bool { return v.sources[0].set.Load().keys["c"] != nil })
	accept("key c, fetched in the background", sign(t, jwt.SigningMethodES384, keyC, "c", claimsAt(clk.Now())))
	wantHits("no fetch for c", 4)

	// And the background refresh is how a removed key stops being trusted.
	srv.serve(jwksOf(t, toJWK(t, "c", "ES384", &keyC.PublicKey)))
	clk.Advance(DefaultRefreshInterval)
	accept("b from the stale set", tokB())
	srv.waitHits(t, 5)
	waitFor(t, func() bool { return v.sources[0].set.Load().keys["b"] == nil })
	refuse("b after its removal", tokB())
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestJWKSRefreshRateLimit(t *testing.T) {
	kid := "the-real-kid"
	signer := newECKey(t, elliptic.P256())
	srv := newJWKSServer(t, jwksOf(t, toJWK(t, kid, "", &signer.PublicKey)))
	// A clock that stands still, and the default limit: however long the flood takes on a busy
	// machine, it is all within one refresh interval.
	clk := newClock()
	v, err := NewVerifier(Config{JWKSURL: srv.URL, Issuers: []string{DevIssuer}, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	const n = 1000
	tokens := make([]string, n)
	for i := range tokens {
		tokens[i] = sign(t, jwt.SigningMethodES256, signer, fmt.Sprintf("random-%d-%x", i, i*7919), claimsAt(clk.Now()))
	}
	var wg sync.WaitGroup
	var accepted atomic.Int64
	for g := range 32 {
		wg.Go(func() {
			for i := g; i < n; i += 32 {
				if _, err := v.Authenticate(t.Context(), tokens[i]); err == nil {
					accepted.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if a := accepted.Load(); a != 0 {
		t.Errorf("%d tokens with invented kids were accepted", a)
	}
	if h := srv.hits.Load(); h != 1 {
		t.Fatalf("a flood of %d unknown kids caused %d JWKS fetches, want 1", n, h)
	}
	// The one fetch brought the real key, which works without any further fetch.
	hits := srv.hits.Load()
	if _, err := v.Authenticate(t.Context(), sign(t, jwt.SigningMethodES256, signer, kid, claimsAt(clk.Now()))); err != nil {
		t.Fatal(err)
	}
	if srv.hits.Load() != hits {
		t.Fatal("a known kid caused a fetch")
	}
}

func TestJWKSProviderDown(t *testing.T) {
	signer := newECKey(t, elliptic.P256())
	srv := newJWKSServer(t, jwksOf(t, toJWK(t, "k", "", &signer.PublicKey)))
	srv.broken.Store(true)
	clk := newClock()
	v, err := NewVerifier(Config{JWKSURL: srv.URL, Issuers: []string{DevIssuer}, Now: clk.Now, MinRefreshInterval: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	tok := func() string {
		c := claimsAt(clk.Now())
		c["jti"] = fmt.Sprint(time.Now().UnixNano())
		return sign(t, jwt.SigningMethodES256, signer, "k", c)
	}
	t1 := tok()
	// No key was ever fetched: the provider is down, which is no reason to call the token bad.
	p, err := v.Authenticate(t.Context(), t1)
	var e *remoteassist.Error
	if !errors.As(err, &e) || e.Code != remoteassist.EUNAVAILABLE || e.Message != msgKeysUnavailable || e.RetryAfter != time.Minute || p.Tenant != "" {
		t.Fatalf("provider down before any fetch: principal %+v, err %v, want EUNAVAILABLE with Retry-After", p, err)
	}
	if !strings.Contains(err.Error(), "503") {
		t.Errorf("the cause does not tell operators why: %v", err)
	}
	if strings.Contains(e.Message, t1) {
		t.Error("the message echoes the token")
	}
	// Retried only after MinRefreshInterval, even though every request wants the key.
	for range 10 {
		v.Authenticate(t.Context(), tok())
	}
	if h := srv.hits.Load(); h != 1 {
		t.Fatalf("%d fetches from a down provider within the limit", h)
	}
	srv.broken.Store(false)
	clk.Advance(time.Minute)
	if _, err := v.Authenticate(t.Context(), tok()); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
	// A later outage keeps the last good set.
	srv.broken.Store(true)
	clk.Advance(2 * DefaultRefreshInterval)
	if _, err := v.Authenticate(t.Context(), tok()); err != nil {
		t.Fatalf("stale set during an outage: %v", err)
	}
	srv.waitHits(t, 3)
	waitFor(t, func() bool { return !v.sources[0].background.Load() })
	if _, err := v.Authenticate(t.Context(), tok()); err != nil {
		t.Fatalf("after a failed background refresh: %v", err)
	}
}

func TestJWKSFile(t *testing.T) {
	rsaKey := testRSAKey()
	p384 := newECKey(t, elliptic.P384())
	path := filepath.Join(t.TempDir(), "jwks.json")
	write := func(keys ...jwk) {
		if err := os.WriteFile(path, jwksOf(t, keys...), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The JWK's alg binds the RSA key to PS256, so RS256 with the same key must be refused.
	write(toJWK(t, "ps", "PS256", &rsaKey.PublicKey), toJWK(t, "ec384", "", &p384.PublicKey))
	clk := newClock()
	v, err := NewVerifier(Config{JWKSFile: path, Issuers: []string{DevIssuer}, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		tok  string
		want string
	}{
		{"PS256", sign(t, jwt.SigningMethodPS256, rsaKey, "ps", claimsAt(clk.Now())), ""},
		{"ES384", sign(t, jwt.SigningMethodES384, p384, "ec384", claimsAt(clk.Now())), ""},
		{"RS256 on a PS256 key", sign(t, jwt.SigningMethodRS256, rsaKey, "ps", claimsAt(clk.Now())), msgSignature},
		{"ES256 header on a P-384 key", sign(t, jwt.SigningMethodES256, newECKey(t, elliptic.P256()), "ec384", claimsAt(clk.Now())), msgSignature},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := v.Authenticate(t.Context(), tt.tok)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			requireUnauthenticated(t, p, err, tt.tok, tt.want)
		})
	}

	// Rotating by rewriting the file works without a restart.
	next := newECKey(t, elliptic.P256())
	write(toJWK(t, "next", "", &next.PublicKey))
	clk.Advance(DefaultMinRefreshInterval)
	if _, err := v.Authenticate(t.Context(), sign(t, jwt.SigningMethodES256, next, "next", claimsAt(clk.Now()))); err != nil {
		t.Fatalf("rotated file: %v", err)
	}
}

func TestParseJWKS(t *testing.T) {
	ec := newECKey(t, elliptic.P256())
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	good := toJWK(t, "good", "", &ec.PublicKey)
	enc := good
	enc.Kid, enc.Use = "enc", "enc"
	noKid := good
	noKid.Kid = ""
	dup := toJWK(t, "good", "", &testRSAKey().PublicKey)
	offCurve := good
	offCurve.Kid, offCurve.Y = "off", offCurve.X
	hs := jwk{Kty: "oct", Kid: "hmac", Alg: "HS256"}
	okp := jwk{Kty: "OKP", Kid: "ed", Crv: "Ed25519", X: good.X}
	badAlg := toJWK(t, "rsa-as-es", "ES256", &testRSAKey().PublicKey)
	weak := toJWK(t, "weak", "", &small.PublicKey)

	keys, err := ParseJWKS(jwksOf(t, enc, noKid, good, dup, offCurve, hs, okp, badAlg, weak))
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0].KID != "good" || !ec.PublicKey.Equal(keys[0].Key) {
		t.Fatalf("got %+v, want only the good key", keys)
	}

	for _, bad := range []string{`not json`, `{"keys":[]}`, `{}`, string(jwksOf(t, hs, weak))} {
		keys, err := ParseJWKS([]byte(bad))
		if err == nil {
			t.Errorf("ParseJWKS(%.40s) = %+v, want an error", bad, keys)
		} else if strings.Contains(err.Error(), "%!") {
			t.Errorf("ParseJWKS(%.40s): a malformed message: %v", bad, err)
		}
	}
}

// loopbackOnlyClient is an HTTP client whose dialer fails the test, without dialing, if it is
// ever asked for an address outside loopback.
func loopbackOnlyClient(t *testing.T) *http.Client {
	t.Helper()
	var d net.Dialer
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			t.Errorf("the JWKS fetch dialed %s, off loopback", addr)
			return nil, errors.New("test: dial off loopback refused")
		}
		return d.DialContext(ctx, network, addr)
	}}}
}

// TestJWKSRedirectStaysOnHost: a JWKS URL that redirects within its host is followed; one that
// redirects to another host, or another port of the same one, is refused before anything is
// dialed there, so that no server but the one configured chooses the keys.
func TestJWKSRedirectStaysOnHost(t *testing.T) {
	signer := newECKey(t, elliptic.P256())
	keys := jwksOf(t, toJWK(t, "k", "", &signer.PublicKey))
	var otherHits atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		otherHits.Add(1)
		w.Write(keys)
	}))
	defer other.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/keys":
			w.Write(keys)
		case "/moved":
			http.Redirect(w, r, "/keys", http.StatusFound)
		case "/off-host":
			// TEST-NET-1, never reached: the client must refuse before dialing.
			http.Redirect(w, r, "http://192.0.2.1/keys", http.StatusFound)
		case "/other-port":
			http.Redirect(w, r, other.URL+"/keys", http.StatusMovedPermanently)
		}
	}))
	defer srv.Close()

	tok := sign(t, jwt.SigningMethodES256, signer, "k", claimsAt(time.Now()))
	for _, tt := range []struct {
		path   string
		accept bool
	}{
		{"/moved", true},
		{"/off-host", false},
		{"/other-port", false},
	} {
		t.Run(tt.path, func(t *testing.T) {
			v, err := NewVerifier(Config{JWKSURL: srv.URL + tt.path, HTTPClient: loopbackOnlyClient(t), Issuers: []string{DevIssuer}})
			if err != nil {
				t.Fatal(err)
			}
			_, err = v.Authenticate(t.Context(), tok)
			if tt.accept {
				if err != nil {
					t.Fatalf("a redirect within the host: %v", err)
				}
				return
			}
			var e *remoteassist.Error
			if !errors.As(err, &e) || e.Code != remoteassist.EUNAVAILABLE || !strings.Contains(err.Error(), "redirect to ") {
				t.Fatalf("a redirect off the host: err %v, want the keys unavailable for the refused redirect", err)
			}
			if strings.Contains(e.Message, "192.0.2.1") || strings.Contains(e.Message, other.URL) {
				t.Errorf("the client's message %q names the redirect", e.Message)
			}
		})
	}
	if n := otherHits.Load(); n != 0 {
		t.Errorf("the other port was fetched %d times", n)
	}
}

// TestCacheSurvivesUnchangedRefresh: a refresh that brings the same keys keeps the tokens they
// verified cached. Anybody can cause a refresh, with no credential, by naming an invented kid
// once every MinRefreshInterval; were each refresh to end every cached token, that would be a way
// to put every client's next request through a signature check again, every few seconds.
func TestCacheSurvivesUnchangedRefresh(t *testing.T) {
	signer := newECKey(t, elliptic.P256())
	rsaKey := testRSAKey()
	srv := newJWKSServer(t, jwksOf(t, toJWK(t, "ec", "", &signer.PublicKey), toJWK(t, "rsa", "PS256", &rsaKey.PublicKey)))
	clk := newClock()
	v, err := NewVerifier(Config{JWKSURL: srv.URL, Issuers: []string{DevIssuer}, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	ec := sign(t, jwt.SigningMethodES256, signer, "ec", claimsAt(clk.Now()))
	ps := sign(t, jwt.SigningMethodPS256, rsaKey, "rsa", claimsAt(clk.Now()))
	for _, tok := range []string{ec, ps} {
		if _, err := v.Authenticate(t.Context(), tok); err != nil {
			t.Fatal(err)
		}
	}
	// With the audience no longer accepted, only the cache can still accept the tokens.
	v.audiences = []string{"api://another"}
	clk.Advance(DefaultMinRefreshInterval)
	invented := sign(t, jwt.SigningMethodES256, signer, "invented", claimsAt(clk.Now()))
	if _, err := v.Authenticate(t.Context(), invented); err == nil {
		t.Fatal("a token with an invented kid was accepted")
	}
	if h := srv.hits.Load(); h != 2 {
		t.Fatalf("%d fetches, want 2: the first use and the invented kid's refresh", h)
	}
	for _, tok := range []string{ec, ps} {
		if _, err := v.Authenticate(t.Context(), tok); err != nil {
			t.Errorf("a refresh that kept the key ended its cached token: %v", err)
		}
	}

	// A key whose material changes under the same kid is another key: its tokens are verified
	// again (and, with the audience changed, refused).
	other := newECKey(t, elliptic.P256())
	srv.serve(jwksOf(t, toJWK(t, "ec", "", &other.PublicKey), toJWK(t, "rsa", "PS256", &rsaKey.PublicKey)))
	clk.Advance(DefaultMinRefreshInterval)
	v.Authenticate(t.Context(), invented)
	if _, err := v.Authenticate(t.Context(), ec); err == nil {
		t.Error("a token cached under a kid whose key changed was still accepted")
	}
	if _, err := v.Authenticate(t.Context(), ps); err != nil {
		t.Errorf("the unchanged key's token: %v", err)
	}
}

// TestJWKSErrorKinds: why a key set is unusable can be told with errors.Is, from ParseJWKS, from
// ReadJWKSFile and NewVerifier (a *SourceError naming the file, whose Err is the reason alone),
// and from a URL's fetch.
func TestJWKSErrorKinds(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		name, data string
		kind       error
	}{
		{"empty", " \n\t", ErrJWKSEmpty},
		{"too large", `{"keys":[]}` + strings.Repeat(" ", MaxJWKSSize), ErrJWKSTooLarge},
		{"not JSON", "-----BEGIN PUBLIC KEY-----", ErrJWKSNotJSON},
		{"an array", "[]", ErrJWKSNotKeySet},
		{"keys not an array", `{"keys":{}}`, ErrJWKSNotKeySet},
		{"no keys", `{"keys":[]}`, ErrJWKSNoKeys},
		{"an object without keys", `{}`, ErrJWKSNoKeys},
		{"no usable key", `{"keys":[{"kty":"oct","kid":"a"},"b"]}`, ErrJWKSNoUsableKey},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.kind != ErrJWKSTooLarge { // ParseJWKS takes whatever it is given
				_, err := ParseJWKS([]byte(tt.data))
				if !errors.Is(err, tt.kind) || !strings.HasPrefix(err.Error(), "jwtauth: ") || strings.Contains(err.Error(), "\n") {
					t.Errorf("ParseJWKS: %v, want one line that is %v", err, tt.kind)
				}
			}
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-")+".json")
			if err := os.WriteFile(path, []byte(tt.data), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := ReadJWKSFile(path)
			var se *SourceError
			if !errors.Is(err, tt.kind) || !errors.As(err, &se) || se.Source != "JWKS file "+path ||
				strings.Contains(se.Err.Error(), path) || strings.Contains(se.Err.Error(), "jwtauth") {
				t.Errorf("ReadJWKSFile: %v, want a *SourceError naming the file that is %v", err, tt.kind)
			}
			_, verr := NewVerifier(Config{JWKSFile: path, Issuers: []string{DevIssuer}})
			if verr == nil || verr.Error() != err.Error() || !errors.Is(verr, tt.kind) {
				t.Errorf("NewVerifier: %v, want ReadJWKSFile's %v", verr, err)
			}
		})
	}

	t.Run("missing file", func(t *testing.T) {
		path := filepath.Join(dir, "nope.json")
		_, err := ReadJWKSFile(path)
		var se *SourceError
		if !errors.Is(err, os.ErrNotExist) || !errors.As(err, &se) || se.Err.Error() != "no such file or directory" {
			t.Errorf("ReadJWKSFile: %v, want the file system's reason alone", err)
		}
	})

	t.Run("oversized response", func(t *testing.T) {
		signer := newECKey(t, elliptic.P256())
		srv := newJWKSServer(t, append(jwksOf(t, toJWK(t, "k", "", &signer.PublicKey)), strings.Repeat(" ", MaxJWKSSize)...))
		v, err := NewVerifier(Config{JWKSURL: srv.URL, Issuers: []string{DevIssuer}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = v.Authenticate(t.Context(), sign(t, jwt.SigningMethodES256, signer, "k", claimsAt(time.Now())))
		if !errors.Is(err, ErrJWKSTooLarge) || !strings.Contains(err.Error(), "the response is larger than") {
			t.Errorf("err %v, want the response too large", err)
		}
	})
}

// TestJWKSProviderDownBesideStaticKeys: with static keys beside the JWKS (serve --dev-tokens), a
// token naming a kid none of them has, while the JWKS was never fetched, is still "retry later",
// as without them: the provider is down, which says nothing against the token. The static keys'
// tokens are accepted meanwhile.
func TestJWKSProviderDownBesideStaticKeys(t *testing.T) {
	signer := newECKey(t, elliptic.P256())
	srv := newJWKSServer(t, jwksOf(t, toJWK(t, "k", "", &signer.PublicKey)))
	srv.broken.Store(true)
	dev := testDevKey()
	clk := newClock()
	v, err := NewVerifier(Config{Keys: []PublicKey{dev.PublicKey()}, JWKSURL: srv.URL, Issuers: []string{DevIssuer}, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Authenticate(t.Context(), sign(t, jwt.SigningMethodES256, signer, "k", claimsAt(clk.Now())))
	var e *remoteassist.Error
	if !errors.As(err, &e) || e.Code != remoteassist.EUNAVAILABLE || e.RetryAfter != DefaultMinRefreshInterval {
		t.Errorf("the provider's token while it is down: %v, want EUNAVAILABLE with Retry-After", err)
	}
	if _, err := v.Authenticate(t.Context(), mintAt(t, clk, TokenSpec{Tenant: testTenant})); err != nil {
		t.Errorf("a static key's token while the provider is down: %v", err)
	}
}

// TestJWKSFetchFailuresAreLogged: an operator sees a provider's outage in the log, not only in
// the 401s and 503s it causes: each failed fetch is a warning (rate limited with the fetches),
// saying whether keys fetched before stay trusted, and the first fetch that succeeds after
// failures is a line too. A fetch that succeeds as the one before did writes nothing.
func TestJWKSFetchFailuresAreLogged(t *testing.T) {
	signer := newECKey(t, elliptic.P256())
	srv := newJWKSServer(t, jwksOf(t, toJWK(t, "k", "", &signer.PublicKey)))
	srv.broken.Store(true)
	clk := newClock()
	var log testutil.SyncBuffer
	v, err := NewVerifier(Config{JWKSURL: srv.URL, Issuers: []string{DevIssuer}, Now: clk.Now, MinRefreshInterval: time.Minute,
		Logger: slog.New(slog.NewTextHandler(&log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	tok := func(kid string) string {
		c := claimsAt(clk.Now())
		c["jti"] = fmt.Sprint(time.Now().UnixNano())
		return sign(t, jwt.SigningMethodES256, signer, kid, c)
	}
	lines := func() []string { return strings.Split(strings.TrimSpace(log.String()), "\n") }

	v.Authenticate(t.Context(), tok("k"))
	v.Authenticate(t.Context(), tok("k")) // within MinRefreshInterval: no fetch, no line
	if l := lines(); len(l) != 1 || !strings.Contains(l[0], "level=WARN") || !strings.Contains(l[0], "no key of it is trusted yet") ||
		!strings.Contains(l[0], srv.URL) || !strings.Contains(l[0], "503") {
		t.Fatalf("provider down before any fetch: log %q, want one warning naming the URL and the status", l)
	}

	srv.broken.Store(false)
	clk.Advance(time.Minute)
	if _, err := v.Authenticate(t.Context(), tok("k")); err != nil {
		t.Fatal(err)
	}
	if l := lines(); len(l) != 2 || !strings.Contains(l[1], "level=INFO") || !strings.Contains(l[1], "fetched again after failures") {
		t.Fatalf("after recovery: log %q, want a line saying so", l)
	}

	srv.broken.Store(true)
	clk.Advance(time.Minute)
	if _, err := v.Authenticate(t.Context(), tok("rotated")); err == nil {
		t.Fatal("a token of an unknown kid accepted")
	}
	if l := lines(); len(l) != 3 || !strings.Contains(l[2], "level=WARN") || !strings.Contains(l[2], "the keys fetched before stay trusted") {
		t.Fatalf("an outage after a fetch: log %q, want a warning that the keys before stay trusted", l)
	}

	srv.broken.Store(false)
	clk.Advance(time.Minute)
	v.Authenticate(t.Context(), tok("rotated")) // fetched again: a line
	clk.Advance(time.Minute)
	v.Authenticate(t.Context(), tok("rotated2")) // fetched as before: no line
	if l := lines(); len(l) != 4 {
		t.Fatalf("log %q, want 4 lines: a success after a success writes none", l)
	}
}

// TestSameHostPort: a JWKS URL's redirect may write its host in another letter case, and its
// port or leave it out when it is the scheme's default; any other host or port is another server.
func TestSameHostPort(t *testing.T) {
	for _, tc := range []struct {
		origin, to string
		same       bool
	}{
		{"https://login.example.test/keys", "https://LOGIN.Example.test/other", true},
		{"https://login.example.test/keys", "https://login.example.test:443/other", true},
		{"https://login.example.test:443/keys", "https://login.example.test/other", true},
		{"http://127.0.0.1/keys", "http://127.0.0.1:80/other", true},
		{"https://[::1]:8443/keys", "https://[::1]:8443/other", true},
		{"https://login.example.test/keys", "https://login.example.test:8443/other", false},
		{"https://login.example.test/keys", "https://evil.example.test/keys", false},
		{"http://127.0.0.1:8080/keys", "http://127.0.0.1:8081/keys", false},
		{"https://login.example.test/keys", "http://login.example.test:443/keys", true}, // same host and port; the scheme is checked apart
		{"http://login.example.test/keys", "https://login.example.test/keys", true},     // an upgrade, each at its default port
		{"http://login.example.test:8080/keys", "https://login.example.test:8443/keys", false},
	} {
		a, _ := url.Parse(tc.to)
		b, _ := url.Parse(tc.origin)
		if got := sameHostPort(a, b); got != tc.same {
			t.Errorf("sameHostPort(%s, %s) = %v, want %v", tc.to, tc.origin, got, tc.same)
		}
	}
}
