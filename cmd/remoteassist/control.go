package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/remoteassist/remoteassist/bolt"
)

// The control socket: while serve holds the embedded store, no other process can open the data
// file (bbolt's exclusive flock), so check and backup of a live server ask the server. serve
// answers on a Unix socket in the data directory, DATA/control.sock (mode 0600, in a directory of
// mode 0700), never on the API's listener: only a process of the same user (or root) that can
// reach the data directory gets an answer; the kernel's peer credentials are checked on every
// connection. It speaks HTTP, two requests:
//
//	GET /v1/check    the report of a check of the live file, as JSON (Store.Verify)
//	GET /v1/backup   a consistent copy of the live file (bbolt's tx.WriteTo), with its
//	                 Content-Length and the commit copied in Remoteassist-Commit
//
// Nothing on it changes the store. Every write of an answer must go out within controlStall: a
// backup streams from a read transaction, which a commit growing the file past bbolt's memory
// map waits for (see bolt.Store.Backup), so a reader that stops reading ends its backup (cut
// short of its Content-Length) after that long instead of holding those commits back for good.

const controlSocketName = "control.sock"

// controlStall is how long a write of a control answer may wait for its reader (a var for the
// tests).
var controlStall = 10 * time.Second

// stallBound is an answer's writer that gives each write controlStall to go out. It has no
// ReadFrom, so that a copy into it comes in writes of a buffer's size, each with its deadline.
type stallBound struct {
	w  io.Writer
	rc *http.ResponseController
}

func newStallBound(w http.ResponseWriter) stallBound {
	return stallBound{w, http.NewResponseController(w)}
}

func (b stallBound) Write(p []byte) (int, error) {
	if err := b.rc.SetWriteDeadline(time.Now().Add(controlStall)); err != nil {
		return 0, err
	}
	return b.w.Write(p)
}

// controlPath is the control socket of a data directory.
func controlPath(dataDir string) string { return filepath.Join(dataDir, controlSocketName) }

// socketAddr returns an address for the socket at path that fits in a sockaddr_un (108 bytes on
// Linux): the path itself, or, for a deep data directory, the path through a descriptor of the
// directory (/proc/self/fd/N/control.sock). The returned function closes that descriptor; call
// it once the socket is bound or connected.
func socketAddr(path string) (string, func(), error) {
	if len(path) < 100 {
		return path, func() {}, nil
	}
	dir, err := os.Open(filepath.Dir(path))
	if err != nil {
		return "", nil, err
	}
	return fmt.Sprintf("/proc/self/fd/%d/%s", dir.Fd(), filepath.Base(path)), func() { dir.Close() }, nil
}

// controlServer serves the control socket of a running serve.
type controlServer struct {
	path string
	ln   net.Listener
	srv  *http.Server
	done chan struct{}
}

// startControl listens on the data directory's control socket for store. serve calls it once it
// holds the data file, so a socket found there was left by a process that died: it is replaced.
func startControl(dataDir string, store *bolt.Store, logger *slog.Logger) (*controlServer, error) {
	path := controlPath(dataDir)
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&fs.ModeSocket != 0 {
		os.Remove(path)
	}
	addr, release, err := socketAddr(path)
	if err != nil {
		return nil, err
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: addr, Net: "unix"})
	release()
	if err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	ln.SetUnlinkOnClose(false) // the address may be a /proc path that means nothing later
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		os.Remove(path)
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/check", func(w http.ResponseWriter, r *http.Request) {
		report, err := store.Verify()
		if err != nil {
			writeControlError(w, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(newStallBound(w)).Encode(report)
	})
	mux.HandleFunc("GET /v1/backup", func(w http.ResponseWriter, r *http.Request) {
		started := false
		_, err := store.Backup(newStallBound(w), func(size int64, txid uint64) {
			started = true
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
			w.Header().Set("Remoteassist-Commit", strconv.FormatUint(txid, 10))
			w.WriteHeader(http.StatusOK)
		})
		if err != nil {
			logger.Error("backup through the control socket failed", "error", err)
			if !started {
				writeControlError(w, err)
			}
			// Once the copy has started, the body cut short of its Content-Length tells.
		}
	})
	c := &controlServer{path: path, ln: peerCredListener{ln}, done: make(chan struct{}),
		srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelError)}}
	go func() {
		defer close(c.done)
		c.srv.Serve(c.ln)
	}()
	return c, nil
}

func writeControlError(w http.ResponseWriter, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusInternalServerError)
	json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}

// controlCloseWait is the longest Close waits for a check or backup in progress (a var for the
// tests, which make it longer than they run, so that a close that outlives serve's deadline
// hangs instead of taking a few seconds too long).
var controlCloseWait = 10 * time.Second

// Close stops the control socket, waiting for a check or backup in progress until deadline, at
// most controlCloseWait (a zero deadline: that long), then cutting it, and removes the socket.
// serve's deadline is the end of its shutdown grace, so that the socket never keeps the process
// past what it was given to stop.
func (c *controlServer) Close(deadline time.Time) {
	wait := controlCloseWait
	if !deadline.IsZero() {
		wait = min(wait, time.Until(deadline))
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := c.srv.Shutdown(ctx); err != nil {
		c.srv.Close()
	}
	<-c.done
	os.Remove(c.path)
}

// peerCredListener accepts only connections from processes of this process's user, or root.
type peerCredListener struct{ *net.UnixListener }

func (l peerCredListener) Accept() (net.Conn, error) {
	for {
		conn, err := l.UnixListener.AcceptUnix()
		if err != nil {
			return nil, err
		}
		if uid, err := peerUID(conn); err == nil && (uid == 0 || uid == uint32(os.Getuid())) {
			return conn, nil
		}
		conn.Close()
	}
}

func peerUID(conn *net.UnixConn) (uint32, error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *syscall.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return 0, err
	}
	if credErr != nil {
		return 0, credErr
	}
	return cred.Uid, nil
}

// errNoControl is wrapped by the client's errors when nothing answers on the control socket.
var errNoControl = errors.New("no remoteassist serve answers on the control socket")

// controlGet makes one request to the serve holding dataDir's data file and returns the answer,
// whose body the caller closes. An error answer becomes an error.
func controlGet(ctx context.Context, dataDir, path string) (*http.Response, error) {
	sock := controlPath(dataDir)
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			addr, release, err := socketAddr(sock)
			if err != nil {
				return nil, err
			}
			defer release()
			var d net.Dialer
			return d.DialContext(ctx, "unix", addr)
		},
		DisableCompression: true,
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://remoteassist"+path, nil)
	if err != nil {
		return nil, err
	}
	res, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %v", errNoControl, sock, err)
	}
	if res.StatusCode != http.StatusOK {
		defer res.Body.Close()
		var e struct {
			Error string `json:"error"`
		}
		b, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = fmt.Sprintf("status %d: %s", res.StatusCode, b)
		}
		return nil, fmt.Errorf("the running server: %s", e.Error)
	}
	return res, nil
}

// liveCheck asks the serve holding dataDir's data file to check it.
func liveCheck(ctx context.Context, dataDir string) (*bolt.Report, error) {
	res, err := controlGet(ctx, dataDir, "/v1/check")
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	var r bolt.Report
	if err := json.NewDecoder(res.Body).Decode(&r); err != nil {
		return nil, fmt.Errorf("the running server's check: %w", err)
	}
	return &r, nil
}

// liveBackup asks the serve holding dataDir's data file for a copy and makes dst a verified
// backup of it.
func liveBackup(ctx context.Context, dataDir, dst string) (*bolt.Report, error) {
	res, err := controlGet(ctx, dataDir, "/v1/backup")
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	return bolt.WriteBackup(dst, func(w io.Writer) error {
		n, err := io.Copy(w, res.Body)
		if err != nil {
			return fmt.Errorf("the running server's copy: %w", err)
		}
		if res.ContentLength >= 0 && n != res.ContentLength {
			return fmt.Errorf("the running server's copy is cut short: %d of %d bytes", n, res.ContentLength)
		}
		return nil
	})
}
