package evidence_test

import (
	"crypto/ed25519"
	"encoding/json"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/onsi/ginkgo/v2/reporters"

	"github.com/real-estate-os/reos/contract"
	"github.com/real-estate-os/reos/evidence"
)

// shardPack seals the pack of one shard of a two-flow run: the flow it
// ran passed, the other's spec is "not selected"; each has a spec of its
// own, a ledger named as every shard names it, and a contract coverage.
func shardPack(t *testing.T, root, mode string, shard int, ran, other string) string {
	t.Helper()
	p, err := evidence.Create(root, mode, start.Add(time.Duration(shard)*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	spec := ran + " does its thing"
	cases := []reporters.JUnitTestCase{
		{Name: "[It] " + spec + " [" + ran + "]", Status: "passed", Time: 1.5, SystemOut: "[[ATTACHMENT|api_tests/" + ran + ".txt]]\n"},
		{Name: "[It] " + other + " does its thing [" + other + "]", Status: "skipped", Skipped: &reporters.JUnitSkipped{Message: "skipped"}},
	}
	junit, _ := xml.Marshal(reporters.JUnitTestSuites{Tests: 2, TestSuites: []reporters.JUnitTestSuite{{Name: "reos flows", Tests: 2, Skipped: 1, TestCases: cases}}})
	cov := contract.Coverage{Contract: "reos", Documented: 3, Exchanges: 2, Exercised: 1, Validated: 1, Conformance: 1,
		Operations: []contract.Operation{{Operation: "GET /" + ran, Exchanges: 2, Statuses: map[int]int{200: 2}}}}
	covJSON, _ := json.Marshal(cov)
	for _, err := range []error{
		ignore(p.File(spec, "api_tests/"+ran+".txt", []byte("GET /"+ran+"\n"))),
		ignore(p.File("the suite", "contracts/reos-ledger-p1.jsonl", []byte(`{"operation":"GET /`+ran+`"}`+"\n"))),
		ignore(p.File("the suite", "contracts/reos.openapi.json", []byte(`{"openapi":"3.1.0"}`))),
		ignore(p.File("the suite", "contracts/reos.json", covJSON)),
		ignore(p.File("the suite", "junit.xml", []byte(xml.Header+string(junit)))),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	facts := evidence.Facts{Commit: "abc123", Counts: map[string]int{"passed": 1, "skipped": 1}, End: start.Add(time.Minute),
		Shard: map[int]string{1: "1/2", 2: "2/2"}[shard], Network: evidence.Network{Isolated: true, Isolation: "namespaces"},
		Flows: []evidence.Flow{{Name: ran, Outcome: "passed", Duration: time.Second, Files: []string{"api_tests/" + ran + ".txt"}},
			{Name: other, Outcome: "skipped"}},
		Skipped:   []evidence.Skip{{Spec: other + " does its thing", Reason: evidence.NotSelected + " (another shard's)"}},
		Contracts: []evidence.Contract{{Name: "reos", File: "contracts/reos.openapi.json", Report: "contracts/reos.json", Exchanges: 2}}}
	if err := p.Seal(facts, evidence.NewKey()); err != nil {
		t.Fatal(err)
	}
	return p.Dir
}

// Two shards' packs merge into one that verifies (with reos and with
// scripts/check-pack), holds every flow once with the outcome of the shard
// that ran it, every file, one junit.xml, the contract coverage of both,
// and each source's manifest digest.
func TestMergeShards(t *testing.T) {
	root := t.TempDir()
	a := shardPack(t, root, "mock", 1, "01 login", "02 drawer")
	b := shardPack(t, root, "mock", 2, "02 drawer", "01 login")
	key := evidence.NewKey()
	out := filepath.Join(root, "20261201", "mock-merged")
	m, err := evidence.Merge(out, []string{a, b}, key, nil, evidence.Facts{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := evidence.Verify(out, key.Public().(ed25519.PublicKey))
	if err != nil || !r.OK() {
		t.Fatalf("the merged pack: %v\n%s", err, r)
	}
	if out, err := exec.Command("../scripts/check-pack", out).CombinedOutput(); err != nil {
		t.Errorf("check-pack on the merged pack: %v\n%s", err, out)
	}
	f := m.Facts
	if f.Counts["passed"] != 2 || f.Counts["skipped"] != 0 || len(f.Skipped) != 0 {
		t.Errorf("counts %v, skipped %v; want 2 passed and nothing skipped", f.Counts, f.Skipped)
	}
	if len(f.Flows) != 2 || f.Flows[0].Outcome != "passed" || f.Flows[1].Outcome != "passed" {
		t.Errorf("flows %+v; want both once, passed", f.Flows)
	}
	if len(f.Sources) != 2 || f.Sources[0].Shard != "1/2" || len(f.Sources[0].Manifest) != 64 || f.Sources[0].Key == "" {
		t.Errorf("sources %+v", f.Sources)
	}
	if !f.Network.Isolated || f.Mode != "mock" || f.Commit != "abc123" {
		t.Errorf("facts %+v", f)
	}
	if len(f.Contracts) != 1 || f.Contracts[0].Exercised != 2 || f.Contracts[0].Exchanges != 4 {
		t.Errorf("contracts %+v; want two operations, four exchanges", f.Contracts)
	}
	for _, file := range []string{"api_tests/01 login.txt", "api_tests/02 drawer.txt", "contracts/reos-ledger-p1.jsonl", "contracts/reos-ledger-p1.shard2.jsonl", "contracts/reos.openapi.json"} {
		if _, err := os.Stat(filepath.Join(out, file)); err != nil {
			t.Errorf("the merged pack lacks %s", file)
		}
	}
	var js reporters.JUnitTestSuites
	if err := xml.Unmarshal(mustRead(t, filepath.Join(out, "junit.xml")), &js); err != nil {
		t.Fatal(err)
	}
	if c := js.TestSuites[0].TestCases; len(c) != 2 || c[0].Status != "passed" || c[1].Status != "passed" || js.TestSuites[0].Skipped != 0 {
		t.Errorf("junit cases %+v", c)
	}
	if !strings.Contains(string(mustRead(t, filepath.Join(root, "index.html"))), "mock-merged") {
		t.Error("the history page does not list the merged pack")
	}
	if !strings.Contains(string(mustRead(t, filepath.Join(out, "index.html"))), "Merged from") {
		t.Error("the merged pack's index does not say what it was merged from")
	}

	// What cannot be merged.
	c := shardPack(t, root, "mock", 1, "01 login", "02 drawer")
	prod := shardPack(t, root, "production", 2, "02 drawer", "01 login")
	bad := shardPack(t, root, "mock", 2, "02 drawer", "01 login")
	os.WriteFile(filepath.Join(bad, "api_tests", "02 drawer.txt"), []byte("changed"), 0o644)
	for name, tt := range map[string]struct {
		srcs []string
		want string
	}{
		"a spec in two packs": {[]string{a, c}, `"[It] 01 login does its thing [01 login]" ran in two of the packs`},
		"two modes":           {[]string{a, prod}, "merge each mode's shards on their own"},
		"a pack that fails":   {[]string{a, bad}, "does not verify"},
		"an existing out":     {[]string{a, b}, "exists"},
	} {
		dest := filepath.Join(t.TempDir(), "merged")
		if name == "an existing out" {
			dest = out
		}
		if _, err := evidence.Merge(dest, tt.srcs, key, nil, evidence.Facts{}); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Merge = %v; want an error saying %q", name, err, tt.want)
		}
	}
}
