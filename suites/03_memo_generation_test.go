package suites_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	h "github.com/real-estate-os/reos/suites/harness"
)

type memoJob struct {
	ID      string `json:"job_id"`
	Status  string `json:"status"`
	Error   string `json:"error"`
	SHA256  string `json:"sha256"`
	MemoURL string `json:"memo_url"`
}

var _ = Describe("03 memo generation", Label("memo", "pdf", "idempotency"), Ordered, ContinueOnFailure, func() {
	// One user's two properties; the memo jobs of the first and the fourth
	// It (two requests in different seconds, one PDF) are what the later
	// Its read.
	var (
		s        *h.Spec
		p, other *h.Property
		j1, j2   memoJob
		done1    time.Time // when the first job was seen done
	)
	generate := func(key string, id int64) (*h.Response, memoJob) {
		GinkgoHelper()
		r, err := s.API.Do("POST", "/api/v1/jobs/memo/generate", map[string]int64{"property_id": id}, "Idempotency-Key", key)
		Expect(err).NotTo(HaveOccurred())
		Expect(r.Status).To(BeElementOf(200, 201, 202), "generate: %s", r)
		var j memoJob
		Expect(r.JSON(&j)).To(Succeed())
		return r, j
	}
	wait := func(id string) memoJob {
		GinkgoHelper()
		var j memoJob
		Eventually(func(g Gomega) string {
			r, err := s.API.Expect(200, "GET", "/api/v1/jobs/"+id, nil)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(r.JSON(&j)).To(Succeed())
			return j.Status
		}).WithTimeout(60*time.Second).WithPolling(50*time.Millisecond).Should(BeElementOf("done", "failed"), "job %s", id)
		Expect(j.Status).To(Equal("done"), "job %s failed: %s", id, j.Error)
		return j
	}
	rendered := func() {
		GinkgoHelper()
		Expect(j1.SHA256).NotTo(BeEmpty(), "no rendered memo to read: the first spec of this flow did not render one")
	}
	BeforeAll(func() {
		s = env.NewSpec("memo")
		p = s.CreateProperty(1, h.NewProperty{PriceDollars: 245_000, ARVDollars: 330_000, RehabDollars: 25_000, RentDollars: 2_100, ListedDaysAgo: 30})
		other = s.CreateProperty(2, h.NewProperty{})
	})
	AfterEach(func() { s.EachIt() })

	It("renders a memo and shows every page of it and its hash in the viewer", func() {
		r, j := generate(s.Key+"-a", p.ID)
		s.Record("memo-generate", r)
		page := s.NewPage() // while the memo renders
		s.SignInWithoutPage()
		j1, done1 = wait(j.ID), time.Now()
		Expect(j1.SHA256).To(HaveLen(64))
		_, err := page.Goto(s.Target.URL + "/memos/" + j1.ID)
		Expect(err).NotTo(HaveOccurred())
		h.WaitFor(page, h.TestID("memo-viewer"), 10*time.Second, "the memo viewer")
		Expect(h.Text(page, h.TestID("memo-sha"))).To(Equal(j1.SHA256))
		Expect(h.Eval(page, `() => [...document.querySelectorAll('[data-testid="memo-page"]')].every((i) => i.complete && i.naturalWidth > 500)`, 20*time.Second)).
			To(BeTrue(), "the viewer does not show every page of the memo")
		s.Shot(page, "memo_pdf_viewer.png", true) // the whole memo, every page, not the first screenful
	})

	It("replays the job for a request sent again under its key, and refuses a changed request under it", func() {
		key := s.Key + "-c"
		_, j := generate(key, p.ID)
		replay, jr := generate(key, p.ID)
		s.Record("memo-idempotent-replay", replay)
		Expect(replay.Header.Get("Idempotent-Replayed")).To(Equal("true"))
		Expect(jr.ID).To(Equal(j.ID), "the replayed job")
		conflict, err := s.API.Do("POST", "/api/v1/jobs/memo/generate", map[string]int64{"property_id": other.ID}, "Idempotency-Key", key)
		Expect(err).NotTo(HaveOccurred())
		s.Record("memo-idempotency-conflict-422", conflict)
		Expect(conflict.Status).To(Equal(422), "a changed body under a used key: %s", conflict)
	})

	It("shows another user neither the job nor its memo's URL", func() {
		_, j := generate(s.Key+"-d", p.ID)
		stranger := env.NewSpec("memo-other")
		theirs, err := stranger.API.Do("GET", "/api/v1/jobs/"+j.ID, nil)
		Expect(err).NotTo(HaveOccurred())
		s.Record("memo-job-other-user-404", theirs)
		Expect(theirs.Status).To(Equal(404), "another user asking for the spec's job: %s", theirs)
		Expect(string(theirs.Body)).NotTo(ContainSubstring("X-Amz-Signature"), "another user was given the memo's presigned URL")
	})

	It("renders the same PDF bytes for a second request made in a later second", func() {
		rendered()
		// PDF dates have whole seconds: the second rendering starts in a
		// later second than the first ended, or a clock-stamped memo would
		// pass. (The specs since have usually used that second up.)
		Eventually(func() int64 { return time.Now().Unix() }).WithTimeout(3 * time.Second).WithPolling(20 * time.Millisecond).Should(BeNumerically(">", done1.Unix()))
		_, j := generate(s.Key+"-b", p.ID)
		Expect(j.ID).NotTo(Equal(j1.ID), "two keys, two jobs")
		second := wait(j.ID)
		if second.SHA256 != j1.SHA256 {
			Fail("two renderings of one property gave different PDFs: " + pdfDifference(s, j1, second))
		}
		j2 = second
	})

	It("stores the PDF it hashed, valid, saying what the property is", func() {
		rendered()
		var pdf []byte
		for i, j := range []memoJob{j1, j2} {
			if j.SHA256 == "" {
				continue // the second rendering failed its own spec
			}
			r, err := (&h.Client{HTTP: s.API.HTTP}).Expect(200, "GET", j.MemoURL, nil)
			Expect(err).NotTo(HaveOccurred())
			sum := sha256.Sum256(r.Body)
			Expect(hex.EncodeToString(sum[:])).To(Equal(j.SHA256), "the stored PDF's SHA-256")
			_, err = s.Pack.Hash(s.Name(), fmt.Sprintf("memo-%s-job%d.pdf", s.Key, i+1), r.Body)
			Expect(err).NotTo(HaveOccurred())
			pdf = r.Body
		}
		doc, err := h.ReadPDF(pdf)
		Expect(err).NotTo(HaveOccurred())
		Expect(doc.Pages).To(BeNumerically(">=", 1))
		text := doc.All()
		for _, want := range []string{"Investment Memo", p.Address, "Austin, TX 78701", p.OwnerName,
			usd(p.ListPriceCents), usd(p.ARVCents), usd(p.RehabCents), usd(p.ARVCents - p.ListPriceCents - p.RehabCents), usd(p.MonthlyRentCents)} {
			Expect(text).To(ContainSubstring(want), "the memo's text (pdftotext) lacks %q", want)
		}
	})

	It("raises no page errors, console errors or CSP violations on the way", func() {
		Expect(s.PageProblems()).To(BeEmpty())
	})
})

// usd formats cents as the memo does: $1,234,567.89.
func usd(cents int64) string {
	sign := ""
	if cents < 0 {
		sign, cents = "-", -cents
	}
	d := fmt.Sprint(cents / 100)
	for i := len(d) - 3; i > 0; i -= 3 {
		d = d[:i] + "," + d[i:]
	}
	return fmt.Sprintf("%s$%s.%02d", sign, d, cents%100)
}

// pdfDifference says where two memos differ: the first differing line of
// their text, or that only their bytes differ.
func pdfDifference(s *h.Spec, a, b memoJob) string {
	var docs [2]*h.PDF
	var raw [2][]byte
	for i, j := range []memoJob{a, b} {
		r, err := (&h.Client{HTTP: s.API.HTTP}).Expect(200, "GET", j.MemoURL, nil)
		if err != nil {
			return err.Error()
		}
		raw[i] = r.Body
		if docs[i], err = h.ReadPDF(r.Body); err != nil {
			return err.Error()
		}
	}
	la, lb := strings.Split(docs[0].All(), "\n"), strings.Split(docs[1].All(), "\n")
	for i := range min(len(la), len(lb)) {
		if la[i] != lb[i] {
			return fmt.Sprintf("text line %d: %q vs %q", i+1, la[i], lb[i])
		}
	}
	if len(la) != len(lb) {
		return fmt.Sprintf("%d vs %d lines of text", len(la), len(lb))
	}
	for i := range min(len(raw[0]), len(raw[1])) {
		if raw[0][i] != raw[1][i] {
			lo := max(0, i-40)
			return fmt.Sprintf("same text; the bytes differ at offset %d: %q vs %q", i, raw[0][lo:min(len(raw[0]), i+40)], raw[1][lo:min(len(raw[1]), i+40)])
		}
	}
	return fmt.Sprintf("%d vs %d bytes", len(raw[0]), len(raw[1]))
}
