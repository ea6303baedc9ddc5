package client

import "github.com/remoteassist/remoteassist"

// State is the state of remote assistance for a tenant: the service's own type, which is the
// contract's generated enum type, so a value is valid exactly when its Valid method says so.
type State = remoteassist.State

// The states the contract defines.
const (
	StateNotConfigured = remoteassist.StateNotConfigured
	StateDisabled      = remoteassist.StateDisabled
	StateEnabled       = remoteassist.StateEnabled
)

// Profile is a fidelity profile of the service (see WithProfile).
type Profile = remoteassist.Profile

// The profiles.
const (
	ProfileDocumented = remoteassist.ProfileDocumented
	ProfileGraph      = remoteassist.ProfileGraph
)

// States returns every valid State in the contract's order, for help texts and error messages.
// Validation never consults it: State.Valid, generated from the contract, decides.
func States() []State { return remoteassist.States() }

// Settings are a tenant's remote assistance settings as the service returned them: the
// service's own type. A RemoteAssistanceState this version of the contract does not know is
// kept as sent; check it with Valid.
type Settings = remoteassist.Settings

// Patch is a partial update. A nil field leaves the property unchanged; a non-nil field sets
// it to the value pointed to. Only the set properties are sent. Ptr makes the pointers:
//
//	client.Patch{RemoteAssistanceState: client.Ptr(client.StateEnabled), BlockChat: client.Ptr(true)}
//
// It is the service's own patch type, so the client refuses exactly what the service would.
type Patch = remoteassist.Patch

// Ptr returns a pointer to v, for the fields of a Patch.
func Ptr[T any](v T) *T { return &v }

// ErrEmptyPatch is the cause, for errors.Is, of the error Update returns before any request for
// a patch that sets no property: the service would refuse it with 400.
var ErrEmptyPatch = remoteassist.ErrEmptyPatch

// ErrInvalidState is the cause, for errors.Is, of the error Update returns before any request
// when the patch's RemoteAssistanceState is not a value of the contract's enumeration.
var ErrInvalidState = remoteassist.ErrInvalidState

// patchError is a patch refused before any request. It reads as the service's message would.
type patchError struct{ err error }

func (e *patchError) Error() string { return "client: " + remoteassist.ErrorMessage(e.err) }
func (e *patchError) Unwrap() error { return e.err }
