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
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
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
	harness.Prewarm()
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
	harness.Prewarm()
	var err error
	env, err = harness.Connect(b)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(env.Close)
}, NodeTimeout(3*time.Minute))

// Each process puts its ledger of the product API's exchanges into the
// pack. Then nothing but the flows' own drill may have tried to leave the
// machine: the product's egress log, when the suite started the product,
// stays empty.
var _ = SynchronizedAfterSuite(func() {
	if env != nil {
		Expect(env.WriteLedger()).To(Succeed())
	}
}, func() {
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
	broken, err := first.VendorContracts(pack)
	Expect(err).NotTo(HaveOccurred())
	Expect(broken).To(BeEmpty(), "exchanges between the product and the vendors' doubles broke the vendors' contracts (ledgers in contracts/)")
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
	env.Target.Report(progress.Line{Flow: s.ContainerHierarchyTexts[0], Spec: s.LeafNodeText, Outcome: harness.Outcome(s.State),
		Seconds: s.RunTime.Seconds(), Failure: failure})
})

// The pack is sealed once every process is done: JUnit with each spec's
// evidence attached, the flows' outcomes and wall times, signed, verified
// and checked for the run's secrets.
var _ = ReportAfterSuite("evidence pack", func(r Report) {
	if first == nil {
		return
	}
	sealed, err := harness.Seal(first, &r)
	Expect(err).NotTo(HaveOccurred())
	fmt.Fprint(os.Stdout, sealed.Summary)
	// Last, once the pack is sealed and reported: it holds the reports.
	Expect(sealed.Races).To(BeZero(), "the race detector reported %d data races (in %s)", sealed.Races, filepath.Join(sealed.Dir, harness.Verdict, "race"))
})
