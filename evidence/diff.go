package evidence

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/real-estate-os/reos/contract"
)

// Change is one difference between two packs. Matters is false for what
// differs from run to run by nature (timings, per-run data).
type Change struct {
	Kind    string // outcome, hash, file, contract, timing
	What    string
	Matters bool
}

func (c Change) String() string {
	mark := "  "
	if c.Matters {
		mark = "! "
	}
	return mark + c.Kind + ": " + c.What
}

// runKey matches what a run makes up for itself in names: a spec's key,
// <flow>-<six base32 characters>, for the flows' key prefixes
// (suites/*_test.go, env.NewSpec).
var runKey = regexp.MustCompile(`\b(?:dlq|drawer|egress|email|etag|export|export-seed|headers|idem|idem-other|login|memo|memo-other|ratelimit|sms|sse-resume|sse-tabs|status|webhooks)-[a-z2-7]{6}\b`)

// stable is name with the run's own keys masked, so two runs' files pair.
func stable(name string) string { return runKey.ReplaceAllString(name, "<key>") }

// Diff compares pack a with pack b: each spec's outcome (junit.xml), the
// hashes of what does not depend on the run (the seeded portfolio's CSV;
// per-run data such as a spec's own memo is listed, not judged), the
// files (names with run keys masked), the contract ledgers
// (contract.Diff), and timings: a spec slower than slower times (and by
// more than a second) is listed, not judged.
func Diff(a, b string, slower float64) ([]Change, error) {
	var out []Change
	add := func(kind string, matters bool, format string, args ...any) {
		out = append(out, Change{Kind: kind, What: fmt.Sprintf(format, args...), Matters: matters})
	}
	ja, err := junitCases(a)
	if err != nil {
		return nil, err
	}
	jb, err := junitCases(b)
	if err != nil {
		return nil, err
	}
	for _, name := range slices.Sorted(maps.Keys(ja)) {
		x, y := ja[name], jb[name]
		switch {
		case y == nil:
			add("outcome", true, "%s: %s in A, not run in B", name, x.status)
		case x.status != y.status:
			add("outcome", true, "%s: %s in A, %s in B", name, x.status, y.status)
		case x.time > time.Second/2 && y.time > x.time+time.Second && float64(y.time) > slower*float64(x.time):
			add("timing", false, "%s: %v in A, %v in B", name, x.time.Round(time.Millisecond), y.time.Round(time.Millisecond))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(jb)) {
		if ja[name] == nil {
			add("outcome", true, "%s: not run in A, %s in B", name, jb[name].status)
		}
	}

	fa, err := files(a)
	if err != nil {
		return nil, err
	}
	fb, err := files(b)
	if err != nil {
		return nil, err
	}
	for _, f := range slices.Sorted(maps.Keys(fa)) {
		if fb[f] == "" {
			add("file", true, "%s in A only", f)
		}
	}
	for _, f := range slices.Sorted(maps.Keys(fb)) {
		if fa[f] == "" {
			add("file", true, "%s in B only", f)
		}
	}
	for _, f := range slices.Sorted(maps.Keys(fa)) {
		if !strings.HasPrefix(f, Hashes+"/") || fb[f] == "" {
			continue
		}
		ha, hb := hashOf(filepath.Join(a, fa[f])), hashOf(filepath.Join(b, fb[f]))
		switch {
		case ha == hb:
		case strings.Contains(f, "<key>"):
			add("hash", false, "%s: per-run data (the spec's own), %.12s… in A, %.12s… in B", f, ha, hb)
		default:
			add("hash", true, "%s: %s in A, %s in B", f, ha, hb)
		}
	}

	la, _ := contract.ReadPack(a) // a pack without ledgers compares as having none
	lb, _ := contract.ReadPack(b)
	for _, d := range contract.Diff(la, lb) {
		add("contract", true, "%s", d)
	}
	return out, nil
}

type junitCase struct {
	status string
	time   time.Duration
}

// junitCases reads junit.xml's test cases by name, with the run's keys
// masked.
func junitCases(dir string) (map[string]*junitCase, error) {
	b, err := os.ReadFile(filepath.Join(dir, junitFile))
	if err != nil {
		return nil, fmt.Errorf("%s: %w (a pack sealed by the suite holds junit.xml)", dir, err)
	}
	var doc struct {
		Suites []struct {
			Cases []struct {
				Name   string  `xml:"name,attr"`
				Status string  `xml:"status,attr"`
				Time   float64 `xml:"time,attr"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s/junit.xml: %w", dir, err)
	}
	out := map[string]*junitCase{}
	for _, s := range doc.Suites {
		for _, c := range s.Cases {
			if !strings.HasPrefix(c.Name, "[It]") {
				continue
			}
			out[strings.TrimSpace(strings.TrimPrefix(c.Name, "[It]"))] = &junitCase{status: c.Status, time: time.Duration(c.Time * float64(time.Second))}
		}
	}
	return out, nil
}

// files are a pack's evidence files by their stable name (run keys
// masked), with their real path; the pack's own bookkeeping (manifest,
// signature, index, records, logs) is left out.
func files(dir string) (map[string]string, error) {
	skip := map[string]bool{IndexFile: true, "index.css": true, RecordsFile: true, junitFile: true, "product.log": true}
	for f := range sealFiles {
		skip[f] = true
	}
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		rel = filepath.ToSlash(rel)
		if skip[rel] || strings.HasPrefix(rel, "verdict/") || strings.HasPrefix(rel, "contracts/") {
			return nil
		}
		out[stable(rel)] = rel
		return nil
	})
	return out, err
}

func hashOf(path string) string {
	var h struct {
		SHA256 string `json:"sha256"`
	}
	b, _ := os.ReadFile(path)
	json.Unmarshal(b, &h)
	return h.SHA256
}
