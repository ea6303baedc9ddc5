package e2e_test

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/remoteassist/remoteassist"
)

// exitDamaged is the exit status of serve, check, backup and restore on a data file they refuse
// (cmd/remoteassist's doc comment).
const exitDamaged = 3

// seeded makes a data directory whose file holds the settings of the given tenants (blockChat
// on, each set through a real serve, stopped cleanly), and returns a backup of it taken while the
// server ran, with the tenants' tokens.
func seeded(t *testing.T, tenants []string) (data, backup string, toks map[string]string) {
	t.Helper()
	data = t.TempDir()
	toks = tokens(t, data, tenants)
	srv := startServe(t, "seed", data, "")
	for _, ten := range tenants {
		patchSettings(t, srv.base, toks[ten], ten, `{"blockChat":true,"remoteAssistanceState":"enabled"}`)
	}
	backup = filepath.Join(t.TempDir(), "backup.db")
	if r := run(t, "backup", "--data", data, backup); r.exitCode != 0 || !strings.Contains(r.stdout, "from the running server and checked") {
		t.Fatalf("backup of the running server: exit %d\n%s%s", r.exitCode, r.stdout, r.stderr)
	}
	srv.stop()
	if code := srv.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("serve exited %d after SIGTERM", code)
	}
	return data, backup, toks
}

// damageRecords flips a bit in the record of tenant, wherever the file holds a copy of it (the
// page in use, and older pages not yet reused).
func damageRecords(t *testing.T, path, tenant string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	key := []byte(tenant)
	n := 0
	for i := 0; ; {
		j := bytes.Index(b[i:], key)
		if j < 0 {
			break
		}
		at := int64(i + j + len(key)) // the value follows its key in a leaf page
		i += j + len(key)
		if b[at] != 2 { // not a record of format 2 (the key in a branch page, say)
			continue
		}
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt([]byte{b[at+1] ^ 0x02}, at+1); err != nil { // blockChat's bit
			t.Fatal(err)
		}
		f.Close()
		n++
	}
	if n == 0 {
		t.Fatalf("no record of %s in %s", tenant, path)
	}
}

// checkRefusal checks that a command refused the data file of data: exit status 3 and one line on
// stderr naming the file and the way out.
func checkRefusal(t *testing.T, what string, r result, data, want string) {
	t.Helper()
	if r.exitCode != exitDamaged {
		t.Errorf("%s: exit %d, want %d\nstderr: %s", what, r.exitCode, exitDamaged, r.stderr)
	}
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	if len(lines) != 1 || !strings.HasSuffix(r.stderr, "\n") {
		t.Errorf("%s: stderr is %d lines, want one:\n%s", what, len(lines), r.stderr)
	}
	file := fmt.Sprintf("data file %q", filepath.Join(data, "settings.db"))
	for _, s := range []string{file, want, "remoteassist restore --data " + data} {
		if !strings.Contains(r.stderr, s) {
			t.Errorf("%s: stderr %q does not say %q", what, r.stderr, s)
		}
	}
}

// TestServeRefusesDamagedFile starts the real serve on damaged copies of a data file: each time
// it exits with status 3 and one line naming the file, what is wrong and the recovery command,
// without serving and without changing the file; check says the same; restoring the backup
// brings every acknowledged setting back.
func TestServeRefusesDamagedFile(t *testing.T) {
	tenants := []string{"contoso", "fabrikam", "northwind"}
	data, backup, toks := seeded(t, tenants)
	path := filepath.Join(data, "settings.db")
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		damage func(t *testing.T)
		want   string
	}{
		{"empty", func(t *testing.T) { os.WriteFile(path, nil, 0o600) }, "the file is empty (0 bytes)"},
		{"cut to 8 KiB", func(t *testing.T) { os.WriteFile(path, good[:8192], 0o600) }, "the file is cut short"},
		// Half of what was written: the file ends in room bbolt took and left unwritten (a hole
		// of zeros, when its map is larger than the file), whose loss damages nothing.
		{"cut to half", func(t *testing.T) { os.WriteFile(path, good[:len(bytes.TrimRight(good, "\x00"))/2], 0o600) }, "is damaged"},
		{"a record", func(t *testing.T) {
			os.WriteFile(path, good, 0o600)
			damageRecords(t, path, "fabrikam")
		}, `the record of tenant "fabrikam"`},
		{"the newest meta page", func(t *testing.T) {
			os.WriteFile(path, good, 0o600)
			// Both meta pages hold a commit number at byte 64; the newest has the larger.
			f, _ := os.OpenFile(path, os.O_RDWR, 0)
			defer f.Close()
			newest, top := int64(0), uint64(0)
			for page := range int64(2) {
				b := make([]byte, 8)
				f.ReadAt(b, page*4096+64)
				if txid := leUint64(b); txid > top {
					newest, top = page, txid
				}
			}
			b := []byte{0}
			f.ReadAt(b, newest*4096+72)
			f.WriteAt([]byte{b[0] ^ 0x01}, newest*4096+72) // its checksum
		}, "bbolt would silently lose it"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.damage(t)
			before, _ := os.ReadFile(path)
			r := runWithin(t, commandTimeout, "serve", "--addr", "127.0.0.1:0", "--data", data)
			checkRefusal(t, "serve", r, data, c.want)
			if r.stdout != "" {
				t.Errorf("serve printed on stdout: %q", r.stdout)
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
				t.Error("the refused start changed the data file")
			}
			checkRefusal(t, "check", run(t, "check", "--data", data), data, c.want)
		})
	}

	r := run(t, "restore", "--data", data, backup)
	if r.exitCode != 0 {
		t.Fatalf("restore: exit %d\n%s%s", r.exitCode, r.stdout, r.stderr)
	}
	srv := startServe(t, "restored", data, "")
	for _, ten := range tenants {
		if s := getSettings(t, srv.base, toks[ten], ten); !s.BlockChat || s.RemoteAssistanceState != remoteassist.StateEnabled {
			t.Errorf("after the restore %s reads %+v", ten, s)
		}
	}
}

func leUint64(b []byte) uint64 {
	var v uint64
	for i := 7; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

// TestDamageUnderRunningServer damages one tenant's record under a running serve, as a failing
// disk would: that tenant gets a 500 (never the defaults, never another value), every other
// tenant is served and can still write, /readyz answers 503 while /healthz stays 200, a live check
// names the damage, and the process lives on. Restarted, serve refuses the file; the backup taken
// before the damage restores it.
func TestDamageUnderRunningServer(t *testing.T) {
	var tenants []string
	for i := range 150 {
		tenants = append(tenants, fmt.Sprintf("tenant-%03d", i))
	}
	const victim = "tenant-077"
	data, backup, toks := seeded(t, tenants)
	srv := startServe(t, "damaged", data, "")
	damageRecords(t, filepath.Join(data, "settings.db"), victim)

	res := call(t, http.MethodGet, srv.base+settingsPath, toks[victim], "")
	if res.status != http.StatusInternalServerError {
		t.Errorf("GET of the damaged tenant: %d %s, want 500", res.status, res.body)
	}
	res = call(t, http.MethodPatch, srv.base+settingsPath, toks[victim], `{"blockChat":false}`)
	if res.status != http.StatusInternalServerError {
		t.Errorf("PATCH of the damaged tenant: %d %s, want 500", res.status, res.body)
	}
	for _, ten := range tenants {
		if ten == victim {
			continue
		}
		if s := getSettings(t, srv.base, toks[ten], ten); !s.BlockChat || s.RemoteAssistanceState != remoteassist.StateEnabled {
			t.Errorf("%s reads %+v after another tenant's record was damaged", ten, s)
		}
	}
	if s := patchSettings(t, srv.base, toks["tenant-078"], "tenant-078", `{"allowSessionsToUnenrolledDevices":true}`); !s.AllowSessionsToUnenrolledDevices || !s.BlockChat {
		t.Errorf("PATCH of an intact tenant: %+v", s)
	}
	if res := call(t, http.MethodGet, srv.base+"/readyz", "", ""); res.status != http.StatusServiceUnavailable {
		t.Errorf("/readyz with damaged data: %d, want 503", res.status)
	}
	if res := call(t, http.MethodGet, srv.base+"/healthz", "", ""); res.status != http.StatusOK {
		t.Errorf("/healthz with damaged data: %d, want 200 (the process serves what it can)", res.status)
	}
	r := run(t, "check", "--data", data)
	checkRefusal(t, "check of the running server", r, data, `the record of tenant "`+victim+`"`)
	select {
	case <-srv.exited:
		t.Fatalf("serve died: %v\n%s", srv.cmd.ProcessState, srv.logTail())
	default:
	}
	log := srv.waitForLog(t, "the data file is damaged", 1)
	if n := strings.Count(log, "the data file is damaged"); n != 1 {
		t.Errorf("the damage was logged %d times, want once", n)
	}

	srv.stop()
	r = runWithin(t, commandTimeout, "serve", "--addr", "127.0.0.1:0", "--data", data)
	checkRefusal(t, "serve after the damage", r, data, `the record of tenant "`+victim+`"`)
	if r := run(t, "restore", "--data", data, backup); r.exitCode != 0 {
		t.Fatalf("restore: exit %d\n%s%s", r.exitCode, r.stdout, r.stderr)
	}
	srv = startServe(t, "restored", data, "")
	if s := getSettings(t, srv.base, toks[victim], victim); !s.BlockChat {
		t.Errorf("after the restore the damaged tenant reads %+v", s)
	}
}

// TestRestoreRefusesRunningServer: restore must not replace a file a running server holds.
func TestRestoreRefusesRunningServer(t *testing.T) {
	data, backup, toks := seeded(t, []string{"contoso"})
	srv := startServe(t, "running", data, "")
	patchSettings(t, srv.base, toks["contoso"], "contoso", `{"blockChat":false}`)
	r := runWithin(t, 30*time.Second, "restore", "--data", data, backup)
	if r.exitCode != 1 || !strings.Contains(r.stderr, "in use by another remoteassist process") {
		t.Errorf("restore under a running server: exit %d, stderr %q", r.exitCode, r.stderr)
	}
	if s := getSettings(t, srv.base, toks["contoso"], "contoso"); s.BlockChat {
		t.Errorf("the running server's data changed under it: %+v", s)
	}
}
