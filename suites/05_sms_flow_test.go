package suites_test

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/mxschmitt/playwright-go"

	h "github.com/real-estate-os/reos/suites/harness"
)

var _ = Describe("05 sms flow", Label("sms", "dnc", "ui"), Ordered, ContinueOnFailure, func() {
	// One owner texted from one drawer, in order: the text, its callbacks,
	// the owner's reply and STOP, and the refusal after it.
	var (
		s    *h.Spec
		p    *h.Property
		page playwright.Page
		all  []h.SMS // every message with the owner once STOP is in
	)
	outbound := func() []h.SMS {
		GinkgoHelper()
		all, err := env.Phone.Messages(context.Background(), p.OwnerPhone)
		h.Vendor(err, env.Phone.Setting(), "reading the SMS vendor's messages")
		var out []h.SMS
		for _, m := range all {
			if m.To == p.OwnerPhone && m.Direction != "inbound" {
				out = append(out, m)
			}
		}
		return out
	}
	BeforeAll(func() {
		s = env.NewSpec("sms")
		p = s.CreateProperty(1, h.NewProperty{})
		outbound() // skips at once with a real vendor
		page = s.NewPage()
		s.SignIn(page)
	})
	AfterEach(func() { s.EachIt() })

	It("texts the owner from the drawer, and shows it delivered, live", func() {
		open(page, p.ID)
		h.Must(page.Locator(h.TestID("sms-owner")).Click(), "compose the SMS")
		h.Must(page.Locator(h.TestID("sms-body")).Fill("Hello from the pipeline — still thinking of selling?"), "write")
		h.Must(page.Locator(h.TestID("sms-send")).Click(), "send")
		h.WaitFor(page, `[data-testid="thread-sms"] [data-testid="message-status"]:text("delivered")`, 20*time.Second, "delivered, live")
	})

	It("had the vendor send it once, and accepted every signed status callback", func() {
		sent := outbound()
		Expect(sent).To(HaveLen(1))
		var rec struct {
			Status    string `json:"status"`
			Callbacks []struct {
				Status       string `json:"status"`
				ResponseCode int    `json:"response_code"`
			} `json:"callbacks"`
		}
		Expect(json.Unmarshal(sent[0].Resource, &rec)).To(Succeed())
		Expect(rec.Status).To(Equal("delivered"))
		Expect(rec.Callbacks).NotTo(BeEmpty())
		for _, cb := range rec.Callbacks {
			Expect(cb.ResponseCode/100).To(Equal(2), "the product answered the signed %s callback with %d", cb.Status, cb.ResponseCode)
		}
		_, err := s.Pack.SMS(s.Name(), s.Key+"-outbound", sent[0].Resource)
		Expect(err).NotTo(HaveOccurred())
	})

	It("shows the owner's reply, then their STOP, live, and disables texting", func() {
		h.Vendor(env.Phone.Text(context.Background(), p.OwnerPhone, "Yes - call me after 5pm"), env.Phone.Setting(), "an owner replying")
		h.WaitFor(page, `[data-testid="thread-sms"] .msg-inbound:has-text("call me after 5pm")`, 10*time.Second, "the reply, live")
		h.Must(env.Phone.Text(context.Background(), p.OwnerPhone, "STOP"), "the owner texts STOP")
		h.WaitFor(page, `[data-testid="dnc-reason"]:has-text("opted out")`, 10*time.Second, "the opt-out, live")
		Expect(page.Locator(h.TestID("sms-owner")).IsDisabled()).To(BeTrue(), "SMS owner is still enabled after STOP")
		var err error
		all, err = env.Phone.Messages(context.Background(), p.OwnerPhone)
		Expect(err).NotTo(HaveOccurred())
		for i, m := range all {
			s.Pack.SMS(s.Name(), fmt.Sprintf("%s-%02d-%s", s.Key, i+1, m.Direction), m.Resource)
		}
	})

	It("refuses the next text with 422, and it never reaches the vendor", func() {
		Expect(all).NotTo(BeEmpty(), "no STOP to hold the owner to: the previous spec did not get one in")
		r, err := s.API.Do("POST", "/api/v1/communications/sms", map[string]any{"property_id": p.ID, "to": p.OwnerPhone, "body": "One more thing"})
		Expect(err).NotTo(HaveOccurred())
		s.Record("sms-after-stop-422", r)
		Expect(r.Status).To(Equal(422), "a text after STOP: %s", r)
		Expect(string(r.Body)).To(ContainSubstring("/problems/dnc"))
		Consistently(func() int {
			n, _ := env.Phone.Messages(context.Background(), p.OwnerPhone)
			return len(n)
		}).WithTimeout(2*time.Second).WithPolling(250*time.Millisecond).
			Should(Equal(len(all)), "a text after STOP reached the vendor")
	})

	It("raises no page errors, console errors or CSP violations on the way", func() {
		Expect(s.PageProblems()).To(BeEmpty())
	})
})
