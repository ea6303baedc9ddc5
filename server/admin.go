package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/control"
	"github.com/remoteassist/remoteassist/gen/admin/echoapi"
	adminmodels "github.com/remoteassist/remoteassist/gen/admin/models"
	"github.com/remoteassist/remoteassist/openapi"
)

// AdminConfig is what the admin API (the test control plane) is built from.
type AdminConfig struct {
	// Store is the API's store, whose tenants the admin API reads, seeds and resets. Required.
	Store remoteassist.StateStore
	// Control holds the fault rules and the journal, the same the API's server consults.
	// Required.
	Control *control.Control
	// Token is the admin credential every request must carry as a bearer token. Required.
	Token string
	// Logger receives the admin API's access log; nil discards it.
	Logger *slog.Logger
	// Routes, as Config.Routes: the admin contract and its docs.
	Routes map[string]http.Handler
	// MaxBodyBytes bounds request bodies, before and after decompression; 0 means
	// DefaultAdminMaxBodyBytes.
	MaxBodyBytes int64
	// APIBaseURL is the API's base URL, such as "http://127.0.0.1:8080/beta": the settings the
	// admin API answers with name the API's metadata under it in their @odata.context, as the
	// API's own answers do. Empty, the @odata.context is that path alone (BasePath), relative.
	APIBaseURL string
}

// DefaultAdminMaxBodyBytes bounds an admin request's body when AdminConfig says nothing. A
// snapshot import is the admin API's one large body: a tenant takes 70 to 140 bytes of it, so
// the default takes back the export of about 500,000 tenants.
const DefaultAdminMaxBodyBytes = 64 << 20

// NewAdmin returns the admin API's server, for a listener of its own: never mount it on the
// API's. Every request needs AdminConfig.Token, compared in constant time; without it, 401 in
// the Graph envelope. Bodies and parameters are validated against the admin contract by
// kin-openapi, as the API's are against the API's.
func NewAdmin(cfg AdminConfig) (*Server, error) {
	if cfg.Store == nil || cfg.Control == nil || cfg.Token == "" {
		return nil, errors.New("server: AdminConfig.Store, Control and Token are required")
	}
	doc, err := openapi.SharedAdmin()
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(cfg.Token))
	maxBody := cfg.MaxBodyBytes
	if maxBody <= 0 {
		maxBody = DefaultAdminMaxBodyBytes
	}
	return build(Config{Store: cfg.Store, Authenticator: adminToken(sum), Logger: cfg.Logger, Routes: cfg.Routes,
		CORSOrigins: []string{}, MaxBodyBytes: maxBody},
		surface{doc: doc, strictQuery: true, register: func(_ *Server, r composingRouter, _ map[string]*operation, mws map[string][]echo.MiddlewareFunc) {
			h := &adminHandler{store: cfg.Store, control: cfg.Control, context: adminContext(cfg.APIBaseURL)}
			echoapi.RegisterHandlersWithOptions(r, h, echoapi.RegisterHandlersOptions{OperationMiddlewares: mws})
		}})
}

// adminToken authenticates the admin token: the SHA-256 of the one accepted, compared in
// constant time (hashing first makes the time independent of the lengths too).
type adminToken [sha256.Size]byte

func (a adminToken) Authenticate(_ context.Context, token string) (remoteassist.Principal, error) {
	sum := sha256.Sum256([]byte(token))
	if subtle.ConstantTimeCompare(sum[:], a[:]) != 1 {
		return remoteassist.Principal{}, remoteassist.Errorf(remoteassist.EUNAUTHENTICATED, "The admin token is not valid.")
	}
	return remoteassist.Principal{Tenant: "admin", Subject: "admin"}, nil
}

// adminHandler implements the admin contract's operations.
type adminHandler struct {
	store   remoteassist.StateStore
	control *control.Control
	// context is the @odata.context of the settings it answers with (adminContext).
	context string
}

var _ echoapi.ServerInterface = (*adminHandler)(nil)

// adminContext is the @odata.context of the settings the admin API answers with: the API's
// metadata URL, under the API's base URL when it is known (the admin listener does not know
// where the API is reached otherwise), relative when not.
func adminContext(apiBaseURL string) string {
	const metadata = "/$metadata#deviceManagement/remoteAssistanceSettings/$entity"
	if apiBaseURL == "" {
		return BasePath + metadata
	}
	return strings.TrimSuffix(apiBaseURL, "/") + metadata
}

func (h *adminHandler) writeSettings(c echo.Context, s remoteassist.Settings) error {
	e := s.Entity()
	e.OdataContext = h.context
	return c.JSONPretty(http.StatusOK, e, "")
}

func (h *adminHandler) GetTenantSettings(c echo.Context, tenant string) error {
	s, err := h.store.Settings(c.Request().Context(), tenant)
	if err != nil {
		return err
	}
	return h.writeSettings(c, s)
}

// SeedTenantSettings sets the tenant's settings to the body's, the defaults for what it leaves
// out.
func (h *adminHandler) SeedTenantSettings(c echo.Context, tenant string) error {
	var body remoteassist.Update
	if err := bindValidated(&body, requestOf(c).body); err != nil {
		return err
	}
	patch, err := remoteassist.PatchFromUpdate(tenant, &body)
	if err != nil {
		return err
	}
	// Validated as the API's PATCH body is, which must set something; DELETE resets.
	if patch.IsEmpty() {
		return patch.Validate()
	}
	seeded := patch.Apply(remoteassist.DefaultSettings(tenant))
	s, err := h.store.UpdateSettings(c.Request().Context(), tenant, seeded.Patch())
	if err != nil {
		return err
	}
	return h.writeSettings(c, s)
}

func (h *adminHandler) ResetTenantSettings(c echo.Context, tenant string) error {
	if err := h.store.ResetSettings(c.Request().Context(), tenant); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (h *adminHandler) ResetAllTenants(c echo.Context) error {
	if err := h.store.ReplaceAllSettings(c.Request().Context(), nil); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (h *adminHandler) ExportSnapshot(c echo.Context) error {
	// Streamed from the store a tenant at a time, in the order encoding/json gives a map's keys
	// (the tenants' bytes): a snapshot of a million tenants (~100 MB of JSON) took ~390 MB more
	// of the process's memory read whole first. The answer's first bytes are sent once its
	// stream's buffer is full, so a store that fails before is a 500 like any other; one that
	// fails after cannot take back the 200, and the connection is dropped (errCutShort), so that
	// no client takes the cut JSON for a snapshot.
	var out *stream
	err := h.store.EachSettings(c.Request().Context(), func(tenant string, v remoteassist.Settings) error {
		if out == nil {
			out = startStream(c.Response(), snapshotEnvelope)
		}
		out.next()
		out.value(tenant)
		out.raw(':')
		out.value(v.Patch().Update())
		return out.err // a client gone away ends the listing
	})
	switch {
	case err == nil:
		if out == nil {
			out = startStream(c.Response(), snapshotEnvelope)
		}
		return out.end()
	case !c.Response().Committed:
		return err // before the answer began: the error is the answer
	case out.err != nil, c.Request().Context().Err() != nil:
		// The client went away: a write to it failed, or the store saw it first (PostgreSQL's
		// query is cancelled with the request). The answer's end is the client's doing.
		c.Response().Status = statusClientClosed
		return err
	}
	return fmt.Errorf("%w: %w", errCutShort, err)
}

// ImportSnapshot replaces every tenant's settings with the snapshot's: its tenants get the
// settings it gives them (the defaults for what it leaves out), every other tenant the defaults.
// The tenants are bound one at a time (eachEntry), so that a snapshot of a million is never held
// in memory but as the settings the store takes.
func (h *adminHandler) ImportSnapshot(c echo.Context) error {
	st := requestOf(c)
	all := make(map[string]remoteassist.Settings)
	err := eachEntry(st.sent, st.op, func(tenant string, value any) error {
		// The snapshot's keys are the one place a tenant id reaches the service unchecked by a
		// token's verifier or the contract (OpenAPI 3.0 cannot bound a map's keys).
		if err := remoteassist.CheckTenant(tenant); err != nil {
			if e, ok := errors.AsType[*remoteassist.Error](err); ok {
				e.Target, e.Message = "tenants", "Tenant '"+remoteassist.Clip(tenant, 64)+"': "+e.Message
			}
			return err
		}
		var u remoteassist.Update
		if err := bindValidated(&u, value); err != nil {
			return err
		}
		patch, err := remoteassist.PatchFromUpdate(tenant, &u)
		if err != nil {
			if e, ok := errors.AsType[*remoteassist.Error](err); ok {
				e.Target = "tenants/" + remoteassist.Clip(tenant, 64) + "/" + e.Target
				e.Message = "Tenant '" + remoteassist.Clip(tenant, 64) + "': " + e.Message
			}
			return err
		}
		all[tenant] = patch.Apply(remoteassist.DefaultSettings(tenant))
		return nil
	})
	if err != nil {
		return err
	}
	if err := h.store.ReplaceAllSettings(c.Request().Context(), all); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (h *adminHandler) ListFaults(c echo.Context) error {
	return c.JSONPretty(http.StatusOK, adminmodels.FaultRules{Rules: h.control.Faults()}, "")
}

func (h *adminHandler) AddFault(c echo.Context) error {
	var spec adminmodels.FaultRuleSpec
	if err := bindValidated(&spec, requestOf(c).body); err != nil {
		return err
	}
	rule, err := h.control.AddFault(spec)
	if errors.Is(err, control.ErrTooManyRules) {
		return &remoteassist.Error{Code: remoteassist.EINVALID, Message: "Cannot add the fault rule: " + err.Error() + ".", Err: err}
	}
	if err != nil {
		// control's error reads "invalid fault rule: why"; the message says it once.
		why := strings.TrimPrefix(err.Error(), control.ErrInvalidRule.Error()+": ")
		return &remoteassist.Error{Code: remoteassist.EINVALID, Target: "effect", Message: "Invalid fault rule: " + why + ".", Err: err}
	}
	c.Response().Header().Set("Location", "/admin/faults/"+rule.Id)
	return c.JSONPretty(http.StatusCreated, rule, "")
}

func (h *adminHandler) ClearFaults(c echo.Context) error {
	h.control.ClearFaults()
	return c.NoContent(http.StatusNoContent)
}

func (h *adminHandler) DeleteFault(c echo.Context, id string) error {
	if !h.control.DeleteFault(id) {
		return remoteassist.Errorf(remoteassist.ENOTFOUND, "There is no fault rule '%s'.", remoteassist.Clip(id, 64))
	}
	return c.NoContent(http.StatusNoContent)
}

func (h *adminHandler) QueryJournal(c echo.Context, p adminmodels.QueryJournalParams) error {
	limit := 0
	if p.Limit != nil {
		limit = *p.Limit
	}
	entries := h.control.SharedJournal(filter(p.Tenant, p.App, p.Operation, p.Method, p.Status, p.Since, p.Until), limit)
	return writeJournalEntries(c.Response(), entries)
}

// journalEnvelope and snapshotEnvelope are the JSON of JournalEntries and Snapshot around their
// one member's items, derived from the generated types.
var (
	journalEnvelope  = envelope(adminmodels.JournalEntries{Entries: []adminmodels.JournalEntry{}}, "[]")
	snapshotEnvelope = envelope(adminmodels.Snapshot{Tenants: map[string]remoteassist.Update{}}, "{}")
)

// writeJournalEntries answers 200 with the JournalEntries of entries, streamed an entry at a
// time: a listing of a full journal (a million entries, ~290 MB of JSON) took ~1.4 GB of
// allocations built whole.
func writeJournalEntries(res *echo.Response, entries []adminmodels.JournalEntry) error {
	out := startStream(res, journalEnvelope)
	for i := range entries {
		out.next()
		out.value(&entries[i])
	}
	return out.end()
}

func (h *adminHandler) CountJournal(c echo.Context, p adminmodels.CountJournalParams) error {
	n := h.control.Count(filter(p.Tenant, p.App, p.Operation, p.Method, p.Status, p.Since, p.Until))
	return c.JSONPretty(http.StatusOK, adminmodels.JournalCount{Count: n}, "")
}

func (h *adminHandler) ClearJournal(c echo.Context) error {
	h.control.ClearJournal()
	return c.NoContent(http.StatusNoContent)
}

func (h *adminHandler) ListFindings(c echo.Context, p adminmodels.ListFindingsParams) error {
	findings := h.control.Findings(control.Filter{Tenant: p.Tenant, App: p.App})
	if findings == nil {
		findings = []adminmodels.Finding{}
	}
	return c.JSONPretty(http.StatusOK, adminmodels.Findings{Findings: findings}, "")
}

// filter builds the journal filter of a query's parameters.
func filter(tenant, app *string, op *adminmodels.Operation, method *string, status *int, since, until *adminmodels.JournalSince) control.Filter {
	f := control.Filter{Tenant: tenant, App: app, Method: method, Status: status, Since: since, Until: until}
	if op != nil {
		s := string(*op)
		f.Operation = &s
	}
	return f
}
