// Package jwtauth verifies Graph-like bearer tokens (JWS compact serialization) and mints
// development tokens, so the service can run with zero configuration and still check every
// request the way Microsoft Graph would.
//
// # Trust model
//
// A Verifier trusts keys from three kinds of source, which may be combined: a static list of
// public keys (typically the development key from LoadOrCreateKey), a JWKS file and a JWKS URL.
// The signature algorithm is bound to the key, never taken from the token: a JWK's alg (or, when
// absent, its kty/crv) fixes the one algorithm accepted with it, "none" and every HMAC algorithm
// are always refused, and a token whose header alg differs from its key's algorithm is refused.
// Headers that would point the verifier at other keys (jku, jwk, x5u) are ignored, and tokens
// with a crit header are refused because no extension is understood.
//
// golang-jwt decodes the payload before it checks the signature (a token is at most
// MaxTokenSize bytes, so that costs little), but no claim is looked at until the signature is
// verified, so what a claim says is only ever taken from authenticated bytes; a token whose
// payload is not a valid claims object is refused as malformed, whatever its signature.
//
// # Key rotation
//
// JWKS sources are refreshed when a token names an unknown kid (at most once per
// MinRefreshInterval, with concurrent requests sharing one fetch, so a flood of invented kids
// cannot hammer the provider), and in the background once the key set is older than
// RefreshInterval, which is also when a removed key stops being trusted. A refresh that fails or
// yields no usable key keeps the previous set, so a provider outage does not lock everybody out.
//
// # Verified-token cache
//
// Successful verifications are cached until the token's exp (plus leeway), so the hot path costs
// a hash lookup instead of a signature check. A cached token is accepted only while the key that
// verified it is trusted: once a refresh removes the key from the JWKS (a provider removes a key
// to revoke it, and a token signed with a leaked key may carry any exp), the token is verified
// again, and refused, like any other token of that key. Failures are never cached, so garbage
// tokens cannot fill memory; valid ones fill it only up to Config.CacheSize tokens and
// Config.CacheBytes bytes (each token counted as its length, its principal's strings and a fixed
// overhead), the least recently used going first, so that a flood of distinct large tokens pins
// a bounded amount.
//
// # Real Entra ID tokens
//
// Access tokens that Entra ID issues for Microsoft Graph itself carry a nonce header that makes
// their signature unverifiable by anybody but Graph. JWKS mode is therefore meant for identity
// providers (or Entra app registrations with their own audience, set in Config.Audiences) that
// issue ordinary signed tokens.
package jwtauth
