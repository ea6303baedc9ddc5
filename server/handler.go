package server

import (
	"encoding/json"
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/gen/echoapi"
	"github.com/remoteassist/remoteassist/gen/models"
)

// handler implements the operations of the contract on top of a store. Authentication,
// authorization and validation have run before any of its methods is called; each method binds
// what it needs, calls the store through the domain's wire mapping and answers with the
// generated entity.
type handler struct {
	store remoteassist.Store
	// readRules say how stored values read under the profile (see profile.go).
	readRules []readRule
}

var _ echoapi.ServerInterface = (*handler)(nil)

// DeviceManagementGetRemoteAssistanceSettings answers GET with the caller's tenant's settings.
func (h *handler) DeviceManagementGetRemoteAssistanceSettings(c echo.Context, params models.DeviceManagementGetRemoteAssistanceSettingsParams) error {
	st := requestOf(c)
	var list *string
	option := "$select"
	switch {
	case params.Select != nil && params.SelectWithoutPrefix != nil:
		return &remoteassist.Error{Code: remoteassist.EINVALID, Target: "$select",
			Message: "Send either $select or select (its form without the $), not both."}
	case params.Select != nil:
		list = params.Select
	case params.SelectWithoutPrefix != nil:
		list, option = params.SelectWithoutPrefix, "select"
	}
	selected, err := selection(option, list)
	if err != nil {
		return err
	}
	settings, err := h.store.Settings(c.Request().Context(), st.principal.Tenant)
	if err != nil {
		return err
	}
	return h.writeEntity(c, settings, selected)
}

// DeviceManagementUpdateRemoteAssistanceSettings merges the validated body into the caller's
// tenant's settings and answers as the profile's contract says: the whole updated entity, or no
// content.
func (h *handler) DeviceManagementUpdateRemoteAssistanceSettings(c echo.Context, _ models.DeviceManagementUpdateRemoteAssistanceSettingsParams) error {
	st := requestOf(c)
	var body remoteassist.Update
	if err := bindValidated(&body, st.body); err != nil {
		return err
	}
	patch, err := remoteassist.PatchFromUpdate(st.principal.Tenant, &body)
	if err != nil {
		return err
	}
	// Refused here, with the store's own error, so that the store is not called for nothing.
	if patch.IsEmpty() {
		return patch.Validate()
	}
	settings, err := h.store.UpdateSettings(c.Request().Context(), st.principal.Tenant, patch)
	if err != nil {
		return err
	}
	if !st.op.successBody {
		return c.NoContent(st.op.success)
	}
	return h.writeEntity(c, settings, nil)
}

// selection reads a $select list (option names the parameter sent), whose names kin-openapi
// checked against the contract's pattern; each may be named once. As Graph's OData parser reads
// it, an empty list selects nothing in particular (every property) and a comma ending the list
// is ignored; the pattern admits no other empty name.
func selection(option string, list *string) ([]string, error) {
	if list == nil || *list == "" {
		return nil, nil
	}
	var selected []string
	for name := range strings.SplitSeq(strings.TrimSuffix(*list, ","), ",") {
		if slices.Contains(selected, name) {
			return nil, remoteassist.InvalidValue("parameter", option, "each property may be named once")
		}
		selected = append(selected, name)
	}
	return selected, nil
}

// writeEntity answers with the settings as the contract's entity. selected, when not empty,
// limits the settable properties returned ($select); the OData annotations and id are always
// there.
func (h *handler) writeEntity(c echo.Context, s remoteassist.Settings, selected []string) error {
	e := s.Entity()
	applyReadRules(&e, h.readRules)
	e.OdataContext = contextURL(c.Request(), c.Scheme(), selected)
	if len(selected) == 0 {
		return c.JSONPretty(http.StatusOK, e, "")
	}
	// The answer $select cuts short: the entity's JSON without what was not selected. A map
	// encodes its keys sorted, as the struct's fields are, so the bytes are the same either way.
	var m map[string]any
	data, err := json.Marshal(e)
	if err == nil {
		err = json.Unmarshal(data, &m)
	}
	if err != nil {
		return remoteassist.Internal(err)
	}
	for name := range m {
		if name != "id" && !strings.HasPrefix(name, "@") && !slices.Contains(selected, name) {
			delete(m, name)
		}
	}
	return c.JSONPretty(http.StatusOK, m, "")
}

// contextURL is the entity's @odata.context: the metadata URL of the base the client called,
// with the selected properties when there are.
func contextURL(req *http.Request, scheme string, selected []string) string {
	// Only the two schemes are echoed: the X-Forwarded-* headers echo reads are the client's.
	if scheme != "https" {
		scheme = "http"
	}
	const metadata = BasePath + "/$metadata#deviceManagement/remoteAssistanceSettings"
	if len(selected) == 0 {
		return scheme + "://" + host(req) + metadata + "/$entity"
	}
	return scheme + "://" + host(req) + metadata + "(" + strings.Join(selected, ",") + ")/$entity"
}

// host is the host of the base URL the client called: its Host header or, from an HTTP/1.0
// client that sent none, the address it connected to, so that @odata.context is always a URL.
func host(req *http.Request) string {
	if req.Host != "" {
		return remoteassist.Clip(req.Host, 255)
	}
	if addr, ok := req.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		return addr.String()
	}
	return "localhost"
}
