package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/bolt"
)

var yes = true

func TestStoreCommandsUsage(t *testing.T) {
	clearServeEnv(t)
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"backup", "--data", dir}, "missing FILE"},
		{[]string{"restore", "--data", dir}, "missing FILE"},
		{[]string{"restore", "--data", dir, "a", "b"}, `unexpected argument "b"`},
		{[]string{"check", "--data", dir, "extra"}, `unexpected argument "extra"`},
		{[]string{"check", "--bogus"}, "flag provided but not defined"},
	} {
		code, stdout, stderr := runCLI(t.Context(), c.args...)
		assertRefused(t, c.args[0], code, stdout, stderr, c.want)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a refused command wrote to the data directory: %v", entries)
	}
}

// TestStoreCommands runs check, backup and restore in process on a file no server holds, then
// on a damaged one.
func TestStoreCommands(t *testing.T) {
	clearServeEnv(t)
	dir := t.TempDir()
	if code, _, stderr := runCLI(t.Context(), "check", "--data", dir); code != 1 || !strings.Contains(stderr, "no data file") {
		t.Errorf("check of an empty directory: exit %d, %q", code, stderr)
	}
	s, err := bolt.Open(dataFile(dir))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateSettings(t.Context(), "contoso", remoteassist.Patch{BlockChat: &yes}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	code, stdout, stderr := runCLI(t.Context(), "check", "--data", dir)
	if code != 0 || !strings.Contains(stdout, "result    ok") || stderr != "" {
		t.Errorf("check: exit %d\n%s%s", code, stdout, stderr)
	}
	backup := filepath.Join(t.TempDir(), "b.db")
	// Flags after the argument work too.
	code, stdout, stderr = runCLI(t.Context(), "backup", backup, "--data", dir)
	if code != 0 || !strings.Contains(stdout, "copied from the file and checked") {
		t.Errorf("backup: exit %d\n%s%s", code, stdout, stderr)
	}

	if err := os.WriteFile(dataFile(dir), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = runCLI(t.Context(), "check", "--data", dir)
	if code != exitDamaged || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "move "+dataFile(dir)+" away") {
		t.Errorf("check of an empty file: exit %d\n%s%s", code, stdout, stderr)
	}
	code, _, stderr = runCLI(t.Context(), "backup", "--data", dir, filepath.Join(t.TempDir(), "x.db"))
	if code != exitDamaged {
		t.Errorf("backup of an empty file: exit %d, %s", code, stderr)
	}
	code, stdout, stderr = runCLI(t.Context(), "restore", "--data", dir, backup)
	if code != 0 || !strings.Contains(stdout, "commit") {
		t.Fatalf("restore: exit %d\n%s%s", code, stdout, stderr)
	}
	s, err = bolt.Open(dataFile(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, err := s.Settings(t.Context(), "contoso"); err != nil || !got.BlockChat {
		t.Errorf("after restore: %+v, %v", got, err)
	}

	bad := filepath.Join(t.TempDir(), "bad.db")
	os.WriteFile(bad, []byte("not a database"), 0o600)
	code, _, stderr = runCLI(t.Context(), "restore", "--data", t.TempDir(), bad)
	if code != exitDamaged || !strings.Contains(stderr, "nothing installed") {
		t.Errorf("restore of a damaged backup: exit %d, %s", code, stderr)
	}
}

// TestControlSocket checks and backs up a store through its control socket, as check and
// backup do while serve holds the file, in a data directory too deep for a socket address.
func TestControlSocket(t *testing.T) {
	clearServeEnv(t)
	dir := t.TempDir()
	for len(controlPath(dir)) < 120 {
		dir = filepath.Join(dir, "a-long-directory-name")
	}
	store, closeStore, err := openEmbedded(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer closeStore(time.Time{})
	if _, err := store.UpdateSettings(t.Context(), "contoso", remoteassist.Patch{BlockChat: &yes}); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI(t.Context(), "check", "--data", dir)
	if code != 0 || !strings.Contains(stdout, "result    ok") {
		t.Errorf("check through the socket: exit %d\n%s%s", code, stdout, stderr)
	}
	backup := filepath.Join(t.TempDir(), "b.db")
	code, stdout, stderr = runCLI(t.Context(), "backup", "--data", dir, backup)
	if code != 0 || !strings.Contains(stdout, "from the running server") {
		t.Errorf("backup through the socket: exit %d\n%s%s", code, stdout, stderr)
	}
	if r, err := bolt.Verify(backup); err != nil || !r.OK() || r.Tenants != 1 {
		t.Errorf("the backup: %v, %v", r, err)
	}
	if fi, err := os.Stat(controlPath(dir)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("control socket: %v, %v; want mode 600", fi, err)
	}
	code, _, stderr = runCLI(t.Context(), "restore", "--data", dir, backup)
	if code != 1 || !strings.Contains(stderr, "in use") {
		t.Errorf("restore under a running store: exit %d, %s", code, stderr)
	}
	closeStore(time.Time{})
	if _, err := os.Stat(controlPath(dir)); !os.IsNotExist(err) {
		t.Errorf("the control socket outlived the store: %v", err)
	}
}

// TestControlBackupStalledReader asks for a backup through the control socket and reads none
// of it: the backup must give up once a write has waited controlStall, ending its read
// transaction (Close of the store, which waits for every read transaction, returns), and the
// reader finds the copy cut short of its Content-Length.
func TestControlBackupStalledReader(t *testing.T) {
	clearServeEnv(t)
	stall := controlStall
	controlStall = 100 * time.Millisecond
	t.Cleanup(func() { controlStall = stall })
	dir := t.TempDir()
	s, err := bolt.Open(dataFile(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Far more than the socket's buffers hold: some writes of the copy must wait for the reader.
	all := make(map[string]remoteassist.Settings, 50000)
	for i := range 50000 {
		all[fmt.Sprintf("tenant-%05d", i)] = remoteassist.Settings{BlockChat: true, RemoteAssistanceState: remoteassist.StateEnabled}
	}
	if err := s.ReplaceAllSettings(t.Context(), all); err != nil {
		t.Fatal(err)
	}
	ctl, err := startControl(dir, s, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close(time.Time{})
	res, err := controlGet(t.Context(), dir, "/v1/backup")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.ContentLength < 4<<20 {
		t.Fatalf("the copy is %d bytes; want more than 4 MiB, far more than a socket's buffers", res.ContentLength)
	}
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second): // a hang guard only
		res.Body.Close()
		t.Fatal("the store's Close still waits after 30s: a backup whose reader reads nothing holds its read transaction")
	}
	if n, err := io.Copy(io.Discard, res.Body); err == nil {
		t.Errorf("the stalled reader read %d of %d bytes without an error: want the copy cut short", n, res.ContentLength)
	}
}
