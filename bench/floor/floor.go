// Package floor is the performance baseline of the service: a plain net/http and encoding/json
// handler of the same routes, with no framework, no contract and no validator library.
// Benchmarks and load runs measure the server against it, so that the cost of the spec-first
// stack (echo, kin-openapi, the generated code, authentication, metrics and logs) is a ratio
// rather than a guess.
//
// It comes in two strengths:
//
//   - New(store, auth) does the same work as package server on its hot paths: the same route
//     check, a request-id per request (the server's generator) and the client-request-id echoed,
//     authentication through the same verifier and the same permission check, the same
//     Content-Type, Content-Encoding and size rules, a strict decode into the generated update
//     type, the domain's checks, the same store, and the same response bytes. The in-process Go
//     benchmarks compare the server with it (TestFloorDoesTheSameWork checks the answers agree).
//   - New(store, nil) is the physical floor of a process: the same routes and answers with no
//     authentication (every request acts on FloorTenant), which is what "remoteassist serve"
//     is measured against under load (bench/load.sh), next to it in the same run.
//
// It is idiomatic rather than clever, and laxer than the server where encoding/json is
// (property names match case-insensitively, a duplicated property's last value wins, a null
// reads as absent), which only makes it cheaper.
package floor

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/gen/models"
	"github.com/remoteassist/remoteassist/internal/requestid"
)

// Path is the one resource the floor serves.
const Path = "/beta/deviceManagement/remoteAssistanceSettings"

// FloorTenant is the tenant of every request to a floor without authentication.
const FloorTenant = "floor-tenant"

// maxBody is the server's default body limit.
const maxBody = 64 << 10

// The permissions of each operation, as the contract lists them.
var (
	readPermissions = []string{
		"DeviceManagementServiceConfig.Read.All", "DeviceManagementServiceConfig.ReadWrite.All",
		"DeviceManagementConfiguration.Read.All", "DeviceManagementConfiguration.ReadWrite.All",
	}
	writePermissions = []string{"DeviceManagementServiceConfig.ReadWrite.All", "DeviceManagementConfiguration.ReadWrite.All"}
)

// Handler is the floor's http.Handler.
type Handler struct {
	store remoteassist.Store
	auth  remoteassist.Authenticator // nil: no authentication
}

// New returns the floor handler over store; auth nil means no authentication.
func New(store remoteassist.Store, auth remoteassist.Authenticator) *Handler {
	return &Handler{store: store, auth: auth}
}

// ServeHTTP serves /healthz and the settings resource.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := requestid.New() // the server's generator, so both sides pay the same for it
	clientID := r.Header.Get("client-request-id")
	if !requestid.UsableClientID(clientID) {
		clientID = id
	}
	hdr := w.Header()
	hdr.Set("Request-Id", id)
	hdr.Set("Client-Request-Id", clientID)
	hdr.Set("Cache-Control", "private")
	fail := func(status int, err *remoteassist.Error) { writeError(w, id, clientID, status, err) }
	if r.URL.Path == "/healthz" {
		hdr.Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, "{\"status\":\"ok\"}\n")
		return
	}
	if r.URL.Path != Path {
		fail(http.StatusNotFound, remoteassist.Errorf("", "Resource not found for the segment '%s'.", unresolvedSegment(r.URL.Path)))
		return
	}
	var perms []string
	switch r.Method {
	case http.MethodGet:
		perms = readPermissions
	case http.MethodPatch:
		perms = writePermissions
	default:
		hdr.Set("Allow", "GET, PATCH")
		fail(http.StatusMethodNotAllowed, remoteassist.Errorf("", "The HTTP method '%s' is not allowed on this resource.", remoteassist.Clip(r.Method, 32)))
		return
	}
	tenant := FloorTenant
	if h.auth != nil {
		p, err := h.authenticate(r)
		if err != nil {
			hdr.Set("WWW-Authenticate", `Bearer realm="remoteassist", error="invalid_token"`)
			fail(http.StatusUnauthorized, err)
			return
		}
		if !p.HasAny(perms) {
			fail(http.StatusForbidden, remoteassist.Errorf("", "Missing permissions on the request. API requires one of '%s'. Permissions on the request '%s'.",
				strings.Join(perms, ", "), strings.Join(append(slices.Clip(p.Scopes), p.Roles...), " ")))
			return
		}
		tenant = p.Tenant
	}
	var s remoteassist.Settings
	var selected []string
	var err *remoteassist.Error
	if r.Method == http.MethodGet {
		s, selected, err = h.get(r, tenant)
	} else {
		s, err = h.patch(r, tenant)
	}
	if err != nil {
		fail(status(err), err)
		return
	}
	writeEntity(w, r, s, selected)
}

func (h *Handler) authenticate(r *http.Request) (remoteassist.Principal, *remoteassist.Error) {
	const scheme = "bearer "
	auth := r.Header.Get("Authorization")
	if len(auth) > len(scheme) && strings.EqualFold(auth[:len(scheme)], scheme) {
		if token := strings.TrimSpace(auth[len(scheme):]); token != "" {
			p, err := h.auth.Authenticate(r.Context(), token)
			if err == nil {
				return p, nil
			}
			return p, remoteassist.Errorf(remoteassist.EUNAUTHENTICATED, "%s", remoteassist.ErrorMessage(err))
		}
	}
	return remoteassist.Principal{}, remoteassist.Errorf(remoteassist.EUNAUTHENTICATED, "Access token is empty.")
}

func (h *Handler) get(r *http.Request, tenant string) (remoteassist.Settings, []string, *remoteassist.Error) {
	var selected []string
	if r.URL.RawQuery != "" {
		if sel := r.URL.Query().Get("$select"); sel != "" {
			selected = strings.Split(sel, ",")
			for i, s := range selected {
				if !selectable[s] || slices.Contains(selected[:i], s) {
					return remoteassist.Settings{}, nil, remoteassist.InvalidValue("parameter", "$select", "")
				}
			}
		}
	}
	s, err := h.store.Settings(r.Context(), tenant)
	return s, selected, storeError(err)
}

func (h *Handler) patch(r *http.Request, tenant string) (remoteassist.Settings, *remoteassist.Error) {
	if msg := checkContentType(r.Header.Get("Content-Type")); msg != "" {
		return remoteassist.Settings{}, remoteassist.Errorf(remoteassist.EMEDIATYPE, "%s", msg)
	}
	tooLarge := remoteassist.Errorf(remoteassist.ETOOLARGE, "The request body is larger than the limit of %d bytes.", maxBody)
	if r.ContentLength > maxBody {
		return remoteassist.Settings{}, tooLarge
	}
	var body io.Reader = r.Body
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(io.LimitReader(r.Body, maxBody+1))
		if err != nil {
			return remoteassist.Settings{}, remoteassist.Errorf(remoteassist.EINVALID, "The request body is not valid gzip.")
		}
		defer zr.Close()
		body = zr
	default:
		return remoteassist.Settings{}, remoteassist.Errorf(remoteassist.EMEDIATYPE,
			"Content-Encoding '%s' is not supported. Send the body uncompressed or gzip-compressed.", remoteassist.Clip(enc, 32))
	}
	data, err := io.ReadAll(io.LimitReader(body, maxBody+1))
	if err != nil {
		return remoteassist.Settings{}, remoteassist.Errorf(remoteassist.EINVALID, "The request body could not be read.")
	}
	if len(data) > maxBody {
		return remoteassist.Settings{}, tooLarge
	}
	var u remoteassist.Update
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&u); err != nil || dec.More() {
		return remoteassist.Settings{}, remoteassist.Errorf(remoteassist.EINVALID, "Unable to read JSON request payload. Please ensure the payload is valid JSON.")
	}
	if u.OdataType != nil && !u.OdataType.Valid() {
		return remoteassist.Settings{}, remoteassist.InvalidValue("property", "@odata.type", remoteassist.EnumProblem(string(*u.OdataType), []string{remoteassist.ODataType}))
	}
	patch, perr := remoteassist.PatchFromUpdate(tenant, &u)
	if perr != nil {
		return remoteassist.Settings{}, storeError(perr)
	}
	if err := patch.Validate(); err != nil {
		return remoteassist.Settings{}, storeError(err)
	}
	s, err := h.store.UpdateSettings(r.Context(), tenant, patch)
	return s, storeError(err)
}

// selectable are the properties $select may name: the entity's, its OData annotations aside.
var selectable = func() map[string]bool {
	var m map[string]any
	data, _ := json.Marshal(remoteassist.Entity{})
	_ = json.Unmarshal(data, &m)
	names := map[string]bool{}
	for k := range m {
		if !strings.HasPrefix(k, "@") {
			names[k] = true
		}
	}
	return names
}()

// storeError returns the domain error in err, or nil.
func storeError(err error) *remoteassist.Error {
	if err == nil {
		return nil
	}
	if e, ok := err.(*remoteassist.Error); ok {
		return e
	}
	return remoteassist.Internal(err)
}

func status(e *remoteassist.Error) int {
	switch e.Code {
	case remoteassist.EINVALID:
		return http.StatusBadRequest
	case remoteassist.EMEDIATYPE:
		return http.StatusUnsupportedMediaType
	case remoteassist.ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	case remoteassist.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

var graphCodes = map[int]string{
	http.StatusBadRequest: "BadRequest", http.StatusUnauthorized: "InvalidAuthenticationToken", http.StatusForbidden: "Forbidden",
	http.StatusNotFound: "ResourceNotFound", http.StatusMethodNotAllowed: "MethodNotAllowed",
	http.StatusRequestEntityTooLarge: "RequestEntityTooLarge", http.StatusUnsupportedMediaType: "UnsupportedMediaType",
	http.StatusServiceUnavailable: "ServiceUnavailable", http.StatusInternalServerError: "InternalServerError",
}

// writeEntity writes the settings as the contract shows them.
func writeEntity(w http.ResponseWriter, r *http.Request, s remoteassist.Settings, selected []string) {
	scheme := "http://"
	if r.TLS != nil {
		scheme = "https://"
	}
	ctx := scheme + r.Host + "/beta/$metadata#deviceManagement/remoteAssistanceSettings"
	e := s.Entity()
	if len(selected) > 0 {
		ctx += "(" + strings.Join(selected, ",") + ")"
		// Through JSON, the plain way: drop what was not selected.
		var m map[string]any
		data, _ := json.Marshal(e)
		_ = json.Unmarshal(data, &m)
		for k := range m {
			if !strings.HasPrefix(k, "@") && k != "id" && !slices.Contains(selected, k) {
				delete(m, k)
			}
		}
		m["@odata.context"] = ctx + "/$entity"
		writeJSON(w, http.StatusOK, m)
		return
	}
	e.OdataContext = ctx + "/$entity"
	writeJSON(w, http.StatusOK, e)
}

// writeError writes the Graph error envelope.
func writeError(w http.ResponseWriter, id, clientID string, status int, e *remoteassist.Error) {
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	msg := e.Message
	if status == http.StatusInternalServerError {
		msg = remoteassist.InternalMessage
	}
	body := models.ODataError{Error: models.MainError{
		Code:    graphCodes[status],
		Message: msg,
		InnerError: models.InnerError{
			Date:            time.Now().UTC().Format("2006-01-02T15:04:05"),
			RequestId:       id,
			ClientRequestId: clientID,
		},
	}}
	if e.Target != "" {
		body.Error.Target = &e.Target
	}
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// checkContentType applies the server's rules: application/json in any case, parameters
// allowed, a charset only if UTF-8. It returns the refusal message, or "".
func checkContentType(ct string) string {
	if strings.EqualFold(ct, "application/json") {
		return ""
	}
	if ct == "" {
		return "The Content-Type header is missing. Send the body as application/json."
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return "Content-Type is not supported. Send the body as application/json."
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
		return "Charset is not supported. Send the body as UTF-8 JSON."
	}
	return ""
}

// routes are the floor's paths, split at '/', for a 404's message.
var routes = [][]string{{"healthz"}, strings.Split(strings.Trim(Path, "/"), "/")}

// unresolvedSegment is the segment a 404 names, as the server names it: the first segment no
// route has at its place, after the longest run of segments some route shares with path; the
// last segment for a path that leaves no route that way (a route's prefix, or a trailing slash).
// Cut short as the server cuts it.
func unresolvedSegment(path string) string {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	matched := 0
	for _, route := range routes {
		n := 0
		for n < len(segs) && n < len(route) && route[n] == segs[n] {
			n++
		}
		matched = max(matched, n)
	}
	seg := segs[len(segs)-1]
	if matched < len(segs) && segs[matched] != "" {
		seg = segs[matched]
	}
	return remoteassist.Clip(seg, 64)
}
