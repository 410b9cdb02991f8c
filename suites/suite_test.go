// Package suites is the reos suite: eight flows through the product's API
// and its web UI in a real browser, the same specs in mock mode and in
// production mode (REOS_SUITE_MODE), each recording what it proved into
// one evidence pack.
//
//	go tool ginkgo -p ./suites                          # every flow, mock mode
//	go tool ginkgo --focus memo ./suites                 # one flow
//	go tool ginkgo --label-filter sms ./suites           # by label
//	REOS_SUITE_MODE=production go tool ginkgo -p ./suites  # against the contract doubles
//
// With nothing running, the suite starts the stack in-process; set
// REOS_BASE_URL to test a running one (harness.Settings lists every
// setting).
package suites_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/reporters"
	"github.com/onsi/ginkgo/v2/types"
	. "github.com/onsi/gomega"

	"github.com/real-estate-os/reos/evidence"
	"github.com/real-estate-os/reos/internal/progress"
	"github.com/real-estate-os/reos/suites/harness"
)

func TestFlows(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "reos flows")
}

// env is this process's view of the target.
var env *harness.Env

// first is the target as the first process started it (nil elsewhere).
var first *harness.Target

var _ = SynchronizedBeforeSuite(func(ctx SpecContext) []byte {
	cfg, err := harness.Load(os.Getenv)
	Expect(err).NotTo(HaveOccurred())
	t, stop, err := harness.Start(ctx, cfg)
	Expect(err).NotTo(HaveOccurred(), "start the target")
	DeferCleanup(stop) // on the first process, once every process is done
	pack, err := evidence.Create(cfg.EvidenceDir, cfg.Mode, time.Now())
	Expect(err).NotTo(HaveOccurred())
	t.Pack = pack.Dir
	first = t
	b, _ := json.Marshal(t)
	return b
}, func(b []byte) {
	var err error
	env, err = harness.Connect(b)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(env.Close)
}, NodeTimeout(3*time.Minute))

// Nothing but the flows' own drill may have tried to leave the machine:
// the product's egress log, when the suite started the product, stays
// empty.
var _ = SynchronizedAfterSuite(func() {}, func() {
	if first == nil {
		return
	}
	lines, _ := first.Refused(0)
	pack, err := evidence.Open(first.Pack)
	Expect(err).NotTo(HaveOccurred())
	if first.ProductLog != "" {
		log, err := os.ReadFile(first.ProductLog)
		Expect(err).NotTo(HaveOccurred())
		_, err = pack.File("the product", "product.log", log)
		Expect(err).NotTo(HaveOccurred())
	}
	_, err = pack.GuardLog("the product", "unexpected", []byte(strings.Join(lines, "\n")), nil)
	Expect(err).NotTo(HaveOccurred())
	Expect(lines).To(BeEmpty(), "the product tried to leave the machine (refused, recorded in egress/)")
})

// Each spec's end goes to the progress file, for reos green's live lines.
var _ = ReportAfterEach(func(s SpecReport) {
	if env == nil || s.LeafNodeType != types.NodeTypeIt || s.State == types.SpecStateSkipped && s.Failure.Message == "" {
		return // not an It, or left out by --focus or --label-filter
	}
	failure := strings.Join(strings.Fields(s.Failure.Message), " ")
	if r := []rune(failure); len(r) > 300 {
		failure = string(r[:300]) + "…"
	}
	env.Target.Report(progress.Line{Flow: s.ContainerHierarchyTexts[0], Spec: s.LeafNodeText, Outcome: outcomeOf(s.State),
		Seconds: s.RunTime.Seconds(), Failure: failure})
})

// The pack is sealed once every process is done: JUnit with each spec's
// evidence attached, the flows' outcomes and wall times, signed.
var _ = ReportAfterSuite("evidence pack", func(r Report) {
	if first == nil {
		return
	}
	pack, err := evidence.Open(first.Pack)
	Expect(err).NotTo(HaveOccurred())
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
		outcome := outcomeOf(s.State)
		counts[outcome]++
		if outcome == "skipped" {
			reason := strings.Join(strings.Fields(s.Failure.Message), " ")
			if reason == "" {
				reason = "not selected (--focus or --label-filter)"
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
		switch {
		case outcome == "failed" || f.Outcome == "failed":
			f.Outcome = "failed"
		case outcome == "passed":
			f.Outcome = "passed"
		}
	}
	slices.Sort(order)
	races, err := harness.AttachVerdict(pack, os.Getenv)
	Expect(err).NotTo(HaveOccurred())
	tmp, err := os.MkdirTemp("", "reos-junit-")
	Expect(err).NotTo(HaveOccurred())
	defer os.RemoveAll(tmp)
	Expect(reporters.GenerateJUnitReportWithConfig(r, filepath.Join(tmp, "junit.xml"), reporters.JunitReportConfig{})).To(Succeed())
	junit, err := os.ReadFile(filepath.Join(tmp, "junit.xml"))
	Expect(err).NotTo(HaveOccurred())
	// Code locations and trace paths relative to the clone: the pack does
	// not carry the paths of the machine that ran it.
	if wd, err := os.Getwd(); err == nil {
		junit = bytes.ReplaceAll(junit, []byte(filepath.Dir(wd)+string(filepath.Separator)), nil)
	}
	_, err = pack.File("suite", "junit.xml", junit)
	Expect(err).NotTo(HaveOccurred())

	key, ephemeral, err := evidence.SigningKey(os.LookupEnv)
	Expect(err).NotTo(HaveOccurred())
	commit, dirty := evidence.Git()
	versions := evidence.Versions(os.LookupEnv)
	if first.Mode == "production" {
		delete(versions, "Mailpit") // production mode's mail goes to SendGrid (or its double)
	}
	facts := evidence.Facts{Commit: commit, Dirty: dirty, Mode: first.Mode, Providers: first.Providers, Versions: versions,
		Start: r.StartTime.UTC(), End: time.Now().UTC(), Counts: counts, Config: first.Config, EphemeralKey: ephemeral,
		Skipped: skipped, CI: evidence.Provenance(os.LookupEnv)}
	summary := &strings.Builder{}
	fmt.Fprintf(summary, "\nreos flows, %s mode:\n", first.Mode)
	for _, name := range order {
		facts.Flows = append(facts.Flows, *flows[name])
		fmt.Fprintf(summary, "  %-7s %-34s %6.1fs\n", strings.ToUpper(flows[name].Outcome), name, flows[name].Duration.Seconds())
	}
	Expect(pack.Seal(facts, key)).To(Succeed())
	report, err := evidence.Verify(pack.Dir, key.Public().(ed25519.PublicKey))
	Expect(err).NotTo(HaveOccurred())
	Expect(report.OK()).To(BeTrue(), "the pack just sealed does not verify:\n%s", report)
	leaks, err := evidence.Leaks(pack.Dir, first.AdminPassword, first.WebhookSecret)
	Expect(err).NotTo(HaveOccurred())
	Expect(leaks).To(BeEmpty(), "the pack holds the run's secrets")
	fmt.Fprintf(summary, "evidence pack: %s (%d files, verified)\n", pack.Dir, report.Files)
	Expect(first.Report(progress.Line{Pack: pack.Dir})).To(Succeed())
	if ephemeral {
		fmt.Fprintf(summary, "signed with a key made for this run (set EVIDENCE_SIGNING_KEY to sign with yours); its public key is %s\n",
			filepath.Join(pack.Dir, evidence.PublicKeyFile))
	}
	os.WriteFile(filepath.Join(filepath.Dir(filepath.Dir(pack.Dir)), "summary-"+first.Mode+".txt"), []byte(summary.String()), 0o644)
	fmt.Fprint(os.Stdout, summary.String())
	// Last, once the pack is sealed and reported: it holds the reports.
	Expect(races).To(BeZero(), "the race detector reported %d data races (in %s)", races, filepath.Join(pack.Dir, harness.Verdict, "race"))
})

func outcomeOf(s types.SpecState) string {
	switch s {
	case types.SpecStatePassed:
		return "passed"
	case types.SpecStateSkipped, types.SpecStatePending:
		return "skipped"
	}
	return "failed"
}
