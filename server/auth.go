package server

import (
	"net/http"
	"strings"

	"github.com/remoteassist/remoteassist"
)

// authenticate verifies the bearer token and leaves the caller's Principal on the request
// state. It returns the token, which identifies the caller for admission.
func (s *Server) authenticate(req *http.Request, st *request) (string, error) {
	token, ok := bearerToken(req.Header.Get("Authorization"))
	if !ok {
		return "", remoteassist.Errorf(remoteassist.EUNAUTHENTICATED, "Access token is empty.")
	}
	p, err := s.auth.Authenticate(req.Context(), token)
	if err != nil {
		return "", err
	}
	st.principal, st.authenticated = p, true
	return token, nil
}

// bearerToken extracts the token of an "Authorization: Bearer <token>" header; the scheme is
// case-insensitive (RFC 7235).
func bearerToken(header string) (string, bool) {
	const scheme = "bearer "
	if len(header) <= len(scheme) || !strings.EqualFold(header[:len(scheme)], scheme) {
		return "", false
	}
	token := strings.TrimSpace(header[len(scheme):])
	return token, token != ""
}

// forbidden is the refusal of a caller that holds none of the operation's permissions, which
// the contract lists in the operation's x-graph-permissions extension. The message is built in
// one buffer, only when a request is refused.
func forbidden(op *operation, p remoteassist.Principal) error {
	const (
		prefix = "Missing permissions on the request. API requires one of '"
		middle = "'. Permissions on the request '"
		suffix = "'."
	)
	needed := strings.Join(op.permissions, ", ")
	n := len(prefix) + len(needed) + len(middle) + len(suffix)
	for _, g := range p.Scopes {
		n += len(g) + 1
	}
	for _, g := range p.Roles {
		n += len(g) + 1
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteString(prefix)
	b.WriteString(needed)
	b.WriteString(middle)
	first := true
	for _, list := range [][]string{p.Scopes, p.Roles} {
		for _, g := range list {
			if !first {
				b.WriteByte(' ')
			}
			first = false
			b.WriteString(g)
		}
	}
	b.WriteString(suffix)
	return &remoteassist.Error{Code: remoteassist.EFORBIDDEN, Message: b.String()}
}

// errNotWired reports a layer missing from the chain: a bug, never a client's fault.
type errNotWired string

func (e errNotWired) Error() string { return "server: " + string(e) + " layer did not run" }
