// Package wrk runs the wrk load generator against a URL and reads its
// report: what make bench's comparisons measure each side with.
package wrk

import (
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"time"
)

// Load is how wrk loads a server.
type Load struct {
	Threads, Connections int
	Duration             time.Duration
}

// Comparison is the load every comparison of make bench uses, for each
// side, in passes that alternate.
var Comparison = Load{Threads: 2, Connections: 16, Duration: 5 * time.Second}

// Rounds are the passes per side.
const Rounds = 2

func (l Load) String() string {
	return fmt.Sprintf("wrk -t%d -c%d -d%s", l.Threads, l.Connections, l.seconds())
}

// seconds is the duration as wrk takes it: whole seconds, at least one.
func (l Load) seconds() string {
	return fmt.Sprintf("%ds", max(int(l.Duration.Round(time.Second)/time.Second), 1))
}

// Result is what one pass measured.
type Result struct {
	RPS      float64 // requests per second
	P50, P99 float64 // latency, ms
	Requests int     // answers read
}

// Best is the pass with the most requests per second.
func Best(rs []Result) Result {
	var out Result
	for _, r := range rs {
		if r.RPS > out.RPS {
			out = r
		}
	}
	return out
}

// Available says whether wrk is installed.
func Available() bool {
	_, err := exec.LookPath("wrk")
	return err == nil
}

var (
	non2xx   = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	rps      = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
	requests = regexp.MustCompile(`(\d+) requests in`)
	p50      = regexp.MustCompile(`\s50%\s+([\d.]+(?:us|ms|s))`)
	p99      = regexp.MustCompile(`\s99%\s+([\d.]+(?:us|ms|s))`)
)

// Run loads url with l, sending header, and with the Lua script when it
// is not empty. An answer that is not 2xx or 3xx is an error.
func (l Load) Run(url string, header map[string]string, script string) (Result, error) {
	args := []string{fmt.Sprintf("-t%d", l.Threads), fmt.Sprintf("-c%d", l.Connections), "-d" + l.seconds(), "--latency"}
	for k, v := range header {
		args = append(args, "-H", k+": "+v)
	}
	if script != "" {
		args = append(args, "-s", script)
	}
	out, err := exec.Command("wrk", append(args, url)...).CombinedOutput()
	if err != nil {
		return Result{}, fmt.Errorf("wrk: %v\n%s", err, out)
	}
	if m := non2xx.FindSubmatch(out); m != nil {
		return Result{}, fmt.Errorf("wrk saw %s answers from %s that were not 2xx or 3xx:\n%s", m[1], url, out)
	}
	r, n, a, b := rps.FindSubmatch(out), requests.FindSubmatch(out), p50.FindSubmatch(out), p99.FindSubmatch(out)
	if r == nil || n == nil || a == nil || b == nil {
		return Result{}, fmt.Errorf("cannot read wrk's output:\n%s", out)
	}
	var res Result
	res.RPS, _ = strconv.ParseFloat(string(r[1]), 64)
	res.Requests, _ = strconv.Atoi(string(n[1]))
	for _, q := range []struct {
		text []byte
		out  *float64
	}{{a[1], &res.P50}, {b[1], &res.P99}} {
		d, err := time.ParseDuration(string(q.text))
		if err != nil {
			return Result{}, errors.New("wrk's latency " + string(q.text) + ": " + err.Error())
		}
		*q.out = float64(d.Microseconds()) / 1000
	}
	return res, nil
}
