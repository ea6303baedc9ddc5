package jwtauth

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
)

// MinRSABits is the smallest RSA modulus accepted, because shorter keys are within reach of
// factoring and no current identity provider issues them.
const MinRSABits = 2048

// PublicKey is a verification key and the one algorithm it verifies.
type PublicKey struct {
	// KID is the key id that tokens name in their kid header.
	KID string
	// Key is the public key: an *rsa.PublicKey or an *ecdsa.PublicKey.
	Key crypto.PublicKey
	// Alg is the only JWS algorithm accepted with this key. Empty means the key type's usual
	// algorithm: RS256 for RSA, ES256, ES384 and ES512 for P-256, P-384 and P-521.
	Alg string
}

// acceptedAlgorithms are the JWS algorithms a token may name. Anything else in a token header
// (none, HS256, ...) is refused before any key is looked up.
var acceptedAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}

// verKey is a PublicKey checked and bound to the one algorithm it verifies.
type verKey struct {
	kid string
	alg string
	key crypto.PublicKey
}

// bind checks that the key and its algorithm belong together, so that a key can never verify a
// token under an algorithm of another family.
func (pk PublicKey) bind() (*verKey, error) {
	if pk.KID == "" {
		return nil, errors.New("key has no kid")
	}
	alg := pk.Alg
	switch k := pk.Key.(type) {
	case *rsa.PublicKey:
		if k == nil || k.N == nil {
			return nil, fmt.Errorf("key %q: nil RSA key", pk.KID)
		}
		if k.N.BitLen() < MinRSABits {
			return nil, fmt.Errorf("key %q: RSA key of %d bits is shorter than %d", pk.KID, k.N.BitLen(), MinRSABits)
		}
		if alg == "" {
			alg = "RS256"
		}
		switch alg {
		case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
		default:
			return nil, fmt.Errorf("key %q: algorithm %q cannot be used with an RSA key", pk.KID, alg)
		}
	case *ecdsa.PublicKey:
		if k == nil || k.Curve == nil {
			return nil, fmt.Errorf("key %q: nil ECDSA key", pk.KID)
		}
		want := ""
		switch k.Curve {
		case elliptic.P256():
			want = "ES256"
		case elliptic.P384():
			want = "ES384"
		case elliptic.P521():
			want = "ES512"
		default:
			return nil, fmt.Errorf("key %q: unsupported curve %s", pk.KID, k.Curve.Params().Name)
		}
		if alg == "" {
			alg = want
		}
		if alg != want {
			return nil, fmt.Errorf("key %q: algorithm %q cannot be used with a %s key", pk.KID, alg, k.Curve.Params().Name)
		}
	default:
		// Symmetric secrets ([]byte) land here on purpose: HMAC keys are never accepted.
		return nil, fmt.Errorf("key %q: unsupported key type %T", pk.KID, pk.Key)
	}
	return &verKey{kid: pk.KID, alg: alg, key: pk.Key}, nil
}

// same reports whether k and o are the same key under the same kid, bound to the same algorithm.
func (k *verKey) same(o *verKey) bool {
	if k.kid != o.kid || k.alg != o.alg {
		return false
	}
	eq, ok := k.key.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(o.key)
}

// jwk is the subset of RFC 7517 members needed to rebuild a public key.
type jwk struct {
	Kty string `json:"kty"`
	Use string `json:"use,omitempty"`
	Kid string `json:"kid,omitempty"`
	Alg string `json:"alg,omitempty"`
	Crv string `json:"crv,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
}

type jwkSet struct {
	Keys []jwk `json:"keys"`
}

// b64 decodes base64url without padding. Strict decoding refuses non-canonical encodings, so one
// token has exactly one spelling.
var b64 = base64.RawURLEncoding.Strict()

// Why a JSON Web Key Set cannot be used. The errors of ParseJWKS, ReadJWKSFile, NewVerifier and
// a Verifier's refreshes wrap one of them, with the details in their own words, for errors.Is.
var (
	ErrJWKSEmpty       = errors.New("jwtauth: the JWKS is empty")
	ErrJWKSTooLarge    = fmt.Errorf("jwtauth: the JWKS is larger than %d bytes", MaxJWKSSize)
	ErrJWKSNotJSON     = errors.New("jwtauth: the JWKS is not JSON")
	ErrJWKSNotKeySet   = errors.New(`jwtauth: the JWKS is not a JSON object with a "keys" array`)
	ErrJWKSNoKeys      = errors.New("jwtauth: the JWKS has no keys")
	ErrJWKSNoUsableKey = errors.New("jwtauth: the JWKS has no usable signature key")
)

// jwksShape is what a JWKS is, for the messages that say what the data is not.
const jwksShape = `a JWKS is a JSON object with a "keys" array`

// reason is an error with a message of its own that is also, for errors.Is and errors.As, each
// of errs: one of the ErrJWKS* kinds and the error it comes from, if any.
type reason struct {
	msg  string
	errs []error
}

func (r *reason) Error() string   { return r.msg }
func (r *reason) Unwrap() []error { return r.errs }

func because(msg string, errs ...error) error {
	return &reason{msg: msg, errs: slices.DeleteFunc(errs, func(e error) bool { return e == nil })}
}

// SourceError is why a JWKS file or URL could not be loaded: which one, and why. Err is a file
// system error (errors.Is fs.ErrNotExist, fs.ErrPermission, ...) without the path, which Source
// names, an HTTP failure, or an error that wraps one of the ErrJWKS* errors.
type SourceError struct {
	// Source is "JWKS file " and the path, or "JWKS URL " and the URL without its password.
	Source string
	Err    error
}

func (e *SourceError) Error() string { return "jwtauth: " + e.Source + ": " + e.Err.Error() }
func (e *SourceError) Unwrap() error { return e.Err }

// ParseJWKS parses a JSON Web Key Set and returns its usable signature keys. Keys that are not
// JSON objects, are not for signatures, have no kid, repeat an earlier kid, or are of an
// unsupported type, size or algorithm are skipped rather than failing the whole set, because
// providers publish key types this package does not know. It is an error, wrapping one of the
// ErrJWKS* errors, if no key is usable.
func ParseJWKS(data []byte) ([]PublicKey, error) {
	keys, err := parseJWKS(data)
	if err != nil {
		return nil, fmt.Errorf("jwtauth: %w", err)
	}
	return keys, nil
}

// parseJWKS is ParseJWKS with an error that does not name the package, to follow a source's
// name.
func parseJWKS(data []byte) ([]PublicKey, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, because("the key set is empty ("+jwksShape+")", ErrJWKSEmpty)
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) {
			return nil, because("not JSON ("+jwksShape+"): "+err.Error(), ErrJWKSNotJSON, err)
		}
		return nil, because("not a JWKS, "+strings.TrimPrefix(jwksShape, "a JWKS is "), ErrJWKSNotKeySet, err)
	}
	if len(set.Keys) == 0 {
		return nil, because("the key set has no keys ("+jwksShape+")", ErrJWKSNoKeys)
	}
	var keys []PublicKey
	var skipped []error
	seen := make(map[string]bool)
	for i, raw := range set.Keys {
		var k jwk
		err := json.Unmarshal(raw, &k)
		if te := (*json.UnmarshalTypeError)(nil); errors.As(err, &te) && te.Field != "" {
			err = fmt.Errorf("member %q is a JSON %s, want a string", te.Field, te.Value)
		} else if err != nil {
			err = errors.New("not a JSON object")
		}
		var pk PublicKey
		if err == nil {
			pk, err = k.publicKey()
		}
		if err == nil && seen[pk.KID] {
			err = fmt.Errorf("duplicate kid %q", pk.KID)
		}
		if err == nil {
			_, err = pk.bind()
		}
		if err != nil {
			skipped = append(skipped, fmt.Errorf("key %d: %w", i, err))
			continue
		}
		seen[pk.KID] = true
		keys = append(keys, pk)
	}
	if len(keys) == 0 {
		// On one line, as a command's refusal is.
		why := make([]string, len(skipped))
		for i, err := range skipped {
			why[i] = err.Error()
		}
		return nil, because("the key set has no usable signature key: "+strings.Join(why, "; "),
			append([]error{ErrJWKSNoUsableKey}, skipped...)...)
	}
	return keys, nil
}

func (k jwk) publicKey() (PublicKey, error) {
	if k.Use != "" && k.Use != "sig" {
		return PublicKey{}, fmt.Errorf("use %q is not sig", k.Use)
	}
	if k.Kid == "" {
		return PublicKey{}, errors.New("no kid")
	}
	switch k.Kty {
	case "RSA":
		n, err := b64.DecodeString(k.N)
		if err != nil || len(n) == 0 {
			return PublicKey{}, fmt.Errorf("kid %q: bad modulus", k.Kid)
		}
		e, err := b64.DecodeString(k.E)
		if err != nil || len(e) == 0 || len(e) > 4 {
			return PublicKey{}, fmt.Errorf("kid %q: bad exponent", k.Kid)
		}
		exp := int(new(big.Int).SetBytes(e).Int64())
		if exp < 3 || exp%2 == 0 {
			return PublicKey{}, fmt.Errorf("kid %q: bad exponent", k.Kid)
		}
		return PublicKey{KID: k.Kid, Alg: k.Alg, Key: &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: exp}}, nil
	case "EC":
		var curve elliptic.Curve
		var size int
		switch k.Crv {
		case "P-256":
			curve, size = elliptic.P256(), 32
		case "P-384":
			curve, size = elliptic.P384(), 48
		case "P-521":
			curve, size = elliptic.P521(), 66
		default:
			return PublicKey{}, fmt.Errorf("kid %q: unsupported curve %q", k.Kid, k.Crv)
		}
		x, errX := b64.DecodeString(k.X)
		y, errY := b64.DecodeString(k.Y)
		if errX != nil || errY != nil || len(x) != size || len(y) != size {
			return PublicKey{}, fmt.Errorf("kid %q: bad coordinates", k.Kid)
		}
		point := append(append([]byte{4}, x...), y...)
		pub, err := ecdsa.ParseUncompressedPublicKey(curve, point)
		if err != nil {
			return PublicKey{}, fmt.Errorf("kid %q: %w", k.Kid, err)
		}
		return PublicKey{KID: k.Kid, Alg: k.Alg, Key: pub}, nil
	default:
		return PublicKey{}, fmt.Errorf("kid %q: unsupported kty %q", k.Kid, k.Kty)
	}
}

// ecJWK returns the public JWK members of a P-256 key, without kid.
func ecJWK(pub *ecdsa.PublicKey) (jwk, error) {
	b, err := pub.Bytes()
	if err != nil {
		return jwk{}, err
	}
	size := (len(b) - 1) / 2
	return jwk{
		Kty: "EC",
		Crv: pub.Curve.Params().Name,
		X:   b64.EncodeToString(b[1 : 1+size]),
		Y:   b64.EncodeToString(b[1+size:]),
	}, nil
}

// thumbprint is the RFC 7638 JWK thumbprint of an EC key: SHA-256 over the required members in
// lexicographic order. It gives the development key a kid that is stable across restarts and
// derivable by anybody holding the public key.
func thumbprint(k jwk) string {
	canon := fmt.Sprintf(`{"crv":%q,"kty":%q,"x":%q,"y":%q}`, k.Crv, k.Kty, k.X, k.Y)
	sum := sha256.Sum256([]byte(canon))
	return b64.EncodeToString(sum[:])
}
