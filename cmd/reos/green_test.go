package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/real-estate-os/reos/evidence"
	"github.com/real-estate-os/reos/internal/progress"
	"github.com/real-estate-os/reos/system/postgres/postgrestest"
)

// syncBuffer is an io.Writer that a test may read while a command writes.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// reos up --contract serves production mode with every vendor a double on
// loopback, reachable, until interrupted.
func TestUpContract(t *testing.T) {
	db := postgrestest.NewDatabase(t)
	t.Cleanup(func() { dropDatabase(t, db, "_contract") })
	env := map[string]string{"DATABASE_URL": db, "REOS_DATA_DIR": t.TempDir(), "REOS_ADDR": "127.0.0.1:0"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncBuffer
	exit := make(chan int, 1)
	go func() {
		exit <- run(ctx, []string{"up", "--contract"}, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, &out, &errOut)
	}()
	at := regexp.MustCompile(`against the contract doubles at (http://\S+)`)
	var base string
	for deadline := time.Now().Add(60 * time.Second); base == "" && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		select {
		case code := <-exit:
			t.Fatalf("reos up --contract exited %d\n%s\n%s", code, out.String(), errOut.String())
		default:
		}
		if m := at.FindStringSubmatch(out.String()); m != nil {
			base = m[1]
		}
	}
	if base == "" {
		t.Fatalf("reos up --contract never said where it listens\n%s\n%s", out.String(), errOut.String())
	}
	res, err := http.Get(base + "/api/v1/status/providers?verbose=1")
	if err != nil {
		t.Fatal(err)
	}
	var status struct {
		AppMode string `json:"app_mode"`
		Health  map[string]struct {
			Provider  string `json:"provider"`
			Reachable bool   `json:"reachable"`
		} `json:"health"`
	}
	json.NewDecoder(res.Body).Decode(&status)
	res.Body.Close()
	if status.AppMode != "production" {
		t.Errorf("app_mode = %q", status.AppMode)
	}
	for role, want := range map[string]string{"email": "sendgrid", "sms": "twilio", "storage": "s3", "pdf": "gotenberg", "llm": "openai"} {
		if h := status.Health[role]; h.Provider != want || !h.Reachable {
			t.Errorf("%s: %+v, want %s reachable", role, h, want)
		}
	}
	for _, want := range []string{"REOS_SUITE_MODE=production REOS_BASE_URL=" + base, "REOS_TWILIO_CONTROL_URL=http://127.0.0.1:", "reos users create --role admin"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the output does not say %q:\n%s", want, out.String())
		}
	}
	cancel()
	select {
	case code := <-exit:
		if code != 0 {
			t.Errorf("after Ctrl-C: exit %d\n%s", code, errOut.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("reos up --contract did not stop")
	}
}

// sealedPack is a real pack, sealed, for green to verify.
func sealedPack(t *testing.T) string {
	p, err := evidence.Create(t.TempDir(), "mock", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.File("suite", "junit.xml", []byte("<testsuites/>")); err != nil {
		t.Fatal(err)
	}
	if err := p.Seal(evidence.Facts{End: time.Now()}, evidence.NewKey()); err != nil {
		t.Fatal(err)
	}
	return p.Dir
}

// A mode is green only when every planned spec ended and passed, its pack
// verifies, nothing tried to leave and nothing else went wrong; the
// summary says which.
func TestGreenVerdicts(t *testing.T) {
	pack := sealedPack(t)
	verified, err := evidence.Verify(pack, nil)
	if err != nil || !verified.OK() {
		t.Fatalf("the pack: %v %v", verified, err)
	}
	good := func() *modeResult {
		r := &modeResult{Mode: "mock", Pack: pack, Verify: verified}
		r.flow("03 memo generation").Want = 1
		r.flow("08 api features").Want = 2
		return r
	}
	end := func(r *modeResult, events ...progress.Line) *modeResult {
		for _, e := range events {
			r.add(e)
		}
		return r
	}
	memo := progress.Line{Flow: "03 memo generation", Spec: "renders", Outcome: "passed", Seconds: 2}
	etag := progress.Line{Flow: "08 api features", Spec: "etag", Outcome: "passed", Seconds: 1}
	dlq := progress.Line{Flow: "08 api features", Spec: "dlq", Outcome: "passed", Seconds: 3}
	tests := []struct {
		name  string
		r     *modeResult
		green bool
		says  string // a regular expression
	}{
		{"all passed", end(good(), memo, etag, dlq), true, `GREEN: 2 flows passed in mock mode \(3 specs\)`},
		{"a spec failed", end(good(), memo, etag, progress.Line{Flow: dlq.Flow, Spec: "dlq", Outcome: "failed", Failure: "no dead letter"}), false, `08 api features +failed`},
		{"a spec never ended", end(good(), memo, etag), false, `failed \(1 of 2 specs ended\)`},
		{"an attempt to leave", func() *modeResult {
			r := end(good(), memo, etag, dlq)
			r.Attempts = []string{`{"name":"api.twilio.com"}`}
			return r
		}(), false, "blocked attempt to leave the machine"},
		{"no pack", func() *modeResult { r := end(good(), memo, etag, dlq); r.Pack, r.Verify = "", nil; return r }(), false, "none"},
		{"a pack that does not verify", func() *modeResult {
			r := end(good(), memo, etag, dlq)
			r.Verify = &evidence.Report{Files: 3, Changed: []string{"junit.xml"}}
			return r
		}(), false, "DOES NOT VERIFY"},
		{"a skipped spec", end(good(), memo, etag, progress.Line{Flow: dlq.Flow, Spec: "dlq", Outcome: "skipped"}), true, `08 api features +passed`},
	}
	for _, tt := range tests {
		if got := tt.r.ok(); got != tt.green {
			t.Errorf("%s: ok = %v, want %v", tt.name, got, tt.green)
		}
		var out strings.Builder
		printSummary(&out, greenOptions{root: "/repo", modes: []string{"mock"}}, []*modeResult{tt.r}, time.Second, 10*time.Second, "isolated")
		if !regexp.MustCompile(tt.says).MatchString(out.String()) {
			t.Errorf("%s: the summary does not say %q:\n%s", tt.name, tt.says, out.String())
		}
		if verdict := strings.Contains(out.String(), "\nGREEN:"); verdict != tt.green {
			t.Errorf("%s: the summary's verdict is wrong:\n%s", tt.name, out.String())
		}
	}
}

// The suite's environment: the caller's, without a target of its own, with
// the run's mode and files.
func TestGreenEnv(t *testing.T) {
	got := greenEnv([]string{"PATH=/bin", "REOS_BASE_URL=http://elsewhere", "REOS_SUITE_MODE=mock", "DATABASE_URL=postgres://x"}, "production", "/p", "/e")
	want := []string{"PATH=/bin", "DATABASE_URL=postgres://x", "REOS_SUITE_MODE=production", "REOS_PROGRESS=/p", "EGRESS_LOG=/e"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("greenEnv = %q, want %q", got, want)
	}
}

// The flake table counts each spec's runs and failures across runs and
// modes, failing specs first, with the first failure's run and message.
func TestFlakeTable(t *testing.T) {
	pass := func(flow, spec string) specResult { return specResult{Flow: flow, Spec: spec, Outcome: "passed"} }
	fail := func(flow, spec, msg string) specResult {
		return specResult{Flow: flow, Spec: spec, Outcome: "failed", Failure: msg}
	}
	runs := []greenRun{
		{OK: true, Results: []*modeResult{{Mode: "mock", Specs: []specResult{pass("07 sse", "resumes"), pass("02 drawer", "shows")}}}},
		{OK: false, Results: []*modeResult{{Mode: "mock", Specs: []specResult{fail("07 sse", "resumes", "missed [63]"), pass("02 drawer", "shows")}}}},
		{OK: false, Results: []*modeResult{{Mode: "mock", Specs: []specResult{fail("07 sse", "resumes", "later"), {Flow: "02 drawer", Spec: "shows", Outcome: "skipped"}}}}},
	}
	got := flakes(runs)
	if len(got) != 2 || got[0].Spec != "resumes" || got[0].Runs != 3 || got[0].Failures != 2 || got[0].FirstRun != 2 || got[0].FirstFailure != "missed [63]" {
		t.Fatalf("flakes = %+v, want resumes first: 3 runs, 2 failures, first in run 2 with its message", got[0])
	}
	if got[1].Spec != "shows" || got[1].Runs != 2 || got[1].Failures != 0 {
		t.Errorf("flakes[1] = %+v, want shows: 2 runs (a skip is not a run), 0 failures", got[1])
	}
	table := flakeTable(runs)
	for _, want := range []string{"3 runs, 1 green", "run 2: NOT GREEN", "run 2: missed [63]"} {
		if !strings.Contains(table, want) {
			t.Errorf("the table lacks %q:\n%s", want, table)
		}
	}
}

// Every flow is in exactly one shard, whatever N, and the same shard each
// time; what is not a shard is refused.
func TestShardOf(t *testing.T) {
	dir := filepath.Join("..", "..", "suites")
	all, err := filepath.Glob(filepath.Join(dir, "[0-9][0-9]_*_test.go"))
	if err != nil || len(all) < 2 {
		t.Fatalf("the suite's flows: %v %v", all, err)
	}
	for n := 1; n <= len(all); n++ {
		seen := map[string]int{}
		for i := 1; i <= n; i++ {
			files, err := shardOf(dir, fmt.Sprintf("%d/%d", i, n))
			if err != nil || len(files) == 0 {
				t.Fatalf("shard %d/%d: %v %v", i, n, files, err)
			}
			again, _ := shardOf(dir, fmt.Sprintf("%d/%d", i, n))
			if fmt.Sprint(files) != fmt.Sprint(again) {
				t.Errorf("shard %d/%d: %v, then %v", i, n, files, again)
			}
			for _, f := range files {
				seen[f]++
			}
		}
		for _, f := range all {
			if seen[filepath.Base(f)] != 1 {
				t.Errorf("%d shards: %s is in %d of them", n, filepath.Base(f), seen[filepath.Base(f)])
			}
		}
	}
	for _, bad := range []string{"0/2", "3/2", "1/0", "1", "a/b", "1/2/3", fmt.Sprintf("1/%d", len(all)+1)} {
		if _, err := shardOf(dir, bad); err == nil {
			t.Errorf("--shard %s: no error", bad)
		}
	}
}

// Under reos isolate, the suite reaches the services' default ports and
// the containers green started for what was missing.
func TestForwardedPorts(t *testing.T) {
	if got := forwarded(nil); got != "5432,6379,5672" {
		t.Errorf("no containers: %q", got)
	}
	got := forwarded(map[string]string{"DATABASE_URL": "postgres://reos:reos@localhost:32768/reos?sslmode=disable", "AMQP_URL": "amqp://guest:guest@127.0.0.1:5672/"})
	if got != "5432,6379,5672,32768" {
		t.Errorf("a PostgreSQL container on 32768 and RabbitMQ on its own port: %q", got)
	}
}
