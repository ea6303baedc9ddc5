package server

import (
	"net/http"
	"slices"
	"strings"

	"github.com/remoteassist/remoteassist"
)

// authenticate verifies the bearer token and leaves the caller's Principal on the request
// state. It returns the token, which identifies the caller for admission.
func (s *Server) authenticate(req *http.Request, st *request) (string, error) {
	// Two credentials are refused rather than one of them picked: which one a proxy, a cache
	// or another server would take is anybody's guess.
	header := req.Header["Authorization"] // net/http canonicalized the key: one lookup serves both
	if len(header) > 1 {
		return "", remoteassist.Errorf(remoteassist.EUNAUTHENTICATED, "The request carries more than one Authorization header.")
	}
	var token string
	ok := len(header) == 1
	if ok {
		token, ok = bearerToken(header[0])
	}
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
// the contract lists in the operation's x-graph-permissions extension. The caller's permissions
// are quoted, cut to 1,024 characters: a token may hold any number of them.
func forbidden(op *operation, p remoteassist.Principal) error {
	held := strings.Join(append(slices.Clip(p.Scopes), p.Roles...), " ")
	return &remoteassist.Error{Code: remoteassist.EFORBIDDEN, Message: "Missing permissions on the request. API requires one of '" +
		strings.Join(op.permissions, ", ") + "'. Permissions on the request '" + remoteassist.Clip(held, 1024) + "'."}
}
