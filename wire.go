package remoteassist

import "github.com/remoteassist/remoteassist/gen/models"

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
