package remoteassist

import (
	"fmt"
	"slices"
	"strings"
)

// Profile is a fidelity profile: which of Graph's two faces of remoteAssistanceSettings a server
// or client follows. The contract of each is a document in package openapi (the graph profile's
// is derived from the documented one by an OpenAPI Overlay); the server takes everything it does
// differently from that document.
type Profile string

// The profiles.
const (
	// ProfileDocumented is the published "Update remoteAssistanceSettings" page: the state is
	// notConfigured, disabled or enabled; a tenant that never wrote reads notConfigured; PATCH
	// answers 200 with the entity.
	ProfileDocumented Profile = "documented"
	// ProfileGraph is today's Graph beta as Microsoft's metadata and SDKs see it: the state is
	// disabled or enabled, and unconfigured settings read as disabled; PATCH answers 204; names
	// and enumerated values are matched without regard to case.
	ProfileGraph Profile = "graph"
)

// Profiles lists the profiles, the default first.
func Profiles() []Profile { return []Profile{ProfileDocumented, ProfileGraph} }

// ParseProfile returns the profile named s.
func ParseProfile(s string) (Profile, error) {
	if p := Profile(s); slices.Contains(Profiles(), p) {
		return p, nil
	}
	names := make([]string, 0, 2)
	for _, p := range Profiles() {
		names = append(names, string(p))
	}
	return "", fmt.Errorf("%q: want the profile %s", s, strings.Join(names, " or "))
}

// States lists the states a client may send under the profile, in its contract's order.
// TestProfileStatesMatchContracts holds it to each profile's document.
func (p Profile) States() []State {
	if p == ProfileGraph {
		return []State{StateDisabled, StateEnabled}
	}
	return States()
}

// ValidateFor is Validate under a profile: the state must also be one the profile allows.
func (p Patch) ValidateFor(profile Profile) error {
	if err := p.Validate(); err != nil {
		return err
	}
	if s := p.RemoteAssistanceState; s != nil && !slices.Contains(profile.States(), *s) {
		err := InvalidValue("property", "remoteAssistanceState", EnumProblem(string(*s), enumNames(profile.States())))
		err.Err = ErrInvalidState
		return err
	}
	return nil
}
