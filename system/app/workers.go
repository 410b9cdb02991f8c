package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net/url"
	"strings"
	"time"

	"github.com/real-estate-os/reos/system"
	"github.com/real-estate-os/reos/system/config"
	"github.com/real-estate-os/reos/system/postgres"
	"github.com/real-estate-os/reos/system/rabbitmq"
	reosredis "github.com/real-estate-os/reos/system/redis"
)

// Job kinds on the queue: memo generation and the two kinds of send.
var jobKinds = []string{system.JobMemo, string(system.ChannelEmail), string(system.ChannelSMS)}

// workers handle the queue's jobs. No provider is called on a request path:
// requests write a row and an outbox entry, the relay publishes it, and a
// worker does the work.
type workers struct {
	m          *Main
	jobs       *postgres.JobService
	messages   *postgres.MessageService
	dnc        *postgres.DNCService
	dead       *postgres.DeadLetterService
	properties *postgres.PropertyService
	rules      *postgres.RuleService
}

func (m *Main) openBroker(ctx context.Context, amqpURL string) error {
	c := m.Config
	delays := make([]time.Duration, 0, c.JobMaxAttempts)
	for i := range c.JobMaxAttempts - 1 {
		delays = append(delays, min(c.JobRetryBase<<i, 5*time.Minute))
	}
	b, err := rabbitmq.Open(ctx, rabbitmq.Config{URL: amqpURL, Prefix: c.QueuePrefix, Kinds: jobKinds,
		MaxAttempts: c.JobMaxAttempts, RetryDelays: delays, Logger: m.Logger})
	if err != nil {
		return err
	}
	m.Broker = b
	return nil
}

// StartWorkers consumes every job kind and the dead-letter queue. Run
// calls it unless REOS_WORKERS=false; call it once at most.
func (m *Main) StartWorkers() {
	w := &workers{m: m, jobs: postgres.NewJobService(m.DB), messages: postgres.NewMessageService(m.DB),
		dnc: postgres.NewDNCService(m.DB), dead: postgres.NewDeadLetterService(m.DB),
		properties: postgres.NewPropertyService(m.DB), rules: postgres.NewRuleService(m.DB)}
	m.Broker.Consume(system.JobMemo, w.memo)
	m.Broker.Consume(string(system.ChannelSMS), w.sms)
	m.Broker.Consume(string(system.ChannelEmail), w.email)
	m.Broker.ConsumeDead(w.deadLetter)
}

// relay publishes the outbox whenever a transaction wrote to it, and every
// quarter second for rows other instances or a broker outage left behind.
func (m *Main) relay(ctx context.Context) {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	publish := func(ctx context.Context, exchange, key, id string, payload []byte) error {
		if exchange != postgres.OutboxEvents {
			return m.Broker.Publish(ctx, key, id, payload)
		}
		// Live clients wait on the stream; the broker's confirm takes longer.
		// Either failing leaves the row for the next pass, so an event may
		// reach either twice: at least once, as the outbox promises.
		if _, err := m.Stream.Add(ctx, liveEvent(key, payload)); err != nil {
			return err
		}
		return m.Broker.PublishEvent(ctx, key, id, payload)
	}
	var lastWarn time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.outboxWake:
		case <-tick.C:
		}
		for ctx.Err() == nil {
			n, err := m.DB.RelayOutbox(ctx, 100, publish)
			if err != nil && ctx.Err() == nil && time.Since(lastWarn) > 10*time.Second {
				m.Logger.Warn("outbox: publishing waits for the broker", "err", err)
				lastWarn = time.Now()
			}
			if err != nil || n < 100 {
				break
			}
		}
	}
}

func decode[T any](msg *rabbitmq.Message) (T, error) {
	var v T
	if err := json.Unmarshal(msg.Body, &v); err != nil {
		return v, rabbitmq.Permanent(fmt.Errorf("malformed %s job: %w", msg.Kind, err))
	}
	return v, nil
}

// memo writes, renders and stores one investment memo. The PDF depends only
// on the property and the job's as-of day, so it is stored under its own
// SHA-256: two jobs for the same memo write the same object.
func (w *workers) memo(ctx context.Context, msg *rabbitmq.Message) error {
	p, err := decode[postgres.JobPayload](msg)
	if err != nil {
		return err
	}
	job, err := w.jobs.StartJob(ctx, p.JobID)
	if system.ErrorCode(err) == system.ENOTFOUND {
		return rabbitmq.Permanent(err)
	}
	if err != nil || job.Status == system.JobDone {
		return err
	}
	if err := w.renderMemo(ctx, job); err != nil {
		final := msg.Attempt >= w.m.Config.JobMaxAttempts || isPermanent(err)
		if ferr := w.jobs.FailJob(ctx, job.ID, err.Error(), final); ferr != nil {
			return ferr
		}
		return err
	}
	return nil
}

// permanentIfInvalid marks a request a vendor refused as malformed
// (EINVALID) as permanent: retrying it changes nothing.
func permanentIfInvalid(err error) error {
	if system.ErrorCode(err) == system.EINVALID {
		return rabbitmq.Permanent(err)
	}
	return err
}

func isPermanent(err error) bool {
	var p *rabbitmq.PermanentError
	return errors.As(err, &p)
}

func (w *workers) renderMemo(ctx context.Context, job *system.Job) error {
	prop, err := w.properties.FindPropertyByID(ctx, job.PropertyID)
	if err != nil {
		return rabbitmq.Permanent(err)
	}
	rules, err := w.rules.FindRules(ctx)
	if err != nil {
		return err
	}
	asOf, err := time.Parse(time.DateOnly, job.AsOf)
	if err != nil {
		return rabbitmq.Permanent(err)
	}
	reasons := system.Reasons(rules, prop, asOf)
	pv := w.m.Providers
	text, err := pv.Writer.WriteMemo(ctx, prop, reasons)
	if err != nil {
		return permanentIfInvalid(err)
	}
	pdf, err := pv.PDF.RenderMemo(ctx, &system.Memo{Property: prop, Reasons: reasons, Text: text, AsOf: job.AsOf})
	if err != nil {
		return permanentIfInvalid(err)
	}
	sum := sha256.Sum256(pdf)
	hexSum := hex.EncodeToString(sum[:])
	key := "memos/" + hexSum[:2] + "/" + hexSum + ".pdf"
	if err := pv.Store.Put(ctx, key, pdf, "application/pdf"); err != nil {
		return err
	}
	return w.jobs.FinishJob(ctx, job.ID, hexSum, key, int64(len(pdf)))
}

// claim takes a queued message for sending. It reports whether to send,
// and whether this resumes an attempt that died mid-send (the message was
// left "sending" without a vendor id). It settles the cases where not to
// send: already handled, or a contact that went on the do-not-contact list
// after the message was queued.
func (w *workers) claim(ctx context.Context, msg *rabbitmq.Message) (m *system.Message, send, resumed bool, err error) {
	p, err := decode[postgres.SendPayload](msg)
	if err != nil {
		return nil, false, false, err
	}
	m, claimed, err := w.messages.ClaimMessage(ctx, p.MessageID)
	if system.ErrorCode(err) == system.ENOTFOUND {
		return nil, false, false, rabbitmq.Permanent(err)
	}
	if err != nil {
		return nil, false, false, err
	}
	resumed = !claimed && m.Status == system.MessageSending && m.ProviderID == ""
	if !claimed && !resumed {
		return m, false, false, nil
	}
	// The rule the request was judged by, again: the list may have grown
	// since (the owner texted STOP after an email was queued).
	c, err := w.dnc.CheckContact(ctx, m.PropertyID, m.Channel, m.To)
	if err != nil {
		return nil, false, false, err
	}
	if c.Blocked() {
		w.m.Logger.Info("send stopped: the do-not-contact list changed after queueing", "message_id", m.ID)
		return m, false, false, w.messages.SetMessageStatus(ctx, m.ID, system.MessageRefused, "",
			"do-not-contact (checked before sending): "+c.Whom(m.PropertyID, m.To))
	}
	return m, true, resumed, nil
}

// failSend records a vendor's refusal that retrying cannot change.
func (w *workers) failSend(ctx context.Context, m *system.Message, err error) error {
	switch system.ErrorCode(err) {
	case system.EDNC:
		if derr := w.dnc.AddDNC(ctx, system.DNCEntry{Kind: system.DNCPhone, Value: m.To, Reason: "the vendor reports an opt-out"}, "vendor-opt-out"); derr != nil {
			return derr
		}
		return w.messages.SetMessageStatus(ctx, m.ID, system.MessageRefused, "", err.Error())
	case system.EINVALID:
		return w.messages.SetMessageStatus(ctx, m.ID, system.MessageFailed, "", err.Error())
	}
	return err // the vendor is down or throttling: try again later
}

func (w *workers) sms(ctx context.Context, msg *rabbitmq.Message) error {
	m, send, resumed, err := w.claim(ctx, msg)
	if err != nil || !send {
		return err
	}
	if w.m.Config.Sends() == config.SendsSandbox {
		return w.messages.SetMessageStatus(ctx, m.ID, system.MessageSuppressed, "", suppressedNote)
	}
	client := w.m.Providers.SMS
	if resumed && m.ClaimedAt != nil {
		// Ask Twilio whether the interrupted attempt got through before
		// sending again: no double texts. If Twilio cannot say, retry later.
		sent, err := client.List(ctx, m.To, m.From)
		if err != nil {
			return err
		}
		for _, v := range sent {
			created, _ := time.Parse(time.RFC1123Z, v.DateCreated)
			if v.Body == m.Body && !created.Before(m.ClaimedAt.Add(-time.Minute)) {
				w.m.Logger.Info("an interrupted send had reached Twilio; not sending again", "message_id", m.ID, "sid", v.SID)
				return w.messages.SetMessageStatus(ctx, m.ID, system.MessageSending, v.SID, "")
			}
		}
	}
	res, err := client.SendSMS(ctx, &system.SMS{From: m.From, To: m.To, Body: m.Body,
		StatusCallback: strings.TrimRight(w.m.Config.PublicURL, "/") + "/api/v1/webhooks/twilio/status?message_id=" + url.QueryEscape(m.ID)})
	if err != nil {
		return w.failSend(ctx, m, err)
	}
	return w.messages.SetMessageStatus(ctx, m.ID, system.MessageSending, res.SID, "")
}

func (w *workers) email(ctx context.Context, msg *rabbitmq.Message) error {
	m, send, _, err := w.claim(ctx, msg)
	if err != nil || !send {
		return err
	}
	id, err := w.m.Providers.Mailer.SendEmail(ctx, &system.Email{From: m.From, To: m.To, Subject: m.Subject, Text: m.Body,
		HTML: trackedHTML(w.m.Config.PublicURL, m), MessageID: m.ID})
	if err != nil {
		return w.failSend(ctx, m, err)
	}
	if w.m.Config.Sends() == config.SendsSandbox {
		return w.messages.SetMessageStatus(ctx, m.ID, system.MessageSuppressed, id, suppressedNote+" (SendGrid validated it in sandbox mode)")
	}
	return w.messages.SetMessageStatus(ctx, m.ID, system.MessageSent, id, "")
}

// suppressedNote explains a send held back in production.
const suppressedNote = "FEATURE_EXTERNAL_SENDS=false: delivered to nobody"

// trackedHTML renders the text body as HTML whose links go through the
// click tracker, with the open-tracking pixel at the end.
func trackedHTML(publicURL string, m *system.Message) string {
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

// deadLetter stores a job that used up its attempts; storing it marks what
// it was for as failed.
func (w *workers) deadLetter(ctx context.Context, d *rabbitmq.DeadLetter) error {
	deaths := d.Deaths
	if deaths == nil {
		deaths = []rabbitmq.Death{}
	}
	return w.dead.AddDeadLetter(ctx, &system.DeadLetter{MessageID: d.ID, Kind: d.Kind, Payload: d.Body, Reason: d.Reason, Attempts: d.Attempts,
		Deaths: deaths, FirstFailure: d.FirstFailure, LastFailure: d.LastFailure})
}

// replay puts a dead letter back to work: what it was for returns to
// queued, and the message goes back on its queue with a fresh set of
// attempts and its history.
func (m *Main) replay(ctx context.Context, d *system.DeadLetter) error {
	var err error
	switch d.Kind {
	case system.JobMemo:
		err = postgres.NewJobService(m.DB).RequeueJob(ctx, d.MessageID)
	case string(system.ChannelSMS), string(system.ChannelEmail):
		err = postgres.NewMessageService(m.DB).RequeueMessage(ctx, d.MessageID)
	default:
		return system.Errorf(system.EINVALID, "dead letters of kind %q cannot be replayed", d.Kind)
	}
	if err != nil {
		return err
	}
	history, _ := json.Marshal(d.Deaths)
	return m.Broker.Replay(ctx, &rabbitmq.DeadLetter{ID: d.MessageID, Kind: d.Kind, Body: d.Payload,
		Headers: map[string]any{"x-reos-previous-deaths": string(history)}}, fmt.Sprint(d.ID))
}

// liveEvent turns an outbox event into a live update, with who may see it:
// the dead-letter queue is for admins, a job for its owner (and admins).
func liveEvent(typ string, payload []byte) reosredis.Event {
	var e postgres.Event
	json.Unmarshal(payload, &e)
	var uid int64
	if v, ok := e.Data["user_id"].(float64); ok {
		uid = int64(v)
	}
	data := []byte("{}")
	if e.Data != nil {
		data, _ = json.Marshal(e.Data)
	}
	return reosredis.Event{Type: typ, Subject: e.Subject, Time: e.Time, Data: data, UserID: uid, AdminOnly: strings.HasPrefix(typ, "dlq.")}
}
