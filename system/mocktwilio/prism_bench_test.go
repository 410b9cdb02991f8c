package mocktwilio_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/real-estate-os/reos/internal/contracts"
	"github.com/real-estate-os/reos/internal/wrk"
	"github.com/real-estate-os/reos/system/mocktwilio"
)

// BenchmarkCreateVsPrism compares, in the same run and under the same wrk
// load, mock Twilio creating messages (each persisted, each with its four
// signed status callbacks delivered to a receiver) with Stoplight Prism
// mocking Twilio's published contract (stateless, no callbacks), and
// reports mock Twilio's creates per second as a multiple of Prism's. Prism
// comes from the npm registry (make bench installs it in .reos/prism, or
// PRISM names its binary); without it, or without wrk, the comparison is
// skipped, saying why.
func BenchmarkCreateVsPrism(b *testing.B) {
	if !wrk.Available() {
		b.Skip("wrk is not installed (scripts/setup installs it)")
	}
	var callbacks atomic.Int64
	var mu sync.Mutex
	perMessage := map[string]int{} // callbacks by message
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sid := r.PostFormValue("MessageSid")
		mu.Lock()
		perMessage[sid]++
		mu.Unlock()
		callbacks.Add(1)
	}))
	defer hook.Close()
	s, err := mocktwilio.New(mocktwilio.Config{AccountSID: sid, AuthToken: token, DataDir: b.TempDir(), Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	mock := httptest.NewServer(s)
	defer func() { mock.Close(); s.Close() }()
	body := url.Values{"To": {"+14155550100"}, "From": {ours}, "Body": {"benchmark"}, "StatusCallback": {hook.URL + "/status"}}.Encode()
	script := filepath.Join(b.TempDir(), "create.lua")
	lua := fmt.Sprintf("wrk.method = \"POST\"\nwrk.body = %q\nwrk.headers[\"Content-Type\"] = \"application/x-www-form-urlencoded\"\n", body)
	if err := os.WriteFile(script, []byte(lua), 0o644); err != nil {
		b.Fatal(err)
	}
	path := "/2010-04-01/Accounts/" + sid + "/Messages.json"

	prism, why := startPrism(b)
	if prism == "" {
		b.Logf("Prism skipped: %s", why)
	}
	complete := func() (messages, short int) {
		mu.Lock()
		defer mu.Unlock()
		for _, n := range perMessage {
			if n < 4 {
				short++
			}
		}
		return len(perMessage), short
	}
	// drain waits until every message has its four callbacks, and at least
	// answered messages were made (wrk counts the answers it read; a create
	// in flight when it stopped was made too).
	drain := func(answered int) int {
		messages, short := complete()
		for deadline := time.Now().Add(2 * time.Minute); (messages < answered || short > 0) && time.Now().Before(deadline); messages, short = complete() {
			time.Sleep(10 * time.Millisecond)
		}
		if messages < answered || short > 0 || callbacks.Load() != int64(4*messages) {
			b.Fatalf("%d callbacks for %d messages (wrk read %d creates); %d messages lack some of their four", callbacks.Load(), messages, answered, short)
		}
		return messages
	}
	auth := map[string]string{"Authorization": "Basic " + basicAuth(sid, token)}
	run := func(target string) wrk.Result {
		r, err := wrk.Comparison.Run(target, auth, script)
		if err != nil {
			b.Fatal(err)
		}
		return r
	}
	var mockRuns, prismRuns []wrk.Result
	var drains []time.Duration
	answered, messages := 0, 0
	for range wrk.Rounds {
		r := run(mock.URL + path)
		mockRuns = append(mockRuns, r)
		answered += r.Requests
		t := time.Now()
		messages = drain(answered) // before Prism's pass, which would share the CPU with the callbacks
		drains = append(drains, time.Since(t))
		if prism != "" {
			prismRuns = append(prismRuns, run(prism+path))
		}
	}
	m := wrk.Best(mockRuns)
	b.ReportMetric(m.RPS, "mock-creates/s")
	b.ReportMetric(m.P99, "mock-p99-ms")
	var busy time.Duration // the passes and their drains
	for i := range mockRuns {
		busy += wrk.Comparison.Duration + drains[i]
	}
	b.ReportMetric(float64(callbacks.Load())/busy.Seconds(), "callbacks/s")
	b.Logf("load: %s, %d passes per server, alternating; mock Twilio: %s; %d messages, all %d callbacks delivered "+
		"(signed, each message's in order), the last %v after its pass ended (%.0f callbacks/s over passes and drains)",
		wrk.Comparison, wrk.Rounds, creates(m), messages, callbacks.Load(), slices.Max(drains).Round(100*time.Millisecond), float64(callbacks.Load())/busy.Seconds())
	if prism != "" {
		p := wrk.Best(prismRuns)
		b.ReportMetric(p.RPS, "prism-creates/s")
		b.ReportMetric(p.P99, "prism-p99-ms")
		sustained := float64(callbacks.Load()) / 4 / busy.Seconds() // messages whose four callbacks went out, per second
		b.ReportMetric(m.RPS/p.RPS, "x-prism")
		b.ReportMetric(sustained/p.RPS, "sustained-x-prism")
		b.Logf("compare: mock Twilio creates %.1f× Prism's (target ≥ 5×, p99 ≤ 50 ms): %s with every callback delivered, against Prism %s mocking Twilio's contract "+
			"(stateless, no callbacks): %s; with its callbacks kept up, %.0f messages/s, %.1f× Prism; %s, %d passes each, alternating",
			m.RPS/p.RPS, creates(m), prismVersion, creates(p), sustained, sustained/p.RPS, wrk.Comparison, wrk.Rounds)
	} else {
		b.Logf("compare: mock Twilio against Prism skipped: %s; mock Twilio alone: %s", why, creates(m))
	}
}

// creates says a pass's figures in creates.
func creates(r wrk.Result) string {
	return fmt.Sprintf("%.0f creates/s, p50 %.1f ms, p99 %.1f ms", r.RPS, r.P50, r.P99)
}

const prismVersion = "5.16.0"

func basicAuth(user, pass string) string {
	req, _ := http.NewRequest("GET", "http://x", nil)
	req.SetBasicAuth(user, pass)
	return strings.TrimPrefix(req.Header.Get("Authorization"), "Basic ")
}

// startPrism starts Prism mocking Twilio's pinned contract on a free
// loopback port and returns its URL, or "" and why not.
func startPrism(b *testing.B) (string, string) {
	bin := os.Getenv("PRISM")
	if bin == "" {
		root, err := filepath.Abs("../..")
		if err != nil {
			return "", err.Error()
		}
		bin = filepath.Join(root, ".reos", "prism", "node_modules", ".bin", "prism")
	}
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Sprintf("no Prism at %s (make bench installs @stoplight/prism-cli@%s from the npm registry; PRISM names another)", bin, prismVersion)
	}
	spec, err := contracts.Load("twilio/twilio_api_v2010.json")
	if err != nil {
		return "", "Twilio's contract: " + err.Error()
	}
	file := filepath.Join(b.TempDir(), "twilio_api_v2010.json")
	if err := os.WriteFile(file, spec, 0o644); err != nil {
		return "", err.Error()
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err.Error()
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, bin, "mock", "--host", "127.0.0.1", "--port", strconv.Itoa(port), "--errors", "false", file)
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return "", err.Error()
	}
	ready := make(chan bool, 1)
	var log strings.Builder
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), "Prism is listening") {
				ready <- true
			}
		}
		ready <- false
	}()
	select {
	case ok := <-ready:
		if !ok {
			return "", "Prism exited:\n" + log.String()
		}
	case <-time.After(90 * time.Second):
		return "", "Prism did not start within 90 s"
	}
	return fmt.Sprintf("http://127.0.0.1:%d", port), ""
}
