package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
)

// runFlood starts one server (--throttle intune by default, so that the throttle keeps a window
// per tenant and per application of a tenant) and sends it one GET from each of many distinct
// tenants, none of them stored, in steps; after each step it reads the server's memory. What the
// server keeps per tenant seen (the verified-token cache, 10,000 tokens; the throttle's windows,
// 100,000, two per tenant) must stop growing once its bound is reached.
func runFlood(args []string) error {
	fs := flag.NewFlagSet("flood", flag.ExitOnError)
	bin := fs.String("bin", "remoteassist", "the remoteassist binary")
	cpu := fs.String("server-cpu", "1", "taskset CPU list of the server")
	data := fs.String("data", "", "data directory of the server (a new embedded store, and the signing key)")
	nTenants := fs.Int("tenants", 120000, "distinct tenants, one token and one GET each")
	step := fs.Int("step", 10000, "tenants between two readings of the memory")
	conns := fs.Int("conns", 32, "connections")
	throttle := fs.String("throttle", "intune", "serve's --throttle")
	idleWait := fs.Duration("idle-wait", time.Second, "wait after /readyz before reading the idle RSS")
	settle := fs.Duration("settle", 10*time.Second, "wait after the flood before reading the memory once more")
	out := fs.String("out", "", "Markdown output file (also printed)")
	fs.Parse(args)
	if *data == "" || *nTenants <= 0 || *step <= 0 {
		return fmt.Errorf("-data, and positive -tenants and -step, are required")
	}
	onSignal()
	defer stopAll()

	tenants := make([]string, *nTenants)
	for i := range tenants {
		tenants[i] = fmt.Sprintf("flood-%07d", i)
	}
	t0 := time.Now()
	toks, err := mintTokens(*data, tenants, 3*time.Hour)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "flood: %d tokens minted in %v\n", len(toks), time.Since(t0).Round(time.Millisecond))
	port, err := freePort()
	if err != nil {
		return err
	}
	extra := []string{"--data", *data}
	if *throttle != "" {
		extra = append(extra, "--throttle", *throttle)
	}
	s, err := startServer("flood", *bin, *cpu, port, extra...)
	if err != nil {
		return err
	}
	track(s)
	time.Sleep(*idleWait)
	loadStart := loadavg()

	type row struct {
		seen     int
		m        mem
		live     int64
		rate     float64
		statuses string
	}
	m, err := s.memory()
	if err != nil {
		return err
	}
	live, err := s.liveHeap()
	if err != nil {
		return err
	}
	rows := []row{{0, m, live, 0, "idle"}}
	client := newClient(*conns)
	url := s.url(settingsPath)
	for i := 0; i < len(toks); i += *step {
		batch := toks[i:min(i+*step, len(toks))]
		t := time.Now()
		res := each(client, url, batch, *conns)
		rate := float64(len(batch)) / time.Since(t).Seconds()
		if m, err = s.memory(); err != nil {
			return err
		}
		if live, err = s.liveHeap(); err != nil {
			return err
		}
		rows = append(rows, row{i + len(batch), m, live, rate, res.statusString()})
		fmt.Fprintf(os.Stderr, "flood: %6d tenants: RSS %.1f MiB (anon %.1f, file %.1f), heap %.1f MiB, live %.1f MiB, %.0f new tokens/s, %s, load %s\n",
			i+len(batch), mib(m.rss), mib(m.anon), mib(m.file), mib(m.heapInuse), mib(live), rate, res.statusString(), loadavg())
		if res.bad() > 0 {
			return fmt.Errorf("flood: %d requests not 200: %s %s\n%s", res.bad(), res.statusString(), res.firstErr, s.log)
		}
	}
	time.Sleep(*settle)
	if m, err = s.memory(); err != nil {
		return err
	}
	if live, err = s.liveHeap(); err != nil {
		return err
	}
	rows = append(rows, row{len(toks), m, live, 0, fmt.Sprintf("%v later, idle", *settle)})
	loadEnd := loadavg()
	if err := untrack(s); err != nil {
		return err
	}

	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w("### A flood of distinct tenants (serve --throttle %s, embedded store, GET of tenants never stored)\n\n", *throttle)
	w("%s distinct tenants, one token each (minted beforehand), one GET per token, %d connections; the memory read after every %s tenants. Bounds: the verified-token cache holds 10,000 tokens (full from 10,000 tenants on), the throttle 100,000 windows, two per tenant (full from 50,000 on). Load average %s at the start, %s at the end.\n\n",
		commas(*nTenants), *conns, commas(*step), loadStart, loadEnd)
	w("RSS and heap in use are read first; live is the heap allocated right after a GC forced then (/debug/pprof/heap?gc=1 on --ops-addr), which also makes the next step start from a collected heap.\n\n")
	w("| distinct tenants so far | RSS MiB (anon + file) | heap in use MiB | live heap MiB | peak RSS MiB | new tokens/s | statuses |\n|---:|---:|---:|---:|---:|---:|---|\n")
	for _, r := range rows {
		rate := "-"
		if r.rate > 0 {
			rate = fmt.Sprintf("%.0f", r.rate)
		}
		w("| %s | %.1f (%.1f + %.1f) | %.1f | %.1f | %.1f | %s | %s |\n", commas(r.seen), mib(r.m.rss), mib(r.m.anon), mib(r.m.file), mib(r.m.heapInuse), mib(r.live), mib(r.m.hwm), rate, r.statuses)
	}
	w("\n")
	fmt.Print(b.String())
	if *out != "" {
		return os.WriteFile(*out, []byte(b.String()), 0o644)
	}
	return nil
}
