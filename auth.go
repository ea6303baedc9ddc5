package remoteassist

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxIDLength bounds, in characters, the tenant and application ids the service takes: a token's
// tid and appid (or azp), and the tenants the admin API names. Entra's are 36-character GUIDs;
// the room beyond is for readable test names such as "contoso". A store's key stays small, and
// every tenant a token can name, the admin API can seed, reset and filter by.
const MaxIDLength = 256

// IDTooLong reports whether a tenant or application id is longer than MaxIDLength characters.
func IDTooLong(id string) bool { return utf8.RuneCountInString(id) > MaxIDLength }

// IDKeyable reports whether id can key a store: UTF-8 without NUL (U+0000), which PostgreSQL's
// text cannot hold. A token's claims are JSON, so always UTF-8, but may spell \u0000; a path of
// the admin API may carry either (%00, %FF).
func IDKeyable(id string) bool { return utf8.ValidString(id) && strings.IndexByte(id, 0) < 0 }

// CheckTenant refuses a tenant id that no token could carry or no store could key: empty, longer
// than MaxIDLength, not UTF-8, or holding NUL.
func CheckTenant(tenant string) error {
	if tenant == "" || IDTooLong(tenant) || !IDKeyable(tenant) {
		return tenantIDError()
	}
	return nil
}

// tenantIDError is CheckTenant's refusal, a new value each time: callers reword it.
func tenantIDError() *Error {
	return &Error{Code: EINVALID, Target: "tenant",
		Message: "A tenant id has 1 to " + strconv.Itoa(MaxIDLength) + " characters of UTF-8, none of them NUL."}
}

// Principal is the verified caller of a request.
type Principal struct {
	// Tenant is the caller's tenant (the token's tid claim). Settings are kept per tenant.
	Tenant string
	// Subject identifies the caller within the tenant (oid or sub), for logs.
	Subject string
	// App is the client application (the appid or azp claim), when the token names one: Intune
	// throttles each application of a tenant apart.
	App string
	// Scopes are the delegated permissions (the scp claim, split on spaces).
	Scopes []string
	// Roles are the application permissions (the roles claim).
	Roles []string
}

// HasAny reports whether the principal holds any of the permissions, as a delegated scope or an
// application role.
func (p Principal) HasAny(permissions []string) bool {
	for _, want := range permissions {
		if slices.Contains(p.Scopes, want) || slices.Contains(p.Roles, want) {
			return true
		}
	}
	return false
}

// Authenticator verifies a bearer token and returns who presented it. A token that is missing,
// malformed, expired or not trusted yields an *Error with code EUNAUTHENTICATED.
//
// Principals returned are shared between requests and must not be modified.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (Principal, error)
}

type principalKey struct{}

// NewContextWithPrincipal returns a context carrying p.
func NewContextWithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFromContext returns the principal stored by NewContextWithPrincipal.
func PrincipalFromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}
