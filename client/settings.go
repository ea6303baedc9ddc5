package client

import (
	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/gen"
)

// State is the state of remote assistance for a tenant: the service's own type, which is the
// contract's generated enum type, so a value is valid exactly when its Valid method says so.
type State = remoteassist.State

// The states the contract defines.
const (
	StateNotConfigured = remoteassist.StateNotConfigured
	StateDisabled      = remoteassist.StateDisabled
	StateEnabled       = remoteassist.StateEnabled
)

// States returns every valid State in the contract's order, for help texts and error messages.
// Validation never consults it: State.Valid, generated from the contract, decides.
func States() []State { return remoteassist.States() }

// Settings are a tenant's remote assistance settings as the service returned them. The JSON
// names are Graph's, so a Settings marshals the way Graph documents the entity.
type Settings struct {
	// ID identifies the settings object; the service assigns it and keeps it stable per tenant.
	ID string `json:"id"`
	// AllowSessionsToUnenrolledDevices tells whether Remote Help sessions to devices not
	// enrolled in Intune are allowed.
	AllowSessionsToUnenrolledDevices bool `json:"allowSessionsToUnenrolledDevices"`
	// RemoteAssistanceState is whether Remote Help is enabled. A value this version of the
	// contract does not know is kept as sent; check it with Valid.
	RemoteAssistanceState State `json:"remoteAssistanceState"`
	// BlockChat tells whether chat is blocked during sessions.
	BlockChat bool `json:"blockChat"`
}

// settingsFromWire converts the generated response model. Properties the service left out
// (only possible with $select) read as their zero values.
func settingsFromWire(w *gen.MicrosoftGraphRemoteAssistanceSettings) Settings {
	s := Settings{ID: w.Id}
	if w.AllowSessionsToUnenrolledDevices != nil {
		s.AllowSessionsToUnenrolledDevices = *w.AllowSessionsToUnenrolledDevices
	}
	if w.RemoteAssistanceState != nil {
		s.RemoteAssistanceState = *w.RemoteAssistanceState
	}
	if w.BlockChat != nil {
		s.BlockChat = *w.BlockChat
	}
	return s
}

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

// patchToWire builds the generated request model, carrying only the properties p sets.
func patchToWire(p Patch) gen.MicrosoftGraphRemoteAssistanceSettingsUpdate {
	return gen.MicrosoftGraphRemoteAssistanceSettingsUpdate{
		AllowSessionsToUnenrolledDevices: p.AllowSessionsToUnenrolledDevices,
		RemoteAssistanceState:            p.RemoteAssistanceState,
		BlockChat:                        p.BlockChat,
	}
}
