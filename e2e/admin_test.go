package e2e_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAdminAPI: serve --admin-addr makes its token file (0600), serves the admin contract and
// API on its own listener only, seeds state the API then reads, and injects a fault the API
// answers with.
func TestAdminAPI(t *testing.T) {
	dataDir := t.TempDir()
	admin := freeAddr(t)
	p := startServeArgs(t, "admin", "--data", dataDir, "--store=memory", "--admin-addr", admin)
	p.waitForLog(t, `msg="admin API"`, 1)

	fi, err := os.Stat(filepath.Join(dataDir, "admin-token"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin-token: %v, %v", fi, err)
	}
	raw, _ := os.ReadFile(filepath.Join(dataDir, "admin-token"))
	adminTok := strings.TrimSpace(string(raw))
	base := "http://" + admin

	if res := call(t, http.MethodGet, base+"/admin/snapshot", "", ""); res.status != http.StatusUnauthorized {
		t.Errorf("no token: %d", res.status)
	}
	if res := call(t, http.MethodGet, base+"/openapi.yaml", "", ""); res.status != http.StatusOK || !strings.Contains(string(res.body), "admin API") {
		t.Errorf("the admin contract: %d", res.status)
	}
	if res := call(t, http.MethodGet, p.base+"/admin/snapshot", adminTok, ""); res.status != http.StatusNotFound {
		t.Errorf("the admin API on the API's listener: %d", res.status)
	}

	if res := call(t, http.MethodPut, base+"/admin/tenants/contoso/settings", adminTok, `{"blockChat":true}`); res.status != http.StatusOK {
		t.Fatalf("seed: %d %s", res.status, res.body)
	}
	tok := token(t, dataDir, "contoso")
	if s := getSettings(t, p.base, tok, "contoso"); !s.BlockChat {
		t.Errorf("the API after the seed: %+v", s)
	}
	if res := call(t, http.MethodPost, base+"/admin/faults", adminTok, `{"match":{"tenant":"contoso"},"effect":{"status":429,"retryAfter":7},"times":1}`); res.status != http.StatusCreated {
		t.Fatalf("add fault: %d %s", res.status, res.body)
	}
	res := call(t, http.MethodGet, p.base+settingsPath, tok, "")
	if res.status != http.StatusTooManyRequests || res.header.Get("Retry-After") != "7" {
		t.Errorf("the faulted GET: %d %v", res.status, res.header)
	}
	if res := call(t, http.MethodGet, base+"/admin/journal/count?tenant=contoso&status=429", adminTok, ""); !strings.Contains(string(res.body), `"count":1`) {
		t.Errorf("journal count: %s", res.body)
	}
}

// TestAdminTokenTrimmed: serve trims the spaces around --admin-token, as remoteassist admin, the
// variable and the token file are trimmed: HTTP drops them from a header's value, so a token
// kept with them would refuse every request, the admin CLI's with the same token included.
func TestAdminTokenTrimmed(t *testing.T) {
	const adminTok = "a-token-pasted-with-spaces-around"
	admin := freeAddr(t)
	p := startServeArgs(t, "admin-token-trimmed", "--data", t.TempDir(), "--store=memory", "--admin-addr", admin,
		"--admin-token", " "+adminTok+"\n")
	p.waitForLog(t, `msg="admin API"`, 1)
	if res := call(t, http.MethodGet, "http://"+admin+"/admin/faults", adminTok, ""); res.status != http.StatusOK {
		t.Errorf("the token without its spaces: %d %s", res.status, res.body)
	}
}
