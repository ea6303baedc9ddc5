package devca_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/remoteassist/remoteassist/internal/devca"
)

// creatorDirEnv, set in a process of this test binary, makes it one of the creators of
// TestEnsureConcurrentProcesses instead of a test run: it says "ready" on stdout, calls Ensure on
// the directory the variable names once its stdin is closed, and writes its creation as JSON.
const creatorDirEnv = "DEVCA_TEST_CREATOR_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(creatorDirEnv); dir != "" {
		os.Exit(runCreator(dir))
	}
	os.Exit(m.Run())
}

// runCreator is a creator process's work (creatorDirEnv); it returns the exit status.
func runCreator(dir string) int {
	defer devca.SetWrittenHook(widenWindow)()
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	if err := json.NewEncoder(os.Stdout).Encode(create(dir)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// widenWindow, called after each file Ensure writes, gives the other creators time to write
// theirs in between, as a slow disk or a busy machine would: without the creators agreeing on
// one CA, their files interleave on every run rather than now and then. It only widens a
// window; nothing measures it.
func widenWindow(string) { time.Sleep(20 * time.Millisecond) }

// creation is what one creator of the CA saw: why it made a new CA ("" if it loaded the one on
// disk), and the server certificate on disk once its Ensure returned, which is what serve loads
// and serves next.
type creation struct {
	NewCA string `json:"newCA"`
	Cert  []byte `json:"cert"`
	Err   string `json:"err"`
}

func create(dir string) creation {
	f, err := devca.Ensure(dir, time.Now())
	if err != nil {
		return creation{Err: err.Error()}
	}
	cert, err := os.ReadFile(f.Cert)
	if err != nil {
		return creation{Err: err.Error()}
	}
	return creation{NewCA: f.NewCA, Cert: cert}
}

// TestEnsureConcurrentCreators: replicas of serve --tls starting at once on one fresh, shared
// data directory each ran Ensure with nothing to coordinate them, so that each made a CA and
// one could end serving a certificate signed by a CA whose ca.pem another had overwritten:
// clients trusting ca.pem failed. Creators started together, here goroutines, must make one CA
// between them, and each must end with a certificate that verifies with the ca.pem on disk.
func TestEnsureConcurrentCreators(t *testing.T) {
	defer devca.SetWrittenHook(widenWindow)()
	dir := filepath.Join(t.TempDir(), "data")
	const creators = 8
	creations := make([]creation, creators)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range creators {
		wg.Go(func() {
			<-start
			creations[i] = create(dir)
		})
	}
	close(start)
	wg.Wait()
	checkOneCA(t, dir, creations)
}

// TestEnsureConcurrentProcesses is TestEnsureConcurrentCreators with creators that are
// processes of their own, as replicas are: this test binary again, each calling Ensure once
// the test closes their stdin, all at the same moment.
func TestEnsureConcurrentProcesses(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute) // a hang guard only
	defer cancel()
	const creators = 3
	type proc struct {
		cmd    *exec.Cmd
		stdin  io.WriteCloser
		stdout *bufio.Reader
	}
	procs := make([]proc, creators)
	for i := range procs {
		cmd := exec.CommandContext(ctx, os.Args[0])
		cmd.Env = append(os.Environ(), creatorDirEnv+"="+dir)
		cmd.Stderr = os.Stderr
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs[i] = proc{cmd, stdin, bufio.NewReader(stdout)}
	}
	for i, p := range procs {
		if line, err := p.stdout.ReadString('\n'); line != "ready\n" {
			t.Fatalf("creator %d: %q, %v, want ready", i, line, err)
		}
	}
	for _, p := range procs {
		p.stdin.Close()
	}
	creations := make([]creation, creators)
	for i, p := range procs {
		if err := json.NewDecoder(p.stdout).Decode(&creations[i]); err != nil {
			t.Errorf("creator %d: %v", i, err)
		}
		if err := p.cmd.Wait(); err != nil {
			t.Errorf("creator %d: %v", i, err)
		}
	}
	if t.Failed() {
		return
	}
	checkOneCA(t, dir, creations)
}

// checkOneCA checks that of the creators that ran Ensure on dir exactly one made the CA, that
// the files on disk are two matching pairs, and that every creator's certificate verifies with
// the ca.pem on disk for each of its names.
func checkOneCA(t *testing.T, dir string, creations []creation) {
	t.Helper()
	made := 0
	for i, c := range creations {
		if c.Err != "" {
			t.Fatalf("creator %d: %s", i, c.Err)
		}
		if c.NewCA != "" {
			made++
		}
	}
	if made != 1 {
		t.Errorf("%d of %d creators made a CA, want exactly one (the others load it)", made, len(creations))
	}
	path := func(name string) string { return filepath.Join(dir, name) }
	if _, err := tls.LoadX509KeyPair(path(devca.CAFile), path(devca.CAKeyFile)); err != nil {
		t.Errorf("%s and %s on disk: %v", devca.CAFile, devca.CAKeyFile, err)
	}
	if _, err := tls.LoadX509KeyPair(path(devca.CertFile), path(devca.CertKeyFile)); err != nil {
		t.Errorf("%s and %s on disk: %v", devca.CertFile, devca.CertKeyFile, err)
	}
	pool, err := devca.Pool(path(devca.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range creations {
		block, _ := pem.Decode(c.Cert)
		if block == nil {
			t.Errorf("creator %d: its certificate is not PEM", i)
			continue
		}
		leaf, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Errorf("creator %d: %v", i, err)
			continue
		}
		for _, name := range []string{"localhost", "127.0.0.1", "::1"} {
			if _, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: pool}); err != nil {
				t.Errorf("creator %d: its certificate does not verify for %s with the %s on disk: %v", i, name, devca.CAFile, err)
			}
		}
	}
}

// TestLockOpenForWriting: Ensure held its lock through a descriptor of ca.lock opened read-only.
// A local file system grants flock's exclusive lock on one, but NFS, which emulates flock with a
// byte-range lock of the whole file, grants it only on a descriptor open for writing (flock(2),
// "NFS details"), so that serve --tls failed to start on an NFS volume, the kind replicas share.
// While Ensure writes the files (its lock held), the descriptor it has open on ca.lock must be
// open for writing, as /proc/self/fdinfo shows it.
func TestLockOpenForWriting(t *testing.T) {
	// The path as /proc/self/fd shows it, without symbolic links (TMPDIR may have some).
	tmp, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(tmp, "data")
	lockPath := filepath.Join(dir, devca.LockFile)
	var checked bool
	defer devca.SetWrittenHook(func(string) {
		if checked {
			return
		}
		checked = true
		flags, ok := openFlags(t, lockPath)
		if !ok {
			t.Errorf("while Ensure writes its files, this process has no descriptor open on %s", lockPath)
			return
		}
		if flags&syscall.O_ACCMODE == syscall.O_RDONLY {
			t.Errorf("Ensure holds its lock through a descriptor of %s open read-only (flags %#o), on which NFS refuses an exclusive lock", devca.LockFile, flags)
		}
	})()
	if _, err := devca.Ensure(dir, time.Now()); err != nil {
		t.Fatal(err)
	}
	if !checked {
		t.Fatal("Ensure wrote no file on a fresh directory")
	}
}

// openFlags returns the open flags of this process's descriptor on path, from
// /proc/self/fdinfo, and whether it has one.
func openFlags(t *testing.T, path string) (flags int64, ok bool) {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); err != nil || target != path {
			continue
		}
		info, err := os.ReadFile(filepath.Join("/proc/self/fdinfo", fd.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.SplitSeq(string(info), "\n") {
			if v, found := strings.CutPrefix(line, "flags:"); found {
				if flags, err = strconv.ParseInt(strings.TrimSpace(v), 8, 64); err != nil {
					t.Fatal(err)
				}
				return flags, true
			}
		}
		t.Fatalf("/proc/self/fdinfo/%s has no flags: %q", fd.Name(), info)
	}
	return 0, false
}
