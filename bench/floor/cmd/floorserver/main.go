// Command floorserver serves the floor handler (package floor) on a real socket, with the same
// http.Server settings as "remoteassist serve", so that load and start-up runs can compare the
// two processes. Without --data it is the physical floor: no authentication, no log, no
// metrics. With --data it verifies tokens signed by that directory's key, as the same-work floor.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/bench/floor"
	"github.com/remoteassist/remoteassist/jwtauth"
	"github.com/remoteassist/remoteassist/memory"
	"github.com/remoteassist/remoteassist/server"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "address to listen on")
	data := flag.String("data", "", "data directory holding the signing key (as remoteassist serve --data); empty: no authentication")
	flag.Parse()
	if err := run(*addr, *data); err != nil {
		fmt.Fprintln(os.Stderr, "floorserver:", err)
		os.Exit(1)
	}
}

func run(addr, data string) error {
	var auth remoteassist.Authenticator
	if data != "" {
		key, err := jwtauth.LoadOrCreateKey(data)
		if err != nil {
			return err
		}
		if auth, err = jwtauth.NewDevVerifier(key); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return server.NewHTTPServer(floor.New(memory.New(), auth), server.DefaultLimits, nil).Serve(ln)
}
