// Command startup measures how long a server process takes from its start to its first 200 on
// /healthz: it spawns each command, polls the health URL every 200µs, records the time, stops
// the process, and repeats, alternating the commands so that both see the same machine state.
//
//	go run ./bench/startup -n 20 \
//	  -cmd 'stack=bench/out/remoteassist serve --store memory --addr 127.0.0.1:18090 --data /tmp/d' \
//	  -url stack=http://127.0.0.1:18090/healthz \
//	  -cmd 'floor=bench/out/floorserver --addr 127.0.0.1:18091 --data /tmp/d' \
//	  -url floor=http://127.0.0.1:18091/healthz
package main

import (
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"
)

type target struct {
	name, url string
	argv      []string
	samples   []time.Duration
}

type pairs map[string]string

func (p pairs) String() string { return fmt.Sprint(map[string]string(p)) }
func (p pairs) Set(v string) error {
	name, val, ok := strings.Cut(v, "=")
	if !ok {
		return errors.New("want NAME=VALUE")
	}
	p[name] = val
	return nil
}

func main() {
	cmds, urls := pairs{}, pairs{}
	n := flag.Int("n", 20, "runs per command")
	flag.Var(cmds, "cmd", "NAME=COMMAND LINE (repeatable)")
	flag.Var(urls, "url", "NAME=health URL (repeatable)")
	order := flag.String("order", "stack,floor", "names, in the order of the table; the last is the baseline of the ratios")
	flag.Parse()
	var targets []*target
	for _, name := range strings.Split(*order, ",") {
		if cmds[name] == "" || urls[name] == "" {
			fmt.Fprintf(os.Stderr, "startup: no -cmd or -url for %s\n", name)
			os.Exit(2)
		}
		targets = append(targets, &target{name: name, url: urls[name], argv: strings.Fields(cmds[name])})
	}
	client := &http.Client{Timeout: 100 * time.Millisecond, Transport: &http.Transport{DisableKeepAlives: true}}
	for i := 0; i < *n; i++ {
		for _, t := range targets {
			d, err := measure(client, t)
			if err != nil {
				fmt.Fprintf(os.Stderr, "startup: %s: %v\n", t.name, err)
				os.Exit(1)
			}
			t.samples = append(t.samples, d)
		}
	}
	fmt.Println("| process | median | p90 | min | runs |")
	fmt.Println("|---|---:|---:|---:|---:|")
	for _, t := range targets {
		s := slices.Clone(t.samples)
		slices.Sort(s)
		fmt.Printf("| %s | %s | %s | %s | %d |\n", t.name, ms(s[len(s)/2]), ms(s[len(s)*9/10]), ms(s[0]), len(s))
	}
	// Ratios are to the last target of -order, the baseline.
	base := targets[len(targets)-1]
	fmt.Println()
	for _, t := range targets[:len(targets)-1] {
		fmt.Printf("%s/%s median start-up: %.2fx\n", t.name, base.name, float64(median(t.samples))/float64(median(base.samples)))
	}
}

func measure(client *http.Client, t *target) (time.Duration, error) {
	cmd := exec.Command(t.argv[0], t.argv[1:]...)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	for time.Since(start) < 10*time.Second {
		res, err := client.Get(t.url)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return time.Since(start), nil
			}
		}
		time.Sleep(200 * time.Microsecond)
	}
	return 0, errors.New("no 200 on " + t.url + " within 10s")
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }
