package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/onsi/ginkgo/v2/types"

	"github.com/real-estate-os/reos/contract"
	"github.com/real-estate-os/reos/evidence"
	"github.com/real-estate-os/reos/internal/progress"
	"github.com/real-estate-os/reos/internal/repo"
	"github.com/real-estate-os/reos/internal/sandbox"
	"github.com/real-estate-os/reos/system/app"
)

// `reos green` runs the eight flows of suites/ in mock mode and then in
// production mode against the contract doubles, each run starting its own
// stack (the harness does, on a database of its own), under reos isolate
// when the machine permits, and says plainly what passed.

// greenModes are the modes green runs, in order.
var greenModes = []string{"mock", "production"}

// flowResult is one flow of one mode.
type flowResult struct {
	Name     string
	Outcome  string // passed, failed, skipped
	Seconds  float64
	Specs    int // specs that ended
	Want     int // specs the dry run said would run
	Failures []string
}

// outcome is the flow's, counting a planned spec that never ended as a
// failure.
func (f *flowResult) outcome() string {
	if f.Specs < f.Want {
		return "failed"
	}
	return f.Outcome
}

// specResult is one spec's end in one run.
type specResult struct {
	Flow, Spec, Outcome, Failure string
}

// modeResult is one mode's run.
type modeResult struct {
	Mode     string
	Flows    []*flowResult
	Specs    []specResult
	Races    []string // data-race reports (--race)
	Pack     string
	Verify   *evidence.Report
	Attempts []string // blocked attempts to leave, from reos isolate
	Wall     time.Duration
	Log      string
	Problems []string // what failed besides the specs
}

func (r *modeResult) flow(name string) *flowResult {
	for _, f := range r.Flows {
		if f.Name == name {
			return f
		}
	}
	f := &flowResult{Name: name, Outcome: "skipped"}
	r.Flows = append(r.Flows, f)
	slices.SortFunc(r.Flows, func(a, b *flowResult) int { return strings.Compare(a.Name, b.Name) })
	return f
}

// add takes one spec's end; it reports whether that ended the flow.
func (r *modeResult) add(p progress.Line) (*flowResult, bool) {
	f := r.flow(p.Flow)
	f.Specs++
	f.Seconds += p.Seconds
	f.Outcome = evidence.FlowOutcome(f.Outcome, p.Outcome)
	if p.Outcome == "failed" {
		f.Failures = append(f.Failures, p.Spec+": "+p.Failure)
	}
	r.Specs = append(r.Specs, specResult{Flow: p.Flow, Spec: p.Spec, Outcome: p.Outcome, Failure: p.Failure})
	return f, f.Want > 0 && f.Specs == f.Want
}

// ok reports whether the mode is green.
func (r *modeResult) ok() bool {
	if len(r.Problems) > 0 || r.Pack == "" || r.Verify == nil || !r.Verify.OK() || len(r.Attempts) > 0 || len(r.Races) > 0 {
		return false
	}
	for _, f := range r.Flows {
		if f.outcome() == "failed" {
			return false
		}
	}
	return len(r.Flows) > 0
}

type greenOptions struct {
	root, bin    string
	modes        []string
	isolate      bool
	isolation    string // how, or why not
	focus, label string
	shard        string   // I/N, or ""
	shardFiles   []string // the flows' files of the shard
	race         bool
	procs        int // Ginkgo processes
	stdout       io.Writer
	// infra are the settings of the infrastructure green started in
	// containers (app.Containerized), for the suite's processes.
	infra map[string]string
}

// runGreen is `reos green`. The suite runs with this process's environment
// (greenEnv), which is why it takes no lookup function.
func runGreen(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("reos green", flag.ContinueOnError)
	fs.SetOutput(stderr)
	modes := fs.String("modes", strings.Join(greenModes, ","), "the modes to run, in order (mock, production)")
	isolate := fs.String("isolate", "auto", "run the flows under reos isolate: auto (when the machine permits), always, never")
	focus := fs.String("focus", "", "run only the flows and specs whose names match this regular expression (ginkgo --focus)")
	label := fs.String("label-filter", "", "run only the specs with these labels (ginkgo --label-filter)")
	shard := fs.String("shard", "", "run shard I of N (I/N) of the flows: their files in order, dealt round-robin, so every spec is in exactly one shard;\n"+
		"merge the shards' packs with reos evidence merge")
	race := fs.Bool("race", false, "build the suite and the in-process product with the race detector; a data-race report fails the run and goes into the pack")
	repeat := fs.Int("repeat", 1, "run everything this many times (0: no limit, with --until-it-fails); repeated runs end with a flake table")
	untilFails := fs.Bool("until-it-fails", false, "repeat until a run is not green: without limit, or at most --repeat runs when that is above 1")
	procs := fs.Int("procs", runtime.NumCPU(), "Ginkgo processes, each with its own browser, against the one stack")
	stress := fs.Bool("stress", false, "run two more Ginkgo processes than the machine has cores (--procs cores+2), so races and tight waits show here before CI")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: reos green [flags]\n\nRuns the eight flows (suites/) in mock mode, then in production mode against the contract doubles.\n"+
			"Each run starts its own stack on a database of its own, writes and seals an evidence pack, and is verified.\n"+
			"Prints a line per flow as it ends, then a summary; exits 1 on any failure or any attempt to leave the machine.\n"+
			"Run it from a clone of the repository: it builds the suite with the Go toolchain. Settings: the README's \"The flows\".\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	o := greenOptions{focus: *focus, label: *label, race: *race, procs: *procs, stdout: stdout}
	if *stress {
		o.procs = runtime.NumCPU() + 2
	}
	if o.procs < 1 || *repeat < 0 || (*repeat == 0 && !*untilFails) {
		fmt.Fprintf(stderr, "reos green: --procs wants at least 1, --repeat at least 1 (0 only with --until-it-fails)\n")
		return 2
	}
	for _, m := range strings.Split(*modes, ",") {
		if m = strings.TrimSpace(m); !slices.Contains(greenModes, m) {
			fmt.Fprintf(stderr, "reos green: --modes %q: want mock, production or both\n", *modes)
			return 2
		}
		o.modes = append(o.modes, m)
	}
	switch *isolate {
	case "auto", "always", "never":
	default:
		fmt.Fprintf(stderr, "reos green: --isolate %q: want auto, always or never\n", *isolate)
		return 2
	}
	start := time.Now()
	root, err := repo.Root() // green builds and runs suites/ from the clone
	if err != nil {
		fmt.Fprintf(stderr, "reos green: %v\n", err)
		return 1
	}
	o.root, o.bin = root, filepath.Join(root, ".reos", "bin")
	if *shard != "" {
		if o.shardFiles, err = shardOf(filepath.Join(root, "suites"), *shard); err != nil {
			fmt.Fprintf(stderr, "reos green: --shard %q: %v\n", *shard, err)
			return 2
		}
		o.shard = *shard
		fmt.Fprintf(stdout, "reos green: shard %s: %s\n", o.shard, strings.Join(o.shardFiles, ", "))
	}
	what := "the suite"
	if o.race {
		what = "the suite and the product with the race detector"
	}
	fmt.Fprintf(stdout, "reos green: building %s (%s)\n", what, filepath.Join(root, "suites"))
	if err := buildSuite(ctx, o.root, o.bin, o.race); err != nil {
		fmt.Fprintf(stderr, "reos green: %v\n", err)
		return 1
	}
	built := time.Since(start)
	isolation := "not isolated: --isolate never"
	if *isolate != "never" {
		if err := canIsolate(ctx); err == nil {
			o.isolate, isolation = true, "every run in network namespaces with only loopback (reos isolate)"
		} else if *isolate == "always" {
			fmt.Fprintf(stderr, "reos green: --isolate always, and %v\n", err)
			return 1
		} else {
			isolation = "not isolated: this machine does not permit network namespaces (" + err.Error() + "); the product's own egress guard still refuses and records every attempt"
		}
	}
	o.isolation = isolation
	fmt.Fprintf(stdout, "reos green: built in %.1fs; %s; %d Ginkgo processes on %d cores\n", built.Seconds(), isolation, o.procs, runtime.NumCPU())
	if note := testResultsNote(root); note != "" {
		fmt.Fprintf(stdout, "reos green: %s\n", note)
	}
	if o.infra, err = app.Containerized(ctx, os.Getenv); err != nil {
		fmt.Fprintf(stderr, "reos green: %v\n", err)
		return 1
	}
	for _, k := range slices.Sorted(maps.Keys(o.infra)) {
		fmt.Fprintf(stdout, "reos green: %s points at a container: nothing answered on the default port, and a Docker engine did\n", k)
	}
	want, err := planned(ctx, o) // the same specs in every mode
	if err != nil {
		fmt.Fprintf(stderr, "reos green: %v\n", err)
		return 1
	}

	limit := *repeat // runs at most; 0: no limit
	if *untilFails && limit == 1 {
		limit = 0 // --until-it-fails alone runs until a run is not green
	}
	repeated := limit != 1
	var runs []greenRun
	green := true
	for i := 1; ctx.Err() == nil && (limit == 0 || i <= limit); i++ {
		if repeated {
			of := ""
			if limit > 0 {
				of = fmt.Sprintf(" of %d", limit)
			}
			fmt.Fprintf(stdout, "\nreos green: run %d%s\n", i, of)
		}
		runStart := time.Now()
		var results []*modeResult
		for _, mode := range o.modes {
			if ctx.Err() != nil {
				break
			}
			results = append(results, runMode(ctx, o, mode, want, flakeTable(runs)))
		}
		run := greenRun{Results: results, Wall: time.Since(runStart), OK: len(results) == len(o.modes)}
		for _, r := range results {
			run.OK = run.OK && r.ok()
		}
		runs = append(runs, run)
		printSummary(stdout, o, results, built, run.Wall, isolation)
		green = green && run.OK
		if *untilFails && !run.OK {
			break
		}
	}
	if repeated {
		if err := writeFlakes(o, runs, stdout); err != nil {
			fmt.Fprintf(stderr, "reos green: the flake table: %v\n", err)
			green = false
		}
	}
	fmt.Fprintf(stdout, "reos green: total %.1fs\n", time.Since(start).Seconds())
	if !green || ctx.Err() != nil {
		return 1
	}
	return 0
}

// buildSuite compiles the suite and the ginkgo runner into bin, so the
// runs (and the isolated namespace, which cannot fetch modules) need no
// toolchain work.
func buildSuite(ctx context.Context, root, bin string, race bool) error {
	suite := []string{"test", "-c", "-o", filepath.Join(bin, "suites.test"), "./suites"}
	if race {
		suite = []string{"test", "-race", "-c", "-o", filepath.Join(bin, "suites.test"), "./suites"}
	}
	for _, args := range [][]string{
		{"build", "-o", filepath.Join(bin, "ginkgo"), "github.com/onsi/ginkgo/v2/ginkgo"},
		suite,
	} {
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	return nil
}

// canIsolate tries reos isolate with a command that does nothing.
func canIsolate(ctx context.Context) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	out, err := exec.CommandContext(ctx, self, "isolate", "--forward", "", "--", "true").CombinedOutput()
	if err != nil {
		line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		return fmt.Errorf("reos isolate: %s", strings.TrimPrefix(line, "reos isolate: "))
	}
	return nil
}

// planned asks the suite, without running it, how many specs of each flow
// a run will have (ginkgo's dry run). Specs never ask the mode, so one plan
// serves every mode.
func planned(ctx context.Context, o greenOptions) (map[string]int, error) {
	dir, err := os.MkdirTemp("", "reos-green-plan-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	report := filepath.Join(dir, "plan.json")
	args := append(ginkgoFilters(o, "--ginkgo."), "--ginkgo.dry-run", "--ginkgo.json-report="+report)
	cmd := exec.CommandContext(ctx, filepath.Join(o.bin, "suites.test"), args...)
	cmd.Dir = filepath.Join(o.root, "suites")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("the suite's dry run: %v\n%s", err, out)
	}
	b, err := os.ReadFile(report)
	if err != nil {
		return nil, err
	}
	var reports []types.Report
	if err := json.Unmarshal(b, &reports); err != nil {
		return nil, fmt.Errorf("the suite's dry run: %w", err)
	}
	want := map[string]int{}
	for _, r := range reports {
		for _, s := range r.SpecReports {
			if s.LeafNodeType == types.NodeTypeIt && s.State == types.SpecStatePassed && len(s.ContainerHierarchyTexts) > 0 {
				want[s.ContainerHierarchyTexts[0]]++
			}
		}
	}
	if len(want) == 0 {
		return nil, errors.New("no spec matches --focus and --label-filter")
	}
	return want, nil
}

// ginkgoFilters are the run's filters as flags of the test binary
// (prefix "--ginkgo.") or of the ginkgo runner (prefix "--").
func ginkgoFilters(o greenOptions, prefix string) []string {
	var args []string
	if o.focus != "" {
		args = append(args, prefix+"focus="+o.focus)
	}
	if o.label != "" {
		args = append(args, prefix+"label-filter="+o.label)
	}
	for _, f := range o.shardFiles {
		args = append(args, prefix+"focus-file="+regexp.QuoteMeta(f)+"$")
	}
	return args
}

// shardOf returns shard I of N ("I/N") of the flows in dir: their files
// (NN_*_test.go) in name order, dealt round-robin, so that every spec is
// in exactly one shard, whatever its container (an Ordered flow stays
// whole).
func shardOf(dir, shard string) ([]string, error) {
	var i, n int
	if _, err := fmt.Sscanf(shard, "%d/%d", &i, &n); err != nil || fmt.Sprintf("%d/%d", i, n) != shard || n < 1 || i < 1 || i > n {
		return nil, errors.New("want I/N with 1 ≤ I ≤ N, e.g. 1/2")
	}
	files, err := filepath.Glob(filepath.Join(dir, "[0-9][0-9]_*_test.go"))
	if err != nil {
		return nil, err
	}
	if n > len(files) {
		return nil, fmt.Errorf("%d shards, and the suite has %d flows", n, len(files))
	}
	slices.Sort(files)
	var out []string
	for k, f := range files {
		if k%n == i-1 {
			out = append(out, filepath.Base(f))
		}
	}
	return out, nil
}

// runMode runs the suite in one mode, printing a line as each flow ends
// (want: the specs of each flow the run will have).
func runMode(ctx context.Context, o greenOptions, mode string, want map[string]int, flakes string) *modeResult {
	start := time.Now()
	dir := filepath.Join(o.root, ".reos", "green")
	r := &modeResult{Mode: mode, Log: filepath.Join(dir, mode+".log")}
	defer func() { r.Wall = time.Since(start) }()
	problem := func(format string, args ...any) *modeResult {
		r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
		return r
	}
	total := 0
	for name, n := range want {
		r.flow(name).Want = n
		total += n
	}
	fmt.Fprintf(o.stdout, "\n%s mode: %d specs in %d flows\n", mode, total, len(want))

	progressFile := filepath.Join(dir, mode+".progress.jsonl")
	egressFile := filepath.Join(dir, mode+".egress.jsonl")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return problem("%v", err)
	}
	for _, f := range []string{progressFile, egressFile} {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			return problem("%v", err)
		}
	}
	logFile, err := os.Create(r.Log)
	if err != nil {
		return problem("%v", err)
	}
	defer logFile.Close()

	// What the pack carries besides the flows' own evidence: make test's
	// results, the last mutation campaign, earlier runs' flakes, and with
	// --race the reports of this run.
	attach := attachments(o.root)
	if flakes != "" {
		f := filepath.Join(dir, "flakes-so-far.txt")
		if err := os.WriteFile(f, []byte(flakes), 0o644); err != nil {
			return problem("%v", err)
		}
		attach = append(attach, "flakes-of-earlier-runs.txt="+f)
	}
	raceDir := filepath.Join(dir, "race-"+mode)
	os.RemoveAll(raceDir)
	if o.race {
		if err := os.MkdirAll(raceDir, 0o755); err != nil {
			return problem("%v", err)
		}
	}

	args := append([]string{fmt.Sprintf("--procs=%d", o.procs), "--no-color", "--timeout=10m"}, ginkgoFilters(o, "--")...)
	args = append(args, filepath.Join(o.bin, "suites.test"))
	name := filepath.Join(o.bin, "ginkgo")
	if o.isolate {
		self, err := os.Executable()
		if err != nil {
			return problem("%v", err)
		}
		args = append([]string{"isolate", "--forward", forwarded(o.infra), "--", name}, args...)
		name = self
	}
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = filepath.Join(o.root, "suites")
	cmd.Env = greenEnv(os.Environ(), mode, progressFile, egressFile)
	for k, v := range o.infra {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	if !o.isolate {
		cmd.Env = append(cmd.Env, sandbox.OutsideEnv+"="+o.isolation)
	}
	if o.shard != "" {
		cmd.Env = append(cmd.Env, progress.ShardEnv+"="+o.shard)
	}
	cmd.Env = append(cmd.Env, "REOS_ATTACH="+strings.Join(attach, string(os.PathListSeparator)))
	if o.race {
		// Each process writes its reports to a file of its own
		// (log_path.PID) as it finds them; the suite attaches them.
		cmd.Env = append(cmd.Env, "GORACE=log_path="+filepath.Join(raceDir, "report")+" halt_on_error=0", "REOS_RACE_DIR="+raceDir)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGINT) } // ginkgo stops its processes and reports
	cmd.WaitDelay = 30 * time.Second
	if err := cmd.Start(); err != nil {
		return problem("start the suite: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	follow, err := progress.Open(progressFile)
	if err != nil {
		return problem("%v", err)
	}
	defer follow.Close()
	read := func() {
		lines, _ := follow.Next()
		for _, p := range lines {
			if p.Pack != "" {
				r.Pack = p.Pack
				continue
			}
			if p.Outcome == "failed" {
				fmt.Fprintf(o.stdout, "  FAIL    %-10s %s › %s\n          %s\n", mode, p.Flow, p.Spec, p.Failure)
			}
			if f, ended := r.add(p); ended {
				printFlow(o.stdout, mode, f)
			}
		}
	}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	var runErr error
wait:
	for {
		select {
		case runErr = <-done:
			break wait
		case <-tick.C:
			read()
		}
	}
	read()
	for _, f := range r.Flows {
		if f.Specs < f.Want {
			printFlow(o.stdout, mode, f)
		}
	}
	if runErr != nil && !r.failedSpecs() {
		r.Problems = append(r.Problems, fmt.Sprintf("the suite exited with %v and no failed spec: read %s", runErr, r.Log))
	}
	if b, err := os.ReadFile(egressFile); err == nil {
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if line != "" {
				r.Attempts = append(r.Attempts, line)
			}
		}
	}
	if o.race {
		reports, _ := filepath.Glob(filepath.Join(raceDir, "report.*"))
		r.Races = reports
		if len(reports) > 0 {
			fmt.Fprintf(o.stdout, "  RACE    %-10s %d data-race reports: %s\n", mode, len(reports), strings.Join(reports, " "))
		}
	}
	if r.Pack == "" {
		return problem("the suite sealed no evidence pack: read %s", r.Log)
	}
	if r.Verify, err = evidence.Verify(r.Pack, nil); err != nil {
		return problem("verify %s: %v", r.Pack, err)
	}
	return r
}

func (r *modeResult) failedSpecs() bool {
	for _, f := range r.Flows {
		if len(f.Failures) > 0 {
			return true
		}
	}
	return false
}

// forwarded are the host ports reos isolate lets the suite reach: the
// services' default ports, and those of the containers green started.
func forwarded(infra map[string]string) string {
	ports := []string{"5432", "6379", "5672"}
	for _, v := range infra {
		if u, err := url.Parse(v); err == nil && u.Port() != "" && !slices.Contains(ports, u.Port()) {
			ports = append(ports, u.Port())
		}
	}
	return strings.Join(ports, ",")
}

// greenEnv is the suite's environment for mode: the caller's, with the
// harness's own settings replaced, and without a target of the caller's
// (each run starts its own stack).
func greenEnv(environ []string, mode, progressFile, egressFile string) []string {
	var out []string
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "REOS_SUITE_MODE", "REOS_PROGRESS", "EGRESS_LOG", "REOS_BASE_URL", "REOS_ADMIN_EMAIL", "REOS_ADMIN_PASSWORD",
			"REOS_TWILIO_CONTROL_URL", "REOS_SENDGRID_INSPECT_URL", "REOS_MAILPIT_URL", "REOS_SSE_HEARTBEAT", "REOS_WEBHOOK_SECRET":
			continue
		}
		out = append(out, kv)
	}
	return append(out, "REOS_SUITE_MODE="+mode, "REOS_PROGRESS="+progressFile, "EGRESS_LOG="+egressFile)
}

func printFlow(w io.Writer, mode string, f *flowResult) {
	outcome := strings.ToUpper(f.outcome())
	note := fmt.Sprintf("%d of %d specs", f.Specs, f.Want)
	if f.Specs == 1 && f.Want == 1 {
		note = "1 spec"
	} else if f.Specs == f.Want {
		note = fmt.Sprintf("%d specs", f.Specs)
	}
	fmt.Fprintf(w, "  %-7s %-10s %-24s %6.1fs  %s\n", outcome, mode, f.Name, f.Seconds, note)
}

func printSummary(w io.Writer, o greenOptions, results []*modeResult, built, wall time.Duration, isolation string) {
	fmt.Fprint(w, "\nreos green: summary\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  MODE\tFLOW\tOUTCOME\tTIME\t")
	passed, failed, specs := 0, 0, 0
	for _, r := range results {
		for _, f := range r.Flows {
			outcome := f.outcome()
			if f.Specs < f.Want {
				outcome = fmt.Sprintf("failed (%d of %d specs ended)", f.Specs, f.Want)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%.1fs\t\n", r.Mode, f.Name, outcome, f.Seconds)
			if outcome == "passed" {
				passed++
			} else if outcome != "skipped" {
				failed++
			}
			specs += f.Specs
		}
	}
	tw.Flush()
	fmt.Fprintln(w, "\n  evidence packs (open index.html; check with reos evidence verify DIR):")
	for _, r := range results {
		switch {
		case r.Pack == "":
			fmt.Fprintf(w, "    %-10s none\n", r.Mode)
		case r.Verify != nil && r.Verify.OK():
			fmt.Fprintf(w, "    %-10s %s (%d files, verified)\n", r.Mode, r.Pack, r.Verify.Files)
		default:
			fmt.Fprintf(w, "    %-10s %s (DOES NOT VERIFY)\n", r.Mode, r.Pack)
			if r.Verify != nil {
				fmt.Fprint(w, indentLines(r.Verify.String(), "               "))
			}
		}
	}
	fmt.Fprintln(w, "\n  contracts (each exchange judged; reports in each pack's contracts/):")
	judged := 0
	for _, r := range results {
		files, _ := filepath.Glob(filepath.Join(r.Pack, "contracts", "*.json"))
		for _, f := range files {
			var c contract.Coverage
			if b, err := os.ReadFile(f); err != nil || json.Unmarshal(b, &c) != nil || c.Contract == "" {
				continue // the product's document, not a coverage report
			}
			fmt.Fprintf(w, "    %-10s %s\n", r.Mode, c.Summary())
			judged++
		}
	}
	if judged == 0 {
		fmt.Fprintln(w, "    none: no exchange was judged (REOS_CONTRACTS_JUDGE=off, or no pack)")
	}
	attempts := 0
	for _, r := range results {
		attempts += len(r.Attempts)
	}
	if attempts == 0 {
		isolation += "; no attempt to leave the machine"
	}
	fmt.Fprintf(w, "\n  isolation: %s\n", isolation)
	for _, r := range results {
		for _, a := range r.Attempts {
			fmt.Fprintf(w, "    %s: blocked attempt to leave the machine: %s\n", r.Mode, a)
		}
		for _, p := range r.Problems {
			fmt.Fprintf(w, "  %s: %s\n", r.Mode, p)
		}
		for _, race := range r.Races {
			fmt.Fprintf(w, "  %s: data race reported (the pack has it under %s/race): %s\n", r.Mode, "verdict", race)
		}
	}
	times := []string{fmt.Sprintf("build %.1fs", built.Seconds())}
	for _, r := range results {
		times = append(times, fmt.Sprintf("%s %.1fs", r.Mode, r.Wall.Seconds()))
	}
	fmt.Fprintf(w, "  wall time: %s; total %.1fs\n", strings.Join(times, ", "), wall.Seconds())
	fmt.Fprintf(w, "  full output of each run: %s\n", filepath.Join(o.root, ".reos", "green", "<mode>.log"))
	green := len(results) == len(o.modes)
	for _, r := range results {
		green = green && r.ok()
	}
	if green {
		modes := "both modes"
		if len(results) == 1 {
			modes = results[0].Mode + " mode"
		}
		fmt.Fprintf(w, "GREEN: %d flows passed in %s (%d specs).\n", passed, modes, specs)
		if o.shard != "" {
			fmt.Fprintf(w, "This was shard %s: with the other shards' packs, reos evidence merge OUT PACK... makes one pack per mode.\n", o.shard)
		}
	} else {
		races := 0
		for _, r := range results {
			races += len(r.Races)
		}
		fmt.Fprintf(w, "NOT GREEN: %d flows failed, %d passed, %d attempts to leave the machine, %d data-race reports; see the lines above.\n", failed, passed, attempts, races)
	}
}

func indentLines(s, prefix string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString(prefix + l + "\n")
	}
	return b.String()
}
