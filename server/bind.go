package server

import (
	"slices"

	"github.com/remoteassist/remoteassist/gen"
)

// The generated wrapper (gen.ServerInterfaceWrapper) binds every parameter through
// oapi-codegen's reflection-based binders on every request, even when none was sent. For the
// request shape that is nearly all traffic (no query string, at most one client-request-id),
// a direct binder builds the same generated parameter struct and calls the handler itself; any
// other request still goes through the generated wrapper. The direct binders only switch on
// when the operation's parameters in the contract are exactly the ones they know, so a new
// parameter in the contract silently brings the generated binding back (TestDirectBinders
// notices).

// directBinder calls the handler of one operation with its parameters bound, or reports that
// the request needs the generated wrapper.
type directBinder func(st *reqState) (handled bool, err error)

// knownParams are the parameters the direct binders bind, per operationId.
var knownParams = map[string][]string{
	"deviceManagement.GetRemoteAssistanceSettings":    {"$select", "select", "client-request-id"},
	"deviceManagement.UpdateRemoteAssistanceSettings": {"client-request-id"},
}

// newDirectBinder returns the direct binder of op, or nil when there is none for it.
func newDirectBinder(op *operation, h gen.ServerInterface) directBinder {
	var names []string
	for _, p := range op.params {
		names = append(names, p.p.Name)
	}
	slices.Sort(names)
	want := slices.Clone(knownParams[op.id])
	slices.Sort(want)
	if want == nil || !slices.Equal(names, want) {
		return nil
	}
	switch op.id {
	case "deviceManagement.GetRemoteAssistanceSettings":
		return func(st *reqState) (bool, error) {
			crid, ok := oneHeader(st, "Client-Request-Id")
			if !ok || st.Request().URL.RawQuery != "" {
				return false, nil
			}
			return true, h.DeviceManagementGetRemoteAssistanceSettings(st, gen.DeviceManagementGetRemoteAssistanceSettingsParams{ClientRequestId: crid})
		}
	case "deviceManagement.UpdateRemoteAssistanceSettings":
		return func(st *reqState) (bool, error) {
			crid, ok := oneHeader(st, "Client-Request-Id")
			if !ok {
				return false, nil
			}
			return true, h.DeviceManagementUpdateRemoteAssistanceSettings(st, gen.DeviceManagementUpdateRemoteAssistanceSettingsParams{ClientRequestId: crid})
		}
	}
	return nil
}

// oneHeader returns a pointer to the single value of a header (nil when absent), as the
// generated wrapper binds a string header parameter; ok is false when the header has several
// values, which the generated wrapper refuses with its own message.
func oneHeader(st *reqState, canonical string) (*string, bool) {
	values := st.Request().Header[canonical]
	switch len(values) {
	case 0:
		return nil, true
	case 1:
		return &values[0], true
	}
	return nil, false
}
