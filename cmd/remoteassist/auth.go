package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/jwtauth"
)

// How serve verifies tokens.
const (
	authDev  = "dev"  // tokens signed by the data directory's own key (remoteassist token)
	authJWKS = "jwks" // tokens from an identity provider, keys from a JWKS
)

// authFlags are serve's token verification settings.
type authFlags struct {
	jwksURL, jwksFile string
	issuers           string
	audiences         string
	tenants           string
	leeway            time.Duration
	devTokens         bool
}

func (a *authFlags) register(fs *flag.FlagSet, env *envDefaults) {
	fs.StringVar(&a.jwksURL, "jwks-url", envOr("REMOTEASSIST_JWKS_URL", ""),
		"verify tokens with the keys at this JWKS URL, e.g. https://login.microsoftonline.com/TENANT/discovery/v2.0/keys (env REMOTEASSIST_JWKS_URL)")
	fs.StringVar(&a.jwksFile, "jwks-file", envOr("REMOTEASSIST_JWKS_FILE", ""),
		"verify tokens with the keys in this JWKS file (env REMOTEASSIST_JWKS_FILE)")
	fs.StringVar(&a.issuers, "issuer", envOr("REMOTEASSIST_ISSUER", ""),
		"accepted token issuers, comma-separated; {tenantid} stands for the token's tid, e.g. https://login.microsoftonline.com/{tenantid}/v2.0 (env REMOTEASSIST_ISSUER; required with --jwks-*)")
	fs.StringVar(&a.audiences, "audience", envOr("REMOTEASSIST_AUDIENCE", ""),
		"accepted audiences, comma-separated (env REMOTEASSIST_AUDIENCE; default https://graph.microsoft.com and 00000003-0000-0000-c000-000000000000)")
	fs.StringVar(&a.tenants, "tenants", envOr("REMOTEASSIST_TENANTS", ""),
		"if set, the only tenant ids (tid) accepted, comma-separated (env REMOTEASSIST_TENANTS)")
	fs.DurationVar(&a.leeway, "leeway", env.duration("leeway", "REMOTEASSIST_LEEWAY", jwtauth.DefaultLeeway),
		"clock skew tolerated on exp, nbf and iat; 0 for none (env REMOTEASSIST_LEEWAY)")
	fs.BoolVar(&a.devTokens, "dev-tokens", env.bool("dev-tokens", "REMOTEASSIST_DEV_TOKENS", false),
		"with --jwks-*, also accept tokens signed by the data directory's key (remoteassist token) (env REMOTEASSIST_DEV_TOKENS)")
}

// check refuses the mistakes in the parsed flags as usage errors.
func (a *authFlags) check(fs *flag.FlagSet) error {
	if a.leeway < 0 {
		return usageError{fmt.Errorf("%s %v: must not be negative (0 means no leeway)", origin(fs, "leeway", "REMOTEASSIST_LEEWAY"), a.leeway)}
	}
	if a.jwksURL != "" {
		if u, err := url.Parse(a.jwksURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return usageError{fmt.Errorf("%s %q: want an http(s) URL", origin(fs, "jwks-url", "REMOTEASSIST_JWKS_URL"), redact(a.jwksURL))}
		}
	}
	if (a.jwksURL != "" || a.jwksFile != "") && len(list(a.issuers)) == 0 {
		jwks := origin(fs, "jwks-url", "REMOTEASSIST_JWKS_URL")
		if a.jwksURL == "" {
			jwks = origin(fs, "jwks-file", "REMOTEASSIST_JWKS_FILE")
		}
		if a.issuers != "" {
			return usageError{fmt.Errorf("%s %q: want the issuers to accept, comma-separated, as %s needs", origin(fs, "issuer", "REMOTEASSIST_ISSUER"), a.issuers, jwks)}
		}
		return usageError{fmt.Errorf("%s needs --issuer (or REMOTEASSIST_ISSUER), the issuers whose tokens to accept", jwks)}
	}
	// The file is read as the verifier will read it, so that serve refuses an unusable one as a
	// usage error naming the flag, as it does a TLS file, before anything is made or listens.
	if a.jwksFile != "" {
		if _, err := jwtauth.ReadJWKSFile(a.jwksFile); err != nil {
			why := err.Error()
			if se := (*jwtauth.SourceError)(nil); errors.As(err, &se) {
				why = se.Err.Error() // without the package and path, which the line gives
			}
			return usageError{fmt.Errorf("%s %s: %s", origin(fs, "jwks-file", "REMOTEASSIST_JWKS_FILE"), a.jwksFile, why)}
		}
	}
	return nil
}

// jwtLeeway is the jwtauth.Config.Leeway for a --leeway value: jwtauth reads 0 as its default
// and a negative value as none, while --leeway 0 means none.
func jwtLeeway(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// verifier builds the Authenticator the flags describe, which check accepted. Without a JWKS it
// is the zero-config development mode: tokens signed by the data directory's key.
func (a *authFlags) verifier(dataDir string, logger *slog.Logger) (remoteassist.Authenticator, string, error) {
	production := a.jwksURL != "" || a.jwksFile != ""
	cfg := jwtauth.Config{
		Logger:         logger,
		JWKSURL:        a.jwksURL,
		JWKSFile:       a.jwksFile,
		Issuers:        list(a.issuers),
		Audiences:      list(a.audiences),
		AllowedTenants: list(a.tenants),
		Leeway:         jwtLeeway(a.leeway),
	}
	mode := authJWKS
	if !production || a.devTokens {
		key, err := jwtauth.LoadOrCreateKey(dataDir)
		if err != nil {
			return nil, "", err
		}
		cfg.Keys = append(cfg.Keys, key.PublicKey())
		cfg.Issuers = append(cfg.Issuers, jwtauth.DevIssuer)
		if !production {
			mode = authDev
		}
	}
	v, err := jwtauth.NewVerifier(cfg)
	if err != nil {
		return nil, "", err
	}
	return v, mode, nil
}

// list splits a comma-separated flag value, dropping empty entries.
func list(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
