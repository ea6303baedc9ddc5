package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/bolt"
)

// TestStoreCommandsRefuseOtherStores: check, backup and restore work on the embedded store's file
// only. With REMOTEASSIST_STORE naming PostgreSQL or memory, as serve's environment would, each is
// refused in one line (exit 2) that says so and what to use instead, rather than failing on a
// data file that is not serve's, and never shows the URL's password.
func TestStoreCommandsRefuseOtherStores(t *testing.T) {
	for _, c := range []struct {
		store string
		args  []string
		want  string
	}{
		{"postgres://ra:s3cret@127.0.0.1:1/radb", []string{"backup", "b.db"}, `REMOTEASSIST_STORE names a PostgreSQL store: backup is for the embedded store's file`},
		{"postgres://ra:s3cret@127.0.0.1:1/radb", []string{"backup", "b.db"}, `back up the database with pg_dump, or its settings with "remoteassist admin snapshot export FILE"`},
		{"postgresql://ra@127.0.0.1:1/radb", []string{"check"}, `REMOTEASSIST_STORE names a PostgreSQL store: check is for the embedded store's file`},
		{"postgres://ra@127.0.0.1:1/radb", []string{"restore", "b.db"}, `restore the database with pg_restore or psql, or its settings with "remoteassist admin snapshot import FILE"`},
		{"memory", []string{"backup", "b.db"}, `REMOTEASSIST_STORE is "memory", which keeps nothing on disk: backup is for the embedded store's file`},
		{"memory", []string{"check"}, `(unset REMOTEASSIST_STORE to check that file)`},
	} {
		t.Run(storeKind(c.store)+" "+c.args[0], func(t *testing.T) {
			setServeEnv(t, map[string]string{"REMOTEASSIST_STORE": c.store})
			work := t.TempDir()
			t.Chdir(work)
			dataDir := filepath.Join(work, "data")
			code, stdout, stderr := runCLI(t.Context(), append([]string{c.args[0], "--data", dataDir}, c.args[1:]...)...)
			assertRefused(t, c.args[0], code, stdout, stderr, c.want)
			if !strings.Contains(stderr, dataFile(dataDir)) || strings.Contains(stderr, "s3cret") {
				t.Errorf("stderr %q: want the data file named, and no password", stderr)
			}
			if entries, _ := os.ReadDir(work); len(entries) != 0 {
				t.Errorf("a refused %s wrote %v", c.args[0], entries)
			}
		})
	}
}

// TestBackupIntoMissingDirectory: a backup FILE in a directory that is not there is refused
// naming that directory, not the temporary file the copy would have been written to.
func TestBackupIntoMissingDirectory(t *testing.T) {
	clearServeEnv(t)
	dataDir := t.TempDir()
	s, err := bolt.Open(dataFile(dataDir))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateSettings(t.Context(), "contoso", remoteassist.Patch{BlockChat: &yes}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	missing := filepath.Join(t.TempDir(), "backups")
	dst := filepath.Join(missing, "settings.db")
	code, stdout, stderr := runCLI(t.Context(), "backup", "--data", dataDir, dst)
	want := "remoteassist backup: cannot write " + dst + ": directory " + missing + ": no such file or directory\n"
	if code != 1 || stdout != "" || stderr != want {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit 1 and %q", code, stdout, stderr, want)
	}

	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runCLI(t.Context(), "backup", "--data", dataDir, filepath.Join(notDir, "settings.db"))
	if code != 1 || !strings.Contains(stderr, notDir+" is not a directory") {
		t.Errorf("backup under a file: exit %d, %q", code, stderr)
	}
}
