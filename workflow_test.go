package reos_test

// The CI workflow is checked here, where no GitHub runner is: it parses,
// it has the services and steps the README promises, and the commands it
// runs are the README's two.

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

type workflow struct {
	On   map[string]any `yaml:"on"`
	Jobs map[string]struct {
		Name     string `yaml:"name"`
		Needs    any    `yaml:"needs"`
		If       string `yaml:"if"`
		Strategy struct {
			Matrix map[string][]any `yaml:"matrix"`
		} `yaml:"strategy"`
		RunsOn    string `yaml:"runs-on"`
		Container string `yaml:"container"`
		Timeout   int    `yaml:"timeout-minutes"`
		Services  map[string]struct {
			Image string `yaml:"image"`
		} `yaml:"services"`
		Env   map[string]string `yaml:"env"`
		Steps []step            `yaml:"steps"`
	} `yaml:"jobs"`
}

type step struct {
	Name string            `yaml:"name"`
	Uses string            `yaml:"uses"`
	Run  string            `yaml:"run"`
	If   string            `yaml:"if"`
	With map[string]string `yaml:"with"`
}

// readWorkflow parses the CI workflow.
func readWorkflow(t *testing.T) workflow {
	t.Helper()
	b, err := os.ReadFile(".github/workflows/ci.yml")
	if err != nil {
		t.Fatal(err)
	}
	var w workflow
	if err := yaml.Unmarshal(b, &w); err != nil {
		t.Fatalf("ci.yml does not parse: %v", err)
	}
	return w
}

func TestCIWorkflow(t *testing.T) {
	w := readWorkflow(t)
	if _, ok := w.On["pull_request"]; !ok {
		t.Error("the workflow does not run on pull requests, so it cannot gate merges")
	}
	job, ok := w.Jobs["green"]
	if !ok {
		t.Fatalf("no job green (the required check); jobs: %v", w.Jobs)
	}
	if job.Container != "debian:12" {
		t.Errorf("container = %q, want debian:12 (what scripts/setup and RECIPES.md target)", job.Container)
	}
	if job.Timeout == 0 || job.Timeout > 60 {
		t.Errorf("timeout-minutes = %d", job.Timeout)
	}
	for name, image := range map[string]string{"postgres": "postgres:15", "redis": "redis:7", "rabbitmq": "rabbitmq:3.10"} {
		if got := job.Services[name].Image; got != image {
			t.Errorf("service %s: image %q, want %q", name, got, image)
		}
	}
	for _, k := range []string{"DATABASE_URL", "REDIS_URL", "AMQP_URL"} {
		if !strings.Contains(job.Env[k], "://") {
			t.Errorf("env %s = %q: the services must be named to scripts/setup", k, job.Env[k])
		}
	}

	var runs []string
	steps := map[string]int{}
	for i, s := range job.Steps {
		steps[s.Name] = i
		if s.Run != "" {
			runs = append(runs, strings.TrimSpace(s.Run))
		}
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	// The README's two commands, in the order it gives them, are steps of
	// their own, after the browser is installed.
	for _, cmd := range []string{"make test", "make green"} {
		if !regexp.MustCompile("(?m)^" + regexp.QuoteMeta(cmd) + "\\b").Match(readme) {
			t.Errorf("the README does not give %q as a command", cmd)
		}
		if !slices.Contains(runs, cmd) {
			t.Errorf("no step runs %q; runs: %q", cmd, runs)
		}
	}
	setup, okSetup := steps["Install Chromium and the Playwright driver"]
	test, okTest := steps["make test"]
	green, okGreen := steps["make green"]
	race, okRace := steps["make green-race"]
	if !okSetup || !okTest || !okGreen || !okRace || !(setup < test && test < green && green < race) {
		t.Errorf("want the steps: Install Chromium and the Playwright driver, make test, make green, make green-race, in that order; got %v", steps)
	}
	if job.Steps[race].Run != "make green-race" {
		t.Errorf("the race step runs %q", job.Steps[race].Run)
	}
	if !strings.Contains(job.Steps[setup].Run, "scripts/setup") {
		t.Errorf("the browser is installed by %q, not scripts/setup", job.Steps[setup].Run)
	}
	tc, ok := w.Jobs["containers"]
	if !ok || tc.Container != "" || !slices.ContainsFunc(tc.Steps, func(s step) bool { return strings.Contains(s.Run, "./internal/containers") }) {
		t.Error("no job runs internal/containers' test on a runner with a Docker engine (not in a container)")
	}
	upload, ok := steps["Upload the evidence packs"]
	if !ok || !strings.HasPrefix(job.Steps[upload].Uses, "actions/upload-artifact@") || job.Steps[upload].If != "always()" ||
		strings.TrimSuffix(job.Steps[upload].With["path"], "/") != "audit_artifacts" {
		t.Errorf("the evidence packs are not uploaded whatever the outcome: %+v", job.Steps[upload])
	}
	junit, ok := steps["Publish the JUnit reports"]
	if !ok || job.Steps[junit].If != "always()" || !strings.Contains(job.Steps[junit].With["report_paths"], "junit.xml") {
		t.Errorf("JUnit is not published whatever the outcome: %+v", job.Steps[junit])
	}
}

// The flows also run split across a matrix of runners, one shard each, and
// a job after them merges each mode's shards into one pack: every shard
// of the matrix runs (I/N for I in 1..N), each uploads its packs, and the
// merge takes them all.
func TestCIWorkflowShards(t *testing.T) {
	w := readWorkflow(t)
	flows, ok := w.Jobs["flows"]
	if !ok {
		t.Fatal("no job flows (the shards)")
	}
	shards := flows.Strategy.Matrix["shard"]
	if len(shards) < 2 {
		t.Fatalf("the flows' matrix has shards %v; want 1..N, N ≥ 2", shards)
	}
	for i, s := range shards {
		if s != i+1 {
			t.Errorf("shard %d of the matrix is %v; want %d (shards 1..N, each once)", i+1, s, i+1)
		}
	}
	if flows.Services["postgres"].Image != w.Jobs["green"].Services["postgres"].Image || flows.Env["DATABASE_URL"] == "" {
		t.Error("the shards do not have the green job's services")
	}
	var run, upload, setup bool
	for _, s := range flows.Steps {
		setup = setup || strings.Contains(s.Run, "scripts/setup")
		run = run || strings.TrimSpace(s.Run) == fmt.Sprintf("go run ./cmd/reos green --shard ${{ matrix.shard }}/%d", len(shards))
		upload = upload || strings.HasPrefix(s.Uses, "actions/upload-artifact@") && s.If == "always()" &&
			s.With["name"] == "packs-shard-${{ matrix.shard }}" && strings.TrimSuffix(s.With["path"], "/") == "audit_artifacts"
	}
	if !setup || !run || !upload {
		t.Errorf("each shard must set up, run reos green --shard ${{ matrix.shard }}/%d and upload its packs whatever the outcome (setup %v, run %v, upload %v)",
			len(shards), setup, run, upload)
	}

	merge, ok := w.Jobs["evidence"]
	if !ok {
		t.Fatal("no job evidence (the merge)")
	}
	if merge.Needs != "flows" && !slices.Contains(asStrings(merge.Needs), "flows") || merge.If != "always()" {
		t.Errorf("the merge job needs %v, if %q; want it after flows, whatever their outcome (a failed shard is merged too)", merge.Needs, merge.If)
	}
	var download, merged bool
	for _, s := range merge.Steps {
		download = download || strings.HasPrefix(s.Uses, "actions/download-artifact@") && s.With["pattern"] == "packs-shard-*"
		merged = merged || strings.Contains(s.Run, "reos evidence merge") && strings.Contains(s.Run, "packs-shard-*") &&
			strings.Contains(s.Run, "mock production") && strings.Contains(s.Run, "scripts/check-pack")
	}
	if !download || !merged {
		t.Errorf("the merge job must download every shard's packs and merge (and check) each mode's: download %v, merge %v", download, merged)
	}
}

func asStrings(v any) []string {
	var out []string
	if l, ok := v.([]any); ok {
		for _, x := range l {
			out = append(out, fmt.Sprint(x))
		}
	}
	return out
}
