package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/real-estate-os/reos/evidence"
	"github.com/real-estate-os/reos/internal/mutants"
	"github.com/real-estate-os/reos/internal/repo"
)

// `reos mutants` is the mutation campaign: each planted bug of the catalog
// (internal/mutants) goes into a scratch copy of the clone, the checks the
// claims table names for it run there, and the kill matrix says which
// caught it, with the message that says what broke.

// isolatedRun is this program, when checks run under its isolate command.
var isolatedRun string

// checkResult is one check of one mutant.
type checkResult struct {
	Check   string  `json:"check"`
	Killed  bool    `json:"killed"`
	Message string  `json:"message,omitempty"`
	Seconds float64 `json:"seconds"`
}

// mutantResult is one row of the kill matrix.
type mutantResult struct {
	ID     string        `json:"id"`
	Claim  string        `json:"claim"`
	Bug    string        `json:"bug"`
	Unit   checkResult   `json:"unit"`
	Flow   *checkResult  `json:"flow,omitempty"`
	Error  string        `json:"error,omitempty"` // the bug could not be planted
	Killed bool          `json:"killed"`
	Wall   time.Duration `json:"wall_ns"`
}

func runMutants(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("reos mutants", flag.ContinueOnError)
	fs.SetOutput(stderr)
	only := fs.String("only", "", "plant only the bugs whose id matches this regular expression")
	flows := fs.Bool("flows", true, "run each bug's flow (mock mode) as well as its package's tests")
	isolate := fs.Bool("isolate", true, "run every check under reos isolate (a planted bug may reach for the network: the egress guard's does); false only where nothing can leave anyway")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: reos mutants [flags]\n\nPlants each bug of the catalog (internal/mutants) in a scratch copy of the clone, runs the checks\n"+
			"the claims table names for it (its package's tests, and its flow for a user-visible promise), and writes the kill\n"+
			"matrix to .reos/mutants/kill-matrix.{txt,json} (make green's packs carry it). Exits 1 when a bug survives.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	match, err := regexp.Compile(*only)
	if err != nil {
		fmt.Fprintf(stderr, "reos mutants: --only: %v\n", err)
		return 2
	}
	root, err := repo.Root()
	if err != nil {
		fmt.Fprintf(stderr, "reos mutants: %v\n", err)
		return 1
	}
	if *isolate {
		if err := canIsolate(ctx); err != nil {
			fmt.Fprintf(stderr, "reos mutants: every check runs under reos isolate, since a planted bug may reach for the network, and %v\n"+
				"(on a machine where nothing can leave anyway, --isolate=false)\n", err)
			return 1
		}
		if isolatedRun, err = os.Executable(); err != nil {
			fmt.Fprintf(stderr, "reos mutants: %v\n", err)
			return 1
		}
	}
	start := time.Now()
	scratch, err := os.MkdirTemp("", "reos-mutants-")
	if err != nil {
		fmt.Fprintf(stderr, "reos mutants: %v\n", err)
		return 1
	}
	defer os.RemoveAll(scratch)
	if err := copyClone(root, scratch); err != nil {
		fmt.Fprintf(stderr, "reos mutants: copy the clone: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "reos mutants: a scratch copy of %s in %s\n", root, scratch)

	var picked []mutants.Mutant
	for _, m := range mutants.Catalog {
		if match.MatchString(m.ID) {
			picked = append(picked, m)
		}
	}
	// Every check first runs on the unchanged copy: a check that fails
	// without a bug would count as a kill.
	fmt.Fprintf(stdout, "reos mutants: the checks of %d bugs, on the unchanged copy first\n", len(picked))
	seen := map[string]bool{}
	baseline := func(r checkResult) bool {
		if r.Killed {
			fmt.Fprintf(stderr, "reos mutants: %s fails with no bug planted: %s\n", r.Check, r.Message)
		}
		return !r.Killed
	}
	for _, m := range picked {
		if name := unitName(m); !seen[name] {
			seen[name] = true
			if !baseline(unitCheck(ctx, scratch, m)) {
				return 1
			}
		}
		if name := flowName(m.Flow); *flows && m.Flow != "" && !seen[name] {
			seen[name] = true
			if !baseline(flowCheck(ctx, scratch, m.Flow)) {
				return 1
			}
		}
	}
	fmt.Fprintf(stdout, "reos mutants: every check passes unchanged (%.0fs); planting\n", time.Since(start).Seconds())

	var results []mutantResult
	for _, m := range picked {
		if ctx.Err() != nil {
			break
		}
		r := plant(ctx, scratch, m, *flows)
		results = append(results, r)
		verdict := "KILLED  "
		if !r.Killed {
			verdict = "SURVIVED"
		}
		fmt.Fprintf(stdout, "  %s %-38s %s\n", verdict, m.ID, r.summary())
	}
	table := killMatrix(results, time.Since(start))
	fmt.Fprintf(stdout, "\n%s", table)
	dir := filepath.Join(root, ".reos", "mutants")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fmt.Fprintf(stderr, "reos mutants: %v\n", err)
		return 1
	}
	commit, dirty := evidence.Git()
	b, _ := json.MarshalIndent(map[string]any{"commit": commit, "dirty": dirty, "wall_seconds": time.Since(start).Seconds(),
		"flows": *flows, "only": *only, "mutants": results}, "", "  ")
	for name, data := range map[string][]byte{"kill-matrix.txt": []byte(table), "kill-matrix.json": append(b, '\n')} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			fmt.Fprintf(stderr, "reos mutants: %v\n", err)
			return 1
		}
	}
	fmt.Fprintf(stdout, "kill matrix: %s (make green's packs carry it under verdict/)\n", filepath.Join(dir, "kill-matrix.txt"))
	for _, r := range results {
		if !r.Killed || (r.Flow != nil && !r.Flow.Killed) {
			return 1
		}
	}
	if len(results) < len(picked) {
		return 1
	}
	return 0
}

// plant puts m into the copy, runs its checks, and takes it out again.
func plant(ctx context.Context, scratch string, m mutants.Mutant, flows bool) (r mutantResult) {
	start := time.Now()
	r = mutantResult{ID: m.ID, Claim: m.Claim, Bug: m.Bug}
	defer func() { r.Wall = time.Since(start) }()
	path := filepath.Join(scratch, m.File)
	orig, err := os.ReadFile(path)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	mutated, err := m.Plant(string(orig))
	if err != nil {
		r.Error = err.Error()
		return r
	}
	if err := os.WriteFile(path, []byte(mutated), 0o644); err != nil {
		r.Error = err.Error()
		return r
	}
	defer os.WriteFile(path, orig, 0o644)
	// A bug that does not compile proves nothing about the checks.
	build := exec.CommandContext(ctx, "go", "build", "./...")
	build.Dir = scratch
	if out, err := build.CombinedOutput(); err != nil {
		r.Error = "the planted bug does not compile: " + failureMessage(out)
		return r
	}
	r.Unit = unitCheck(ctx, scratch, m)
	if flows && m.Flow != "" {
		f := flowCheck(ctx, scratch, m.Flow)
		r.Flow = &f
	}
	r.Killed = r.Unit.Killed || (r.Flow != nil && r.Flow.Killed)
	return r
}

func (r mutantResult) summary() string {
	if r.Error != "" {
		return "NOT PLANTED: " + r.Error
	}
	parts := []string{fmt.Sprintf("unit %s", word(r.Unit.Killed))}
	if r.Flow != nil {
		parts = append(parts, fmt.Sprintf("flow %s", word(r.Flow.Killed)))
	}
	return fmt.Sprintf("%s (%.0fs)", strings.Join(parts, ", "), r.Wall.Seconds())
}

func word(killed bool) string {
	if killed {
		return "killed"
	}
	return "SURVIVED"
}

func unitArgs(m mutants.Mutant) []string {
	return append([]string{"test", "-count=1", "-run", "^(" + m.Test + ")$"}, strings.Fields(m.Package)...)
}

func flowArgs(label string) []string {
	return []string{"tool", "ginkgo", "--no-color", "--label-filter=" + label, "./suites"}
}

func unitName(m mutants.Mutant) string { return "go " + strings.Join(unitArgs(m), " ") }
func flowName(label string) string     { return "go " + strings.Join(flowArgs(label), " ") }

// unitCheck runs the package tests the catalog names for m.
func unitCheck(ctx context.Context, scratch string, m mutants.Mutant) checkResult {
	return check(ctx, scratch, unitName(m), nil, "go", unitArgs(m)...)
}

// flowCheck runs the specs labelled label in mock mode.
func flowCheck(ctx context.Context, scratch, label string) checkResult {
	return check(ctx, scratch, flowName(label), []string{"REOS_SUITE_MODE=mock"}, "go", flowArgs(label)...)
}

// check runs a command in the copy: a failure is a kill, its message the
// lines that say what broke.
func check(ctx context.Context, dir, name string, env []string, bin string, args ...string) checkResult {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	egress := filepath.Join(dir, ".reos-egress.jsonl")
	os.Remove(egress)
	if isolatedRun != "" {
		args = append([]string{"isolate", "--", bin}, args...)
		bin = isolatedRun
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	// The flows write their pack into the copy, not the clone.
	cmd.Env = append(cmd.Env, "REOS_EVIDENCE_DIR="+filepath.Join(dir, "audit_artifacts"), "EGRESS_LOG="+egress)
	out, err := cmd.CombinedOutput()
	r := checkResult{Check: name, Killed: err != nil, Seconds: time.Since(start).Seconds()}
	if err != nil {
		r.Message = failureMessage(out)
	}
	if b, _ := os.ReadFile(egress); len(bytes.TrimSpace(b)) > 0 {
		r.Killed = true
		r.Message = "tried to leave the machine (refused by reos isolate): " + string(lastLines(b, 1)) + "; " + r.Message
	}
	return r
}

// failureMessage picks what says what broke out of go test's or Ginkgo's
// output.
func failureMessage(out []byte) string {
	lines := strings.Split(string(out), "\n")
	var picked []string
	for i, l := range lines {
		t := strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(t, "[FAILED] in ["): // where, not what
		case strings.HasPrefix(t, "[FAILED]") && len(picked) == 0:
			picked = append(picked, t)
			for j := i + 1; j < len(lines) && j <= i+4; j++ { // Gomega's Expected / to equal lines
				s := strings.TrimSpace(lines[j])
				if s == "" || strings.HasPrefix(s, "In [") || strings.HasPrefix(s, "/") || strings.HasPrefix(s, "[FAILED]") {
					break
				}
				picked = append(picked, s)
			}
		case strings.HasPrefix(t, "--- FAIL"):
			for j := i + 1; j < len(lines) && j <= i+2; j++ {
				if s := strings.TrimSpace(lines[j]); s != "" && !strings.HasPrefix(s, "---") && !strings.HasPrefix(s, "FAIL") {
					picked = append(picked, s)
				}
			}
		case (strings.Contains(t, "build failed") || strings.HasPrefix(t, "# ")) && len(picked) == 0:
			picked = append(picked, t)
		}
		if len(picked) >= 5 {
			break
		}
	}
	if len(picked) == 0 {
		picked = append(picked, strings.TrimSpace(string(lastLines(out, 3))))
	}
	msg := strings.Join(picked, " | ")
	if r := []rune(msg); len(r) > 400 {
		msg = string(r[:400]) + "…"
	}
	return msg
}

func lastLines(b []byte, n int) []byte {
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return bytes.Join(lines, []byte(" | "))
}

// killMatrix renders the results as text.
func killMatrix(results []mutantResult, wall time.Duration) string {
	var b strings.Builder
	killed, flowKilled, flows := 0, 0, 0
	for _, r := range results {
		if r.Killed {
			killed++
		}
		if r.Flow != nil {
			flows++
			if r.Flow.Killed {
				flowKilled++
			}
		}
	}
	fmt.Fprintf(&b, "kill matrix: %d of %d planted bugs killed; %d of %d user-visible ones by their flow; %.0fs\n\n",
		killed, len(results), flowKilled, flows, wall.Seconds())
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  BUG\tCLAIM\tUNIT\tFLOW\tWHAT SAID IT BROKE\t")
	for _, r := range results {
		flow, msg := "-", r.Unit.Message
		if r.Flow != nil {
			flow = word(r.Flow.Killed)
			if r.Flow.Killed {
				msg = r.Flow.Message
			}
		}
		if r.Error != "" {
			msg = "NOT PLANTED: " + r.Error
		}
		if m := []rune(msg); len(m) > 160 {
			msg = string(m[:159]) + "…"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t\n", r.ID, r.Claim, word(r.Unit.Killed), flow, msg)
	}
	tw.Flush()
	return b.String()
}

// copyClone copies the clone's files, committed or not (but not those git
// ignores), into dir.
func copyClone(root, dir string) error {
	out, err := exec.Command("git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		return fmt.Errorf("git ls-files: %w", err)
	}
	for _, rel := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		if rel == "" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(root, rel))
		if errors.Is(err, os.ErrNotExist) {
			continue // deleted in the work tree
		}
		if err != nil {
			return err
		}
		info, err := os.Stat(filepath.Join(root, rel))
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(rel)), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, rel), b, info.Mode().Perm()); err != nil {
			return err
		}
	}
	return nil // the vendor contracts come from scripts/setup's cache, as for the clone
}
