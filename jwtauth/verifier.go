package jwtauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/golang-jwt/jwt/v5"

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
	// DefaultCacheBytes is the most bytes the remembered tokens are counted as (their length, their
	// principals' strings and a fixed overhead an entry): room for DefaultCacheSize tokens counted
	// at up to ~4.9 KiB each, where a 3 KiB Entra token with its principal counts ~4 KiB, while a
	// flood of distinct 16 KiB tokens pins ~50 MB, not the ~170 MB the count alone would let it.
	DefaultCacheBytes = 48 << 20
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

// msgLongID refuses a tenant or application id over remoteassist.MaxIDLength.
var msgLongID = "Access token validation failure. The token's tenant (tid) or application (appid, azp) is longer than " +
	strconv.Itoa(remoteassist.MaxIDLength) + " characters."

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
	// HTTPClient fetches JWKSURL. Nil means a client with DefaultHTTPTimeout. Unless it has a
	// CheckRedirect of its own, a redirect is followed only within JWKSURL's host and port, and
	// not from https to http; a fetch redirected elsewhere fails, keeping the keys fetched before.
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
	// AllowedTenants, if not empty, lists the only tids accepted. A tid shaped as a GUID
	// (Entra's) matches an entry that is the same GUID in any letter case; any other, exactly.
	// The principal's tenant is the token's tid as it is.
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
	// CacheBytes bounds the memory of the remembered tokens, counted as each token's length plus
	// its principal's strings plus a fixed overhead of a few hundred bytes; the least recently
	// used go first to make room, and a token costing more than the whole bound is verified at
	// each use rather than remembered. Zero means DefaultCacheBytes; a negative value disables
	// the cache, as a negative CacheSize does.
	CacheBytes int
	// Now returns the current time. Nil means time.Now; tests set it to control lifetimes and
	// refresh timing.
	Now func() time.Time
	// Logger receives a warning for each JWKS fetch that fails once the Verifier is made (the
	// keys fetched before stay trusted, so the outage is otherwise seen only in the 401s and
	// 503s it causes once keys rotate or none was ever fetched), and a line when a fetch
	// succeeds after failures. Fetches are rate limited (MinRefreshInterval), and so are the
	// lines. Nil means no log.
	Logger *slog.Logger
}

// Verifier verifies bearer tokens. It implements remoteassist.Authenticator and is safe for
// concurrent use.
type Verifier struct {
	static    map[string]*verKey
	sources   []*keySource
	issuers   []string
	audiences []string
	tenants   map[string]bool // by allowListKey; nil means any tenant
	leeway    time.Duration
	now       func() time.Time
	cache     *tokenCache // nil when disabled
	// minRefresh is how long a client should wait when the keys cannot be fetched.
	minRefresh time.Duration
	// parser parses and checks tokens: accepted algorithms, strict encoding, exp required,
	// exp, nbf and iat with the leeway, on the verifier's clock.
	parser *jwt.Parser
}

var _ remoteassist.Authenticator = (*Verifier)(nil)

// NewVerifier returns a Verifier for cfg. It fails on configuration errors, including an
// unreadable or unusable JWKSFile (a *SourceError, as ReadJWKSFile's); a JWKSURL is not fetched
// until it is needed.
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
			v.tenants[allowListKey(t)] = true
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
		s := &keySource{name: name, fetch: fetch, now: v.now, minInterval: minInterval, maxAge: maxAge, logger: cfg.Logger}
		v.sources = append(v.sources, s)
		return s
	}
	if cfg.JWKSFile != "" {
		s := newSource(fileSourceName(cfg.JWKSFile), fileSource(cfg.JWKSFile))
		// Load through refresh so the rate limit counts this read; its failure is NewVerifier's
		// error, not a line of the log.
		s.logger = nil
		if err := s.refresh(context.Background()); err != nil {
			return nil, err
		}
		s.logger = cfg.Logger
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
		newSource("JWKS URL "+u.Redacted(), urlSource(client, cfg.JWKSURL, u))
	}
	if len(v.static) == 0 && len(v.sources) == 0 {
		return nil, errors.New("jwtauth: no key source: set Config.Keys, JWKSFile or JWKSURL")
	}

	v.parser = jwt.NewParser(
		jwt.WithValidMethods(acceptedAlgorithms),
		jwt.WithStrictDecoding(),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(v.leeway),
		jwt.WithTimeFunc(v.now),
	)

	size, budget := cfg.CacheSize, cfg.CacheBytes
	if size == 0 {
		size = DefaultCacheSize
	}
	if budget == 0 {
		budget = DefaultCacheBytes
	}
	if size > 0 && budget > 0 {
		v.cache = newTokenCache(size, budget)
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
		if p, ok := v.cache.get(token, now.UnixNano(), v.trusted); ok {
			return p, nil
		}
	}
	p, key, until, err := v.verify(ctx, token, now)
	if err != nil {
		return remoteassist.Principal{}, err
	}
	if v.cache != nil {
		v.cache.put(token, p, key, until, now.UnixNano())
	}
	return p, nil
}

// trusted reports whether key is still one the verifier verifies with: a static key always,
// a JWKS's key while the source's current set holds it. A refresh that drops the key (the
// provider revoked it) thus ends the cached tokens it verified; asking the source also starts
// the refresh of a stale set, as an uncached token's verification would.
func (v *Verifier) trusted(key *verKey) bool {
	if v.static[key.kid] == key {
		return true
	}
	for _, s := range v.sources {
		if s.get(key.kid) == key {
			return true
		}
	}
	return false
}

func fail(msg string, cause error) error {
	return &remoteassist.Error{Code: remoteassist.EUNAUTHENTICATED, Message: msg, Err: cause}
}

// claims are the payload members used besides the registered ones golang-jwt checks (exp, nbf,
// iat).
type claims struct {
	jwt.RegisteredClaims
	Tid   string   `json:"tid"`
	Oid   string   `json:"oid"`
	Scp   string   `json:"scp"`
	Roles []string `json:"roles"`
	Appid string   `json:"appid"` // v1 tokens
	Azp   string   `json:"azp"`   // v2 tokens
}

// UnmarshalJSON decodes the claims by their exact names, as RFC 7519 defines them (claim names
// are case-sensitive), with encoding/json/v2's rules: encoding/json would match a member name in
// any letter case, even under Unicode folding, so that a "TID", "Roles" or "ſcp" claim (one an
// identity provider may let a user or an app set, as an attribute of theirs) would be read as the
// tid, roles or scp the provider issued, and, coming after it, win. A name given twice is refused,
// which RFC 7519 allows. A time claim (exp, nbf, iat) that is not a JSON number is refused, as
// RFC 7519 requires: golang-jwt's NumericDate would also take a numeric string.
func (c *claims) UnmarshalJSON(b []byte) error {
	type plain claims // without this method
	return jsonv2.Unmarshal(b, (*plain)(c), timeClaimsAreNumbers)
}

// timeClaimsAreNumbers decodes the time claims (golang-jwt's NumericDate) from JSON numbers only,
// in the one pass that decodes the claims.
var timeClaimsAreNumbers = jsonv2.WithUnmarshalers(jsonv2.UnmarshalFunc(func(data []byte, d *jwt.NumericDate) error {
	if k := jsontext.Value(data).Kind(); k != '0' {
		return fmt.Errorf("time claim %.20s is not a number", data)
	}
	return d.UnmarshalJSON(data)
}))

// Why a token was refused before its claims were looked at, from the key function.
var (
	errCrit  = errors.New("header has crit extensions, none of which are supported")
	errNoKid = errors.New("header has no kid")
)

// verify checks the token fully and returns its principal and the Unix nanosecond time until
// which it may be cached. golang-jwt parses it, checks the algorithm against the accepted ones
// and the key's, the signature and the registered time claims; the issuer, audience and
// tenant rules are this package's.
func (v *Verifier) verify(ctx context.Context, token string, now time.Time) (remoteassist.Principal, *verKey, int64, error) {
	var none remoteassist.Principal
	var c claims
	var used *verKey
	_, err := v.parser.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		if _, ok := t.Header["crit"]; ok {
			return nil, errCrit
		}
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			return nil, errNoKid
		}
		key, err := v.key(ctx, kid)
		if err != nil {
			return nil, err
		}
		// The key decides the algorithm; the header must merely agree. This is what stops a
		// token from having an RSA public key used as an HMAC secret, or an EC signature
		// checked as RSA.
		if alg := t.Method.Alg(); alg != key.alg {
			return nil, fmt.Errorf("token algorithm %s does not match key %.64q, which is %s", alg, key.kid, key.alg)
		}
		used = key
		return key.key, nil
	})
	if err != nil {
		return none, nil, 0, refusal(err, now)
	}
	if !v.issuerOK(c.Issuer, c.Tid) {
		return none, nil, 0, fail(msgIssuer, fmt.Errorf("issuer %.200q is not accepted", c.Issuer))
	}
	if !slices.ContainsFunc(c.Audience, func(a string) bool { return slices.Contains(v.audiences, a) }) {
		return none, nil, 0, fail(msgAudience, fmt.Errorf("audience %.200q is not accepted", []string(c.Audience)))
	}
	if c.Tid == "" {
		return none, nil, 0, fail(msgNoTenant, nil)
	}
	if v.tenants != nil && !v.tenants[allowListKey(c.Tid)] {
		return none, nil, 0, fail(msgTenant, fmt.Errorf("tenant %.100q is not in the allow-list", c.Tid))
	}

	p := remoteassist.Principal{Tenant: c.Tid, Subject: c.Oid, App: c.Appid}
	if p.Subject == "" {
		p.Subject = c.Subject
	}
	if p.App == "" {
		p.App = c.Azp
	}
	if remoteassist.IDTooLong(p.Tenant) || remoteassist.IDTooLong(p.App) {
		return none, nil, 0, fail(msgLongID, nil)
	}
	// Clipped so that a caller appending to the shared slices copies instead of writing into
	// another request's principal.
	if scopes := strings.Fields(c.Scp); len(scopes) > 0 {
		p.Scopes = slices.Clip(scopes)
	}
	if len(c.Roles) > 0 {
		p.Roles = slices.Clip(c.Roles)
	}
	// Cache until exp plus leeway, the moment verify would start refusing the token; from the
	// seconds (UnixNano overflows past the year 2262) and clamped, so that absurd exp values
	// cannot overflow either.
	until := math.Min(float64(c.ExpiresAt.Unix())+v.leeway.Seconds(), math.MaxInt64/1e9-1) * 1e9
	return p, used, int64(until), nil
}

// refusal words golang-jwt's refusal of a token as Graph does, keeping its error as the cause.
// An unavailable key source passes through, so that the client is told to retry.
func refusal(err error, now time.Time) error {
	var unavailable *remoteassist.Error
	switch {
	case errors.As(err, &unavailable):
		return unavailable
	case errors.Is(err, errCrit), errors.Is(err, jwt.ErrTokenMalformed):
		return fail(msgMalformed, err)
	case errors.Is(err, jwt.ErrTokenUnverifiable), errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return fail(msgSignature, err)
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return fail(msgNoExpiry, err)
	case errors.Is(err, jwt.ErrTokenExpired):
		return fail(msgExpired, fmt.Errorf("%w (now %d)", err, now.Unix()))
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return fail(msgNotYetValid, fmt.Errorf("%w (now %d)", err, now.Unix()))
	}
	return fail(msgMalformed, err)
}

// allowListKey is how a tenant id is looked up in the allow-list: a GUID (8-4-4-4-12 hex
// digits), which names one tenant in whatever letter case it is written, in lower case; any
// other id as it is.
func allowListKey(tid string) string {
	if len(tid) != 36 {
		return tid
	}
	for i := range len(tid) {
		c := tid[i]
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return tid
			}
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f', 'A' <= c && c <= 'F':
		default:
			return tid
		}
	}
	return strings.ToLower(tid)
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
		if v.noneLoaded() {
			// No key set was ever fetched: the provider is down, not the token bad, whether
			// or not static keys (which do not have the kid) sit beside the sources.
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
