package harness

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"mime/multipart"
	"net/http"
	"net/mail"
	"net/textproto"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/real-estate-os/reos/mocks/mailpit"
)

// ErrNoInbox is what an inbox answers when the vendor's side cannot be
// seen: a real vendor. Specs skip the check and name the setting.
var ErrNoInbox = errors.New("the vendor's side cannot be inspected")

// Email is a message as the mode's mail catcher received it.
type Email struct {
	ID      string
	From    string
	To      []string
	Subject string
	Text    string
	HTML    string
	// EML is the message as RFC 5322 source.
	EML []byte
}

// ReaderView is the email as a mail client shows it: From, To, Subject and
// Date above its HTML body (in a sandboxed frame: no script, nothing
// fetched), for a picture of it.
func (e Email) ReaderView() string {
	date := ""
	if m, err := mail.ReadMessage(bytes.NewReader(e.EML)); err == nil {
		date = m.Header.Get("Date")
	}
	row := func(k, v string) string {
		return "<tr><th>" + k + "</th><td>" + html.EscapeString(v) + "</td></tr>"
	}
	return `<!doctype html><html><head><meta charset="utf-8"><style>
body{font:14px system-ui,sans-serif;margin:0;background:#f3f4f6;color:#111}
.mail{max-width:760px;margin:24px auto;background:#fff;border:1px solid #d1d5db;border-radius:8px}
table{border-collapse:collapse;margin:16px 20px}th{text-align:right;color:#6b7280;font-weight:500;padding:3px 12px 3px 0}td{padding:3px 0}
h1{font-size:18px;margin:16px 20px 0}iframe{display:block;width:100%;height:420px;border:0;border-top:1px solid #e5e7eb}
</style></head><body><div class="mail"><h1>` + html.EscapeString(e.Subject) + `</h1><table>` +
		row("From", e.From) + row("To", strings.Join(e.To, ", ")) + row("Subject", e.Subject) + row("Date", date) +
		`</table><iframe sandbox="" srcdoc="` + html.EscapeString(e.HTML) + `"></iframe></div></body></html>`
}

// Mailbox reads what the email vendor (or its stand-in) received.
type Mailbox interface {
	// Name names the catcher: mailpit, or sendgrid (the double).
	Name() string
	// Emails returns the messages to the address, oldest first.
	Emails(ctx context.Context, to string) ([]Email, error)
	// Setting is what to set when the mailbox cannot be read.
	Setting() string
}

// SMS is a message as the SMS vendor (or its stand-in) keeps it.
type SMS struct {
	SID       string          `json:"sid"`
	From      string          `json:"from"`
	To        string          `json:"to"`
	Body      string          `json:"body"`
	Status    string          `json:"status"`
	Direction string          `json:"direction"`
	Resource  json.RawMessage `json:"-"` // the vendor's resource, whole
}

// Phone is the SMS vendor's side: what it sent, a phone texting in, and
// faults for a spec's own numbers.
type Phone interface {
	// Messages returns the messages to or from number, oldest first.
	Messages(ctx context.Context, number string) ([]SMS, error)
	// Text makes from text the account's number.
	Text(ctx context.Context, from, body string) error
	// Break makes the vendor answer every send to number with a server
	// error (Twilio 20500); Mend undoes it. Nobody else's sends change.
	Break(ctx context.Context, number string) error
	Mend(ctx context.Context, number string) error
	Setting() string
}

// NewMailbox returns the target's mailbox.
func NewMailbox(t *Target) Mailbox {
	switch t.MailKind {
	case "mailpit":
		return &mailpitBox{c: &mailpit.Client{BaseURL: t.MailURL}}
	case "sendgrid":
		return &sendgridBox{url: t.MailURL}
	}
	return noMailbox{}
}

// NewPhone returns the target's SMS vendor side.
func NewPhone(t *Target) Phone {
	if t.TwilioURL == "" {
		return noPhone{}
	}
	return &twilioControl{url: t.TwilioURL}
}

type mailpitBox struct{ c *mailpit.Client }

func (m *mailpitBox) Name() string    { return "mailpit" }
func (m *mailpitBox) Setting() string { return "REOS_MAILPIT_URL" }

func (m *mailpitBox) Emails(ctx context.Context, to string) ([]Email, error) {
	found, err := m.c.Search(ctx, "to:"+to)
	if err != nil {
		return nil, err
	}
	slices.Reverse(found) // Mailpit lists newest first
	var out []Email
	for _, s := range found {
		msg, err := m.c.Message(ctx, s.ID)
		if err != nil {
			return nil, err
		}
		raw, err := m.c.Raw(ctx, s.ID)
		if err != nil {
			return nil, err
		}
		e := Email{ID: s.ID, From: s.From.Address, Subject: s.Subject, Text: msg.Text, HTML: msg.HTML, EML: raw}
		for _, a := range s.To {
			e.To = append(e.To, a.Address)
		}
		out = append(out, e)
	}
	return out, nil
}

type sendgridBox struct{ url string }

func (s *sendgridBox) Name() string    { return "sendgrid" }
func (s *sendgridBox) Setting() string { return "REOS_SENDGRID_INSPECT_URL" }

func (s *sendgridBox) Emails(ctx context.Context, to string) ([]Email, error) {
	var got struct {
		Messages []struct {
			ID      string            `json:"id"`
			From    string            `json:"from"`
			To      []string          `json:"to"`
			Subject string            `json:"subject"`
			Text    string            `json:"text"`
			HTML    string            `json:"html"`
			Headers map[string]string `json:"headers"`
			Sandbox bool              `json:"sandbox"`
			Time    time.Time         `json:"received"`
		} `json:"messages"`
	}
	if err := getJSON(ctx, s.url+"/mock/messages", &got); err != nil {
		return nil, err
	}
	var out []Email
	for _, m := range got.Messages {
		if m.Sandbox || !slices.ContainsFunc(m.To, func(a string) bool { return strings.EqualFold(a, to) }) {
			continue
		}
		e := Email{ID: m.ID, From: m.From, To: m.To, Subject: m.Subject, Text: m.Text, HTML: m.HTML}
		e.EML = eml(m.ID, m.From, m.To, m.Subject, m.Text, m.HTML, m.Headers, m.Time)
		out = append(out, e)
	}
	return out, nil
}

// eml writes what SendGrid accepted as the message it delivers: RFC 5322
// headers and a multipart/alternative body.
func eml(id, from string, to []string, subject, text, html string, headers map[string]string, at time.Time) []byte {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, part := range []struct{ kind, content string }{{"text/plain", text}, {"text/html", html}} {
		if part.content == "" {
			continue
		}
		w, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {part.kind + "; charset=utf-8"}, "Content-Transfer-Encoding": {"8bit"}})
		w.Write([]byte(part.content))
	}
	mw.Close()
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%s@sendgrid.double>\r\nX-Message-Id: %s\r\n",
		from, strings.Join(to, ", "), subject, at.UTC().Format(time.RFC1123Z), id, id)
	keys := make([]string, 0, len(headers))
	for k := range headers {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "%s: %s\r\n", k, headers[k])
	}
	fmt.Fprintf(&b, "MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=%q\r\n\r\n", mw.Boundary())
	b.Write(body.Bytes())
	return b.Bytes()
}

type twilioControl struct{ url string }

func (t *twilioControl) Setting() string { return "REOS_TWILIO_CONTROL_URL" }

func (t *twilioControl) Messages(ctx context.Context, number string) ([]SMS, error) {
	var all []json.RawMessage
	for _, q := range []string{"To", "From"} {
		var got struct {
			Messages []json.RawMessage `json:"messages"`
		}
		if err := getJSON(ctx, t.url+"/mock/messages?"+q+"="+url.QueryEscape(number), &got); err != nil {
			return nil, err
		}
		all = append(all, got.Messages...)
	}
	type created struct {
		SMS
		Nanos int64 `json:"created_nano"`
	}
	msgs := make([]created, len(all))
	for i, raw := range all {
		if err := json.Unmarshal(raw, &msgs[i]); err != nil {
			return nil, err
		}
		msgs[i].Resource = raw
	}
	slices.SortStableFunc(msgs, func(a, b created) int { return cmp.Compare(a.Nanos, b.Nanos) })
	out := make([]SMS, len(msgs))
	for i, m := range msgs {
		out[i] = m.SMS
	}
	return out, nil
}

func (t *twilioControl) Text(ctx context.Context, from, body string) error {
	var nums struct {
		Numbers []string `json:"numbers"`
	}
	if err := getJSON(ctx, t.url+"/mock/numbers", &nums); err != nil {
		return err
	}
	if len(nums.Numbers) == 0 {
		return errors.New("the Twilio stand-in owns no number to text")
	}
	b, _ := json.Marshal(map[string]string{"From": from, "To": nums.Numbers[0], "Body": body})
	return send(ctx, "POST", t.url+"/mock/inbound", b)
}

func (t *twilioControl) Break(ctx context.Context, number string) error {
	return send(ctx, "PUT", t.url+"/mock/faults?to="+url.QueryEscape(number), []byte(`{"error_probability": 1}`))
}

func (t *twilioControl) Mend(ctx context.Context, number string) error {
	return send(ctx, "DELETE", t.url+"/mock/faults?to="+url.QueryEscape(number), nil)
}

type noMailbox struct{}

func (noMailbox) Name() string                                    { return "vendor" }
func (noMailbox) Setting() string                                 { return "REOS_SENDGRID_INSPECT_URL" }
func (noMailbox) Emails(context.Context, string) ([]Email, error) { return nil, ErrNoInbox }

type noPhone struct{}

func (noPhone) Setting() string                                 { return "REOS_TWILIO_CONTROL_URL" }
func (noPhone) Messages(context.Context, string) ([]SMS, error) { return nil, ErrNoInbox }
func (noPhone) Text(context.Context, string, string) error      { return ErrNoInbox }
func (noPhone) Break(context.Context, string) error             { return ErrNoInbox }
func (noPhone) Mend(context.Context, string) error              { return ErrNoInbox }

func getJSON(ctx context.Context, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d", u, res.StatusCode)
	}
	return json.NewDecoder(res.Body).Decode(v)
}

func send(ctx context.Context, method, u string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode/100 != 2 {
		var msg bytes.Buffer
		msg.ReadFrom(res.Body)
		return fmt.Errorf("%s %s: %d %s", method, u, res.StatusCode, bytes.TrimSpace(msg.Bytes()))
	}
	return nil
}
