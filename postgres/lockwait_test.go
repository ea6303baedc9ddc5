package postgres

import (
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestLockProbeStopEndsItsLookUp: a watch's stop waited for the look-up in flight to end on its
// own, and the migration statement's transaction, with the locks it holds, ends only after stop:
// a probe still connecting (up to the DSN's connect_timeout) held them that much longer after
// the statement was done. Here the probe connects to a listener that accepts and never answers,
// with a connect_timeout of ten minutes: stop must end the look-up, drop its connection and not
// record it as a failed look-up, which it was not.
func TestLockProbeStopEndsItsLookUp(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			accepted <- c
		}
	}()
	cfg, err := pgx.ParseConfig("postgres://probe@" + ln.Addr().String() + "/probe?sslmode=disable&connect_timeout=600")
	if err != nil {
		t.Fatal(err)
	}
	p := newLockProbe(cfg)
	defer p.close()
	stop := p.watch(t.Context(), 1)

	const hangGuard = 30 * time.Second // far under the connect_timeout the look-up would wait out
	var server net.Conn
	select {
	case server = <-accepted:
	case <-time.After(hangGuard):
		stop()
		t.Fatal("the probe never connected")
	}
	defer server.Close()
	stopped := make(chan struct{})
	go func() {
		stop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(hangGuard):
		server.Close() // ends the connecting, and so the stop
		<-stopped
		t.Fatalf("stop waited %v and more for the probe's look-up in flight, which would have waited out its connect_timeout", hangGuard)
	}
	if p.err != nil || p.conn != nil {
		t.Errorf("after stop: look-up error %v, connection %v; want none recorded, none kept", p.err, p.conn)
	}
}
