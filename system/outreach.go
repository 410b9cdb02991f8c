package system

import (
	"context"
	"fmt"
	"html"
	"log/slog"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Outreach is the messaging workflow, from a request to the owner's
// answer: it queues emails and texts (or refuses them), delivers what was
// queued, and takes the owner's replies. The do-not-contact rule
// (Contactable) is applied here, when a message is asked for and again
// when it is about to go out, so both moments judge alike.
type Outreach struct {
	Properties PropertyService
	Templates  TemplateService
	Messages   MessageService
	DNC        DNCService
	Mailer     Mailer
	SMS        SMSSender

	// EmailFrom and SMSFrom are the product's sender address and number.
	EmailFrom string
	SMSFrom   string
	// PublicURL is the product's base URL: vendors post status callbacks
	// to it and tracked links and the open pixel point at it.
	PublicURL string
	// Sandbox holds sends back: production with FEATURE_EXTERNAL_SENDS off.
	// Messages end suppressed, delivered to nobody.
	Sandbox bool
	Logger  *slog.Logger
}

// Limits on what a client may send.
const (
	MaxSubject  = 200
	MaxEmail    = 100_000
	MaxSMSChars = 1600 // Twilio's limit on a concatenated message
)

// DNCSourceSMS marks the do-not-contact entries an owner's STOP added; only
// their START removes them.
const DNCSourceSMS = "sms-opt-out"

// SuppressedNote explains a send held back in production.
const SuppressedNote = "FEATURE_EXTERNAL_SENDS=false: delivered to nobody"

var linkPattern = regexp.MustCompile(`https?://[^\s<>"']+`)

// EmailRequest asks for an email to a property's owner. An empty Subject
// or Body is filled from the stage's template, signed by Agent (the email
// address of the user asking).
type EmailRequest struct {
	PropertyID int64
	To         string
	Subject    string
	Body       string
	Agent      string
}

// SMSRequest asks for a text to a property's owner.
type SMSRequest struct {
	PropertyID int64
	To         string
	Body       string
}

func (o *Outreach) logger() *slog.Logger {
	if o.Logger == nil {
		return slog.Default()
	}
	return o.Logger
}

// Draft renders the stage's template of channel for p, signed by agent.
func (o *Outreach) Draft(ctx context.Context, p *Property, ch Channel, agent string) (subject, body string, err error) {
	t, err := o.Templates.FindTemplate(ctx, ch, p.Stage)
	if err != nil {
		return "", "", err
	}
	return t.Render(MessageDataFor(p, agent))
}

// QueueEmail validates r and queues the email, or records it refused
// (EDNC) when the do-not-contact rule forbids it. Field errors name the
// API's fields.
func (o *Outreach) QueueEmail(ctx context.Context, r EmailRequest) (*Message, error) {
	bad := map[string]string{}
	if r.PropertyID < 1 {
		bad["property_id"] = "a positive integer"
	}
	if a, err := mail.ParseAddress(r.To); err != nil || a.Address != r.To {
		bad["to_address"] = "a plain address, e.g. owner@example.com"
	}
	if len(r.Subject) > MaxSubject || strings.ContainsAny(r.Subject, "\r\n") {
		bad["subject"] = fmt.Sprintf("one line of at most %d bytes", MaxSubject)
	}
	if len(r.Body) > MaxEmail {
		bad["body"] = fmt.Sprintf("at most %d bytes", MaxEmail)
	}
	if len(bad) > 0 {
		return nil, Invalid(bad)
	}
	p, err := o.Properties.FindPropertyByID(ctx, r.PropertyID)
	if err != nil {
		return nil, err
	}
	if r.Subject == "" || r.Body == "" {
		subject, body, err := o.Draft(ctx, p, ChannelEmail, r.Agent)
		if err != nil {
			return nil, err
		}
		if r.Subject == "" {
			r.Subject = subject
		}
		if r.Body == "" {
			r.Body = body
		}
	}
	m := &Message{PropertyID: p.ID, Channel: ChannelEmail, To: strings.ToLower(r.To), From: o.EmailFrom,
		Subject: r.Subject, Body: r.Body, Links: linkPattern.FindAllString(r.Body, 20)}
	return m, o.queue(ctx, m)
}

// QueueSMS validates r and queues the text, or records it refused (EDNC).
func (o *Outreach) QueueSMS(ctx context.Context, r SMSRequest) (*Message, error) {
	bad := map[string]string{}
	if r.PropertyID < 1 {
		bad["property_id"] = "a positive integer"
	}
	if !E164.MatchString(r.To) {
		bad["to"] = "E.164, e.g. +16145550100"
	}
	switch {
	case strings.TrimSpace(r.Body) == "":
		bad["body"] = "required: the text to send (Twilio refuses an empty body, 21602)"
	case len([]rune(r.Body)) > MaxSMSChars:
		bad["body"] = fmt.Sprintf("at most %d characters", MaxSMSChars)
	}
	if len(bad) > 0 {
		return nil, Invalid(bad)
	}
	p, err := o.Properties.FindPropertyByID(ctx, r.PropertyID)
	if err != nil {
		return nil, err
	}
	m := &Message{PropertyID: p.ID, Channel: ChannelSMS, To: r.To, From: o.SMSFrom, Body: r.Body}
	return m, o.queue(ctx, m)
}

// queue applies the do-not-contact rule and queues m, or records it
// refused so that the attempt is on record.
func (o *Outreach) queue(ctx context.Context, m *Message) error {
	c, err := o.DNC.CheckContact(ctx, m.PropertyID, m.Channel, m.To)
	if err != nil {
		return err
	}
	if !c.Blocked() {
		return o.Messages.QueueMessage(ctx, m)
	}
	if err := o.Messages.RefuseMessage(ctx, m); err != nil {
		return err
	}
	o.logger().InfoContext(ctx, "send refused: do-not-contact", "channel", m.Channel, "property_id", m.PropertyID, "message_id", m.ID)
	return Errorf(EDNC, "%s is on the do-not-contact list; nothing was sent (recorded as message %s)", c.Whom(m.PropertyID, m.To), m.ID)
}

// Deliver sends the queued message id. A message already handled is left
// as it is, so a redelivered job does not send twice; an attempt that died
// mid-send is resumed without texting twice. An error is worth retrying
// unless Permanent says otherwise; a vendor's final refusal is recorded on
// the message, not returned.
func (o *Outreach) Deliver(ctx context.Context, id string) error {
	m, claimed, err := o.Messages.ClaimMessage(ctx, id)
	if err != nil {
		return err
	}
	resumed := !claimed && m.Status == MessageSending && m.ProviderID == ""
	if !claimed && !resumed {
		return nil
	}
	// The rule the request was judged by, again: the list may have grown
	// since (the owner texted STOP after an email was queued).
	c, err := o.DNC.CheckContact(ctx, m.PropertyID, m.Channel, m.To)
	if err != nil {
		return err
	}
	if c.Blocked() {
		o.logger().InfoContext(ctx, "send stopped: the do-not-contact list changed after queueing", "message_id", m.ID)
		return o.Messages.SetMessageStatus(ctx, m.ID, MessageRefused, "", "do-not-contact (checked before sending): "+c.Whom(m.PropertyID, m.To))
	}
	switch m.Channel {
	case ChannelSMS:
		err = o.sendSMS(ctx, m, resumed)
	case ChannelEmail:
		err = o.sendEmail(ctx, m)
	default:
		return Errorf(EINVALID, "message %s has no channel this product sends on (%q)", m.ID, m.Channel)
	}
	if err == nil {
		return nil
	}
	switch ErrorCode(err) {
	case EDNC: // the vendor knows the recipient opted out
		if derr := o.DNC.AddDNC(ctx, DNCEntry{Kind: DNCPhone, Value: m.To, Reason: "the vendor reports an opt-out"}, "vendor-opt-out"); derr != nil {
			return derr
		}
		return o.Messages.SetMessageStatus(ctx, m.ID, MessageRefused, "", err.Error())
	case EINVALID: // retrying cannot change it
		return o.Messages.SetMessageStatus(ctx, m.ID, MessageFailed, "", err.Error())
	}
	return err // the vendor is down or throttling: try again later
}

func (o *Outreach) sendSMS(ctx context.Context, m *Message, resumed bool) error {
	if o.Sandbox {
		return o.Messages.SetMessageStatus(ctx, m.ID, MessageSuppressed, "", SuppressedNote)
	}
	if resumed && m.ClaimedAt != nil {
		// Ask the vendor whether the interrupted attempt got through before
		// sending again: no double texts. If it cannot say, retry later.
		sent, err := o.SMS.FindSMS(ctx, m.From, m.To)
		if err != nil {
			return err
		}
		for _, v := range sent {
			if v.Body == m.Body && !v.Created.Before(m.ClaimedAt.Add(-time.Minute)) {
				o.logger().InfoContext(ctx, "an interrupted send had reached the vendor; not sending again", "message_id", m.ID, "sid", v.SID)
				return o.Messages.SetMessageStatus(ctx, m.ID, MessageSending, v.SID, "")
			}
		}
	}
	res, err := o.SMS.SendSMS(ctx, &SMS{From: m.From, To: m.To, Body: m.Body,
		StatusCallback: strings.TrimRight(o.PublicURL, "/") + "/api/v1/webhooks/twilio/status?message_id=" + url.QueryEscape(m.ID)})
	if err != nil {
		return err
	}
	return o.Messages.SetMessageStatus(ctx, m.ID, MessageSending, res.SID, "")
}

func (o *Outreach) sendEmail(ctx context.Context, m *Message) error {
	id, err := o.Mailer.SendEmail(ctx, &Email{From: m.From, To: m.To, Subject: m.Subject, Text: m.Body,
		HTML: TrackedHTML(o.PublicURL, m), MessageID: m.ID})
	if err != nil {
		return err
	}
	if o.Sandbox {
		return o.Messages.SetMessageStatus(ctx, m.ID, MessageSuppressed, id, SuppressedNote+" (SendGrid validated it in sandbox mode)")
	}
	return o.Messages.SetMessageStatus(ctx, m.ID, MessageSent, id, "")
}

// TrackedHTML renders a message's text body as HTML whose links go through
// the click tracker at publicURL, with the open-tracking pixel at the end.
func TrackedHTML(publicURL string, m *Message) string {
	base := strings.TrimRight(publicURL, "/") + "/api/v1/t/"
	body := html.EscapeString(m.Body)
	for i, link := range m.Links {
		escaped := html.EscapeString(link)
		tracked := fmt.Sprintf(`<a href="%sclick/%s/%d">%s</a>`, base, m.TrackingToken, i, escaped)
		body = strings.Replace(body, escaped, tracked, 1)
	}
	var b strings.Builder
	b.WriteString("<!doctype html><html><body>")
	for _, para := range strings.Split(body, "\n\n") {
		b.WriteString("<p>" + strings.ReplaceAll(para, "\n", "<br>") + "</p>")
	}
	fmt.Fprintf(&b, `<img src="%sopen/%s.gif" width="1" height="1" alt="">`, base, m.TrackingToken)
	b.WriteString("</body></html>")
	return b.String()
}

// Receive takes an owner's text: STOP puts the number on the
// do-not-contact list, START takes it off (only if a STOP put it there),
// and the text joins the thread of the property whose owner has the
// number. A text from a number no owner has is logged and dropped.
func (o *Outreach) Receive(ctx context.Context, m *Message) error {
	if !E164.MatchString(m.From) {
		return Invalid(map[string]string{"From": "an E.164 number"})
	}
	var err error
	switch Keyword(m.Body) {
	case "STOP":
		err = o.DNC.AddDNC(ctx, DNCEntry{Kind: DNCPhone, Value: m.From, Reason: "replied " + strings.TrimSpace(m.Body) + " by SMS"}, DNCSourceSMS)
	case "START":
		err = o.DNC.RemoveDNC(ctx, DNCPhone, m.From, DNCSourceSMS)
	}
	if err != nil {
		return err
	}
	err = o.Messages.AddInbound(ctx, m)
	if ErrorCode(err) == ENOTFOUND {
		o.logger().InfoContext(ctx, "inbound SMS from a number no owner has", "from_suffix", m.From[max(0, len(m.From)-4):])
		return nil
	}
	return err
}
