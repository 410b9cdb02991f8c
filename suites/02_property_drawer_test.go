package suites_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/mxschmitt/playwright-go"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	h "github.com/real-estate-os/reos/suites/harness"
)

var _ = Describe("02 property drawer", Label("drawer", "reasons", "dnc", "ui"), func() {
	It("shows the reasons the published rules give, and a do-not-contact owner's actions disabled with the reason, refused by the API too", func() {
		s := env.NewSpec("drawer")
		rules, err := h.PublishedRules()
		Expect(err).NotTo(HaveOccurred())
		// Listed 120 days ago, never contacted, a 31 % spread: first
		// contact, high equity and long listed apply; thin margin does not.
		deal := s.CreateProperty(1, h.NewProperty{PriceDollars: 200_000, ARVDollars: 320_000, RehabDollars: 20_000, ListedDaysAgo: 120})
		optedOut := s.CreateProperty(2, h.NewProperty{Stage: "contacted", PriceDollars: 180_000, ARVDollars: 200_000, ListedDaysAgo: 10})

		By("the owner of the second property texts STOP")
		h.Vendor(env.Phone.Text(context.Background(), optedOut.OwnerPhone, "STOP"), env.Phone.Setting(), "an owner texting STOP")
		Eventually(func() bool { return s.Property(optedOut.ID).OwnerDNC }).WithTimeout(15*time.Second).Should(BeTrue(),
			"the STOP never put the owner on the do-not-contact list")

		page := s.NewPage()
		s.SignIn(page)

		for _, p := range []*h.Property{deal, s.Property(optedOut.ID)} {
			want := h.Evaluate(rules, p.Deal(), time.Now())
			Expect(want).NotTo(BeEmpty(), "the spec's property %d should fire rules", p.ID)
			open(page, p.ID)
			Expect(drawerReasons(page)).To(Equal(want), "the drawer's reasons for property %d", p.ID)

			r, err := s.API.Expect(200, "GET", fmt.Sprintf("/api/v1/properties/%d/reasons", p.ID), nil)
			Expect(err).NotTo(HaveOccurred())
			var api struct {
				Reasons []struct {
					RuleID string `json:"rule_id"`
					Reason string `json:"reason"`
					Action string `json:"action"`
				} `json:"reasons"`
			}
			Expect(r.JSON(&api)).To(Succeed())
			var got []h.Expected
			for _, x := range api.Reasons {
				got = append(got, h.Expected{RuleID: x.RuleID, Reason: x.Reason, Action: x.Action})
			}
			Expect(got).To(Equal(want), "GET /api/v1/properties/%d/reasons", p.ID)
			if p.ID == deal.ID {
				s.Record("reasons", r)
				h.Must(page.Locator(h.TestID("drawer-close")).Click(), "close the drawer")
			}
		}

		By("the do-not-contact owner cannot be emailed or texted, and the drawer says why")
		for _, id := range []string{"sms-owner", "email-owner"} {
			Expect(page.Locator(h.TestID(id)).IsDisabled()).To(BeTrue(), "%s is enabled for an owner who opted out", id)
		}
		h.WaitFor(page, `[data-testid="dnc-reason"]:has-text("opted out by replying STOP")`, 10*time.Second, "the reason the owner cannot be contacted")
		// The picture is of what its caption says: the opted-out owner's
		// drawer, its reasons, the actions disabled and why.
		s.Shot(page, "property_drawer_reasons.png", false)
		sms, err := s.API.Do("POST", "/api/v1/communications/sms", map[string]any{"property_id": optedOut.ID, "to": optedOut.OwnerPhone, "body": "Still selling?"})
		Expect(err).NotTo(HaveOccurred())
		s.Record("dnc-sms-422", sms)
		Expect(sms.Status).To(Equal(422), "an SMS to an opted-out owner: %s", sms)
		Expect(string(sms.Body)).To(ContainSubstring("/problems/dnc"))
		email, err := s.API.Do("POST", "/api/v1/communications/email-thread", map[string]any{"property_id": optedOut.ID,
			"to_address": optedOut.OwnerEmail, "subject": "Your property", "body": "Still selling?"})
		Expect(err).NotTo(HaveOccurred())
		s.Record("dnc-email-422", email)
		Expect(email.Status).To(Equal(422), "an email to an opted-out owner: %s", email)

		By("the deal of a do-not-contact owner does not move past contacted")
		move, err := s.API.Do("PATCH", fmt.Sprintf("/api/v1/properties/%d", optedOut.ID), map[string]string{"stage": "qualified"})
		Expect(err).NotTo(HaveOccurred())
		s.Record("dnc-move-422", move)
		Expect(move.Status).To(Equal(422), "moving an opted-out owner's property to qualified: %s", move)
		Expect(string(move.Body)).To(ContainSubstring("/problems/dnc"), "%s", move)
		Expect(s.Property(optedOut.ID).Stage).To(Equal("contacted"), "the refused move was written")
		Expect(s.PageProblems()).To(BeEmpty())
	})
})

// open opens a property's drawer from the board.
func open(page playwright.Page, id int64) {
	GinkgoHelper()
	h.Must(page.Locator(fmt.Sprintf(`[data-testid="card-%d"] .card-title`, id)).Click(), "open the drawer")
	h.WaitFor(page, fmt.Sprintf(`[data-testid="drawer-body"][data-id="%d"]`, id), 10*time.Second, "the drawer")
}

// drawerReasons reads the reasons the open drawer lists.
func drawerReasons(page playwright.Page) []h.Expected {
	GinkgoHelper()
	items, err := page.Locator(`[data-testid="reasons"] li[data-rule]`).All()
	Expect(err).NotTo(HaveOccurred())
	var out []h.Expected
	for _, li := range items {
		id, _ := li.GetAttribute("data-rule")
		reason, _ := li.Locator(".reason").TextContent()
		action, _ := li.Locator(".muted").TextContent()
		out = append(out, h.Expected{RuleID: id, Reason: strings.TrimSpace(reason), Action: strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(action), "→"))})
	}
	return out
}
