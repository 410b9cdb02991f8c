package harness

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/onsi/ginkgo/v2/reporters"
	"github.com/onsi/ginkgo/v2/types"

	"github.com/real-estate-os/reos/contract"
	"github.com/real-estate-os/reos/evidence"
	"github.com/real-estate-os/reos/internal/progress"
	"github.com/real-estate-os/reos/internal/sandbox"
)

// Sealed is a sealed, verified pack.
type Sealed struct {
	Dir     string
	Summary string // the flows' outcomes and the pack, for the console
	Races   int    // data races the race detector reported (--race)
}

// Seal finishes the pack of t's run once every spec has ended (the
// suite's ReportAfterSuite): JUnit with each spec's evidence attached
// (relative to the pack), each flow's outcome (evidence.FlowOutcome) and
// wall time, the skipped specs with their reasons, the verdict files, the
// run's facts and provenance; then it signs the pack, verifies it and
// checks it holds none of the run's secrets. It also writes the summary
// beside the packs (summary-<mode>.txt).
func Seal(t *Target, r *types.Report) (*Sealed, error) {
	pack, err := evidence.Open(t.Pack)
	if err != nil {
		return nil, err
	}
	records, _ := pack.Records()
	filesOf := map[string][]string{}
	for _, rec := range records {
		filesOf[rec.Spec] = append(filesOf[rec.Spec], rec.File)
	}
	flows := map[string]*evidence.Flow{}
	var order []string
	counts := map[string]int{}
	var skipped []evidence.Skip
	for i, s := range r.SpecReports {
		if s.LeafNodeType != types.NodeTypeIt {
			continue
		}
		outcome := Outcome(s.State)
		counts[outcome]++
		if outcome == "skipped" {
			reason := strings.Join(strings.Fields(s.Failure.Message), " ")
			if reason == "" {
				reason = evidence.NotSelected + " (--focus or --label-filter)"
				if shard := os.Getenv(progress.ShardEnv); shard != "" {
					reason = evidence.NotSelected + " (another shard's, or --focus or --label-filter; this is shard " + shard + ")"
				}
			}
			skipped = append(skipped, evidence.Skip{Spec: s.FullText(), Reason: reason})
		}
		files := filesOf[s.FullText()]
		var attach strings.Builder
		for _, f := range files { // relative to the pack, where junit.xml is
			fmt.Fprintf(&attach, "[[ATTACHMENT|%s]]\n", f)
		}
		r.SpecReports[i].CapturedStdOutErr += attach.String()
		name := s.ContainerHierarchyTexts[0]
		f := flows[name]
		if f == nil {
			f = &evidence.Flow{Name: name, Outcome: "skipped"}
			flows[name] = f
			order = append(order, name)
		}
		f.Duration += s.RunTime
		f.Files = append(f.Files, files...)
		f.Outcome = evidence.FlowOutcome(f.Outcome, outcome)
	}
	slices.Sort(order)
	races, err := AttachVerdict(pack, os.Getenv)
	if err != nil {
		return nil, err
	}
	if err := attachJUnit(pack, r); err != nil {
		return nil, err
	}
	cov, err := apiCoverageOf(pack)
	if err != nil {
		return nil, err
	}
	var covs []contract.Coverage
	if cov != nil {
		covs = append(covs, *cov)
	}
	vendors, err := vendorCoverage(t, pack)
	if err != nil {
		return nil, err
	}
	covs = append(covs, vendors...)

	network, err := recordNetwork(pack, os.Getenv)
	if err != nil {
		return nil, err
	}
	key, ephemeral, err := evidence.SigningKey(os.LookupEnv)
	if err != nil {
		return nil, err
	}
	commit, dirty := evidence.Git()
	versions := evidence.Versions(os.LookupEnv)
	if t.Mode == "production" {
		delete(versions, "Mailpit") // production mode's mail goes to SendGrid (or its double)
	}
	facts := evidence.Facts{Commit: commit, Dirty: dirty, Mode: t.Mode, Providers: t.Providers, Versions: versions,
		Start: r.StartTime.UTC(), End: time.Now().UTC(), Counts: counts, Config: t.Config, EphemeralKey: ephemeral,
		Skipped: skipped, CI: evidence.Provenance(os.LookupEnv), Network: network, Shard: os.Getenv(progress.ShardEnv)}
	summary := &strings.Builder{}
	fmt.Fprintf(summary, "\nreos flows, %s mode:\n", t.Mode)
	for _, name := range order {
		facts.Flows = append(facts.Flows, *flows[name])
		fmt.Fprintf(summary, "  %-7s %-34s %6.1fs\n", strings.ToUpper(flows[name].Outcome), name, flows[name].Duration.Seconds())
	}
	for _, cov := range covs {
		report := "contracts/" + cov.Contract + ".json"
		b, _ := json.MarshalIndent(cov, "", "  ")
		if _, err := pack.File(contractsDir, report, append(b, '\n')); err != nil {
			return nil, err
		}
		facts.Contracts = append(facts.Contracts, evidence.Contract{Name: cov.Contract, File: cov.Spec.File, Source: cov.Spec.Source,
			Pin: cov.Spec.Pin, Behind: cov.Behind, Documented: cov.Documented, Exercised: cov.Exercised, Validated: cov.Validated,
			Exchanges: cov.Exchanges, Violations: cov.Violations, Conformance: cov.Conformance, Report: report})
		fmt.Fprintf(summary, "contract %s\n", cov.Summary())
	}
	if err := pack.Seal(facts, key); err != nil {
		return nil, err
	}
	report, err := evidence.Verify(pack.Dir, key.Public().(ed25519.PublicKey))
	if err != nil {
		return nil, err
	}
	if !report.OK() {
		return nil, fmt.Errorf("the pack just sealed does not verify:\n%s", report)
	}
	leaks, err := evidence.Leaks(pack.Dir, t.AdminPassword, t.WebhookSecret)
	if err != nil {
		return nil, err
	}
	if len(leaks) > 0 {
		return nil, fmt.Errorf("the pack holds the run's secrets: %v", leaks)
	}
	fmt.Fprintf(summary, "evidence pack: %s (%d files, verified)\n", pack.Dir, report.Files)
	if err := t.Report(progress.Line{Pack: pack.Dir}); err != nil {
		return nil, err
	}
	if ephemeral {
		fmt.Fprintf(summary, "signed with a key made for this run (set EVIDENCE_SIGNING_KEY to sign with yours); its public key is %s\n",
			filepath.Join(pack.Dir, evidence.PublicKeyFile))
	}
	os.WriteFile(filepath.Join(filepath.Dir(filepath.Dir(pack.Dir)), "summary-"+t.Mode+".txt"), []byte(summary.String()), 0o644)
	return &Sealed{Dir: pack.Dir, Summary: summary.String(), Races: races}, nil
}

// recordNetwork says how the run was kept on the machine and, inside reos
// isolate, records each attempt the namespace saw so far in the pack:
// the egress attestation lists them with the product's guard's.
func recordNetwork(pack *evidence.Pack, getenv func(string) string) (evidence.Network, error) {
	attempts, inside := sandbox.Inside()
	if !inside {
		why := getenv(sandbox.OutsideEnv)
		if why == "" {
			why = "not isolated: the suite ran outside reos isolate"
		}
		return evidence.Network{Isolation: why}, nil
	}
	for i, a := range attempts {
		r := a.Record()
		if _, err := pack.Egress("reos isolate", fmt.Sprintf("isolate-%02d-%s", i+1, r.Host), r); err != nil {
			return evidence.Network{}, err
		}
	}
	return evidence.Network{Isolated: true, Isolation: sandbox.Isolation}, nil
}

// attachJUnit writes the report as junit.xml into the pack, with code
// locations relative to the clone: the pack does not carry the paths of
// the machine that ran it.
func attachJUnit(pack *evidence.Pack, r *types.Report) error {
	tmp, err := os.MkdirTemp("", "reos-junit-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := reporters.GenerateJUnitReportWithConfig(*r, filepath.Join(tmp, "junit.xml"), reporters.JunitReportConfig{}); err != nil {
		return err
	}
	junit, err := os.ReadFile(filepath.Join(tmp, "junit.xml"))
	if err != nil {
		return err
	}
	if wd, err := os.Getwd(); err == nil {
		junit = bytes.ReplaceAll(junit, []byte(filepath.Dir(wd)+string(filepath.Separator)), nil)
	}
	_, err = pack.File("suite", "junit.xml", junit)
	return err
}

// Outcome names a spec's end as packs and reos green do: passed, skipped
// (or pending), failed (anything else: failed, panicked, interrupted,
// timed out).
func Outcome(s types.SpecState) string {
	switch s {
	case types.SpecStatePassed:
		return "passed"
	case types.SpecStateSkipped, types.SpecStatePending:
		return "skipped"
	}
	return "failed"
}
