package remoteassist

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/remoteassist/remoteassist/gen/models"
)

// State is the state of remote assistance for a tenant. Its values are exactly the contract's
// remoteAssistanceState enumeration: the generated type and its Valid method are the one list
// of them.
type State = models.MicrosoftGraphRemoteAssistanceState

// The states a tenant can be in.
const (
	StateNotConfigured = models.MicrosoftGraphRemoteAssistanceStateNotConfigured
	StateDisabled      = models.MicrosoftGraphRemoteAssistanceStateDisabled
	StateEnabled       = models.MicrosoftGraphRemoteAssistanceStateEnabled
)

// States lists every valid State in the contract's order, for messages and help texts; Valid
// decides. TestStatesMatchContract holds it to the contract.
func States() []State { return []State{StateNotConfigured, StateDisabled, StateEnabled} }

// ODataType is the OData type name of the settings entity on the wire.
const ODataType = string(models.MicrosoftGraphRemoteAssistanceSettingsOdataTypeHashMicrosoftGraphRemoteAssistanceSettings)

// Settings are a tenant's remote assistance settings.
type Settings struct {
	// ID identifies the settings object. It is derived from the tenant, so it is stable
	// whether or not the tenant ever wrote.
	ID                               string
	AllowSessionsToUnenrolledDevices bool
	RemoteAssistanceState            State
	BlockChat                        bool
}

// DefaultSettings are the settings of a tenant that never changed them: remote assistance not
// configured, sessions to unenrolled devices not allowed, chat not blocked.
func DefaultSettings(tenant string) Settings {
	return Settings{ID: SettingsID(tenant), RemoteAssistanceState: StateNotConfigured}
}

// Validate reports whether s holds only values the contract allows. Stores check what they read
// back with it: a failure means stored data was changed behind their back.
func (s Settings) Validate() error {
	if !s.RemoteAssistanceState.Valid() {
		return fmt.Errorf("remoteAssistanceState %q is not in the contract", s.RemoteAssistanceState)
	}
	if s.ID == "" {
		return errors.New("settings have no id")
	}
	return nil
}

// Patch is a partial update: a nil field leaves the stored value unchanged.
type Patch struct {
	AllowSessionsToUnenrolledDevices *bool
	RemoteAssistanceState            *State
	BlockChat                        *bool
}

// IsEmpty reports whether the patch changes no property.
func (p Patch) IsEmpty() bool { return p == Patch{} }

// Apply returns s with the properties set in p changed.
func (p Patch) Apply(s Settings) Settings {
	if p.AllowSessionsToUnenrolledDevices != nil {
		s.AllowSessionsToUnenrolledDevices = *p.AllowSessionsToUnenrolledDevices
	}
	if p.RemoteAssistanceState != nil {
		s.RemoteAssistanceState = *p.RemoteAssistanceState
	}
	if p.BlockChat != nil {
		s.BlockChat = *p.BlockChat
	}
	return s
}

// ErrEmptyPatch is the cause of the error Patch.Validate returns for a patch that sets no
// property.
var ErrEmptyPatch = errors.New("the patch sets no property")

// ErrInvalidState is the cause of the error Patch.Validate returns for a state outside the
// contract's enumeration.
var ErrInvalidState = errors.New("invalid remoteAssistanceState")

// Validate refuses a patch that sets no property or a value outside the contract, with an
// EINVALID error whose cause is ErrEmptyPatch or ErrInvalidState. Stores call it before they
// write, so nothing out of contract is stored whoever the caller is; clients call it to fail
// before a round trip.
func (p Patch) Validate() error {
	if p.IsEmpty() {
		return EmptyPatch()
	}
	if p.RemoteAssistanceState != nil && !p.RemoteAssistanceState.Valid() {
		err := InvalidValue("property", "remoteAssistanceState", EnumProblem(string(*p.RemoteAssistanceState), enumNames(States())))
		err.Err = ErrInvalidState
		return err
	}
	return nil
}

func enumNames[T ~string](values []T) []string {
	names := make([]string, len(values))
	for i, v := range values {
		names[i] = string(v)
	}
	return names
}

// The one mapping between the domain and the wire, used by the server, the client and the
// emulator alike. The wire types are the ones generated from the contract (package models);
// what each property means lives in the contract and in the types above, and nowhere else.

// Entity is the settings entity as the contract defines it on the wire, every property present.
type Entity = models.MicrosoftGraphRemoteAssistanceSettings

// Update is the body of a PATCH as the contract defines it on the wire.
type Update = models.MicrosoftGraphRemoteAssistanceSettingsUpdate

// Entity returns the settings as the wire entity. The @odata.context URL depends on where the
// service was called and is left for the caller to set.
func (s Settings) Entity() Entity {
	return Entity{
		OdataType:                        models.MicrosoftGraphRemoteAssistanceSettingsOdataType(ODataType),
		Id:                               s.ID,
		AllowSessionsToUnenrolledDevices: s.AllowSessionsToUnenrolledDevices,
		RemoteAssistanceState:            s.RemoteAssistanceState,
		BlockChat:                        s.BlockChat,
	}
}

// SettingsFromEntity reads settings from the wire entity. Decoded from an answer that $select
// cut short, the properties it left out read as their zero values.
func SettingsFromEntity(e *Entity) Settings {
	return Settings{
		ID:                               e.Id,
		AllowSessionsToUnenrolledDevices: e.AllowSessionsToUnenrolledDevices,
		RemoteAssistanceState:            e.RemoteAssistanceState,
		BlockChat:                        e.BlockChat,
	}
}

// Update returns the patch as a PATCH body: only the properties it sets.
func (p Patch) Update() Update {
	return Update{
		AllowSessionsToUnenrolledDevices: p.AllowSessionsToUnenrolledDevices,
		RemoteAssistanceState:            p.RemoteAssistanceState,
		BlockChat:                        p.BlockChat,
	}
}

// PatchFromUpdate reads the patch a PATCH body asks for of the tenant's settings. The body's
// read-only properties must agree with the object: id, when sent, must be its id (the contract
// already holds @odata.type to this type). Values are not checked here: Patch.Validate does.
func PatchFromUpdate(tenant string, u *Update) (Patch, error) {
	if u.Id != nil && *u.Id != SettingsID(tenant) {
		return Patch{}, ReadOnlyMismatch("id")
	}
	return Patch{
		AllowSessionsToUnenrolledDevices: u.AllowSessionsToUnenrolledDevices,
		RemoteAssistanceState:            u.RemoteAssistanceState,
		BlockChat:                        u.BlockChat,
	}, nil
}

// Patch returns the patch that sets every property to its value in s: what seeding a tenant
// with s takes.
func (s Settings) Patch() Patch {
	return Patch{
		AllowSessionsToUnenrolledDevices: &s.AllowSessionsToUnenrolledDevices,
		RemoteAssistanceState:            &s.RemoteAssistanceState,
		BlockChat:                        &s.BlockChat,
	}
}

// Store keeps each tenant's settings.
//
// Implementations must make Update atomic per tenant: concurrent updates of different properties
// all take effect. A tenant that never wrote reads DefaultSettings.
type Store interface {
	// Settings returns the tenant's settings.
	Settings(ctx context.Context, tenant string) (Settings, error)
	// UpdateSettings merges p into the tenant's settings and returns the result. It must call
	// p.Validate and return its error unchanged, storing nothing, when p is refused.
	UpdateSettings(ctx context.Context, tenant string, p Patch) (Settings, error)
}

// StateStore is a Store whose tenants can also be reset, listed and replaced all at once, as the
// admin API's resets and snapshots need. Every store of this module is one.
type StateStore interface {
	Store
	// ResetSettings forgets the tenant's settings: it reads DefaultSettings again.
	ResetSettings(ctx context.Context, tenant string) error
	// EachSettings calls fn with the settings of every tenant whose settings are not the
	// defaults (a tenant that never wrote, was reset, or set every property back to its default
	// is left out: it reads the same either way), one tenant at a time in the byte order of the
	// tenants' ids, all from one view of the store: the state at one moment, however long fn
	// takes. It stops at fn's first error and returns it. fn must not call the store.
	EachSettings(ctx context.Context, fn func(tenant string, s Settings) error) error
	// ReplaceAllSettings makes the tenants of all hold their settings there and every other
	// tenant the defaults, at once: a reader sees the state before or after, never a mix. Each
	// value must pass Validate (its ID is derived from the tenant, not taken); on any error
	// nothing changes.
	ReplaceAllSettings(ctx context.Context, all map[string]Settings) error
}

// AllSettings returns what s.EachSettings lists, every tenant's settings that are not the
// defaults, as a map. It holds them all in memory at once: the admin API's export streams them
// instead.
func AllSettings(ctx context.Context, s StateStore) (map[string]Settings, error) {
	all := map[string]Settings{}
	err := s.EachSettings(ctx, func(tenant string, v Settings) error {
		all[tenant] = v
		return nil
	})
	if err != nil {
		return nil, err
	}
	return all, nil
}

// CheckReplace is what every StateStore checks before ReplaceAllSettings: a live context, named
// tenants every store can key, values in contract.
func CheckReplace(ctx context.Context, all map[string]Settings) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for tenant, s := range all {
		if tenant == "" {
			return errNoTenant
		}
		if !IDKeyable(tenant) {
			return tenantIDError()
		}
		s.ID = SettingsID(tenant)
		if err := s.Validate(); err != nil {
			return &Error{Code: EINVALID, Target: tenant, Message: "Invalid settings for tenant '" + Clip(tenant, 64) + "'.", Err: err}
		}
	}
	return nil
}

// Pinger is implemented by stores that depend on something that can be unreachable.
type Pinger interface {
	// Ping reports whether the store can serve requests now.
	Ping(ctx context.Context) error
}

// errNoTenant refuses an empty tenant. Every principal has one, so an empty tenant is a bug
// upstream, not a client's mistake; bbolt could not even use it as a key.
var errNoTenant = Internal(errors.New("store: empty tenant"))

// CheckRead is what every Store checks before it reads: a live context and a named tenant that
// every store can key (IDKeyable), so that all of them refuse the same ids alike.
func CheckRead(ctx context.Context, tenant string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if tenant == "" {
		return errNoTenant
	}
	if !IDKeyable(tenant) {
		return tenantIDError()
	}
	return nil
}

// CheckUpdate is what every Store checks before it writes: the patch is in contract (its
// error is returned unchanged), and CheckRead.
func CheckUpdate(ctx context.Context, tenant string, p Patch) error {
	if err := p.Validate(); err != nil {
		return err
	}
	return CheckRead(ctx, tenant)
}

// SettingsID derives the stable id of a tenant's settings object: a name-based (version 5 style)
// UUID of the tenant id, so every replica and store computes the same id without storing it.
func SettingsID(tenant string) string {
	h := sha1.Sum([]byte("remoteAssistanceSettings:" + tenant))
	h[6] = (h[6] & 0x0f) | 0x50
	h[8] = (h[8] & 0x3f) | 0x80
	var id [36]byte
	hex.Encode(id[0:8], h[0:4])
	hex.Encode(id[9:13], h[4:6])
	hex.Encode(id[14:18], h[6:8])
	hex.Encode(id[19:23], h[8:10])
	hex.Encode(id[24:36], h[10:16])
	id[8], id[13], id[18], id[23] = '-', '-', '-', '-'
	return string(id[:])
}
