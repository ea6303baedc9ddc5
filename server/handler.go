package server

import (
	"net"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/gen"
)

// handler implements the operations of the contract on top of a store. Authentication,
// authorization and validation have run before any of its methods is called.
type handler struct {
	s *Server
}

var _ gen.ServerInterface = (*handler)(nil)

// DeviceManagementGetRemoteAssistanceSettings answers GET with the caller's tenant's settings.
func (h *handler) DeviceManagementGetRemoteAssistanceSettings(c echo.Context, params gen.DeviceManagementGetRemoteAssistanceSettingsParams) error {
	st, p, err := h.begin(c)
	if err != nil {
		return err
	}
	settings, err := h.s.store.Settings(st.Request().Context(), p.Tenant)
	if err != nil {
		return err
	}
	var selected []gen.SelectableProperty
	switch {
	case params.Select != nil && params.SelectWithoutPrefix != nil:
		return &remoteassist.Error{Code: remoteassist.EINVALID, Target: "$select",
			Message: "Send either $select or select (its form without the $), not both."}
	case params.Select != nil:
		selected = *params.Select
	case params.SelectWithoutPrefix != nil:
		selected = *params.SelectWithoutPrefix
	}
	return h.entity(st, settings, selected)
}

// DeviceManagementUpdateRemoteAssistanceSettings merges the validated body into the caller's
// tenant's settings and answers with the whole updated entity.
func (h *handler) DeviceManagementUpdateRemoteAssistanceSettings(c echo.Context, _ gen.DeviceManagementUpdateRemoteAssistanceSettingsParams) error {
	st, p, err := h.begin(c)
	if err != nil {
		return err
	}
	patch, err := patchFromFields(st.fields, p.Tenant)
	if err != nil {
		return err
	}
	// Refused here, with the store's own error, so that the store is not called for nothing.
	if patch.IsEmpty() {
		return patch.Validate()
	}
	settings, err := h.s.store.UpdateSettings(st.Request().Context(), p.Tenant, patch)
	if err != nil {
		return err
	}
	return h.entity(st, settings, nil)
}

// begin returns the request state and the verified caller.
func (h *handler) begin(c echo.Context) (*reqState, remoteassist.Principal, error) {
	st, ok := c.(*reqState)
	if !ok {
		return nil, remoteassist.Principal{}, remoteassist.Internal(errNotWired("entry"))
	}
	p, err := principal(st)
	return st, p, err
}

// entity writes the settings as the contract shows them. selected, when not empty, limits the
// settable properties returned ($select); the OData annotations and id are always there.
func (h *handler) entity(st *reqState, s remoteassist.Settings, selected []gen.SelectableProperty) error {
	st.out = appendEntity(st.out[:0], s, scheme(st), host(st), selected)
	return writeJSON(st.Response(), http.StatusOK, st.out)
}

// patchFromFields turns a body the validator accepted into a Patch. It reads the very values
// the validator checked, property for property, so what is stored is exactly what was
// validated. The checks of the kinds still refuse anything unexpected, in case the contract and
// this code drift apart.
func patchFromFields(fields []bodyField, tenant string) (remoteassist.Patch, error) {
	var p remoteassist.Patch
	for i := range fields {
		f := &fields[i]
		switch f.name {
		case "@odata.context":
			// Ignored: a body returned by GET carries it.
		case "@odata.type":
			if f.kind != kindString || f.str != remoteassist.ODataType {
				return p, invalidProperty(f.name, "it must be '"+remoteassist.ODataType+"'")
			}
		case "id":
			if f.kind != kindString || f.str != remoteassist.SettingsID(tenant) {
				return p, invalidProperty(f.name, "it is read-only and, when sent, must be the object's current id")
			}
		case "allowSessionsToUnenrolledDevices":
			if f.kind != kindBool {
				return p, invalidProperty(f.name, "expected a boolean")
			}
			p.AllowSessionsToUnenrolledDevices = &f.b
		case "blockChat":
			if f.kind != kindBool {
				return p, invalidProperty(f.name, "expected a boolean")
			}
			p.BlockChat = &f.b
		case "remoteAssistanceState":
			if f.kind != kindString {
				return p, invalidProperty(f.name, "expected a string")
			}
			state := remoteassist.State(f.str)
			p.RemoteAssistanceState = &state
		default:
			return p, invalidProperty(f.name, "the property does not exist on type 'microsoft.graph.remoteAssistanceSettings'")
		}
	}
	return p, nil
}

func invalidProperty(name, why string) *remoteassist.Error {
	return &remoteassist.Error{Code: remoteassist.EINVALID, Target: truncate(name, 64),
		Message: "Invalid value for property '" + truncate(name, 64) + "': " + why + "."}
}

// host is the host of the base URL the client called: its Host header or, from an HTTP/1.0
// client that sent none, the address it connected to, so that @odata.context is always a URL.
func host(st *reqState) string {
	req := st.Request()
	if req.Host != "" {
		return req.Host
	}
	if addr, ok := req.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		return addr.String()
	}
	return "localhost"
}

// scheme is the scheme of the base URL the client called. Only the two schemes are echoed:
// the X-Forwarded-* headers echo reads are the client's.
func scheme(st *reqState) string {
	if st.Scheme() == "https" {
		return "https://"
	}
	return "http://"
}
