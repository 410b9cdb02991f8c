package smtp_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/real-estate-os/reos/mocks/mailpit"
	"github.com/real-estate-os/reos/system"
	"github.com/real-estate-os/reos/system/egress"
	"github.com/real-estate-os/reos/system/provider/smtp"
)

func startMailpit(t *testing.T) *mailpit.Process {
	t.Helper()
	p, err := mailpit.Start(context.Background(), "", t.TempDir())
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// TestEmailLandsInMailpit sends through the provider and reads the message
// back through Mailpit's API.
func TestEmailLandsInMailpit(t *testing.T) {
	ctx := context.Background()
	mp := startMailpit(t)
	m := &smtp.Mailer{Addr: mp.SMTPAddr, Dial: (&egress.Guard{}).DialContext("mailpit-smtp")}
	if err := m.Check(ctx); err != nil {
		t.Fatal(err)
	}
	id, err := m.SendEmail(ctx, &system.Email{
		From: "Real Estate OS <deals@reos.example.com>", To: "Zoë Müller <owner30@example.com>",
		Subject: "Following up on 4127 Magnolia Ct — Łódź", Text: "Hello Zoë,\nA line that is longer than seventy-six characters so that quoted-printable has to wrap it.",
		HTML: "<p>Hello Zoë</p>", MessageID: "msg-42",
	})
	if err != nil {
		t.Fatal(err)
	}
	c := &mailpit.Client{BaseURL: mp.APIURL}
	var found []mailpit.Summary
	deadline := time.Now().Add(5 * time.Second)
	for len(found) == 0 && time.Now().Before(deadline) {
		found, err = c.Search(ctx, "to:owner30@example.com")
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(found) != 1 {
		t.Fatalf("Mailpit holds %d messages for owner30, want 1", len(found))
	}
	msg, err := c.Message(ctx, found[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if "<"+msg.MessageID+">" != id || msg.Subject != "Following up on 4127 Magnolia Ct — Łódź" || msg.From.Address != "deals@reos.example.com" ||
		!strings.Contains(msg.Text, "A line that is longer than seventy-six characters so that quoted-printable has to wrap it.") || !strings.Contains(msg.HTML, "Hello Zoë") {
		t.Errorf("caught %+v (id %s)", msg, id)
	}
	if h, err := c.Headers(ctx, found[0].ID); err != nil || len(h[smtp.MessageIDHeader]) != 1 || h[smtp.MessageIDHeader][0] != "msg-42" {
		t.Errorf("headers %v, %v: want %s: msg-42", h, err, smtp.MessageIDHeader)
	}
}

func TestHeaderInjectionRefused(t *testing.T) {
	m := &smtp.Mailer{Addr: "127.0.0.1:1", Dial: (&egress.Guard{}).DialContext("mailpit-smtp")}
	_, err := m.SendEmail(context.Background(), &system.Email{From: "a@example.com", To: "b@example.com", Subject: "hi\r\nBcc: victim@example.com", Text: "x"})
	if system.ErrorCode(err) != system.EINVALID {
		t.Errorf("subject with CRLF: %v, want EINVALID", err)
	}
}
