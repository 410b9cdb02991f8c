package suites_test

import (
	"context"
	"regexp"
	"time"

	"github.com/mxschmitt/playwright-go"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	h "github.com/real-estate-os/reos/suites/harness"
)

var pixel = regexp.MustCompile(`https?://[^"'\s>]+/api/v1/t/open/[A-Za-z0-9._~-]+`)

var _ = Describe("04 email tracking", Label("email", "ui"), func() {
	It("sends an email from the drawer that the mode's inbox catches, and shows it opened, live, once its pixel is fetched", func() {
		s := env.NewSpec("email")
		p := s.CreateProperty(1, h.NewProperty{})
		page := s.NewPage()
		s.SignIn(page)
		open(page, p.ID)
		h.Must(page.Locator(h.TestID("email-owner")).Click(), "compose the email")
		subject, err := page.Locator("#ce-subject").InputValue()
		Expect(err).NotTo(HaveOccurred())
		Expect(subject).NotTo(BeEmpty(), "the email is not composed from the stage's template")
		h.Must(page.Locator(h.TestID("email-send")).Click(), "send")
		h.WaitFor(page, `[data-testid="thread-email"] [data-testid="message-status"]`, 15*time.Second, "the email in the thread")

		By("the inbox of the mode caught it")
		_, err = env.Mail.Emails(context.Background(), p.OwnerEmail)
		h.Vendor(err, env.Mail.Setting(), "reading the email vendor's inbox")
		var mail h.Email
		Eventually(func(g Gomega) {
			got, err := env.Mail.Emails(context.Background(), p.OwnerEmail)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got).To(HaveLen(1))
			mail = got[0]
		}).WithTimeout(15*time.Second).WithPolling(200*time.Millisecond).Should(Succeed(), "the inbox (%s) never caught the email to %s", env.Mail.Name(), p.OwnerEmail)
		Expect(mail.Subject).To(Equal(subject))
		link := pixel.FindString(mail.HTML)
		Expect(link).NotTo(BeEmpty(), "the email carries no open-tracking pixel")
		Expect(page.Locator(`[data-testid="thread-email"] [data-testid="message-opened"]`).Count()).To(Equal(0), "opened before anyone opened it")

		By("the owner's mail client fetches the pixel; the thread shows it opened")
		r, err := (&h.Client{HTTP: s.API.HTTP}).Expect(200, "GET", link, nil)
		Expect(err).NotTo(HaveOccurred())
		s.Record("email-open-pixel", r)
		h.WaitFor(page, `[data-testid="thread-email"] [data-testid="message-opened"]`, 10*time.Second, "opened, live")
		h.ScrollTo(page, h.TestID("thread-email"), 10*time.Second, "the thread")
		s.Shot(page, "email_thread_opened.png", false) // the drawer's thread, the email marked opened

		rendering := s.NewStranger(h.OtherIP())
		h.Must(rendering.Route("**/*", func(r playwright.Route) { r.Abort() }), "keep the rendering offline") // no second open
		h.Must(rendering.SetViewportSize(900, 640), "size the rendering")
		h.Must(rendering.SetContent(mail.ReaderView()), "render the email as a reader sees it")
		png, err := rendering.Screenshot(playwright.PageScreenshotOptions{FullPage: playwright.Bool(true)})
		Expect(err).NotTo(HaveOccurred())
		_, err = s.Pack.Email(s.Name(), env.Mail.Name()+"_email", mail.EML, png)
		Expect(err).NotTo(HaveOccurred())
		Expect(s.PageProblems()).To(BeEmpty())
	})
})
