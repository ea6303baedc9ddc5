// Package floor is the performance baseline of the service: a hand-written net/http and
// encoding/json handler that does the same work as package server on its hot paths, with no
// framework, no spec and no validator library. Benchmarks and load runs measure the server
// against it, so that the cost of the spec-first stack (echo, kin-openapi, the generated code,
// metrics and logs) is a ratio rather than a guess.
//
// To be a fair floor it must do the same work honestly, and it must not be a strawman:
//
//   - the same route check (404 for other paths, 405 with Allow for other methods);
//   - a request-id per request (the same generator as the server's, so that id generation is
//     not part of the ratio) and the client-request-id echoed when usable;
//   - authentication through the same cached jwtauth verifier, then the same permission check;
//   - for PATCH: the same Content-Type and Content-Encoding rules, the same body limit, a decode
//     with DisallowUnknownFields into a struct whose fields record presence and explicit null,
//     then the enumeration, @odata.type, id and empty-patch checks;
//   - the same memory store, the same response body (byte for byte) and headers, and the Graph
//     error envelope, naming the property and the allowed values, on a refused body.
//
// It is idiomatic rather than clever: encoding/json in both directions, io.ReadAll for the
// body, Header().Set for headers. It is laxer than the server where encoding/json v1 is
// (property names match case-insensitively, a duplicated property's last value wins), which
// only makes it cheaper.
package floor

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/gen"
	"github.com/remoteassist/remoteassist/internal/requestid"
)

// Path is the one resource the floor serves.
const Path = "/beta/deviceManagement/remoteAssistanceSettings"

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
	auth  remoteassist.Authenticator
}

// New returns the floor handler over store and auth.
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
	if r.URL.Path == "/healthz" {
		hdr.Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, "{\"status\":\"ok\"}\n")
		return
	}
	if r.URL.Path != Path {
		h.fail(w, id, clientID, http.StatusNotFound, "ResourceNotFound", "Resource not found for the segment '"+lastSegment(r.URL.Path)+"'.", "")
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
		h.fail(w, id, clientID, http.StatusMethodNotAllowed, "MethodNotAllowed", "The HTTP method '"+r.Method+"' is not allowed on this resource.", "")
		return
	}
	p, ok := h.authenticate(w, r, id, clientID)
	if !ok {
		return
	}
	if !p.HasAny(perms) {
		h.fail(w, id, clientID, http.StatusForbidden, "Forbidden", "Missing permissions on the request. API requires one of '"+
			strings.Join(perms, ", ")+"'. Permissions on the request '"+strings.Join(append(slices.Clip(p.Scopes), p.Roles...), " ")+"'.", "")
		return
	}
	if r.Method == http.MethodGet {
		h.get(w, r, p, id, clientID)
		return
	}
	h.patch(w, r, p, id, clientID)
}

func (h *Handler) authenticate(w http.ResponseWriter, r *http.Request, id, clientID string) (remoteassist.Principal, bool) {
	const scheme = "bearer "
	auth := r.Header.Get("Authorization")
	msg := "Access token is empty."
	if len(auth) > len(scheme) && strings.EqualFold(auth[:len(scheme)], scheme) {
		if token := strings.TrimSpace(auth[len(scheme):]); token != "" {
			p, err := h.auth.Authenticate(r.Context(), token)
			if err == nil {
				return p, true
			}
			msg = remoteassist.ErrorMessage(err)
		}
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="remoteassist", error="invalid_token"`)
	h.fail(w, id, clientID, http.StatusUnauthorized, "InvalidAuthenticationToken", msg, "")
	return remoteassist.Principal{}, false
}

func (h *Handler) get(w http.ResponseWriter, r *http.Request, p remoteassist.Principal, id, clientID string) {
	var selected []string
	if r.URL.RawQuery != "" {
		if sel := r.URL.Query().Get("$select"); sel != "" {
			selected = strings.Split(sel, ",")
			for i, s := range selected {
				if !gen.SelectableProperty(s).Valid() || slices.Contains(selected[:i], s) {
					h.fail(w, id, clientID, http.StatusBadRequest, "BadRequest", "Invalid value for parameter '$select'.", "$select")
					return
				}
			}
		}
	}
	s, err := h.store.Settings(r.Context(), p.Tenant)
	if err != nil {
		h.storeFailed(w, id, clientID, err)
		return
	}
	h.entity(w, r, s, selected)
}

// optBool is a boolean property that records whether it was present and whether it was null:
// a pointer field cannot tell an explicit null from an absent property.
type optBool struct {
	set, null bool
	v         bool
}

func (o *optBool) UnmarshalJSON(b []byte) error {
	o.set = true
	switch string(b) {
	case "null":
		o.null = true
	case "true":
		o.v = true
	case "false":
		o.v = false
	default:
		return errWrongType
	}
	return nil
}

// optString is optBool for strings.
type optString struct {
	set, null bool
	v         string
}

func (o *optString) UnmarshalJSON(b []byte) error {
	o.set = true
	switch {
	case string(b) == "null":
		o.null = true
		return nil
	case len(b) < 2 || b[0] != '"':
		return errWrongType
	case bytes.IndexByte(b, '\\') < 0:
		o.v = string(b[1 : len(b)-1])
		return nil
	}
	return json.Unmarshal(b, &o.v)
}

var errWrongType = errors.New("wrong type")

// patchBody is the update body: every property the contract allows, nothing else.
type patchBody struct {
	OdataContext                     optString `json:"@odata.context"`
	OdataType                        optString `json:"@odata.type"`
	ID                               optString `json:"id"`
	AllowSessionsToUnenrolledDevices optBool   `json:"allowSessionsToUnenrolledDevices"`
	RemoteAssistanceState            optString `json:"remoteAssistanceState"`
	BlockChat                        optBool   `json:"blockChat"`
}

func (h *Handler) patch(w http.ResponseWriter, r *http.Request, p remoteassist.Principal, id, clientID string) {
	bad := func(status int, code, msg, target string) { h.fail(w, id, clientID, status, code, msg, target) }
	if msg := checkContentType(r.Header.Get("Content-Type")); msg != "" {
		bad(http.StatusUnsupportedMediaType, "UnsupportedMediaType", msg, "")
		return
	}
	tooLarge := "The request body is larger than the limit of " + strconv.Itoa(maxBody) + " bytes."
	if r.ContentLength > maxBody {
		bad(http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", tooLarge, "")
		return
	}
	var body io.Reader = r.Body
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(io.LimitReader(r.Body, maxBody+1))
		if err != nil {
			bad(http.StatusBadRequest, "BadRequest", "The request body is not valid gzip.", "")
			return
		}
		defer zr.Close()
		body = zr
	default:
		bad(http.StatusUnsupportedMediaType, "UnsupportedMediaType", "Content-Encoding '"+enc+"' is not supported. Send the body uncompressed or gzip-compressed.", "")
		return
	}
	data, err := io.ReadAll(io.LimitReader(body, maxBody+1))
	if err != nil {
		bad(http.StatusBadRequest, "BadRequest", "The request body could not be read.", "")
		return
	}
	if len(data) > maxBody {
		bad(http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", tooLarge, "")
		return
	}
	var pb patchBody
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&pb); err != nil {
		bad(http.StatusBadRequest, "BadRequest", "Unable to read JSON request payload: "+err.Error()+".", "")
		return
	}
	if dec.More() {
		bad(http.StatusBadRequest, "BadRequest", "Unable to read JSON request payload: unexpected data after the JSON value.", "")
		return
	}
	var patch remoteassist.Patch
	for _, f := range []struct {
		name string
		set  bool
		null bool
	}{
		{"@odata.context", pb.OdataContext.set, pb.OdataContext.null},
		{"@odata.type", pb.OdataType.set, pb.OdataType.null},
		{"id", pb.ID.set, pb.ID.null},
		{"allowSessionsToUnenrolledDevices", pb.AllowSessionsToUnenrolledDevices.set, pb.AllowSessionsToUnenrolledDevices.null},
		{"remoteAssistanceState", pb.RemoteAssistanceState.set, pb.RemoteAssistanceState.null},
		{"blockChat", pb.BlockChat.set, pb.BlockChat.null},
	} {
		if f.null {
			bad(http.StatusBadRequest, "BadRequest", "Invalid value for property '"+f.name+"': null is not allowed.", f.name)
			return
		}
	}
	if pb.OdataType.set && !gen.MicrosoftGraphRemoteAssistanceSettingsUpdateOdataType(pb.OdataType.v).Valid() {
		bad(http.StatusBadRequest, "BadRequest", "Invalid value for property '@odata.type': "+quote(pb.OdataType.v)+
			". Allowed values: "+remoteassist.ODataType+".", "@odata.type")
		return
	}
	if pb.ID.set && pb.ID.v != remoteassist.SettingsID(p.Tenant) {
		bad(http.StatusBadRequest, "BadRequest", "Invalid value for property 'id': it is read-only and, when sent, must be the object's current id.", "id")
		return
	}
	if pb.RemoteAssistanceState.set {
		state := remoteassist.State(pb.RemoteAssistanceState.v)
		if !state.Valid() {
			bad(http.StatusBadRequest, "BadRequest", "Invalid value for property 'remoteAssistanceState': "+quote(pb.RemoteAssistanceState.v)+
				". Allowed values: "+allowedStates+".", "remoteAssistanceState")
			return
		}
		patch.RemoteAssistanceState = &state
	}
	if pb.AllowSessionsToUnenrolledDevices.set {
		patch.AllowSessionsToUnenrolledDevices = &pb.AllowSessionsToUnenrolledDevices.v
	}
	if pb.BlockChat.set {
		patch.BlockChat = &pb.BlockChat.v
	}
	if patch.IsEmpty() {
		bad(http.StatusBadRequest, "BadRequest", "Invalid patch, at least 1 property must be changed.", "")
		return
	}
	s, err := h.store.UpdateSettings(r.Context(), p.Tenant, patch)
	if err != nil {
		h.storeFailed(w, id, clientID, err)
		return
	}
	h.entity(w, r, s, nil)
}

// allowedStates lists the enumeration from the generated code, which is generated from the
// contract.
var allowedStates = func() string {
	var names []string
	for _, s := range remoteassist.States() {
		names = append(names, string(s))
	}
	return strings.Join(names, ", ")
}()

func quote(s string) string {
	b, _ := json.Marshal(s)
	if len(b) > 64 {
		b = append(b[:64], "..."...)
	}
	return strings.ToValidUTF8(string(b), "")
}

// entity writes the settings as the contract shows them.
func (h *Handler) entity(w http.ResponseWriter, r *http.Request, s remoteassist.Settings, selected []string) {
	scheme := "http://"
	if r.TLS != nil {
		scheme = "https://"
	}
	ctx := scheme + r.Host + "/beta/$metadata#deviceManagement/remoteAssistanceSettings"
	if len(selected) > 0 {
		ctx += "(" + strings.Join(selected, ",") + ")"
	}
	body := gen.MicrosoftGraphRemoteAssistanceSettings{
		OdataContext: ctx + "/$entity",
		OdataType:    gen.MicrosoftGraphRemoteAssistanceSettingsOdataTypeHashMicrosoftGraphRemoteAssistanceSettings,
		Id:           s.ID,
	}
	all := len(selected) == 0
	if all || slices.Contains(selected, "allowSessionsToUnenrolledDevices") {
		body.AllowSessionsToUnenrolledDevices = &s.AllowSessionsToUnenrolledDevices
	}
	if all || slices.Contains(selected, "remoteAssistanceState") {
		body.RemoteAssistanceState = &s.RemoteAssistanceState
	}
	if all || slices.Contains(selected, "blockChat") {
		body.BlockChat = &s.BlockChat
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(body)
}

func (h *Handler) storeFailed(w http.ResponseWriter, id, clientID string, err error) {
	switch remoteassist.ErrorCode(err) {
	case remoteassist.EINVALID:
		h.fail(w, id, clientID, http.StatusBadRequest, "BadRequest", remoteassist.ErrorMessage(err), "")
	case remoteassist.EUNAVAILABLE:
		w.Header().Set("Retry-After", "5")
		h.fail(w, id, clientID, http.StatusServiceUnavailable, "ServiceUnavailable", remoteassist.ErrorMessage(err), "")
	default:
		h.fail(w, id, clientID, http.StatusInternalServerError, "InternalServerError", "An internal server error occurred.", "")
	}
}

// fail writes the Graph error envelope.
func (h *Handler) fail(w http.ResponseWriter, id, clientID string, status int, code, msg, target string) {
	body := gen.ODataError{Error: gen.MainError{
		Code:    code,
		Message: msg,
		InnerError: gen.InnerError{
			Date:            time.Now().UTC().Format("2006-01-02T15:04:05"),
			RequestId:       id,
			ClientRequestId: clientID,
		},
	}}
	if target != "" {
		body.Error.Target = &target
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
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

func lastSegment(path string) string {
	seg := strings.TrimRight(path, "/")
	if i := strings.LastIndexByte(seg, '/'); i >= 0 {
		seg = seg[i+1:]
	}
	if len(seg) > 64 {
		seg = seg[:64] + "..."
	}
	return strings.ToValidUTF8(seg, "")
}
