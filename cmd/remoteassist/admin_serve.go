package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/control"
	"github.com/remoteassist/remoteassist/docs"
	"github.com/remoteassist/remoteassist/openapi"
	"github.com/remoteassist/remoteassist/server"
)

// adminTokenFile is the admin token's file in the data directory, made on the first start with
// --admin-addr and no --admin-token.
const adminTokenFile = "admin-token"

// adminFlags are serve's flags of the test control plane: the admin API's listener and token,
// and the Prefer override.
type adminFlags struct {
	addr, token string
	tokenFrom   string // where token came from: "--admin-token" or "REMOTEASSIST_ADMIN_TOKEN"
	prefer      bool
	journal     int
	maxBody     int
}

func (f *adminFlags) register(fs *flag.FlagSet, env *envDefaults) {
	fs.StringVar(&f.addr, "admin-addr", envOr("REMOTEASSIST_ADMIN_ADDR", ""),
		"serve the admin API (seed and reset state, inject faults, read the journal) on this address; off when empty (env REMOTEASSIST_ADMIN_ADDR)")
	fs.StringVar(&f.token, "admin-token", "",
		"the admin API's bearer token (env REMOTEASSIST_ADMIN_TOKEN); default: the data directory's admin-token file, made on first use")
	fs.BoolVar(&f.prefer, "fault-prefer", env.bool("fault-prefer", "REMOTEASSIST_FAULT_PREFER", false),
		`let a request ask for its own error with "Prefer: code=503" (env REMOTEASSIST_FAULT_PREFER)`)
	fs.IntVar(&f.journal, "journal-size", env.int("journal-size", "REMOTEASSIST_JOURNAL_SIZE", control.DefaultJournalSize),
		"requests the admin API's journal keeps, at most 1000000 (env REMOTEASSIST_JOURNAL_SIZE)")
	fs.IntVar(&f.maxBody, "admin-max-body", env.int("admin-max-body", "REMOTEASSIST_ADMIN_MAX_BODY", server.DefaultAdminMaxBodyBytes),
		"bytes an admin request's body may hold, before and after decompression: a snapshot import takes 70 to 140 per tenant (env REMOTEASSIST_ADMIN_MAX_BODY)")
}

// check refuses what cannot work, before anything starts. serve's checkListenAddrs has
// checked the address.
//
// REMOTEASSIST_ADMIN_TOKEN without an admin address is ignored, not refused: remoteassist
// admin reads the same variable, so a shell that exports it to drive one serve's admin API
// must still be able to start a serve without one. --admin-token without --admin-addr, given
// on purpose, is refused: it protects nothing.
func (f *adminFlags) check(fs *flag.FlagSet) error {
	// Trimmed as the variable's, the file's and remoteassist admin's are: HTTP drops the spaces
	// around a header's value, so a token kept with them would refuse every request.
	f.token, f.tokenFrom = strings.TrimSpace(f.token), "--admin-token"
	if f.token == "" && isSet(fs, "admin-token") {
		// Blank on purpose or by a variable left unset in a script: either way not the token
		// the caller meant, which falling back to the variable or the file would hide.
		return usageError{errors.New("--admin-token is blank: give the token, or leave the flag out to use REMOTEASSIST_ADMIN_TOKEN or the data directory's admin-token file")}
	}
	if f.token == "" {
		f.token, f.tokenFrom = strings.TrimSpace(os.Getenv("REMOTEASSIST_ADMIN_TOKEN")), "REMOTEASSIST_ADMIN_TOKEN"
	}
	switch {
	case f.addr != "":
		if f.token != "" && len(f.token) < 16 {
			return usageError{fmt.Errorf("%s: want at least 16 characters", f.tokenFrom)}
		}
	case f.token != "" && f.tokenFrom == "REMOTEASSIST_ADMIN_TOKEN":
		f.token = ""
	case f.token != "":
		return usageError{errors.New("--admin-token without --admin-addr (or REMOTEASSIST_ADMIN_ADDR): there is no admin API to protect")}
	}
	if f.maxBody <= 0 {
		return usageError{fmt.Errorf("%s %d: want a positive number of bytes", origin(fs, "admin-max-body", "REMOTEASSIST_ADMIN_MAX_BODY"), f.maxBody)}
	}
	if f.journal <= 0 || f.journal > control.MaxJournalSize {
		return usageError{fmt.Errorf("%s %d: want a positive number, at most %d", origin(fs, "journal-size", "REMOTEASSIST_JOURNAL_SIZE"), f.journal, control.MaxJournalSize)}
	}
	return nil
}

// control returns the process's control plane, nil when nothing asks for one.
func (f *adminFlags) control() *control.Control {
	if f.addr == "" && !f.prefer {
		return nil
	}
	return control.New(control.Options{JournalSize: f.journal, AllowPrefer: f.prefer})
}

// start serves the admin API, with its contract and docs, on its own listener, its connections
// capped by limits (the API server's SideLimits(server.AdminListener)); apiBase is the API's
// base URL.
func (f *adminFlags) start(dataDir string, store remoteassist.Store, ctl *control.Control, logger *slog.Logger, apiBase string, limits server.Limits) (*sideServer, error) {
	if f.addr == "" {
		return nil, nil
	}
	state, ok := store.(remoteassist.StateStore)
	if !ok {
		return nil, fmt.Errorf("the store %T cannot be reset or snapshotted", store)
	}
	tokenSource := f.tokenFrom
	if f.token == "" {
		var err error
		if f.token, err = loadOrCreateAdminToken(dataDir); err != nil {
			return nil, err
		}
		tokenSource = filepath.Join(dataDir, adminTokenFile)
	}
	docsHandler, err := docs.Handler(openapi.Admin.YAML, openapi.Admin.JSON)
	if err != nil {
		return nil, err
	}
	routes := make(map[string]http.Handler)
	for _, path := range docs.Paths() {
		routes[path] = docsHandler
	}
	adm, err := server.NewAdmin(server.AdminConfig{Store: state, Control: ctl, Token: f.token, Logger: logger, Routes: routes,
		MaxBodyBytes: int64(f.maxBody), APIBaseURL: apiBase})
	if err != nil {
		return nil, err
	}
	return startSide("admin API", f.addr, adm, limits, logger, "token", tokenSource, "contract", "/openapi.yaml", "docs", "/docs")
}

// loadOrCreateAdminToken reads the data directory's admin token, making one (32 random bytes,
// mode 0600) the first time.
func loadOrCreateAdminToken(dataDir string) (string, error) {
	path := filepath.Join(dataDir, adminTokenFile)
	data, err := os.ReadFile(path)
	if err == nil {
		if tok := strings.TrimSpace(string(data)); len(tok) >= 16 {
			return tok, nil
		}
		return "", fmt.Errorf("admin token file %q is too short: delete it to have a new one made, or pass --admin-token", path)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("admin token file: %w", err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	tok := base64.RawURLEncoding.EncodeToString(raw)
	tmp, err := os.CreateTemp(dataDir, ".admin-token-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(tok + "\n"); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	// Another process may have made one meanwhile: the first one made wins.
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", err
	}
	return loadOrCreateAdminToken(dataDir)
}
