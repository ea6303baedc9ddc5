package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// target is one store of one size, served by its own process.
type target struct {
	name    string
	store   string // "" for the embedded store, else serve's --store
	tenants int
	data    string
	port    int

	srv      *server
	client   *http.Client
	toks     []string
	startups []startup
	after    mem
	// liveAfter is the heap allocated after a forced GC, read after after.
	liveAfter int64
	size      [2]int64 // data size before and after the load
	rows      int64
	results   map[string][]result // per cell, one per round
}

type startup struct {
	healthz, readyz time.Duration
	idle            mem
	live            int64 // heap allocated after a forced GC, read after idle
}

func (t *target) group() string {
	if t.store == "" {
		return "embedded"
	}
	return "postgres"
}

// targetList is the repeatable -target flag: name=NAME,tenants=N,data=DIR[,store=URL].
type targetList []*target

func (l *targetList) String() string { return fmt.Sprint(len(*l), " targets") }
func (l *targetList) Set(v string) error {
	t := &target{results: map[string][]result{}}
	for kv := range strings.SplitSeq(v, ",") {
		k, val, _ := strings.Cut(kv, "=")
		switch k {
		case "name":
			t.name = val
		case "tenants":
			n, err := strconv.Atoi(val)
			if err != nil || n <= 0 {
				return fmt.Errorf("tenants=%q: want a positive number", val)
			}
			t.tenants = n
		case "data":
			t.data = val
		case "store":
			t.store = val
		default:
			return fmt.Errorf("unknown key %q (want name, tenants, data, store)", k)
		}
	}
	if t.name == "" || t.tenants == 0 || t.data == "" {
		return errors.New("want name=NAME,tenants=N,data=DIR[,store=URL]")
	}
	*l = append(*l, t)
	return nil
}

// cell is one kind of load: a method at a number of connections.
type cell struct {
	method string
	conns  int
}

func (c cell) String() string { return fmt.Sprintf("%s c=%d", c.method, c.conns) }

func parseCells(v string) ([]cell, error) {
	var cells []cell
	for s := range strings.SplitSeq(v, ",") {
		m, n, _ := strings.Cut(s, ":")
		conns, err := strconv.Atoi(n)
		if (m != http.MethodGet && m != http.MethodPatch) || err != nil || conns <= 0 {
			return nil, fmt.Errorf("cell %q: want GET:N or PATCH:N", s)
		}
		cells = append(cells, cell{m, conns})
	}
	return cells, nil
}

// running holds every server started, so that a signal or an error stops them all.
var running struct {
	sync.Mutex
	servers map[*server]bool
}

func track(s *server) {
	running.Lock()
	defer running.Unlock()
	if running.servers == nil {
		running.servers = map[*server]bool{}
	}
	running.servers[s] = true
}

func untrack(s *server) error {
	running.Lock()
	delete(running.servers, s)
	running.Unlock()
	return s.stop()
}

func stopAll() {
	running.Lock()
	servers := running.servers
	running.servers = nil
	running.Unlock()
	for s := range servers {
		s.stop()
	}
}

// onSignal stops every server and exits when the program is interrupted.
func onSignal() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		sig := <-ch
		fmt.Fprintf(os.Stderr, "scale: %v: stopping the servers\n", sig)
		stopAll()
		os.Exit(1)
	}()
}

func runMeasure(args []string) error {
	fs := flag.NewFlagSet("measure", flag.ExitOnError)
	var targets targetList
	fs.Var(&targets, "target", "name=NAME,tenants=N,data=DIR[,store=postgres://...] (repeatable; the order of the tables)")
	bin := fs.String("bin", "remoteassist", "the remoteassist binary")
	cpu := fs.String("server-cpu", "1", "taskset CPU list of the servers")
	startups := fs.Int("startups", 3, "starts of each server measured (the last one stays up for the load)")
	rounds := fs.Int("rounds", 7, "rounds of every cell on every target, interleaved")
	duration := fs.Duration("duration", 3*time.Second, "measured time of one cell")
	warmup := fs.Duration("warmup", 500*time.Millisecond, "unmeasured time before each cell")
	nTokens := fs.Int("tokens", 5000, "tokens minted per target, for as many random stored tenants (the server caches 10,000)")
	cellsFlag := fs.String("cells", "GET:32,PATCH:32,GET:1,PATCH:1", "METHOD:CONNECTIONS, comma-separated")
	idleWait := fs.Duration("idle-wait", time.Second, "wait after /readyz before reading the idle RSS")
	out := fs.String("out", "", "Markdown output file (also printed)")
	raw := fs.String("raw", "", "raw rows output file")
	seed := fs.Uint64("seed", 1, "seed of the tenant samples and the request mix")
	fs.Parse(args)
	cells, err := parseCells(*cellsFlag)
	if err != nil {
		return err
	}
	if len(targets) == 0 {
		return errors.New("no -target")
	}
	onSignal()
	defer stopAll()
	loadStart := loadavg()

	for _, t := range targets {
		if t.size[0], t.rows, err = dataSize(t); err != nil {
			return fmt.Errorf("%s: %w", t.name, err)
		}
		if t.port, err = freePort(); err != nil {
			return err
		}
	}

	// Start-up: every server started and stopped in turn, startups times; the last start of each
	// stays up.
	for i := range *startups {
		for _, t := range targets {
			extra := []string{"--data", t.data}
			if t.store != "" {
				extra = append(extra, "--store", t.store)
			}
			s, err := startServer(t.name, *bin, *cpu, t.port, extra...)
			if err != nil {
				return err
			}
			track(s)
			time.Sleep(*idleWait)
			m, err := s.memory()
			if err != nil {
				return fmt.Errorf("%s: %w", t.name, err)
			}
			live, err := s.liveHeap()
			if err != nil {
				return err
			}
			t.startups = append(t.startups, startup{s.healthz, s.readyz, m, live})
			fmt.Fprintf(os.Stderr, "start %d/%d %s: healthz %v readyz %v, RSS %.1f MiB (anon %.1f, file %.1f), load %s\n",
				i+1, *startups, t.name, s.healthz.Round(time.Microsecond*100), s.readyz.Round(time.Microsecond*100),
				mib(m.rss), mib(m.anon), mib(m.file), loadavg())
			if i < *startups-1 {
				if err := untrack(s); err != nil {
					return err
				}
			} else {
				t.srv = s
			}
		}
	}

	// Tokens for random stored tenants, and one GET per token: the token cache warm, every token
	// accepted.
	r := rand.New(rand.NewPCG(*seed, 0))
	maxConns := 1
	for _, c := range cells {
		maxConns = max(maxConns, c.conns)
	}
	for _, t := range targets {
		tenants := sampleTenants(r, t.tenants, *nTokens)
		if t.toks, err = mintTokens(t.data, tenants, 3*time.Hour); err != nil {
			return err
		}
		t.client = newClient(maxConns)
		res := each(t.client, t.srv.url(settingsPath), t.toks, 8)
		if res.bad() > 0 {
			return fmt.Errorf("%s: warming the token cache: %s %s\n%s", t.name, res.statusString(), res.firstErr, t.srv.log)
		}
		fmt.Fprintf(os.Stderr, "%s: %d tokens of random stored tenants, warm\n", t.name, len(t.toks))
	}

	var rawRows []string
	for round := range *rounds {
		for _, c := range cells {
			// Rotate the order of the targets from round to round, so that none always runs
			// first (or right after the heaviest).
			for j := range targets {
				t := targets[(j+round)%len(targets)]
				w0, err := t.srv.writeBytes()
				if err != nil {
					return err
				}
				c0, err := t.srv.cpuTime()
				if err != nil {
					return err
				}
				res := load(t.client, t.srv.url(settingsPath), c.method, t.toks, c.conns, *warmup, *duration, *seed+uint64(round)<<8+uint64(j))
				w1, err := t.srv.writeBytes()
				if err != nil {
					return err
				}
				c1, err := t.srv.cpuTime()
				if err != nil {
					return err
				}
				if res.sent > 0 {
					res.written = (w1 - w0) / int64(res.sent)
					res.cpu = (c1 - c0) / time.Duration(res.sent)
				}
				t.results[c.String()] = append(t.results[c.String()], res)
				la := loadavg()
				row := fmt.Sprintf("%d\t%s\t%s\t%d\t%d\t%.0f\t%.3f\t%.3f\t%.1f\t%d\t%s\t%s",
					round+1, t.name, c.method, c.conns, res.requests, res.rps, ms(res.p50), ms(res.p99), us(res.cpu), res.written, res.statusString(), la)
				rawRows = append(rawRows, row)
				fmt.Fprintf(os.Stderr, "round %d/%d %-14s %-10s %7.0f req/s p50 %6.2f ms p99 %6.2f ms %s load %s\n",
					round+1, *rounds, t.name, c, res.rps, ms(res.p50), ms(res.p99), res.statusString(), la)
				if res.bad() > 0 {
					fmt.Fprintf(os.Stderr, "  %s: %d requests not 200 (first error: %s)\n", t.name, res.bad(), res.firstErr)
				}
			}
		}
	}
	loadEnd := loadavg()

	for _, t := range targets {
		if t.after, err = t.srv.memory(); err != nil {
			return fmt.Errorf("%s: %w", t.name, err)
		}
		if t.liveAfter, err = t.srv.liveHeap(); err != nil {
			return err
		}
	}
	for _, t := range targets {
		if err := untrack(t.srv); err != nil {
			return err
		}
		if t.size[1], _, err = dataSize(t); err != nil {
			return fmt.Errorf("%s: %w", t.name, err)
		}
	}

	md := report(targets, cells, *rounds, *duration, *warmup, *idleWait, *nTokens, *startups, loadStart, loadEnd)
	fmt.Print(md)
	if *out != "" {
		if err := os.WriteFile(*out, []byte(md), 0o644); err != nil {
			return err
		}
	}
	if *raw != "" {
		head := "round\ttarget\tmethod\tconns\trequests\treq/s\tp50_ms\tp99_ms\tserver_cpu_us_per_request\tserver_write_bytes_per_request\tstatuses\tloadavg\n"
		if err := os.WriteFile(*raw, []byte(head+strings.Join(rawRows, "\n")+"\n"), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// dataSize returns the size of a target's data: the bolt file, or pg_total_relation_size of
// the table, and for PostgreSQL its rows.
func dataSize(t *target) (size, rows int64, err error) {
	if t.store == "" {
		fi, err := os.Stat(filepath.Join(t.data, "settings.db"))
		if err != nil {
			return 0, 0, err
		}
		return fi.Size(), int64(t.tenants), nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return pgSize(ctx, t.store)
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }
func us(d time.Duration) float64 { return float64(d) / 1e3 }
func mib(b int64) float64        { return float64(b) / (1 << 20) }

// stats of a series: median, min, max.
type stats struct{ med, lo, hi float64 }

func summarize(v []float64) stats {
	if len(v) == 0 {
		return stats{}
	}
	s := slices.Clone(v)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return stats{med, s[0], s[len(s)-1]}
}

func series[T any](xs []T, f func(T) float64) stats {
	v := make([]float64, len(xs))
	for i, x := range xs {
		v[i] = f(x)
	}
	return summarize(v)
}

// report writes the Markdown: per store a summary table, then every cell with its ranges, then
// the memory in detail.
func report(targets []*target, cells []cell, rounds int, dur, warmup, idleWait time.Duration, nTokens, startups int, loadStart, loadEnd string) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w("Load: %d interleaved rounds; per round and target each cell runs %v (after %v unmeasured), with %d tokens per server, for as many random stored tenants (every tenant, several times, when fewer are stored), each request picking one at random. Latencies are the medians over the rounds of each round's p50 and p99. Start-up: median of %d starts (process start to the first 200). RSS idle: %v after /readyz, at the last start; RSS after: at the end of all rounds. Load average %s at the start, %s at the end.\n\n",
		rounds, dur, warmup, nTokens, startups, idleWait, loadStart, loadEnd)
	var get, patch *cell
	for i := range cells {
		c := &cells[i]
		if c.method == http.MethodGet && (get == nil || c.conns > get.conns) {
			get = c
		}
		if c.method == http.MethodPatch && (patch == nil || c.conns > patch.conns) {
			patch = c
		}
	}
	lat := func(t *target, c *cell) string {
		if c == nil {
			return "-"
		}
		rs := t.results[c.String()]
		return fmt.Sprintf("%.2f / %.2f", series(rs, func(r result) float64 { return ms(r.p50) }).med, series(rs, func(r result) float64 { return ms(r.p99) }).med)
	}
	rps := func(t *target, c *cell) string {
		if c == nil {
			return "-"
		}
		return fmt.Sprintf("%.0f", series(t.results[c.String()], func(r result) float64 { return r.rps }).med)
	}
	for _, group := range []string{"embedded", "postgres"} {
		var ts []*target
		for _, t := range targets {
			if t.group() == group {
				ts = append(ts, t)
			}
		}
		if len(ts) == 0 {
			continue
		}
		title := map[string]string{"embedded": "Embedded store (bbolt)", "postgres": "PostgreSQL"}[group]
		w("### %s\n\n", title)
		w("| tenants | GET p50 / p99 ms (%s) | PATCH p50 / p99 ms (%s) | GET / PATCH req/s | RSS idle / after MiB | of which anon | data MiB | start-up to healthz / readyz ms |\n", cellName(get), cellName(patch))
		w("|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, t := range ts {
			idle := t.startups[len(t.startups)-1].idle
			hz := series(t.startups, func(s startup) float64 { return ms(s.healthz) })
			rz := series(t.startups, func(s startup) float64 { return ms(s.readyz) })
			w("| %s | %s | %s | %s / %s | %.1f / %.1f | %.1f / %.1f | %.1f | %.1f / %.1f |\n",
				commas(t.tenants), lat(t, get), lat(t, patch), rps(t, get), rps(t, patch),
				mib(idle.rss), mib(t.after.rss), mib(idle.anon), mib(t.after.anon), mib(t.size[1]), hz.med, rz.med)
		}
		w("\n")
	}

	w("#### Every cell: median (range over the rounds)\n\n")
	w("Server CPU: the server process's user + system time over the cell (its warm-up included) per request sent; PostgreSQL's own CPU, on the same core, is not in it.\n\n")
	w("| target | cell | req/s | p50 ms | p99 ms | server CPU µs/request | not 200 |\n|---|---|---:|---:|---:|---:|---:|\n")
	for _, t := range targets {
		for _, c := range cells {
			rs := t.results[c.String()]
			bad := 0
			for _, r := range rs {
				bad += r.bad()
			}
			x := series(rs, func(r result) float64 { return r.rps })
			p50 := series(rs, func(r result) float64 { return ms(r.p50) })
			p99 := series(rs, func(r result) float64 { return ms(r.p99) })
			cpu := series(rs, func(r result) float64 { return us(r.cpu) })
			w("| %s | %s | %.0f (%.0f–%.0f) | %.2f (%.2f–%.2f) | %.2f (%.2f–%.2f) | %.0f (%.0f–%.0f) | %d |\n",
				t.name, c, x.med, x.lo, x.hi, p50.med, p50.lo, p50.hi, p99.med, p99.lo, p99.hi, cpu.med, cpu.lo, cpu.hi, bad)
		}
	}
	w("\n#### Memory, data and writes in detail (MiB)\n\n")
	w("RSS = RssAnon (the process's own memory: Go heap, stacks, runtime) + RssFile (file pages mapped and resident: the binary, and for the embedded store the pages of its bbolt memory map that were touched). Heap: go_memstats_heap_inuse_bytes from /metrics, then \"live\", the heap allocated right after a GC forced (/debug/pprof/heap?gc=1 on --ops-addr) once the RSS was read. Written per PATCH: write_bytes of the server's /proc/PID/io over a cell, per request (the pages its bbolt commits dirty; for PostgreSQL the server writes nothing, its database does). Start-up: median (range) of the %d starts.\n\n", startups)
	var patchCells []cell
	for _, c := range cells {
		if c.method == http.MethodPatch {
			patchCells = append(patchCells, c)
		}
	}
	names := make([]string, len(patchCells))
	for i, c := range patchCells {
		names[i] = fmt.Sprintf("c=%d", c.conns)
	}
	w("| target | idle RSS (anon + file) | idle heap, live | after RSS (anon + file) | after heap, live | peak RSS (VmHWM) | data before → after load | rows | KiB written per PATCH (%s) | healthz ms | readyz ms |\n", strings.Join(names, " / "))
	w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, t := range targets {
		st := t.startups[len(t.startups)-1]
		idle := st.idle
		hz := series(t.startups, func(s startup) float64 { return ms(s.healthz) })
		rz := series(t.startups, func(s startup) float64 { return ms(s.readyz) })
		written := "-"
		if t.store == "" && len(patchCells) > 0 {
			var parts []string
			for _, c := range patchCells {
				parts = append(parts, fmt.Sprintf("%.1f", series(t.results[c.String()], func(r result) float64 { return float64(r.written) / 1024 }).med))
			}
			written = strings.Join(parts, " / ")
		}
		w("| %s | %.1f (%.1f + %.1f) | %.1f, %.1f | %.1f (%.1f + %.1f) | %.1f, %.1f | %.1f | %.1f → %.1f | %s | %s | %.1f (%.1f–%.1f) | %.1f (%.1f–%.1f) |\n",
			t.name, mib(idle.rss), mib(idle.anon), mib(idle.file), mib(idle.heapInuse), mib(st.live),
			mib(t.after.rss), mib(t.after.anon), mib(t.after.file), mib(t.after.heapInuse), mib(t.liveAfter), mib(t.after.hwm),
			mib(t.size[0]), mib(t.size[1]), commas(int(t.rows)), written, hz.med, hz.lo, hz.hi, rz.med, rz.lo, rz.hi)
	}
	w("\n")
	return b.String()
}

func cellName(c *cell) string {
	if c == nil {
		return "-"
	}
	return fmt.Sprintf("%d conns", c.conns)
}

// commas writes n with thousands separators.
func commas(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
