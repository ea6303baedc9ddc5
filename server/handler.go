package server

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/gen"
)

// handler implements the operations of the contract on top of a store. Authentication,
// authorization and validation have run before any of its methods is called.
type handler struct {
	store remoteassist.Store
}

var _ gen.ServerInterface = (*handler)(nil)

// DeviceManagementGetRemoteAssistanceSettings answers GET with the caller's tenant's settings.
func (h *handler) DeviceManagementGetRemoteAssistanceSettings(c echo.Context, params gen.DeviceManagementGetRemoteAssistanceSettingsParams) error {
	p, err := principal(c)
	if err != nil {
		return err
	}
	settings, err := h.store.Settings(c.Request().Context(), p.Tenant)
	if err != nil {
		return err
	}
	var selected []string
	if params.Select != nil {
		selected = *params.Select
	}
	return c.JSON(http.StatusOK, representation(c, settings, selected))
}

// DeviceManagementUpdateRemoteAssistanceSettings merges the validated body into the caller's
// tenant's settings and answers with the whole updated entity.
func (h *handler) DeviceManagementUpdateRemoteAssistanceSettings(c echo.Context, _ gen.DeviceManagementUpdateRemoteAssistanceSettingsParams) error {
	p, err := principal(c)
	if err != nil {
		return err
	}
	body, ok := c.Get(bodyKey).(map[string]any)
	if !ok {
		return &remoteassist.Error{Code: remoteassist.EINTERNAL, Message: remoteassist.ErrorMessage(nil), Err: errNotWired("validation")}
	}
	patch, err := patchFromBody(body, p.Tenant)
	if err != nil {
		return err
	}
	settings, err := h.store.UpdateSettings(c.Request().Context(), p.Tenant, patch)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, representation(c, settings, nil))
}

// patchFromBody turns a body the validator accepted into a Patch. It reads the very map the
// validator checked, key for key, so what is stored is exactly what was validated. The type
// assertions still refuse anything unexpected, in case the contract and this code drift apart.
func patchFromBody(body map[string]any, tenant string) (remoteassist.Patch, error) {
	var p remoteassist.Patch
	for key, value := range body {
		switch key {
		case "@odata.context":
			// Ignored: a body returned by GET carries it.
		case "@odata.type":
			if value != remoteassist.ODataType {
				return p, invalidProperty(key, "it must be '"+remoteassist.ODataType+"'")
			}
		case "id":
			if value != remoteassist.SettingsID(tenant) {
				return p, invalidProperty(key, "it is read-only and, when sent, must be the object's current id")
			}
		case "allowSessionsToUnenrolledDevices":
			b, ok := value.(bool)
			if !ok {
				return p, invalidProperty(key, "expected a boolean")
			}
			p.AllowSessionsToUnenrolledDevices = &b
		case "blockChat":
			b, ok := value.(bool)
			if !ok {
				return p, invalidProperty(key, "expected a boolean")
			}
			p.BlockChat = &b
		case "remoteAssistanceState":
			s, ok := value.(string)
			if !ok {
				return p, invalidProperty(key, "expected a string")
			}
			state := remoteassist.State(s)
			p.RemoteAssistanceState = &state
		default:
			return p, invalidProperty(key, "the property does not exist on type 'microsoft.graph.remoteAssistanceSettings'")
		}
	}
	return p, nil
}

func invalidProperty(name, why string) *remoteassist.Error {
	return &remoteassist.Error{Code: remoteassist.EINVALID, Target: name,
		Message: "Invalid value for property '" + truncate(name, 64) + "': " + why + "."}
}

// representation is the entity as the contract shows it. selected, when not empty, limits the
// settable properties returned ($select); the OData annotations and id are always there.
func representation(c echo.Context, s remoteassist.Settings, selected []string) gen.MicrosoftGraphRemoteAssistanceSettings {
	all := len(selected) == 0
	has := func(name string) bool {
		for _, v := range selected {
			if v == name {
				return true
			}
		}
		return all
	}
	r := gen.MicrosoftGraphRemoteAssistanceSettings{
		OdataContext: odataContext(c, selected),
		OdataType:    gen.MicrosoftGraphRemoteAssistanceSettingsOdataTypeHashMicrosoftGraphRemoteAssistanceSettings,
		Id:           s.ID,
	}
	if has("allowSessionsToUnenrolledDevices") {
		r.AllowSessionsToUnenrolledDevices = &s.AllowSessionsToUnenrolledDevices
	}
	if has("remoteAssistanceState") {
		r.RemoteAssistanceState = &s.RemoteAssistanceState
	}
	if has("blockChat") {
		r.BlockChat = &s.BlockChat
	}
	return r
}

// odataContext is the entity's OData context URL under the base URL the client called.
func odataContext(c echo.Context, selected []string) string {
	var b strings.Builder
	// Only the two schemes are echoed: the X-Forwarded-* headers echo reads are the client's.
	if c.Scheme() == "https" {
		b.WriteString("https://")
	} else {
		b.WriteString("http://")
	}
	b.WriteString(c.Request().Host)
	b.WriteString(BasePath)
	b.WriteString("/$metadata#deviceManagement/remoteAssistanceSettings")
	if len(selected) > 0 {
		b.WriteString("(")
		b.WriteString(strings.Join(selected, ","))
		b.WriteString(")")
	}
	b.WriteString("/$entity")
	return b.String()
}
