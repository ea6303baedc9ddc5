// Command floorserver serves the floor handler (package floor) on a real socket, with the same
// http.Server settings and key handling as "remoteassist serve --store memory", so that load
// and start-up runs can compare the two processes.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/remoteassist/remoteassist/internal/floor"
	"github.com/remoteassist/remoteassist/jwtauth"
	"github.com/remoteassist/remoteassist/memory"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "address to listen on")
	data := flag.String("data", "", "data directory holding the signing key (as remoteassist serve --data)")
	flag.Parse()
	if err := run(*addr, *data); err != nil {
		fmt.Fprintln(os.Stderr, "floorserver:", err)
		os.Exit(1)
	}
}

func run(addr, data string) error {
	if data == "" {
		return fmt.Errorf("--data is required")
	}
	if err := os.MkdirAll(data, 0o700); err != nil {
		return err
	}
	key, err := jwtauth.LoadOrCreateKey(data)
	if err != nil {
		return err
	}
	verifier, err := jwtauth.NewDevVerifier(key)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           floor.New(memory.New(), verifier),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
	}
	return srv.Serve(ln)
}
