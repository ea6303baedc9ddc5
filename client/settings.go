package client

import (
	"errors"
	"fmt"
	"strings"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/gen"
)

// State is the state of remote assistance for a tenant. It is the contract's generated enum
// type, so a value is valid exactly when its Valid method says so.
type State = gen.MicrosoftGraphRemoteAssistanceState

// The states the contract defines.
const (
	StateNotConfigured = gen.MicrosoftGraphRemoteAssistanceStateNotConfigured
	StateDisabled      = gen.MicrosoftGraphRemoteAssistanceStateDisabled
	StateEnabled       = gen.MicrosoftGraphRemoteAssistanceStateEnabled
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
type Patch struct {
	// AllowSessionsToUnenrolledDevices, when set, allows or forbids sessions to devices not
	// enrolled in Intune.
	AllowSessionsToUnenrolledDevices *bool
	// RemoteAssistanceState, when set, must be one of the contract's states.
	RemoteAssistanceState *State
	// BlockChat, when set, blocks or allows chat during sessions.
	BlockChat *bool
}

// Ptr returns a pointer to v, for the fields of a Patch.
func Ptr[T any](v T) *T { return &v }

// ErrEmptyPatch is returned by Update, before any request, for a patch that sets no property:
// the service would refuse it with 400.
var ErrEmptyPatch = errors.New("client: the patch sets no property; set at least one of AllowSessionsToUnenrolledDevices, RemoteAssistanceState, BlockChat")

// ErrInvalidState is returned, wrapped, by Update before any request when the patch's
// RemoteAssistanceState is not a value of the contract's enumeration.
var ErrInvalidState = errors.New("client: invalid remoteAssistanceState")

// IsEmpty reports whether the patch sets no property.
func (p Patch) IsEmpty() bool {
	return p.AllowSessionsToUnenrolledDevices == nil && p.RemoteAssistanceState == nil && p.BlockChat == nil
}

// Validate reports what the service would refuse in p, so that Update can fail without a
// round trip: an empty patch (ErrEmptyPatch) or a state outside the enumeration
// (ErrInvalidState).
func (p Patch) Validate() error {
	if p.IsEmpty() {
		return ErrEmptyPatch
	}
	if p.RemoteAssistanceState != nil && !p.RemoteAssistanceState.Valid() {
		return fmt.Errorf("%w %q: want one of %s", ErrInvalidState, string(*p.RemoteAssistanceState), statesList())
	}
	return nil
}

// toWire builds the generated request model, carrying only the properties p sets.
func (p Patch) toWire() gen.MicrosoftGraphRemoteAssistanceSettingsUpdate {
	return gen.MicrosoftGraphRemoteAssistanceSettingsUpdate{
		AllowSessionsToUnenrolledDevices: p.AllowSessionsToUnenrolledDevices,
		RemoteAssistanceState:            p.RemoteAssistanceState,
		BlockChat:                        p.BlockChat,
	}
}

// statesList renders the valid states for messages: "notConfigured, disabled, enabled".
func statesList() string {
	states := States()
	names := make([]string, len(states))
	for i, s := range states {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}
