// Command scale measures what remoteassist serve costs as the number of tenants stored grows
// (issue #12, item 7): GET and PATCH latency for a random stored tenant over real HTTP, the
// server's RSS at idle and after the load, the data's size, the start-up time with a large store,
// and the server's memory under a flood of distinct tenants. bench/scale.sh drives it; see
// bench/SCALE.md for a run and how to read it.
//
//	scale populate -store bolt -data DIR -n 1000000              # DIR/settings.db, N tenants
//	scale populate -store postgres -dsn postgres://... -n 1000000
//	scale measure -bin remoteassist -target name=bolt-1k,tenants=1000,data=DIR[,store=URL] ... -out FILE
//	scale flood -bin remoteassist -data DIR -tenants 120000 -step 10000 -out FILE
//	scale freeport
//
// measure and flood start the servers themselves, each pinned to a CPU with taskset (-server-cpu,
// default 1); run the command itself pinned to another (taskset -c 0 scale measure ...), so that
// the load generator and the server each have a core.
package main

import (
	"fmt"
	"net"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "populate":
		err = runPopulate(os.Args[2:])
	case "measure":
		err = runMeasure(os.Args[2:])
	case "flood":
		err = runFlood(os.Args[2:])
	case "freeport":
		var port int
		if port, err = freePort(); err == nil {
			fmt.Println(port)
		}
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "scale %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: scale populate|measure|flood|freeport [flags] (see bench/SCALE.md)")
	os.Exit(2)
}

// freePort returns a loopback port nobody listens on now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
