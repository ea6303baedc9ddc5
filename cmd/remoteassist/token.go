package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/jwtauth"
)

// Permissions a default token carries: enough to GET and PATCH.
const defaultScopes = "DeviceManagementServiceConfig.ReadWrite.All"

func runToken(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("token", "token --tenant ID [--data DIR] [--scopes \"A B\"] [--roles \"A B\"] [--subject ID] [--app ID] [--ttl 1h]",
		`  remoteassist token --tenant contoso
  remoteassist token --tenant contoso --scopes DeviceManagementServiceConfig.Read.All
  remoteassist token --tenant contoso --scopes "" --roles DeviceManagementConfiguration.ReadWrite.All
  remoteassist token --tenant contoso --subject alice --ttl 10m
  remoteassist token --tenant contoso --app my-sync-job
  export REMOTEASSIST_TOKEN=$(remoteassist token --tenant contoso)
`, stdout)
	dataDir := fs.String("data", defaultDataDir(), "data directory whose signing key signs the token, made there if it has none (env REMOTEASSIST_DATA)")
	tenant := fs.String("tenant", "", fmt.Sprintf("tenant id, the token's tid claim (required; at most %d characters)", remoteassist.MaxIDLength))
	scopes := fs.String("scopes", defaultScopes, `delegated permissions, space-separated (the scp claim); "" leaves scp out`)
	roles := fs.String("roles", "", "application permissions, space-separated (the roles claim)")
	subject := fs.String("subject", "", "the caller's id (sub and oid claims); default: derived from the tenant")
	app := fs.String("app", "", fmt.Sprintf("the client application's id (the appid claim), which throttling and the admin API's journal tell apart; at most %d characters", remoteassist.MaxIDLength))
	ttl := fs.Duration("ttl", time.Hour, "how long the token is valid; must be positive")
	if err := parse(fs, args); err != nil {
		return err
	}
	// Trimmed, as --app is: a server takes the tid as it is, so " contoso" would be a tenant of
	// its own, with settings of its own, and not the contoso the caller meant.
	*tenant = strings.TrimSpace(*tenant)
	if *tenant == "" {
		return usageError{fmt.Errorf("--tenant is required")}
	}
	if *ttl <= 0 {
		return usageError{fmt.Errorf("--ttl must be positive")}
	}
	// The server's bound on the ids, checked before a key is made: Mint would refuse them too,
	// but as a failure (exit 1), after making the key.
	for _, id := range []struct{ flag, value, what string }{
		{"--tenant", *tenant, "tenant"},
		{"--app", strings.TrimSpace(*app), "application"},
	} {
		if remoteassist.IDTooLong(id.value) {
			return usageError{fmt.Errorf("%s has %d characters: want at most %d, as a server refuses a token with a longer %s id",
				id.flag, utf8.RuneCountInString(id.value), remoteassist.MaxIDLength, id.what)}
		}
	}
	sub := *subject
	if sub == "" {
		sub = "cli-" + *tenant
	}
	spec := jwtauth.TokenSpec{
		Tenant:  *tenant,
		Subject: sub,
		Scopes:  strings.Fields(*scopes),
		Roles:   strings.Fields(*roles),
		App:     strings.TrimSpace(*app),
		TTL:     *ttl,
	}
	if err := checkTokenSize(spec, *subject != ""); err != nil {
		return err
	}
	_, statErr := os.Stat(filepath.Join(*dataDir, jwtauth.KeyFile))
	key, err := jwtauth.LoadOrCreateKey(*dataDir)
	if err != nil {
		return err
	}
	if errors.Is(statErr, os.ErrNotExist) {
		// The first token may come before the first serve, so the key is made; but a mistyped
		// --data makes one too, whose token a running server refuses with a bare 401. stdout
		// stays the token alone, for $(...).
		dir, err := filepath.Abs(*dataDir)
		if err != nil {
			dir = *dataDir
		}
		fmt.Fprintf(stderr, "remoteassist token: created a new signing key at %s; only a server using --data %s accepts this token\n",
			filepath.Join(dir, jwtauth.KeyFile), shellQuote(dir))
	}
	tok, err := key.Mint(spec)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, tok)
	return err
}

// checkTokenSize refuses, before a key is made, a token a server would refuse for its size: the
// verifier takes at most jwtauth.MaxTokenSize bytes (16 KiB, well inside the 32 KiB of headers
// server.DefaultLimits.MaxHeaderBytes allows a request, past which every request would get 431),
// and without this check a long --subject, --scopes or --roles made a token every request then
// failed with. The token is measured by minting it with a throwaway key: every signing key makes
// tokens of one length (ES256, and a kid that is a SHA-256 thumbprint). The flag named is the one
// that takes the most of the token; the tenant and application ids, at most 256 characters each,
// cannot make it too large alone.
func checkTokenSize(spec jwtauth.TokenSpec, subjectGiven bool) error {
	key, err := jwtauth.GenerateKey()
	if err != nil {
		return err
	}
	tok, err := key.Mint(spec)
	if err != nil {
		return err
	}
	if len(tok) <= jwtauth.MaxTokenSize {
		return nil
	}
	encoded := func(v any) int { b, _ := json.Marshal(v); return len(b) }
	name, most := "--scopes", encoded(strings.Join(spec.Scopes, " "))
	if n := encoded(spec.Roles); n > most {
		name, most = "--roles", n
	}
	if n := 2 * encoded(spec.Subject); subjectGiven && n > most { // sub and oid
		name = "--subject"
	}
	return usageError{fmt.Errorf("%s makes the token %d bytes: want at most %d, as a server refuses a larger token",
		name, len(tok), jwtauth.MaxTokenSize)}
}
