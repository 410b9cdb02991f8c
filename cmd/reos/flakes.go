package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/real-estate-os/reos/evidence"
)

// greenRun is one run of every mode (reos green --repeat runs several).
type greenRun struct {
	Results []*modeResult
	Wall    time.Duration
	OK      bool
}

// flake is one spec of one mode over every run.
type flake struct {
	Mode         string `json:"mode"`
	Flow         string `json:"flow"`
	Spec         string `json:"spec"`
	Runs         int    `json:"runs"`
	Failures     int    `json:"failures"`
	FirstFailure string `json:"first_failure,omitempty"`
	FirstRun     int    `json:"first_failed_run,omitempty"`
}

// flakes counts each spec's runs and failures, failing specs first.
func flakes(runs []greenRun) []*flake {
	byKey := map[string]*flake{}
	var all []*flake
	for i, run := range runs {
		for _, r := range run.Results {
			for _, s := range r.Specs {
				if s.Outcome == "skipped" {
					continue
				}
				key := r.Mode + "\x00" + s.Flow + "\x00" + s.Spec
				f := byKey[key]
				if f == nil {
					f = &flake{Mode: r.Mode, Flow: s.Flow, Spec: s.Spec}
					byKey[key] = f
					all = append(all, f)
				}
				f.Runs++
				if s.Outcome == "failed" {
					f.Failures++
					if f.FirstFailure == "" {
						f.FirstFailure, f.FirstRun = s.Failure, i+1
					}
				}
			}
		}
	}
	slices.SortFunc(all, func(a, b *flake) int {
		if a.Failures != b.Failures {
			return b.Failures - a.Failures
		}
		return strings.Compare(a.Mode+a.Flow+a.Spec, b.Mode+b.Flow+b.Spec)
	})
	return all
}

// flakeTable renders the flakes of runs as text; empty before any run.
func flakeTable(runs []greenRun) string {
	if len(runs) == 0 {
		return ""
	}
	var b strings.Builder
	ok := 0
	for _, r := range runs {
		if r.OK {
			ok++
		}
	}
	fmt.Fprintf(&b, "%d runs, %d green; each spec's runs and failures, failing specs first\n\n", len(runs), ok)
	for i, r := range runs {
		fmt.Fprintf(&b, "  run %d: %s in %.1fs", i+1, map[bool]string{true: "green", false: "NOT GREEN"}[r.OK], r.Wall.Seconds())
		for _, m := range r.Results {
			fmt.Fprintf(&b, "; %s %.1fs", m.Mode, m.Wall.Seconds())
			if len(m.Races) > 0 {
				fmt.Fprintf(&b, " (%d data-race reports)", len(m.Races))
			}
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  MODE\tFLOW\tSPEC\tRUNS\tFAILURES\tFIRST FAILURE\t")
	for _, f := range flakes(runs) {
		first := "-"
		if f.FirstFailure != "" {
			first = fmt.Sprintf("run %d: %s", f.FirstRun, f.FirstFailure)
		}
		spec := f.Spec
		if r := []rune(spec); len(r) > 60 {
			spec = string(r[:59]) + "…"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\t%d\t%s\t\n", f.Mode, f.Flow, spec, f.Runs, f.Failures, first)
	}
	tw.Flush()
	return b.String()
}

// writeFlakes prints the flake table and seals it, with the list of the
// runs' packs and their manifests' digests, into an evidence pack of its
// own ("flakes") beside the runs' packs.
func writeFlakes(o greenOptions, runs []greenRun, stdout io.Writer) error {
	table := flakeTable(runs)
	fmt.Fprintf(stdout, "\nreos green: flake table\n%s", table)
	root := ""
	type packRef struct {
		Run            int    `json:"run"`
		Mode           string `json:"mode"`
		Green          bool   `json:"green"`
		Pack           string `json:"pack"`
		ManifestSHA256 string `json:"manifest_sha256,omitempty"`
	}
	var refs []packRef
	for i, run := range runs {
		for _, r := range run.Results {
			ref := packRef{Run: i + 1, Mode: r.Mode, Green: r.ok(), Pack: r.Pack}
			if r.Pack != "" {
				root = filepath.Dir(filepath.Dir(r.Pack))
				if b, err := os.ReadFile(filepath.Join(r.Pack, evidence.ManifestFile)); err == nil {
					sum := sha256.Sum256(b)
					ref.ManifestSHA256 = hex.EncodeToString(sum[:])
				}
				ref.Pack = filepath.Base(filepath.Dir(r.Pack)) + "/" + filepath.Base(r.Pack)
			}
			refs = append(refs, ref)
		}
	}
	local := filepath.Join(o.root, ".reos", "green", "flakes.txt")
	if err := os.WriteFile(local, []byte(table), 0o644); err != nil {
		return err
	}
	if root == "" {
		fmt.Fprintf(stdout, "  (no pack was sealed; the table is in %s)\n", local)
		return nil
	}
	pack, err := evidence.Create(root, "flakes", time.Now())
	if err != nil {
		return err
	}
	rows, _ := json.MarshalIndent(map[string]any{"specs": flakes(runs), "packs": refs, "procs": o.procs, "race": o.race}, "", "  ")
	for name, data := range map[string][]byte{"flakes.txt": []byte(table), "flakes.json": append(rows, '\n')} {
		if _, err := pack.File("reos green", name, data); err != nil {
			return err
		}
	}
	key, ephemeral, err := evidence.SigningKey(os.LookupEnv)
	if err != nil {
		return err
	}
	commit, dirty := evidence.Git()
	counts := map[string]int{}
	for _, run := range runs {
		counts[map[bool]string{true: "passed", false: "failed"}[run.OK]]++
	}
	if err := pack.Seal(evidence.Facts{Commit: commit, Dirty: dirty, Mode: "flakes", End: time.Now().UTC(), Counts: counts, EphemeralKey: ephemeral,
		Network: evidence.Network{Isolation: "none of its own: it names the runs' packs, each attesting its own network"}}, key); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "  sealed with the runs' packs and their manifests' SHA-256 in %s\n", pack.Dir)
	return nil
}

// attachments are the files of other checks that every pack of a green
// run carries under verdict/, as name=path: make test's JUnit and facts,
// and the last mutation campaign's kill matrix, when they exist.
func attachments(root string) []string {
	var out []string
	for name, rel := range map[string]string{
		"make-test-junit.xml": ".reos/test/junit.xml",
		"make-test.json":      ".reos/test/facts.json",
		"kill-matrix.txt":     ".reos/mutants/kill-matrix.txt",
		"kill-matrix.json":    ".reos/mutants/kill-matrix.json",
	} {
		if _, err := os.Stat(filepath.Join(root, rel)); err == nil {
			out = append(out, name+"="+filepath.Join(root, rel))
		}
	}
	slices.Sort(out)
	return out
}

// testResultsNote says whether the packs will carry make test's results,
// and when those tested another tree than this one.
func testResultsNote(root string) string {
	b, err := os.ReadFile(filepath.Join(root, ".reos", "test", "facts.json"))
	if err != nil {
		return "no results of make test to carry in the packs (run make test first: CI does)"
	}
	var facts struct {
		Commit string `json:"commit"`
		Dirty  bool   `json:"dirty"`
		Status int    `json:"exit_status"`
	}
	if err := json.Unmarshal(b, &facts); err != nil {
		return "make test's facts do not parse: " + err.Error()
	}
	commit, dirty := evidence.Git()
	outcome := map[bool]string{true: "passed", false: "FAILED"}[facts.Status == 0]
	if facts.Commit != commit || facts.Dirty || dirty {
		return fmt.Sprintf("the packs carry make test's results (%s), which tested %.12s%s; this tree is %.12s%s",
			outcome, facts.Commit, map[bool]string{true: " with changes", false: ""}[facts.Dirty], commit, map[bool]string{true: " with changes", false: ""}[dirty])
	}
	return fmt.Sprintf("the packs carry make test's results (%s) of this commit", outcome)
}
