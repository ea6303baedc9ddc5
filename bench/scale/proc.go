package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// server is one remoteassist serve process, pinned to a CPU with taskset (which execs it, so the
// process started is the server itself and its PID is the server's).
type server struct {
	name string
	port int
	ops  int // --ops-addr's port: /debug/pprof/, to force a GC
	argv []string
	cmd  *exec.Cmd
	log  *tailBuffer
	done chan struct{}

	healthz, readyz time.Duration // from the start of the process to the first 200
}

// startServer starts bin serve on 127.0.0.1:port (and its operations listener on a free port)
// with the extra arguments and waits for its first 200 on /healthz and on /readyz, polling every
// 500 µs.
func startServer(name, bin, cpu string, port int, extra ...string) (*server, error) {
	ops, err := freePort()
	if err != nil {
		return nil, err
	}
	argv := append([]string{"taskset", "-c", cpu, bin, "serve", "--addr", "127.0.0.1:" + strconv.Itoa(port),
		"--ops-addr", "127.0.0.1:" + strconv.Itoa(ops), "--log-format", "json"}, extra...)
	s := &server{name: name, port: port, ops: ops, argv: argv, log: &tailBuffer{max: 16 << 10}, done: make(chan struct{})}
	s.cmd = exec.Command(argv[0], argv[1:]...)
	// The access log is read and dropped (the server pays for writing it, nobody for storing
	// it), keeping the end for the error message of a server that fails.
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	// If this program dies, the kernel stops the server.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	start := time.Now()
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { s.cmd.Wait(); close(s.done) }()
	base := s.url("")
	for _, probe := range []struct {
		path string
		d    *time.Duration
	}{{"/healthz", &s.healthz}, {"/readyz", &s.readyz}} {
		for {
			if ok(client, base+probe.path) {
				*probe.d = time.Since(start)
				break
			}
			select {
			case <-s.done:
				return nil, fmt.Errorf("%s exited at start-up: %v\n%s", name, s.cmd.ProcessState, s.log)
			case <-time.After(500 * time.Microsecond):
			}
			if time.Since(start) > 60*time.Second {
				s.stop()
				return nil, fmt.Errorf("%s: no 200 on %s within 60s\n%s", name, probe.path, s.log)
			}
		}
	}
	return s, nil
}

func ok(c *http.Client, url string) bool {
	resp, err := c.Get(url)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func (s *server) url(path string) string { return "http://127.0.0.1:" + strconv.Itoa(s.port) + path }

// stop ends the server with SIGTERM (its graceful stop), SIGKILL after 15 s.
func (s *server) stop() error {
	select {
	case <-s.done:
		return nil
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
		return nil
	case <-time.After(15 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
		return fmt.Errorf("%s did not stop within 15s of SIGTERM; killed", s.name)
	}
}

// mem is what /proc/PID/status says of a process's memory, in bytes, and what the Go runtime
// says of its heap (from /metrics).
type mem struct {
	rss, anon, file, hwm int64
	heapInuse, heapAlloc int64
}

// memory reads the server's memory now.
func (s *server) memory() (mem, error) {
	var m mem
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return m, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		fields := strings.Fields(v)
		if len(fields) != 2 || fields[1] != "kB" {
			continue
		}
		n, _ := strconv.ParseInt(fields[0], 10, 64)
		switch k {
		case "VmRSS":
			m.rss = n << 10
		case "RssAnon":
			m.anon = n << 10
		case "RssFile":
			m.file = n << 10
		case "VmHWM":
			m.hwm = n << 10
		}
	}
	m.heapInuse, m.heapAlloc, err = s.heap()
	return m, err
}

// liveHeap forces a garbage collection in the server (a heap profile with gc=1, from the
// operations listener) and returns the heap allocated right after it: what the process keeps
// live, without the garbage the collector lets accumulate between two cycles (with GOGC=100, up
// to as much again as the live heap).
func (s *server) liveHeap() (int64, error) {
	resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(s.ops) + "/debug/pprof/heap?gc=1")
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s: /debug/pprof/heap: %s", s.name, resp.Status)
	}
	_, alloc, err := s.heap()
	return alloc, err
}

// writeBytes returns write_bytes of /proc/PID/io: the bytes the process caused to be sent to
// storage, counted when it dirties a page (so the pages a bbolt commit writes, and not the
// access log, which goes to a pipe).
func (s *server) writeBytes() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", s.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "write_bytes: "); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, errors.New("no write_bytes in /proc/PID/io")
}

// cpuTime returns the user and system CPU time the process has used (utime + stime of
// /proc/PID/stat, in clock ticks of 10 ms: USER_HZ is 100 on Linux).
func (s *server) cpuTime() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	// The fields after the command name, which is in parentheses and may hold spaces: state,
	// ppid, pgrp, session, tty_nr, tpgid, flags, minflt, cminflt, majflt, cmajflt, utime, stime.
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	if i < 0 || len(f) < 13 {
		return 0, errors.New("malformed /proc/PID/stat")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

// heap reads go_memstats_heap_inuse_bytes and go_memstats_heap_alloc_bytes from /metrics.
func (s *server) heap() (inuse, alloc int64, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.url("/metrics"), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, v, found := strings.Cut(sc.Text(), " ")
		if !found {
			continue
		}
		f, _ := strconv.ParseFloat(v, 64)
		switch name {
		case "go_memstats_heap_inuse_bytes":
			inuse = int64(f)
		case "go_memstats_heap_alloc_bytes":
			alloc = int64(f)
		}
	}
	if inuse == 0 {
		return 0, 0, errors.New("no go_memstats_heap_inuse_bytes in /metrics")
	}
	return inuse, alloc, sc.Err()
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > 2*t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.b
	if len(b) > t.max {
		b = b[len(b)-t.max:]
	}
	return string(b)
}

// loadavg returns the first three fields of /proc/loadavg.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
