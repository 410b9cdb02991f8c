package system_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/real-estate-os/reos/mocks/fake"
	"github.com/real-estate-os/reos/system"
)

// outreachFixture is an Outreach over fakes: one property (id 7) whose
// owner is Ann Lee, the stage templates, and a do-not-contact list that
// says what listed says. Each call is recorded in calls.
type outreachFixture struct {
	o        *system.Outreach
	messages *fake.MessageService
	dnc      *fake.DNCService
	sms      *fake.SMSSender
	mailer   *fake.Mailer
	listed   system.Contactable
	stored   map[string]*system.Message // by id
	calls    []string
}

func newOutreach(t *testing.T) *outreachFixture {
	t.Helper()
	f := &outreachFixture{stored: map[string]*system.Message{}}
	f.messages = &fake.MessageService{
		QueueMessageFn: func(_ context.Context, m *system.Message) error {
			f.calls = append(f.calls, "queue")
			m.ID, m.ThreadID, m.Status = "msg-1", 3, system.MessageQueued
			return nil
		},
		RefuseMessageFn: func(_ context.Context, m *system.Message) error {
			f.calls = append(f.calls, "refuse")
			m.ID, m.Status = "msg-2", system.MessageRefused
			return nil
		},
		ClaimMessageFn: func(_ context.Context, id string) (*system.Message, bool, error) {
			m, ok := f.stored[id]
			if !ok {
				return nil, false, system.Errorf(system.ENOTFOUND, "no message %s", id)
			}
			if m.Status != system.MessageQueued {
				return m, false, nil
			}
			m.Status = system.MessageSending
			return m, true, nil
		},
		SetMessageStatusFn: func(_ context.Context, id string, st system.MessageStatus, providerID, errText string) error {
			f.calls = append(f.calls, "status "+string(st)+" "+providerID)
			f.stored[id].Status, f.stored[id].ProviderID, f.stored[id].Error = st, providerID, errText
			return nil
		},
	}
	f.dnc = &fake.DNCService{
		CheckContactFn: func(_ context.Context, propertyID int64, _ system.Channel, _ string) (system.Contactable, error) {
			if propertyID != 7 {
				return system.Contactable{}, system.Errorf(system.ENOTFOUND, "no property %d", propertyID)
			}
			return f.listed, nil
		},
		AddDNCFn: func(_ context.Context, e system.DNCEntry, source string) error {
			f.calls = append(f.calls, "dnc+ "+e.Value+" "+source)
			return nil
		},
		RemoveDNCFn: func(_ context.Context, _ system.DNCKind, value, source string) error {
			f.calls = append(f.calls, "dnc- "+value+" "+source)
			return nil
		},
	}
	f.sms = &fake.SMSSender{}
	f.mailer = &fake.Mailer{}
	f.o = &system.Outreach{
		Properties: &fake.PropertyService{FindPropertyByIDFn: func(_ context.Context, id int64) (*system.Property, error) {
			if id != 7 {
				return nil, system.Errorf(system.ENOTFOUND, "no property %d", id)
			}
			return &system.Property{ID: 7, Address: "12 Elm St", City: "Columbus", OwnerName: "Ann Lee", Stage: system.StageContacted}, nil
		}},
		Templates: &fake.TemplateService{FindTemplateFn: func(_ context.Context, ch system.Channel, st system.Stage) (system.Template, error) {
			return system.Template{Channel: ch, Stage: st, Subject: "About {{.Address}}",
				Body: "Hi {{.OwnerName}}, see https://example.com/{{.City}} — {{.AgentName}}"}, nil
		}},
		Messages: f.messages, DNC: f.dnc, SMS: f.sms, Mailer: f.mailer,
		EmailFrom: "deals@example.com", SMSFrom: "+15005550006", PublicURL: "https://reos.example/", Logger: slog.New(slog.DiscardHandler),
	}
	return f
}

func (f *outreachFixture) queued(channel system.Channel, to string) *system.Message {
	m := &system.Message{ID: "msg-9", PropertyID: 7, Channel: channel, To: to, From: "+15005550006", Body: "Hello", Status: system.MessageQueued}
	f.stored[m.ID] = m
	return m
}

func TestQueueEmailDraftsFromTheStageTemplate(t *testing.T) {
	f := newOutreach(t)
	m, err := f.o.QueueEmail(t.Context(), system.EmailRequest{PropertyID: 7, To: "Ann@Example.com", Agent: "sam@reos.example"})
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "About 12 Elm St" || m.Body != "Hi Ann, see https://example.com/Columbus — sam" {
		t.Errorf("queued subject %q, body %q: want the stage template filled for the owner's first name and the agent", m.Subject, m.Body)
	}
	if m.To != "ann@example.com" || m.From != "deals@example.com" || len(m.Links) != 1 || m.Links[0] != "https://example.com/Columbus" {
		t.Errorf("queued %+v: want the address lower-cased, the product's sender, the link tracked", m)
	}
	if strings.Join(f.calls, ",") != "queue" {
		t.Errorf("calls %v, want one queue", f.calls)
	}
}

func TestQueueRefusesWhomTheListNames(t *testing.T) {
	for _, c := range []struct {
		listed system.Contactable
		whom   string
	}{
		{system.Contactable{RecipientListed: true}, "+16145550100"},
		{system.Contactable{OwnerListed: true}, "the owner of property 7"},
	} {
		f := newOutreach(t)
		f.listed = c.listed
		m, err := f.o.QueueSMS(t.Context(), system.SMSRequest{PropertyID: 7, To: "+16145550100", Body: "Hello"})
		if system.ErrorCode(err) != system.EDNC || !strings.Contains(err.Error(), c.whom) {
			t.Errorf("%+v: error %v, want EDNC naming %s", c.listed, err, c.whom)
		}
		if m == nil || m.ID != "msg-2" || strings.Join(f.calls, ",") != "refuse" {
			t.Errorf("%+v: calls %v, message %+v: want the refusal recorded and nothing queued", c.listed, f.calls, m)
		}
	}
}

func TestQueueNamesEachBadField(t *testing.T) {
	f := newOutreach(t) // any call to a service would be recorded
	_, err := f.o.QueueSMS(t.Context(), system.SMSRequest{PropertyID: 0, To: "6145550100", Body: " "})
	var e *system.Error
	if !errors.As(err, &e) || e.Code != system.EINVALID || e.Fields["property_id"] == "" || e.Fields["to"] == "" || e.Fields["body"] == "" {
		t.Fatalf("error %#v, want EINVALID naming property_id, to and body", err)
	}
	_, err = f.o.QueueEmail(t.Context(), system.EmailRequest{PropertyID: 7, To: "Ann <ann@example.com>", Subject: "a\r\nBcc: x@example.com"})
	if !errors.As(err, &e) || e.Fields["to_address"] == "" || e.Fields["subject"] == "" {
		t.Fatalf("error %#v, want EINVALID naming to_address and subject", err)
	}
	if len(f.calls) != 0 {
		t.Errorf("calls %v: an invalid request must not reach a service", f.calls)
	}
}

func TestDeliverChecksTheListAgain(t *testing.T) {
	f := newOutreach(t)
	m := f.queued(system.ChannelEmail, "ann@example.com")
	f.listed = system.Contactable{OwnerListed: true} // the owner texted STOP after the email was queued
	if err := f.o.Deliver(t.Context(), m.ID); err != nil {
		t.Fatal(err)
	}
	if m.Status != system.MessageRefused || !strings.Contains(m.Error, "do-not-contact") {
		t.Errorf("message %s: status %s (%s), want refused by the do-not-contact list", m.ID, m.Status, m.Error)
	}
}

func TestDeliverSendsOnceAndSaysWhereCallbacksGo(t *testing.T) {
	f := newOutreach(t)
	m := f.queued(system.ChannelSMS, "+16145550100")
	var sent []*system.SMS
	f.sms.SendSMSFn = func(_ context.Context, s *system.SMS) (*system.SMSResult, error) {
		sent = append(sent, s)
		return &system.SMSResult{SID: "SM1", Status: "queued"}, nil
	}
	for range 2 { // a redelivered job finds the message no longer queued
		if err := f.o.Deliver(t.Context(), m.ID); err != nil {
			t.Fatal(err)
		}
	}
	if len(sent) != 1 || sent[0].StatusCallback != "https://reos.example/api/v1/webhooks/twilio/status?message_id=msg-9" {
		t.Fatalf("sent %+v, want one text whose callback names the message at the public URL", sent)
	}
	if m.Status != system.MessageSending || m.ProviderID != "SM1" {
		t.Errorf("message: %s %s, want sending with the vendor's sid", m.Status, m.ProviderID)
	}
}

func TestDeliverResumesWithoutTextingTwice(t *testing.T) {
	f := newOutreach(t)
	claimed := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	m := f.queued(system.ChannelSMS, "+16145550100")
	m.Status, m.ClaimedAt = system.MessageSending, &claimed // the attempt died mid-send
	f.sms.FindSMSFn = func(_ context.Context, from, to string) ([]system.SentSMS, error) {
		return []system.SentSMS{{SID: "SMold", Body: "Hello", Created: claimed.Add(-time.Hour)}, {SID: "SM2", Body: "Hello", Created: claimed.Add(time.Second)}}, nil
	}
	if err := f.o.Deliver(t.Context(), m.ID); err != nil { // SendSMSFn unset: sending again would panic
		t.Fatal(err)
	}
	if m.ProviderID != "SM2" {
		t.Errorf("resumed message took sid %q, want SM2 (the text sent after the claim, not the older one)", m.ProviderID)
	}
}

func TestDeliverRecordsFinalRefusalsAndRetriesOutages(t *testing.T) {
	for _, c := range []struct {
		err    error
		status system.MessageStatus
		retry  bool
	}{
		{system.Errorf(system.EDNC, "21610: unsubscribed recipient"), system.MessageRefused, false},
		{system.Errorf(system.EINVALID, "21211: invalid To"), system.MessageFailed, false},
		{system.Errorf(system.EUNAVAILABLE, "503 from Twilio"), system.MessageSending, true},
	} {
		f := newOutreach(t)
		m := f.queued(system.ChannelSMS, "+16145550100")
		f.sms.SendSMSFn = func(context.Context, *system.SMS) (*system.SMSResult, error) { return nil, c.err }
		err := f.o.Deliver(t.Context(), m.ID)
		if (err != nil) != c.retry || system.Permanent(err) {
			t.Errorf("%v: Deliver returned %v, want retry=%v and never permanent", c.err, err, c.retry)
		}
		if m.Status != c.status {
			t.Errorf("%v: message %s, want %s", c.err, m.Status, c.status)
		}
		if system.ErrorCode(c.err) == system.EDNC && !strings.Contains(strings.Join(f.calls, ","), "dnc+ +16145550100 vendor-opt-out") {
			t.Errorf("a vendor opt-out did not reach the list: calls %v", f.calls)
		}
	}
}

func TestDeliverInTheSandboxSuppresses(t *testing.T) {
	f := newOutreach(t)
	f.o.Sandbox = true
	m := f.queued(system.ChannelSMS, "+16145550100")
	if err := f.o.Deliver(t.Context(), m.ID); err != nil { // SendSMSFn unset
		t.Fatal(err)
	}
	if m.Status != system.MessageSuppressed {
		t.Errorf("status %s, want suppressed", m.Status)
	}
}

func TestDeliverOfAnUnknownMessageIsPermanent(t *testing.T) {
	f := newOutreach(t)
	if err := f.o.Deliver(t.Context(), "nope"); !system.Permanent(err) {
		t.Errorf("Deliver(unknown) = %v, want a permanent error", err)
	}
}

func TestReceiveStopAndStart(t *testing.T) {
	f := newOutreach(t)
	f.messages.AddInboundFn = func(_ context.Context, m *system.Message) error {
		f.calls = append(f.calls, "inbound "+m.Body)
		if m.From == "+16145550199" {
			return system.Errorf(system.ENOTFOUND, "no owner has that number")
		}
		return nil
	}
	for _, body := range []string{" stop ", "Hello", "UNSTOP"} {
		if err := f.o.Receive(t.Context(), &system.Message{From: "+16145550100", Body: body}); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.o.Receive(t.Context(), &system.Message{From: "+16145550199", Body: "hi"}); err != nil {
		t.Errorf("a text from a number no owner has: %v, want it dropped", err)
	}
	want := "dnc+ +16145550100 sms-opt-out,inbound  stop ,inbound Hello,dnc- +16145550100 sms-opt-out,inbound UNSTOP,inbound hi"
	if got := strings.Join(f.calls, ","); got != want {
		t.Errorf("calls\n%s\nwant\n%s", got, want)
	}
	if err := f.o.Receive(t.Context(), &system.Message{From: "6145550100", Body: "STOP"}); system.ErrorCode(err) != system.EINVALID {
		t.Errorf("a sender that is not E.164: %v, want EINVALID", err)
	}
}

func TestThreadOptedOutFollowsTheLastKeyword(t *testing.T) {
	th := &system.Thread{Channel: system.ChannelSMS}
	for _, c := range []struct {
		body string
		out  bool
	}{{"STOP", true}, {"thanks", true}, {"start", false}, {"Stop All", true}} {
		th.Messages = append(th.Messages, &system.Message{Direction: "inbound", Body: c.body})
		if th.OptedOut() != c.out {
			t.Errorf("after %q: opted out %v, want %v", c.body, th.OptedOut(), c.out)
		}
	}
}

func TestTrackedHTMLEscapesAndTracks(t *testing.T) {
	m := &system.Message{Body: "See https://example.com/a?b=1&c=2 <now>", Links: []string{"https://example.com/a?b=1&c=2"}, TrackingToken: "tok"}
	got := system.TrackedHTML("https://reos.example/", m)
	for _, want := range []string{`<a href="https://reos.example/api/v1/t/click/tok/0">https://example.com/a?b=1&amp;c=2</a>`, "&lt;now&gt;",
		`<img src="https://reos.example/api/v1/t/open/tok.gif"`} {
		if !strings.Contains(got, want) {
			t.Errorf("tracked HTML lacks %s:\n%s", want, got)
		}
	}
}
