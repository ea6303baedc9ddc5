package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/bolt"
)

// exitDamaged is the exit status of a command refused because a data file (or a backup) is
// damaged, empty, or older than its commit record: not 1 (the system failed) nor 2 (a usage
// error, and what the Go runtime exits with when it crashes).
const exitDamaged = 3

// dataFile is the embedded store's file in a data directory.
func dataFile(dataDir string) string { return filepath.Join(dataDir, "settings.db") }

// refusal is the one line that refuses a data file err names, with the way out.
func refusal(cmd string, err error, dataDir string) *exitError {
	d := shellQuote(dataDir)
	var de *bolt.DamageError
	errors.As(err, &de)
	var fix string
	switch {
	case de != nil && de.Kind == "commit record":
		fix = fmt.Sprintf(`check the data file with "remoteassist check --data %s"; if it checks, remove %s`, d, shellQuote(de.Path))
	case de != nil && de.Stale:
		fix = fmt.Sprintf(`restore the newest backup with "remoteassist restore --data %s BACKUP"; to accept the file as it is (or, if it is missing, to start with no settings), remove %s`,
			d, shellQuote(bolt.CommitRecordPath(dataFile(dataDir))))
	case de != nil && de.Report != nil && de.Report.Size == 0:
		fix = fmt.Sprintf(`restore a backup with "remoteassist restore --data %s BACKUP", or, to start with no settings, move %s away`,
			d, shellQuote(dataFile(dataDir)))
	default:
		fix = fmt.Sprintf(`list every problem with "remoteassist check --data %s", then restore a backup with "remoteassist restore --data %s BACKUP"`, d, d)
	}
	return &exitError{msg: fmt.Sprintf("remoteassist %s: %v; %s", cmd, err, fix), code: exitDamaged}
}

// openEmbedded opens the embedded store in dataDir, which logs its changes of state to logger,
// and serves the operator commands (check, backup) on the data directory's control socket. A
// data file the store refuses ends serve with exitDamaged and one line saying what to do. The
// function returned closes both, giving a check or backup in progress on the control socket
// until its deadline (a zero one: controlCloseWait) to finish.
func openEmbedded(dataDir string, logger *slog.Logger) (remoteassist.Store, func(time.Time), error) {
	s, err := bolt.Open(dataFile(dataDir), bolt.WithLogger(logger))
	if errors.Is(err, bolt.ErrDamaged) {
		return nil, nil, refusal("serve", err, dataDir)
	}
	if err != nil {
		return nil, nil, err
	}
	ctl, err := startControl(dataDir, s, logger)
	if err != nil {
		s.Close()
		return nil, nil, err
	}
	return s, func(deadline time.Time) {
		ctl.Close(deadline)
		_ = s.Close()
	}, nil
}

// parseWithArgs parses args, flags anywhere among them, and returns the positional arguments,
// which must number want (their names, for the message).
func parseWithArgs(fs *flag.FlagSet, args []string, want ...string) ([]string, error) {
	var pos []string
	for {
		usage := fs.Usage
		fs.Usage = func() {}
		err := fs.Parse(args)
		fs.Usage = usage
		if errors.Is(err, flag.ErrHelp) {
			fs.Usage()
			return nil, err
		}
		if err != nil {
			return nil, usageError{fmt.Errorf("%w (see remoteassist %s --help)", err, fs.Name())}
		}
		if fs.NArg() == 0 {
			break
		}
		if err := boolLeftover(fs, args, fs.Args()); err != nil {
			return nil, err
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) != len(want) {
		if len(pos) < len(want) {
			return nil, usageError{fmt.Errorf("missing %s (see remoteassist %s --help)", want[len(pos)], fs.Name())}
		}
		return nil, usageError{fmt.Errorf("unexpected argument %q (see remoteassist %s --help)", pos[len(want)], fs.Name())}
	}
	return pos, nil
}

func runCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("check", "check [--data DIR]", `  remoteassist check
  remoteassist check --data /var/lib/remoteassist

Reads every page and every record of DIR/settings.db and says what is wrong, if anything. A file
no server holds is read directly, with bbolt's own tx.Check as well; while "remoteassist serve"
holds it, the running server checks its file itself, as of its newest commit, and answers on
DIR/control.sock. Exit status 0 when it checks, 3 when it is damaged, 1 when it could not be read.
`, stdout)
	dataDir := fs.String("data", defaultDataDir(), "data directory (env REMOTEASSIST_DATA)")
	if _, err := parseWithArgs(fs, args); err != nil {
		return err
	}
	if err := embeddedOnly("check", *dataDir); err != nil {
		return err
	}
	path := dataFile(*dataDir)
	report, err := bolt.Verify(path)
	switch {
	case errors.Is(err, bolt.ErrInUse):
		report, err = liveCheck(ctx, *dataDir)
		if err != nil {
			return fmt.Errorf("data file %q is in use, and the process holding it did not check it: %w", path, err)
		}
	case errors.Is(err, os.ErrNotExist):
		if _, statErr := os.Stat(bolt.CommitRecordPath(path)); statErr == nil {
			return refusal("check", &bolt.DamageError{Path: path, Stale: true,
				Problem: "is missing, but its commit record says commits were made: it was deleted or moved"}, *dataDir)
		}
		return fmt.Errorf("no data file at %q: serve creates it on its first start", path)
	case err != nil:
		return err
	}
	fmt.Fprint(stdout, report)
	if err := report.Err(); err != nil {
		return refusal("check", err, *dataDir)
	}
	return nil
}

func runBackup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("backup", "backup [--data DIR] FILE", `  remoteassist backup /backups/settings-$(date +%F).db
  remoteassist backup --data /var/lib/remoteassist /backups/settings.db

Writes a consistent copy of DIR/settings.db to FILE, checks the copy as "remoteassist check"
does, and only then renames it to FILE (a FILE already there is replaced only by a copy that
checks). While "remoteassist serve" holds the file, the running server makes the copy (bbolt's
tx.WriteTo in a read transaction: no write waits for it) and sends it over DIR/control.sock.
Exit status 0 when FILE is a checked backup, 3 when the data file is damaged, 1 otherwise.
`, stdout)
	dataDir := fs.String("data", defaultDataDir(), "data directory (env REMOTEASSIST_DATA)")
	pos, err := parseWithArgs(fs, args, "FILE")
	if err != nil {
		return err
	}
	if err := embeddedOnly("backup", *dataDir); err != nil {
		return err
	}
	path, dst := dataFile(*dataDir), pos[0]
	// The copy is written beside FILE first: a directory that is not there is said as such,
	// rather than by the name of a temporary file the user never gave.
	if dir := filepath.Dir(dst); dir != "" {
		if fi, err := os.Stat(dir); err != nil {
			return fmt.Errorf("cannot write %s: directory %s: %s", dst, dir, systemReason(err))
		} else if !fi.IsDir() {
			return fmt.Errorf("cannot write %s: %s is not a directory", dst, dir)
		}
	}
	report, err := bolt.BackupFile(path, dst)
	live := false
	if errors.Is(err, bolt.ErrInUse) {
		live = true
		report, err = liveBackup(ctx, *dataDir, dst)
	}
	if errors.Is(err, bolt.ErrDamaged) {
		return refusal("backup", err, *dataDir)
	}
	if err != nil {
		return err
	}
	how := "from the file"
	if live {
		how = "from the running server"
	}
	fmt.Fprintf(stdout, "backup %s: commit %d, %s, %d bytes, copied %s and checked\n", dst, report.TxID, tenants(report.Tenants), report.Size, how)
	return nil
}

func runRestore(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("restore", "restore [--data DIR] FILE", `  remoteassist restore /backups/settings.db
  remoteassist restore --data /var/lib/remoteassist /backups/settings-2026-11-28.db

Installs the backup FILE as DIR/settings.db. Stop "remoteassist serve" first: restore refuses to
replace a file a running server holds. It checks FILE as "remoteassist check" does and refuses a
damaged one; it copies FILE beside the data file, checks the copy, keeps the file it replaces as
settings.db.before-restore-TIME, renames the copy into place atomically, and sets the commit
record to the backup's commit, so that serve accepts the older state it restores.
Exit status 0 when restored, 3 when FILE is damaged, 1 otherwise (a running server included).
`, stdout)
	dataDir := fs.String("data", defaultDataDir(), "data directory (env REMOTEASSIST_DATA)")
	pos, err := parseWithArgs(fs, args, "FILE")
	if err != nil {
		return err
	}
	if err := embeddedOnly("restore", *dataDir); err != nil {
		return err
	}
	path, src := dataFile(*dataDir), pos[0]
	report, err := bolt.Restore(path, src)
	var de *bolt.DamageError
	switch {
	case errors.As(err, &de):
		return &exitError{msg: fmt.Sprintf("remoteassist restore: backup %q refused, nothing installed: %v", src, err), code: exitDamaged}
	case err != nil:
		return err
	}
	fmt.Fprintf(stdout, "restored %s to %s: commit %d, %s\n", src, path, report.TxID, tenants(report.Tenants))
	return nil
}

// embeddedOnly refuses check, backup and restore, which work on the embedded store's data file
// only, when REMOTEASSIST_STORE (serve's store, which these commands do not take) names another
// store: the file in the data directory is then not the settings serve has, or not there at all.
// The line says what to do instead; a usage error, as a mistake in the environment is.
func embeddedOnly(cmd, dataDir string) error {
	var store, instead string
	switch storeKind(os.Getenv("REMOTEASSIST_STORE")) {
	case "postgres":
		store = "names a PostgreSQL store"
		instead = map[string]string{
			"check":   "; check the database with PostgreSQL's own tools (serve's /readyz says whether it answers)",
			"backup":  `; back up the database with pg_dump, or its settings with "remoteassist admin snapshot export FILE"`,
			"restore": `; restore the database with pg_restore or psql, or its settings with "remoteassist admin snapshot import FILE"`,
		}[cmd]
	case "memory":
		store = `is "memory", which keeps nothing on disk`
		instead = map[string]string{
			"backup":  `; export its settings with "remoteassist admin snapshot export FILE"`,
			"restore": `; import settings with "remoteassist admin snapshot import FILE"`,
		}[cmd]
	default:
		return nil
	}
	return usageError{fmt.Errorf("REMOTEASSIST_STORE %s: %s is for the embedded store's file (%s) only%s (unset REMOTEASSIST_STORE to %s that file)",
		store, cmd, dataFile(dataDir), instead, map[string]string{"check": "check", "backup": "back up", "restore": "restore"}[cmd])}
}

func tenants(n int) string {
	if n == 1 {
		return "1 tenant"
	}
	return fmt.Sprintf("%d tenants", n)
}

// systemReason is an error of the file system without the operation and path it repeats: "no
// such file or directory", "permission denied", "is a directory".
func systemReason(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
