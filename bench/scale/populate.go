package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/bolt"
	"github.com/remoteassist/remoteassist/jwtauth"
	"github.com/remoteassist/remoteassist/postgres"
)

// tenantID is the id of the i-th stored tenant: t-0000042.
func tenantID(i int) string { return fmt.Sprintf("t-%07d", i) }

// settingsFor gives the i-th tenant one of the twelve combinations of the three properties,
// mixed by a multiplicative hash so that neighbouring ids differ.
func settingsFor(i int) remoteassist.Settings {
	h := uint32(i) * 2654435761
	states := []remoteassist.State{remoteassist.StateNotConfigured, remoteassist.StateDisabled, remoteassist.StateEnabled}
	return remoteassist.Settings{
		RemoteAssistanceState:            states[(h>>8)%3],
		AllowSessionsToUnenrolledDevices: h>>16&1 == 1,
		BlockChat:                        h>>17&1 == 1,
	}
}

// runPopulate writes N tenants into a new store. PostgreSQL: one ReplaceAllSettings (one
// transaction with COPY), then VACUUM ANALYZE of the table, so that reads find it as a
// long-running database would (hint bits set, statistics made). bolt: by default UpdateSettings
// of every property from 256 goroutines in tenant order, which the store's group commit turns
// into transactions of up to 256 updates; -via replace uses one ReplaceAllSettings
// instead, whose single transaction puts the tenants in map order, which costs bbolt time
// quadratic in N (27 to 44 s at 100,000 tenants: see bench/SCALE.md).
func runPopulate(args []string) error {
	fs := flag.NewFlagSet("populate", flag.ExitOnError)
	kind := fs.String("store", "bolt", `"bolt" (DIR/settings.db) or "postgres"`)
	data := fs.String("data", "", "data directory: the bolt file goes in it, and the signing key is made in it")
	dsn := fs.String("dsn", "", "PostgreSQL URL, for -store postgres")
	n := fs.Int("n", 1000, "tenants to store")
	order := fs.String("order", "sequential", `bolt -via update: "sequential" (tenant ids in order: each commit's updates share a few pages) or "random" (each commit rewrites a page per update: slower)`)
	via := fs.String("via", "update", `bolt: "update" (concurrent UpdateSettings) or "replace" (one ReplaceAllSettings)`)
	fs.Parse(args)
	if *data == "" || *n <= 0 {
		return errors.New("-data and a positive -n are required")
	}
	if _, err := jwtauth.LoadOrCreateKey(*data); err != nil {
		return err
	}
	all := map[string]remoteassist.Settings{}
	if *kind == "postgres" || *via == "replace" {
		all = make(map[string]remoteassist.Settings, *n)
		for i := range *n {
			all[tenantID(i)] = settingsFor(i)
		}
	}
	ctx := context.Background()
	start := time.Now()
	switch *kind {
	case "bolt":
		path := filepath.Join(*data, "settings.db")
		if _, err := os.Stat(path); err == nil {
			return fmt.Errorf("%s exists: populate makes a new store", path)
		}
		s, err := bolt.Open(path)
		if err != nil {
			return err
		}
		switch *via {
		case "replace":
			err = s.ReplaceAllSettings(ctx, all)
		case "update":
			err = updateAll(ctx, s, *n, *order == "random")
		default:
			err = fmt.Errorf("-via %q: want update or replace", *via)
		}
		if err != nil {
			s.Close()
			return err
		}
		if err := s.Close(); err != nil {
			return err
		}
		fi, err := os.Stat(path)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "populate: %d tenants into %s (%.1f MiB, via %s) in %v\n", *n, path, float64(fi.Size())/(1<<20), *via, time.Since(start).Round(time.Millisecond))
	case "postgres":
		s, err := postgres.Open(ctx, *dsn)
		if err != nil {
			return err
		}
		err = s.ReplaceAllSettings(ctx, all)
		s.Close()
		if err != nil {
			return err
		}
		conn, err := pgx.Connect(ctx, *dsn)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "VACUUM ANALYZE remote_assistance_settings"); err != nil {
			return err
		}
		size, rows, err := pgSize(ctx, *dsn)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "populate: %d tenants into PostgreSQL (%d rows, %.1f MiB) in %v\n", *n, rows, float64(size)/(1<<20), time.Since(start).Round(time.Millisecond))
	default:
		return fmt.Errorf("-store %q: want bolt or postgres", *kind)
	}
	return nil
}

// pgSize returns pg_total_relation_size of the settings table (heap, indexes, TOAST, free space
// and visibility maps) and its row count.
func pgSize(ctx context.Context, dsn string) (size, rows int64, err error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return 0, 0, err
	}
	defer conn.Close(ctx)
	err = conn.QueryRow(ctx, `SELECT pg_total_relation_size('remote_assistance_settings'), (SELECT count(*) FROM remote_assistance_settings)`).Scan(&size, &rows)
	return size, rows, err
}

// updateAll stores tenants 0..n-1 with UpdateSettings of all three properties, in order or in
// random order, from 256 goroutines at once.
func updateAll(ctx context.Context, s *bolt.Store, n int, random bool) error {
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	if random {
		order = rand.New(rand.NewPCG(7, 7)).Perm(n)
	}
	next := make(chan int, 1024)
	errs := make(chan error, 256)
	var wg sync.WaitGroup
	for range 256 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				v := settingsFor(i)
				p := remoteassist.Patch{
					AllowSessionsToUnenrolledDevices: &v.AllowSessionsToUnenrolledDevices,
					RemoteAssistanceState:            &v.RemoteAssistanceState,
					BlockChat:                        &v.BlockChat,
				}
				if _, err := s.UpdateSettings(ctx, tenantID(i), p); err != nil {
					select {
					case errs <- fmt.Errorf("tenant %s: %w", tenantID(i), err):
					default:
					}
				}
			}
		}()
	}
	for _, i := range order {
		next <- i
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}
