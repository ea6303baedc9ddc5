package jwtauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/remoteassist/remoteassist"
)

// Defaults applied by NewVerifier to zero Config fields.
const (
	// DefaultLeeway absorbs clock skew between the token issuer and this service.
	DefaultLeeway = 30 * time.Second
	// DefaultMinRefreshInterval spaces JWKS fetches triggered by unknown kids.
	DefaultMinRefreshInterval = 10 * time.Second
	// DefaultRefreshInterval is the age after which a JWKS is refetched in the background.
	DefaultRefreshInterval = time.Hour
	// DefaultCacheSize is the number of verified tokens remembered.
	DefaultCacheSize = 10_000
	// DefaultHTTPTimeout bounds a JWKS request made with the default HTTP client.
	DefaultHTTPTimeout = 10 * time.Second
)

// MaxTokenSize is the longest token accepted. Entra tokens are 1-3 KiB even with many roles; the
// limit is checked before anything is decoded, so oversized headers cost nothing.
const MaxTokenSize = 16 << 10

// TenantPlaceholder may appear in Config.Issuers to stand for the token's own tid, as in
// Entra's multi-tenant issuer "https://login.microsoftonline.com/{tenantid}/v2.0".
const TenantPlaceholder = "{tenantid}"

// Client-safe messages, modelled on Graph's. None of them includes anything from the token.
const (
	msgEmpty           = "Access token is empty."
	msgTooLarge        = "Invalid JWT token. The token is too large."
	msgMalformed       = "Invalid JWT token. The token is malformed."
	msgSignature       = "Access token validation failure. Invalid signature."
	msgNoExpiry        = "Lifetime validation failed, the token has no expiry (exp) claim."
	msgExpired         = "Lifetime validation failed, the token is expired."
	msgNotYetValid     = "Lifetime validation failed, the token is not yet valid."
	msgIssuer          = "Access token validation failure. Invalid issuer."
	msgAudience        = "Access token validation failure. Invalid audience."
	msgNoTenant        = "Access token validation failure. The token has no tenant (tid) claim."
	msgKeysUnavailable = "The token issuer's signing keys cannot be fetched right now. Retry later."
	msgTenant          = "Access token validation failure. The token's tenant is not allowed to use this service."
)

// Config configures a Verifier. At least one key source (Keys, JWKSFile or JWKSURL) and one
// issuer are required; all sources given are trusted.
type Config struct {
	// Keys are static verification keys, such as the development key's PublicKey. A kid listed
	// here takes precedence over the same kid in a JWKS.
	Keys []PublicKey
	// JWKSFile is a JSON Web Key Set file. It is read by NewVerifier, which fails if it is
	// unusable, and reread like a URL when a token names an unknown kid, so keys can be rotated
	// by rewriting the file.
	JWKSFile string
	// JWKSURL is an http or https URL serving a JSON Web Key Set, such as an Entra tenant's
	// https://login.microsoftonline.com/{tenant}/discovery/v2.0/keys. It is fetched on first
	// use, when a token names an unknown kid, and in the background when older than
	// RefreshInterval. Plain http is meant for tests.
	JWKSURL string
	// HTTPClient fetches JWKSURL. Nil means a client with DefaultHTTPTimeout.
	HTTPClient *http.Client
	// Issuers are the accepted iss values, compared exactly. An entry may contain
	// TenantPlaceholder, which matches the token's own tid. Required.
	Issuers []string
	// Audiences are the accepted aud values; a token is accepted if any of its audiences is
	// listed. Empty means GraphAudience and GraphAppID.
	Audiences []string
	// Leeway is the clock skew tolerated when checking exp, nbf and iat. Zero means
	// DefaultLeeway; a negative value means none.
	Leeway time.Duration
	// AllowedTenants, if not empty, lists the only tids accepted.
	AllowedTenants []string
	// RefreshInterval is the age after which a JWKS is refetched in the background, which is
	// how keys removed by the provider stop being trusted. Zero means DefaultRefreshInterval.
	RefreshInterval time.Duration
	// MinRefreshInterval is the least time between two fetches of a JWKS, however many unknown
	// kids arrive. Zero means DefaultMinRefreshInterval.
	MinRefreshInterval time.Duration
	// CacheSize is the number of verified tokens remembered so that repeated requests skip the
	// signature check. Zero means DefaultCacheSize; a negative value disables the cache.
	CacheSize int
	// Now returns the current time. Nil means time.Now; tests set it to control lifetimes and
	// refresh timing.
	Now func() time.Time
}

// Verifier verifies bearer tokens. It implements remoteassist.Authenticator and is safe for
// concurrent use.
type Verifier struct {
	static    map[string]*verKey
	sources   []*keySource
	issuers   []string
	audiences []string
	tenants   map[string]bool // nil means any tenant
	leeway    time.Duration
	now       func() time.Time
	cache     *tokenCache // nil when disabled
	// minRefresh is how long a client should wait when the keys cannot be fetched.
	minRefresh time.Duration
}

var _ remoteassist.Authenticator = (*Verifier)(nil)

// NewVerifier returns a Verifier for cfg. It fails on configuration errors, including an
// unreadable or unusable JWKSFile; a JWKSURL is not fetched until it is needed.
func NewVerifier(cfg Config) (*Verifier, error) {
	v := &Verifier{
		static:    make(map[string]*verKey),
		issuers:   slices.Clone(cfg.Issuers),
		audiences: slices.Clone(cfg.Audiences),
		leeway:    cfg.Leeway,
		now:       cfg.Now,
	}
	if v.now == nil {
		v.now = time.Now
	}
	switch {
	case v.leeway == 0:
		v.leeway = DefaultLeeway
	case v.leeway < 0:
		v.leeway = 0
	}
	if len(v.issuers) == 0 || slices.Contains(v.issuers, "") {
		return nil, errors.New("jwtauth: Config.Issuers must list the accepted token issuers")
	}
	if len(v.audiences) == 0 {
		v.audiences = []string{GraphAudience, GraphAppID}
	}
	if slices.Contains(v.audiences, "") {
		return nil, errors.New("jwtauth: Config.Audiences has an empty entry")
	}
	if len(cfg.AllowedTenants) > 0 {
		v.tenants = make(map[string]bool, len(cfg.AllowedTenants))
		for _, t := range cfg.AllowedTenants {
			if t == "" {
				return nil, errors.New("jwtauth: Config.AllowedTenants has an empty entry")
			}
			v.tenants[t] = true
		}
	}
	for _, pk := range cfg.Keys {
		vk, err := pk.bind()
		if err != nil {
			return nil, fmt.Errorf("jwtauth: Config.Keys: %w", err)
		}
		if v.static[vk.kid] != nil {
			return nil, fmt.Errorf("jwtauth: Config.Keys: duplicate kid %q", vk.kid)
		}
		v.static[vk.kid] = vk
	}

	minInterval := cfg.MinRefreshInterval
	if minInterval <= 0 {
		minInterval = DefaultMinRefreshInterval
	}
	v.minRefresh = minInterval
	maxAge := cfg.RefreshInterval
	if maxAge <= 0 {
		maxAge = DefaultRefreshInterval
	}
	newSource := func(name string, fetch func(context.Context) ([]byte, error)) *keySource {
		s := &keySource{name: name, fetch: fetch, now: v.now, minInterval: minInterval, maxAge: maxAge}
		v.sources = append(v.sources, s)
		return s
	}
	if cfg.JWKSFile != "" {
		s := newSource("JWKS file "+cfg.JWKSFile, fileSource(cfg.JWKSFile))
		// Load through refresh so the rate limit counts this read.
		if err := s.refresh(context.Background()); err != nil {
			return nil, err
		}
	}
	if cfg.JWKSURL != "" {
		u, err := url.Parse(cfg.JWKSURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("jwtauth: Config.JWKSURL %q is not an http(s) URL", cfg.JWKSURL)
		}
		client := cfg.HTTPClient
		if client == nil {
			client = &http.Client{Timeout: DefaultHTTPTimeout}
		}
		newSource("JWKS URL "+u.Redacted(), urlSource(client, cfg.JWKSURL))
	}
	if len(v.static) == 0 && len(v.sources) == 0 {
		return nil, errors.New("jwtauth: no key source: set Config.Keys, JWKSFile or JWKSURL")
	}

	size := cfg.CacheSize
	if size == 0 {
		size = DefaultCacheSize
	}
	if size > 0 {
		v.cache = newTokenCache(size)
	}
	return v, nil
}

// NewDevVerifier returns a Verifier that trusts tokens minted by k with the default issuer and
// audience: the zero-configuration setup.
func NewDevVerifier(k *Key) (*Verifier, error) {
	return NewVerifier(Config{Keys: []PublicKey{k.PublicKey()}, Issuers: []string{DevIssuer}})
}

// Authenticate verifies a bearer token (without the "Bearer " prefix) and returns its principal.
// Every failure is a *remoteassist.Error with code EUNAUTHENTICATED, a client-safe message and
// the cause in Err for logs. The returned principal's slices are shared and must not be
// modified.
func (v *Verifier) Authenticate(ctx context.Context, token string) (remoteassist.Principal, error) {
	if token == "" {
		return remoteassist.Principal{}, fail(msgEmpty, nil)
	}
	if len(token) > MaxTokenSize {
		return remoteassist.Principal{}, fail(msgTooLarge, fmt.Errorf("token is %d bytes, limit %d", len(token), MaxTokenSize))
	}
	now := v.now()
	if v.cache != nil {
		if p, ok := v.cache.get(token, now.UnixNano()); ok {
			return p, nil
		}
	}
	p, until, err := v.verify(ctx, token, now)
	if err != nil {
		return remoteassist.Principal{}, err
	}
	if v.cache != nil {
		v.cache.put(token, p, until, now.UnixNano())
	}
	return p, nil
}

func fail(msg string, cause error) error {
	return &remoteassist.Error{Code: remoteassist.EUNAUTHENTICATED, Message: msg, Err: cause}
}

// header is the part of the JOSE header that matters. Unknown members are ignored; in
// particular jku, jwk and x5u never cause a key to be fetched or trusted.
type header struct {
	Alg  string          `json:"alg"`
	Kid  string          `json:"kid"`
	Crit json.RawMessage `json:"crit"`
}

// claims are the payload members used. Times are JSON numbers (seconds, possibly fractional).
type claims struct {
	Iss   string   `json:"iss"`
	Aud   audience `json:"aud"`
	Exp   *float64 `json:"exp"`
	Nbf   *float64 `json:"nbf"`
	Iat   *float64 `json:"iat"`
	Tid   string   `json:"tid"`
	Oid   string   `json:"oid"`
	Sub   string   `json:"sub"`
	Scp   string   `json:"scp"`
	Roles []string `json:"roles"`
}

// audience is the aud claim, which RFC 7519 allows as a string or an array of strings.
type audience []string

// UnmarshalJSON accepts both forms of aud.
func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("aud is neither a string nor an array of strings")
	}
	*a = many
	return nil
}

// verify checks the token fully and returns its principal and the Unix nanosecond time until
// which it may be cached.
func (v *Verifier) verify(ctx context.Context, token string, now time.Time) (remoteassist.Principal, int64, error) {
	var none remoteassist.Principal
	dot1 := strings.IndexByte(token, '.')
	dot2 := strings.LastIndexByte(token, '.')
	if dot1 < 0 || dot1 == dot2 || strings.IndexByte(token[dot1+1:dot2], '.') >= 0 {
		return none, 0, fail(msgMalformed, errors.New("not a JWS compact serialization (three dot-separated parts)"))
	}
	rawHeader, err := b64.DecodeString(token[:dot1])
	if err != nil {
		return none, 0, fail(msgMalformed, fmt.Errorf("header: %w", err))
	}
	var h header
	if err := json.Unmarshal(rawHeader, &h); err != nil {
		return none, 0, fail(msgMalformed, fmt.Errorf("header: %w", err))
	}
	if h.Crit != nil {
		return none, 0, fail(msgMalformed, errors.New("header has crit extensions, none of which are supported"))
	}
	if methods[h.Alg] == nil {
		return none, 0, fail(msgSignature, fmt.Errorf("algorithm %.20q is not accepted", h.Alg))
	}
	if h.Kid == "" {
		return none, 0, fail(msgSignature, errors.New("header has no kid"))
	}
	key, err := v.key(ctx, h.Kid)
	if err != nil {
		var unavailable *remoteassist.Error
		if errors.As(err, &unavailable) {
			return none, 0, err
		}
		return none, 0, fail(msgSignature, err)
	}
	// The key decides the algorithm; the header must merely agree. This is what stops a token
	// from having an RSA public key used as an HMAC secret, or an EC signature checked as RSA.
	if h.Alg != key.alg {
		return none, 0, fail(msgSignature, fmt.Errorf("token algorithm %s does not match key %.64q, which is %s", h.Alg, key.kid, key.alg))
	}
	sig, err := b64.DecodeString(token[dot2+1:])
	if err != nil {
		return none, 0, fail(msgMalformed, fmt.Errorf("signature: %w", err))
	}
	if err := key.method.Verify(token[:dot2], sig, key.key); err != nil {
		return none, 0, fail(msgSignature, fmt.Errorf("key %.64q: %w", key.kid, err))
	}

	// Only now, with the payload authenticated, is it decoded.
	rawClaims, err := b64.DecodeString(token[dot1+1 : dot2])
	if err != nil {
		return none, 0, fail(msgMalformed, fmt.Errorf("payload: %w", err))
	}
	var c claims
	if err := json.Unmarshal(rawClaims, &c); err != nil {
		return none, 0, fail(msgMalformed, fmt.Errorf("payload: %w", err))
	}

	nowSec := float64(now.UnixNano()) / 1e9
	leeway := v.leeway.Seconds()
	switch {
	case c.Exp == nil:
		return none, 0, fail(msgNoExpiry, nil)
	case nowSec >= *c.Exp+leeway:
		return none, 0, fail(msgExpired, fmt.Errorf("exp %d is before now %d", int64(*c.Exp), now.Unix()))
	case c.Nbf != nil && nowSec+leeway < *c.Nbf:
		return none, 0, fail(msgNotYetValid, fmt.Errorf("nbf %d is after now %d", int64(*c.Nbf), now.Unix()))
	case c.Iat != nil && nowSec+leeway < *c.Iat:
		return none, 0, fail(msgNotYetValid, fmt.Errorf("iat %d is after now %d", int64(*c.Iat), now.Unix()))
	}
	if !v.issuerOK(c.Iss, c.Tid) {
		return none, 0, fail(msgIssuer, fmt.Errorf("issuer %.200q is not accepted", c.Iss))
	}
	if !slices.ContainsFunc(c.Aud, func(a string) bool { return slices.Contains(v.audiences, a) }) {
		return none, 0, fail(msgAudience, fmt.Errorf("audience %.200q is not accepted", []string(c.Aud)))
	}
	if c.Tid == "" {
		return none, 0, fail(msgNoTenant, nil)
	}
	if v.tenants != nil && !v.tenants[c.Tid] {
		return none, 0, fail(msgTenant, fmt.Errorf("tenant %.100q is not in the allow-list", c.Tid))
	}

	p := remoteassist.Principal{Tenant: c.Tid, Subject: c.Oid}
	if p.Subject == "" {
		p.Subject = c.Sub
	}
	// Clipped so that a caller appending to the shared slices copies instead of writing into
	// another request's principal.
	if scopes := strings.Fields(c.Scp); len(scopes) > 0 {
		p.Scopes = slices.Clip(scopes)
	}
	if len(c.Roles) > 0 {
		p.Roles = slices.Clip(c.Roles)
	}
	// Cache until exp plus leeway, the moment verify would start refusing the token; clamped so
	// absurd exp values cannot overflow.
	until := math.Min(*c.Exp+leeway, math.MaxInt64/1e9-1) * 1e9
	return p, int64(until), nil
}

func (v *Verifier) issuerOK(iss, tid string) bool {
	for _, want := range v.issuers {
		if strings.Contains(want, TenantPlaceholder) {
			// A template matches only once filled in, so a token cannot pass by carrying the
			// template itself as its issuer.
			if tid != "" && strings.ReplaceAll(want, TenantPlaceholder, tid) == iss {
				return true
			}
		} else if want == iss {
			return true
		}
	}
	return false
}

// key finds the verification key for kid: static keys first, then each JWKS source, refreshing
// the sources (rate limited) if none knows the kid yet.
func (v *Verifier) key(ctx context.Context, kid string) (*verKey, error) {
	if k := v.static[kid]; k != nil {
		return k, nil
	}
	for _, s := range v.sources {
		if k := s.get(kid); k != nil {
			return k, nil
		}
	}
	var errs []error
	for _, s := range v.sources {
		if err := s.refresh(ctx); err != nil {
			errs = append(errs, err)
		}
		if k := s.get(kid); k != nil {
			return k, nil
		}
	}
	if len(errs) > 0 {
		err := fmt.Errorf("unknown key id %.64q: %w", kid, errors.Join(errs...))
		if len(v.static) == 0 && v.noneLoaded() {
			// No key was ever fetched: the provider is down, not the token bad.
			return nil, &remoteassist.Error{Code: remoteassist.EUNAVAILABLE, Message: msgKeysUnavailable,
				RetryAfter: v.minRefresh, Err: err}
		}
		return nil, err
	}
	return nil, fmt.Errorf("unknown key id %.64q", kid)
}

// noneLoaded reports whether no key source has ever loaded a key set.
func (v *Verifier) noneLoaded() bool {
	for _, s := range v.sources {
		if s.set.Load() != nil {
			return false
		}
	}
	return true
}
