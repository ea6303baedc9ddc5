// Command ratio reads "go test -bench BenchmarkServe" output (several interleaved rounds) and
// prints, per request, the median ns/op, B/op and allocs/op of the stack and of the floor, and
// the stack/floor ratio against the target of issue 12, as a Markdown table.
package main

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// targets are the stack/floor ns/op ratios issue 12 asks for (issue 7 asked 1.3x, 1.2x and 1.7x).
var targets = map[string]float64{"GET": 1.3, "PATCH": 1.3, "PATCH_invalid": 1.3}

var line = regexp.MustCompile(`^BenchmarkServe/op=(\w+)/impl=(\w+)(?:-\d+)?\s+\d+\s+([\d.]+) ns/op\s+([\d.]+) B/op\s+([\d.]+) allocs/op`)

type sample struct{ ns, bytes, allocs []float64 }

func main() {
	data := map[string]map[string]*sample{}
	var ops []string
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		m := line.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		op, impl := m[1], m[2]
		if data[op] == nil {
			data[op] = map[string]*sample{}
			ops = append(ops, op)
		}
		s := data[op][impl]
		if s == nil {
			s = &sample{}
			data[op][impl] = s
		}
		s.ns = append(s.ns, num(m[3]))
		s.bytes = append(s.bytes, num(m[4]))
		s.allocs = append(s.allocs, num(m[5]))
	}
	fmt.Println("| request | stack ns/op | floor ns/op | stack/floor | target | met | stack B/op | floor B/op | stack allocs/op | floor allocs/op | rounds |")
	fmt.Println("|---|---:|---:|---:|---:|:-:|---:|---:|---:|---:|---:|")
	failed := false
	for _, op := range ops {
		st, fl := data[op]["stack"], data[op]["floor"]
		if st == nil || fl == nil {
			continue
		}
		ratio := median(st.ns) / median(fl.ns)
		met := "yes"
		if t, ok := targets[op]; ok && ratio > t {
			met, failed = "no", true
		}
		fmt.Printf("| %s | %.0f | %.0f | %.2fx | %.1fx | %s | %.0f | %.0f | %.0f | %.0f | %d |\n", op,
			median(st.ns), median(fl.ns), ratio, targets[op], met,
			median(st.bytes), median(fl.bytes), median(st.allocs), median(fl.allocs), min(len(st.ns), len(fl.ns)))
	}
	if failed && os.Getenv("RATIO_STRICT") != "" {
		os.Exit(1)
	}
}

func num(s string) float64 {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		panic(err)
	}
	return f
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
