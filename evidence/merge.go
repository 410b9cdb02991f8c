package evidence

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/onsi/ginkgo/v2/reporters"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"

	"github.com/real-estate-os/reos/contract"
)

// Source is one pack a merged pack was made of.
type Source struct {
	Pack     string `json:"pack"`            // its directory's name
	Shard    string `json:"shard,omitempty"` // I/N, as its run said
	Manifest string `json:"manifest_sha256"` // the digest of its manifest.json
	Key      string `json:"key"`             // the SHA-256 key id of the key that signed it
	Files    int    `json:"files"`
}

// Merged is what Merge made.
type Merged struct {
	Dir     string
	Facts   Facts
	Renamed []string // files two packs held with different bytes, as old → new
}

// junitFile is the suite's report in every pack.
const junitFile = "junit.xml"

// Merge makes one pack at out (a directory that does not exist yet) of
// srcs, the sealed packs of one run's shards in one mode: each is verified
// first (with trusted, or its own key when nil) and must be of the same
// mode and commit; no spec may have run in two of them. The merged pack
// holds every file of every source (a file two hold with different bytes
// is kept twice, the later one renamed name.shardK.ext), one junit.xml in
// which each spec has the outcome of the shard that ran it, the records,
// flows and contract coverage of all, and each source's manifest digest;
// it is sealed with key (both attestations) and verified. When out is in
// a day's folder of a packs root (root/YYYYMMDD/name), the root's history
// lists it.
func Merge(out string, srcs []string, key ed25519.PrivateKey, trusted ed25519.PublicKey, f Facts) (*Merged, error) {
	if len(srcs) == 0 {
		return nil, errors.New("evidence: merge: no pack to merge")
	}
	if _, err := os.Lstat(out); err == nil {
		return nil, fmt.Errorf("evidence: merge: %s exists; name a new directory", out)
	}
	type source struct {
		dir      string
		m        Manifest
		manifest []byte
		shard    int
	}
	var sources []source
	for i, dir := range srcs {
		r, err := Verify(dir, trusted)
		if err != nil {
			return nil, fmt.Errorf("evidence: merge: %w", err)
		}
		if !r.OK() {
			return nil, fmt.Errorf("evidence: merge: %s does not verify:\n%s", dir, r)
		}
		if resolved, err := filepath.EvalSymlinks(dir); err == nil {
			dir = resolved
		}
		b, err := os.ReadFile(filepath.Join(dir, ManifestFile))
		if err != nil {
			return nil, err
		}
		var m Manifest
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("evidence: merge: %s: %w", dir, err)
		}
		if len(sources) > 0 {
			first := sources[0]
			if m.Facts.Mode != first.m.Facts.Mode {
				return nil, fmt.Errorf("evidence: merge: %s is a %s-mode pack and %s a %s-mode one: merge each mode's shards on their own",
					dir, m.Facts.Mode, first.dir, first.m.Facts.Mode)
			}
			if m.Facts.Commit != first.m.Facts.Commit {
				return nil, fmt.Errorf("evidence: merge: %s tested commit %s and %s commit %s: shards of one run test one change",
					dir, m.Facts.Commit, first.dir, first.m.Facts.Commit)
			}
		}
		sources = append(sources, source{dir: dir, m: m, manifest: b, shard: i + 1})
	}

	p := &Pack{Dir: out, Mode: sources[0].m.Facts.Mode, Started: sources[0].m.Facts.Start}
	for _, d := range folders {
		if err := os.MkdirAll(filepath.Join(out, d), 0o755); err != nil {
			return nil, fmt.Errorf("evidence: %w", err)
		}
	}
	merged := &Merged{Dir: out}
	// Bookkeeping every pack has, merged below rather than copied.
	merges := map[string]bool{IndexFile: true, "index.css": true, RecordsFile: true, junitFile: true}
	for _, s := range sources {
		for _, c := range s.m.Facts.Contracts {
			merges[c.Report] = true
		}
	}

	var suites []reporters.JUnitTestSuites
	var records bytes.Buffer
	coverage := map[string]contract.Coverage{}
	var order []string // contracts, as the first pack to report each lists them
	contracts := map[string]Contract{}
	flows := map[string]*Flow{}
	f.Mode, f.Commit = p.Mode, sources[0].m.Facts.Commit
	f.Network = Network{Isolated: true}
	var isolation []string
	skipped := map[string]string{} // spec → reason
	skippedIn := map[string]int{}  // spec → packs that skipped it
	for _, s := range sources {
		fs := s.m.Facts
		renames, err := p.copyFrom(s.dir, s.m.Files, merges, s.shard)
		if err != nil {
			return nil, err
		}
		for old, new := range renames {
			merged.Renamed = append(merged.Renamed, old+" → "+new)
		}
		renamed := func(file string) string {
			if r, ok := renames[file]; ok {
				return r
			}
			return file
		}
		recs, err := (&Pack{Dir: s.dir}).Records()
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			r.File = renamed(r.File)
			line, _ := json.Marshal(r)
			records.Write(append(line, '\n'))
		}
		if js, err := readJUnit(s.dir, renames); err != nil {
			return nil, err
		} else if js != nil {
			suites = append(suites, *js)
		}
		for _, c := range fs.Contracts {
			b, err := os.ReadFile(filepath.Join(s.dir, filepath.FromSlash(c.Report)))
			if err != nil {
				return nil, err
			}
			var cov contract.Coverage
			if err := json.Unmarshal(b, &cov); err != nil {
				return nil, fmt.Errorf("evidence: merge: %s/%s: %w", s.dir, c.Report, err)
			}
			if _, ok := contracts[c.Name]; !ok {
				order = append(order, c.Name)
				contracts[c.Name] = c
			}
			coverage[c.Name] = coverage[c.Name].Add(cov)
		}
		for _, fl := range fs.Flows {
			m := flows[fl.Name]
			if m == nil {
				m = &Flow{Name: fl.Name, Outcome: "skipped"}
				flows[fl.Name] = m
			}
			m.Outcome = FlowOutcome(m.Outcome, fl.Outcome)
			m.Duration += fl.Duration
			for _, file := range fl.Files {
				m.Files = append(m.Files, renamed(file))
			}
		}
		for _, sk := range fs.Skipped {
			skippedIn[sk.Spec]++
			if r, ok := skipped[sk.Spec]; !ok || strings.HasPrefix(r, NotSelected) {
				skipped[sk.Spec] = sk.Reason
			}
		}
		if f.Start.IsZero() || fs.Start.Before(f.Start) {
			f.Start = fs.Start
		}
		if fs.End.After(f.End) {
			f.End = fs.End
		}
		f.Dirty = f.Dirty || fs.Dirty
		if f.Providers == nil {
			f.Providers, f.Config = fs.Providers, fs.Config
		}
		for k, v := range fs.Versions {
			if f.Versions == nil {
				f.Versions = map[string]string{}
			}
			f.Versions[k] = v
		}
		f.Network.Isolated = f.Network.Isolated && fs.Network.Isolated
		if !slices.Contains(isolation, fs.Network.Isolation) {
			isolation = append(isolation, fs.Network.Isolation)
		}
		keyID := ""
		if pub, err := os.ReadFile(filepath.Join(s.dir, PublicKeyFile)); err == nil {
			if k, err := ParsePublicKeyPEM(pub); err == nil {
				keyID, _ = dsse.SHA256KeyID(k)
			}
		}
		sum := sha256.Sum256(s.manifest)
		f.Sources = append(f.Sources, Source{Pack: filepath.Base(s.dir), Shard: fs.Shard, Manifest: hex.EncodeToString(sum[:]),
			Key: keyID, Files: len(s.m.Files)})
	}
	f.Network.Isolation = strings.Join(isolation, "; ")
	p.Started = f.Start

	junit, err := mergeJUnit(suites)
	if err != nil {
		return nil, err
	}
	if err := p.write(junitFile, junit); err != nil {
		return nil, err
	}
	// A spec one shard ran is "not selected" in the others: it is skipped
	// in the merged pack only when every pack skipped it, for the reason
	// the one that selected it gave.
	f.Counts = map[string]int{}
	for _, s := range sources {
		f.Counts["passed"] += s.m.Facts.Counts["passed"]
		f.Counts["failed"] += s.m.Facts.Counts["failed"]
	}
	for spec, n := range skippedIn {
		if n == len(sources) {
			f.Skipped = append(f.Skipped, Skip{Spec: spec, Reason: skipped[spec]})
		}
	}
	f.Counts["skipped"] = len(f.Skipped)
	slices.SortFunc(f.Skipped, func(a, b Skip) int { return strings.Compare(a.Spec, b.Spec) })
	for _, name := range slices.Sorted(maps.Keys(flows)) {
		f.Flows = append(f.Flows, *flows[name])
	}
	for _, name := range order {
		c, cov := contracts[name], coverage[name]
		b, _ := json.MarshalIndent(cov, "", "  ")
		if err := p.write(filepath.FromSlash(c.Report), append(b, '\n')); err != nil {
			return nil, err
		}
		c.Documented, c.Exercised, c.Validated = cov.Documented, cov.Exercised, cov.Validated
		c.Exchanges, c.Violations, c.Conformance = cov.Exchanges, cov.Violations, cov.Conformance
		f.Contracts = append(f.Contracts, c)
	}
	if err := p.write(RecordsFile, records.Bytes()); err != nil {
		return nil, err
	}
	if f.End.IsZero() {
		f.End = time.Now().UTC()
	}
	if err := p.Seal(f, key); err != nil {
		return nil, err
	}
	r, err := Verify(out, key.Public().(ed25519.PublicKey))
	if err != nil {
		return nil, err
	}
	if !r.OK() {
		return nil, fmt.Errorf("evidence: merge: the merged pack does not verify:\n%s", r)
	}
	slices.Sort(merged.Renamed)
	merged.Facts = f
	return merged, nil
}

// copyFrom copies the files of the pack at dir into p, but those in skip:
// a file p holds already with the same bytes once, with other bytes as
// name.shardK.ext. It returns the renamed files, old → new.
func (p *Pack) copyFrom(dir string, files []Entry, skip map[string]bool, shard int) (map[string]string, error) {
	renames := map[string]string{}
	for _, e := range files {
		if skip[e.Path] {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(e.Path)))
		if err != nil {
			return nil, err
		}
		rel := e.Path
		if have, err := os.ReadFile(filepath.Join(p.Dir, filepath.FromSlash(rel))); err == nil {
			if bytes.Equal(have, data) {
				continue
			}
			ext := path.Ext(rel)
			rel = fmt.Sprintf("%s.shard%d%s", strings.TrimSuffix(rel, ext), shard, ext)
			renames[e.Path] = rel
		}
		if err := p.write(filepath.FromSlash(rel), data); err != nil {
			return nil, err
		}
	}
	return renames, nil
}

// readJUnit reads the junit.xml of the pack at dir (nil when it has none),
// its attachments renamed as renames says.
func readJUnit(dir string, renames map[string]string) (*reporters.JUnitTestSuites, error) {
	b, err := os.ReadFile(filepath.Join(dir, junitFile))
	if err != nil {
		return nil, nil
	}
	var js reporters.JUnitTestSuites
	if err := xml.Unmarshal(b, &js); err != nil {
		return nil, fmt.Errorf("evidence: merge: %s/junit.xml: %w", dir, err)
	}
	for i := range js.TestSuites {
		for j := range js.TestSuites[i].TestCases {
			c := &js.TestSuites[i].TestCases[j]
			for old, new := range renames {
				c.SystemOut = strings.ReplaceAll(c.SystemOut, "[[ATTACHMENT|"+old+"]]", "[[ATTACHMENT|"+new+"]]")
			}
		}
	}
	return &js, nil
}

// mergeJUnit makes one report of the shards' reports: one suite (the
// first's, with its properties) whose cases are every spec once, each with
// the outcome of the shard that ran it (a spec no shard ran is skipped);
// it refuses a spec that ran in two.
func mergeJUnit(all []reporters.JUnitTestSuites) ([]byte, error) {
	if len(all) == 0 || len(all[0].TestSuites) == 0 {
		return nil, errors.New("evidence: merge: no pack holds junit.xml")
	}
	suite := all[0].TestSuites[0]
	suite.TestCases = nil
	var names []string
	cases := map[string]reporters.JUnitTestCase{}
	ran := map[string]bool{}
	for _, js := range all {
		for _, s := range js.TestSuites {
			for _, c := range s.TestCases {
				run := c.Status != "skipped" && c.Status != "pending"
				_, seen := cases[c.Name]
				switch {
				case !seen:
					names = append(names, c.Name)
					cases[c.Name] = c
				case run && ran[c.Name] && strings.HasPrefix(c.Name, "[It]"):
					return nil, fmt.Errorf("evidence: merge: %q ran in two of the packs: they are not shards of one run", c.Name)
				case run && !ran[c.Name]:
					cases[c.Name] = c
				}
				ran[c.Name] = ran[c.Name] || run
			}
		}
	}
	suite.Tests, suite.Disabled, suite.Skipped, suite.Errors, suite.Failures, suite.Time = 0, 0, 0, 0, 0, 0
	for _, n := range names {
		c := cases[n]
		suite.TestCases = append(suite.TestCases, c)
		suite.Tests++
		suite.Time += c.Time
		switch {
		case c.Status == "skipped" || c.Status == "pending":
			suite.Skipped++
		case c.Error != nil:
			suite.Errors++
		case c.Failure != nil:
			suite.Failures++
		}
	}
	out := reporters.JUnitTestSuites{Tests: suite.Tests, Disabled: suite.Disabled, Errors: suite.Errors, Failures: suite.Failures,
		Time: suite.Time, TestSuites: []reporters.JUnitTestSuite{suite}}
	b, err := xml.MarshalIndent(out, "", "  ")
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), append(b, '\n')...), nil
}
