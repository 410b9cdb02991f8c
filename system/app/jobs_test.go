package app_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/real-estate-os/reos/fixtures"
	mockgotenberg "github.com/real-estate-os/reos/mocks/gotenberg"
	"github.com/real-estate-os/reos/mocks/mailpit"
	"github.com/real-estate-os/reos/system"
	"github.com/real-estate-os/reos/system/postgres"
	"github.com/real-estate-os/reos/system/provider/twilio"
)

type job struct {
	ID      string `json:"job_id"`
	Status  string `json:"status"`
	SHA256  string `json:"sha256"`
	Bytes   int64  `json:"bytes"`
	MemoURL string `json:"memo_url"`
	AsOf    string `json:"as_of"`
	Error   string `json:"error"`
}

func (s *stack) waitJob(token, id string) job {
	s.t.Helper()
	var j job
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		s.do("GET", "/api/v1/jobs/"+id, token, nil).json(s.t, &j)
		if j.Status == "done" || j.Status == "failed" {
			return j
		}
	}
	s.t.Fatalf("job %s still %s", id, j.Status)
	return j
}

func TestMemoTwiceGivesTwoJobsAndOneHash(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	token := s.login("agent@example.com", fixtures.DemoPassword)
	var first, second job
	r := s.do("POST", "/api/v1/jobs/memo/generate", token, map[string]int{"property_id": 30})
	r.json(t, &first)
	if r.status != 202 || first.Status != "queued" || r.header.Get("Location") != "/api/v1/jobs/"+first.ID {
		t.Fatalf("generate = %d %s", r.status, r.body)
	}
	s.do("POST", "/api/v1/jobs/memo/generate", token, map[string]int{"property_id": 30}).json(t, &second)
	if first.ID == second.ID {
		t.Fatal("two requests gave one job id")
	}
	a, b := s.waitJob(token, first.ID), s.waitJob(token, second.ID)
	if a.Status != "done" || b.Status != "done" || a.SHA256 == "" || a.SHA256 != b.SHA256 || a.Bytes < 1000 {
		t.Fatalf("jobs = %+v and %+v, want both done with one SHA-256", a, b)
	}
	res, err := http.Get(a.MemoURL)
	if err != nil {
		t.Fatal(err)
	}
	pdf, _ := io.ReadAll(res.Body)
	res.Body.Close()
	sum := sha256.Sum256(pdf)
	if res.StatusCode != 200 || hex.EncodeToString(sum[:]) != a.SHA256 || !bytes.HasPrefix(pdf, []byte("%PDF-")) {
		t.Errorf("memo_url gave %d, %d bytes hashing to %x; want the PDF with %s", res.StatusCode, len(pdf), sum, a.SHA256)
	}
	for _, tt := range []struct {
		body   any
		status int
		code   string
	}{
		{map[string]int{"property_id": 9999}, 404, system.ENOTFOUND},
		{map[string]int{"property_id": 0}, 400, system.EINVALID},
		{map[string]string{"property_id": "30"}, 400, system.EINVALID},
	} {
		wantProblem(t, fmt.Sprint(tt.body), s.do("POST", "/api/v1/jobs/memo/generate", token, tt.body), tt.status, tt.code)
	}
	wantProblem(t, "unknown job", s.do("GET", "/api/v1/jobs/5b1c3f54-0000-4000-8000-000000000000", token, nil), 404, system.ENOTFOUND)

	// Another agent is not shown the job, nor its memo's presigned URL; an
	// admin is.
	if _, _, err := s.main.CreateUser(context.Background(), "agent2@example.com", system.RoleAgent, "k9-Vortex-Lantern-58-Quill"); err != nil {
		t.Fatal(err)
	}
	other := s.login("agent2@example.com", "k9-Vortex-Lantern-58-Quill")
	r = s.do("GET", "/api/v1/jobs/"+first.ID, other, nil)
	wantProblem(t, "another agent's job", r, 404, system.ENOTFOUND)
	if strings.Contains(string(r.body), "X-Amz-Signature") {
		t.Errorf("another agent was given the memo's presigned URL: %s", r.body)
	}
	var seen job
	r = s.do("GET", "/api/v1/jobs/"+first.ID, s.login("admin@example.com", fixtures.DemoPassword), nil)
	if r.json(t, &seen); r.status != 200 || seen.MemoURL == "" {
		t.Errorf("an admin asking for an agent's job: %d %s", r.status, r.body)
	}
}

func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	token := s.login("agent@example.com", fixtures.DemoPassword)
	body := map[string]int{"property_id": 30}
	first := s.do("POST", "/api/v1/jobs/memo/generate", token, body, "Idempotency-Key", "memo-30-a")
	again := s.do("POST", "/api/v1/jobs/memo/generate", token, body, "Idempotency-Key", "memo-30-a")
	if first.status != 202 || again.status != 202 || !bytes.Equal(first.body, again.body) || again.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("replay: %d %s / %d %s (%q)", first.status, first.body, again.status, again.body, again.header.Get("Idempotent-Replayed"))
	}
	wantProblem(t, "same key, other body", s.do("POST", "/api/v1/jobs/memo/generate", token, map[string]int{"property_id": 31}, "Idempotency-Key", "memo-30-a"), 422, system.EIDEMPOTENCY)
	wantProblem(t, "bad key", s.do("POST", "/api/v1/jobs/memo/generate", token, body, "Idempotency-Key", "has space"), 400, system.EINVALID)

	// Keys belong to their user: the admin's same key is a new request.
	admin := s.login("admin@example.com", fixtures.DemoPassword)
	other := s.do("POST", "/api/v1/jobs/memo/generate", admin, body, "Idempotency-Key", "memo-30-a")
	if other.status != 202 || bytes.Equal(other.body, first.body) {
		t.Errorf("another user's key replayed: %d %s", other.status, other.body)
	}

	// Concurrent duplicates make exactly one job.
	var wg sync.WaitGroup
	results := make([]response, 8)
	for i := range results {
		wg.Go(func() {
			results[i] = s.do("POST", "/api/v1/jobs/memo/generate", token, map[string]int{"property_id": 12}, "Idempotency-Key", "race-12")
		})
	}
	wg.Wait()
	ids := map[string]bool{}
	for _, r := range results {
		switch r.status {
		case 202:
			var j job
			json.Unmarshal(r.body, &j)
			ids[j.ID] = true
		case 409: // the first was still running: allowed, and no job
		default:
			t.Errorf("concurrent duplicate answered %d %s", r.status, r.body)
		}
	}
	var jobs int
	s.main.DB.Pool.QueryRow(context.Background(), `SELECT count(*) FROM jobs WHERE property_id = 12`).Scan(&jobs)
	if len(ids) != 1 || jobs != 1 {
		t.Errorf("8 concurrent requests with one key made %d jobs (%d ids answered), want 1", jobs, len(ids))
	}

	// A request still in flight answers 409.
	s.main.DB.Pool.Exec(context.Background(), `INSERT INTO idempotency_keys (user_id, key, request_hash, created_at, expires_at)
		SELECT id, 'in-flight', 'h', now(), now() + interval '1 hour' FROM users WHERE email = 'agent@example.com'`)
	r := s.do("POST", "/api/v1/jobs/memo/generate", token, body, "Idempotency-Key", "in-flight")
	if r.status != 409 || r.header.Get("Retry-After") == "" {
		t.Errorf("in flight: %d (Retry-After %q), want 409 with Retry-After", r.status, r.header.Get("Retry-After"))
	}
}

type thread struct {
	ID       int64            `json:"id"`
	Channel  string           `json:"channel"`
	Messages []system.Message `json:"messages"`
}

func (s *stack) threads(token string, property int) []thread {
	var out struct{ Items []thread }
	s.do("GET", fmt.Sprintf("/api/v1/communications/threads?property_id=%d", property), token, nil).json(s.t, &out)
	return out.Items
}

func (s *stack) waitMessage(token string, property int, id string, status system.MessageStatus) system.Message {
	s.t.Helper()
	var last system.Message
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, th := range s.threads(token, property) {
			for _, m := range th.Messages {
				if m.ID == id {
					last = m
					if m.Status == status {
						return m
					}
				}
			}
		}
	}
	s.t.Fatalf("message %s is %q, want %q", id, last.Status, status)
	return last
}

// mockMessages asks the mock Twilio what it received for a number.
func (s *stack) mockMessages(to string) []map[string]any {
	res, err := http.Get(s.main.Providers.SMS.BaseURL + "/mock/messages?To=" + url.QueryEscape(to))
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct{ Messages []map[string]any }
	json.NewDecoder(res.Body).Decode(&out)
	return out.Messages
}

func TestSMSIsDeliveredThroughTheWebhook(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	token := s.login("agent@example.com", fixtures.DemoPassword)
	to := "+12055550129"
	r := s.do("POST", "/api/v1/communications/sms", token, map[string]any{"property_id": 30, "to": to, "body": "Hello from reos"})
	var out struct {
		MessageID string `json:"message_id"`
		Status    string `json:"status"`
	}
	r.json(t, &out)
	if r.status != 202 || out.Status != "queued" {
		t.Fatalf("sms = %d %s", r.status, r.body)
	}
	m := s.waitMessage(token, 30, out.MessageID, system.MessageDelivered)
	if !strings.HasPrefix(m.ProviderID, "SM") || m.Body != "Hello from reos" {
		t.Errorf("delivered message = %+v", m)
	}
	if got := s.mockMessages(to); len(got) != 1 {
		t.Errorf("mock Twilio holds %d messages for %s, want 1", len(got), to)
	}
	// An SMS without a text is refused before anything is queued, as
	// Twilio refuses it (21602).
	for _, body := range []any{nil, "", "  \n "} {
		req := map[string]any{"property_id": 30, "to": to}
		if body != nil {
			req["body"] = body
		}
		if p := wantProblem(t, "sms without a body", s.do("POST", "/api/v1/communications/sms", token, req), 400, system.EINVALID); p.Errors["body"] == "" {
			t.Errorf("sms with body %q: %+v, want the body field named", body, p)
		}
	}
	if got := s.mockMessages(to); len(got) != 1 {
		t.Errorf("mock Twilio holds %d messages for %s after refused sends, want 1", len(got), to)
	}
}

func TestDNCRefusedAndNeverSent(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	token := s.login("agent@example.com", fixtures.DemoPassword)
	dnc := "+12055550106" // property 7's owner, on the seeded list
	p := wantProblem(t, "sms to a DNC number", s.do("POST", "/api/v1/communications/sms", token, map[string]any{"property_id": 7, "to": dnc, "body": "hi"}), 422, system.EDNC)
	if !strings.Contains(p.Detail, dnc) {
		t.Errorf("detail = %q", p.Detail)
	}
	wantProblem(t, "email to a DNC address", s.do("POST", "/api/v1/communications/email-thread", token,
		map[string]any{"property_id": 13, "to_address": "owner13@example.net", "subject": "x", "body": "y"}), 422, system.EDNC)
	time.Sleep(300 * time.Millisecond)
	if got := s.mockMessages(dnc); len(got) != 0 {
		t.Errorf("mock Twilio received %d messages for a DNC number", len(got))
	}
	refused := 0
	for _, th := range s.threads(token, 7) {
		for _, m := range th.Messages {
			if m.Status == system.MessageRefused {
				refused++
			}
		}
	}
	if refused != 1 {
		t.Errorf("refused messages on record for property 7 = %d, want 1", refused)
	}
}

// inbound makes a phone text the product's number through the mock.
func (s *stack) inbound(from, body string) {
	s.t.Helper()
	res, err := http.PostForm(s.main.Providers.SMS.BaseURL+"/mock/inbound", url.Values{"From": {from}, "To": {s.main.Providers.SMS.From}, "Body": {body}})
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct {
		WebhookStatus int `json:"webhook_status"`
	}
	json.NewDecoder(res.Body).Decode(&out)
	if res.StatusCode != 201 || out.WebhookStatus != 200 {
		s.t.Fatalf("inbound %q: mock %d, webhook %d", body, res.StatusCode, out.WebhookStatus)
	}
}

func TestDNCAddedBetweenQueueAndSend(t *testing.T) {
	t.Parallel()
	s := startStack(t, "REOS_WORKERS", "false")
	token := s.login("agent@example.com", fixtures.DemoPassword)
	to := "+13175550111" // property 12's owner
	var out struct {
		MessageID string `json:"message_id"`
	}
	s.do("POST", "/api/v1/communications/sms", token, map[string]any{"property_id": 12, "to": to, "body": "offer"}).json(t, &out)
	s.inbound(to, "STOP") // the owner opts out while the send waits in the queue
	s.main.StartWorkers()
	m := s.waitMessage(token, 12, out.MessageID, system.MessageRefused)
	if !strings.Contains(m.Error, "do-not-contact") {
		t.Errorf("refused message = %+v", m)
	}
	if got := s.mockMessages(to); len(got) != 0 {
		t.Errorf("mock Twilio received %d messages after the opt-out", len(got))
	}
}

// One do-not-contact rule decides at request time and at send time: an
// email queued before the owner texted STOP is not sent, as a new one would
// be refused.
func TestOwnerOptOutStopsAQueuedEmail(t *testing.T) {
	t.Parallel()
	s := startStack(t, "REOS_WORKERS", "false")
	token := s.login("agent@example.com", fixtures.DemoPassword)
	r := s.do("POST", "/api/v1/communications/email-thread", token, map[string]any{"property_id": 12, "to_address": "owner12@example.com",
		"subject": "Your property", "body": "An offer"})
	var out struct {
		Message system.Message `json:"message"`
	}
	if r.json(t, &out); r.status != 201 {
		t.Fatalf("email-thread = %d %s", r.status, r.body)
	}
	s.inbound("+13175550111", "STOP") // property 12's owner, by text, while the email waits
	wantProblem(t, "a new email after the owner's STOP", s.do("POST", "/api/v1/communications/email-thread", token,
		map[string]any{"property_id": 12, "to_address": "owner12@example.com", "subject": "x", "body": "y"}), 422, system.EDNC)
	s.main.StartWorkers()
	m := s.waitMessage(token, 12, out.Message.ID, system.MessageRefused)
	if !strings.Contains(m.Error, "the owner of property 12") {
		t.Errorf("the queued email was refused for %q, want the owner's opt-out named", m.Error)
	}
	c := &mailpit.Client{BaseURL: s.main.Providers.MailpitURL}
	if found, err := c.Search(context.Background(), "to:owner12@example.com"); err != nil || len(found) != 0 {
		t.Errorf("Mailpit holds %d emails to the owner who opted out (%v)", len(found), err)
	}
}

func TestInboundOptOutAndBackIn(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	token := s.login("agent@example.com", fixtures.DemoPassword)
	owner := "+13175550111"
	s.inbound(owner, "Stop")
	wantProblem(t, "sms after STOP", s.do("POST", "/api/v1/communications/sms", token, map[string]any{"property_id": 12, "to": owner, "body": "hi"}), 422, system.EDNC)
	s.inbound(owner, "START")
	if r := s.do("POST", "/api/v1/communications/sms", token, map[string]any{"property_id": 12, "to": owner, "body": "hi"}); r.status != 202 {
		t.Errorf("sms after START = %d %s", r.status, r.body)
	}
	inbound := 0
	for _, th := range s.threads(token, 12) {
		for _, m := range th.Messages {
			if m.Direction == "inbound" {
				inbound++
			}
		}
	}
	if inbound != 2 {
		t.Errorf("inbound messages in property 12's threads = %d, want 2", inbound)
	}
	// START does not lift a listed number.
	s.inbound("+12055550106", "START")
	wantProblem(t, "listed number after START", s.do("POST", "/api/v1/communications/sms", token, map[string]any{"property_id": 7, "to": "+12055550106", "body": "hi"}), 422, system.EDNC)
}

func TestBadTwilioWebhooks(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	form := url.Values{"MessageSid": {"SM" + strings.Repeat("0", 32)}, "MessageStatus": {"delivered"}}
	post := func(sig string) response {
		return s.do("POST", "/api/v1/webhooks/twilio/status", "", form.Encode(), "Content-Type", "application/x-www-form-urlencoded", twilio.SignatureHeader, sig)
	}
	wantProblem(t, "unsigned", s.do("POST", "/api/v1/webhooks/twilio/status", "", form.Encode(), "Content-Type", "application/x-www-form-urlencoded"), 401, system.EUNAUTHORIZED)
	wantProblem(t, "bad signature", post("AAAAAAAAAAAAAAAAAAAAAAAAAAA="), 403, system.EFORBIDDEN)
	wantProblem(t, "signed with another token", post(twilio.Signature("other", s.url+"/api/v1/webhooks/twilio/status", form)), 403, system.EFORBIDDEN)
	if r := post(twilio.Signature(s.main.Providers.SMS.AuthToken, s.url+"/api/v1/webhooks/twilio/status", form)); r.status != 204 {
		t.Errorf("well signed callback for an unknown sid = %d %s, want 204", r.status, r.body)
	}
	wantProblem(t, "unsigned inbound", s.do("POST", "/api/v1/webhooks/twilio/inbound", "", "From=%2B1&Body=STOP", "Content-Type", "application/x-www-form-urlencoded"), 401, system.EUNAUTHORIZED)

	off := startStack(t, "FEATURE_WEBHOOK_SIGNATURES", "false")
	if r := off.do("POST", "/api/v1/webhooks/twilio/status", "", form.Encode(), "Content-Type", "application/x-www-form-urlencoded"); r.status != 204 {
		t.Errorf("mock mode with signatures off: %d %s", r.status, r.body)
	}
}

func TestDeadLetterAndReplay(t *testing.T) {
	t.Parallel()
	s := startStack(t, "JOB_MAX_ATTEMPTS", "3")
	token := s.login("agent@example.com", fixtures.DemoPassword)
	admin := s.login("admin@example.com", fixtures.DemoPassword)
	faults := func(body string) {
		req, _ := http.NewRequest("PUT", s.main.Providers.SMS.BaseURL+"/mock/faults", strings.NewReader(body))
		res, err := http.DefaultClient.Do(req)
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("faults: %v %v", res, err)
		}
		res.Body.Close()
	}
	faults(`{"error_probability": 1}`)
	var out struct {
		MessageID string `json:"message_id"`
	}
	s.do("POST", "/api/v1/communications/sms", token, map[string]any{"property_id": 30, "to": "+12055550129", "body": "drill"}).json(t, &out)
	s.waitMessage(token, 30, out.MessageID, system.MessageFailed)

	var dlq struct{ Items []system.DeadLetter }
	s.do("GET", "/api/v1/dlq", admin, nil).json(t, &dlq)
	if len(dlq.Items) != 1 || dlq.Items[0].MessageID != out.MessageID || dlq.Items[0].Attempts != 3 || !strings.Contains(dlq.Items[0].Reason, "20500") {
		t.Fatalf("dlq = %+v", dlq.Items)
	}
	deaths, _ := json.Marshal(dlq.Items[0].Deaths)
	if strings.Count(string(deaths), `"count":1`) != 2 {
		t.Errorf("x_death = %s, want one death in each of the 2 retry queues", deaths)
	}
	wantProblem(t, "agent reads the DLQ", s.do("GET", "/api/v1/dlq", token, nil), 403, system.EFORBIDDEN)

	faults(`{}`)
	r := s.do("POST", fmt.Sprintf("/api/v1/dlq/%d/replay", dlq.Items[0].ID), admin, nil)
	if r.status != 202 {
		t.Fatalf("replay = %d %s", r.status, r.body)
	}
	s.waitMessage(token, 30, out.MessageID, system.MessageDelivered)
	wantProblem(t, "replay unknown", s.do("POST", "/api/v1/dlq/999/replay", admin, nil), 404, system.ENOTFOUND)
}

func TestEmailThreadWithTracking(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	token := s.login("agent@example.com", fixtures.DemoPassword)
	r := s.do("POST", "/api/v1/communications/email-thread", token, map[string]any{"property_id": 30, "to_address": "owner30@example.com",
		"subject": "Your property", "body": "Hello,\n\nSee https://example.com/offer/30 for our offer."})
	var out struct {
		Thread  thread         `json:"thread"`
		Message system.Message `json:"message"`
	}
	r.json(t, &out)
	if r.status != 201 || out.Message.Status != system.MessageQueued || out.Thread.ID == 0 {
		t.Fatalf("email-thread = %d %s", r.status, r.body)
	}
	s.waitMessage(token, 30, out.Message.ID, system.MessageSent)
	c := &mailpit.Client{BaseURL: s.main.Providers.MailpitURL}
	var found []mailpit.Summary
	for deadline := time.Now().Add(5 * time.Second); len(found) == 0 && time.Now().Before(deadline); {
		found, _ = c.Search(context.Background(), "to:owner30@example.com")
	}
	if len(found) != 1 {
		t.Fatalf("Mailpit holds %d messages", len(found))
	}
	msg, _ := c.Message(context.Background(), found[0].ID)
	pixel := strings.Index(msg.HTML, "/api/v1/t/open/")
	click := strings.Index(msg.HTML, "/api/v1/t/click/")
	if pixel < 0 || click < 0 {
		t.Fatalf("the HTML has no tracking: %s", msg.HTML)
	}
	link := func(at int) string {
		start := strings.LastIndex(msg.HTML[:at], `"`) + 1
		return msg.HTML[start : at+strings.Index(msg.HTML[at:], `"`)]
	}
	if res, err := http.Get(link(pixel)); err != nil || res.StatusCode != 200 || res.Header.Get("Content-Type") != "image/gif" {
		t.Errorf("pixel: %v %v", res, err)
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := noRedirect.Get(link(click))
	if err != nil || res.StatusCode != 302 || res.Header.Get("Location") != "https://example.com/offer/30" {
		t.Errorf("click: %v %v", res, err)
	}
	m := s.waitMessage(token, 30, out.Message.ID, system.MessageSent)
	seen := map[string]bool{}
	for _, e := range m.Events {
		seen[e.Type] = true
	}
	if !seen["open"] || !seen["click"] || !seen["sent"] {
		t.Errorf("events = %+v, want sent, open and click", m.Events)
	}
	if r := s.do("GET", "/api/v1/t/click/"+strings.Repeat("0", 32)+"/0", "", nil); r.status != 404 {
		t.Errorf("unknown token: %d", r.status)
	}
}

func TestInboundWebhookDeliveredTwiceIsStoredOnce(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	token := s.login("agent@example.com", fixtures.DemoPassword)
	form := url.Values{"MessageSid": {"SM" + strings.Repeat("1", 32)}, "From": {"+13175550111"}, "To": {s.main.Providers.SMS.From}, "Body": {"Is it still for sale?"}}
	sig := twilio.Signature(s.main.Providers.SMS.AuthToken, s.url+"/api/v1/webhooks/twilio/inbound", form)
	for range 2 {
		r := s.do("POST", "/api/v1/webhooks/twilio/inbound", "", form.Encode(), "Content-Type", "application/x-www-form-urlencoded", twilio.SignatureHeader, sig)
		if r.status != 200 || !strings.Contains(string(r.body), "<Response>") {
			t.Fatalf("inbound = %d %s", r.status, r.body)
		}
	}
	n := 0
	for _, th := range s.threads(token, 12) {
		n += len(th.Messages)
	}
	if n != 1 {
		t.Errorf("a webhook sent twice stored %d messages, want 1", n)
	}
}

// TestInterruptedSendIsNotRepeated: a worker claimed an SMS and reached
// Twilio, then died before recording it. The next worker asks Twilio first
// and adopts the message instead of texting the owner twice.
func TestInterruptedSendIsNotRepeated(t *testing.T) {
	t.Parallel()
	s := startStack(t, "REOS_WORKERS", "false")
	token := s.login("agent@example.com", fixtures.DemoPassword)
	to := "+13175550111"
	var out struct {
		MessageID string `json:"message_id"`
	}
	s.do("POST", "/api/v1/communications/sms", token, map[string]any{"property_id": 12, "to": to, "body": "only once"}).json(t, &out)

	// The attempt that died: claimed, sent, never recorded.
	m, claimed, err := postgres.NewMessageService(s.main.DB).ClaimMessage(context.Background(), out.MessageID)
	if err != nil || !claimed {
		t.Fatalf("claim: %v %v", claimed, err)
	}
	first, err := s.main.Providers.SMS.SendSMS(context.Background(), &system.SMS{From: m.From, To: m.To, Body: m.Body})
	if err != nil {
		t.Fatal(err)
	}

	s.main.StartWorkers()
	var got system.Message
	for deadline := time.Now().Add(10 * time.Second); got.ProviderID == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, th := range s.threads(token, 12) {
			for _, msg := range th.Messages {
				if msg.ID == out.MessageID {
					got = msg
				}
			}
		}
	}
	if got.ProviderID != first.SID {
		t.Errorf("the message records %q, want the interrupted attempt's %s", got.ProviderID, first.SID)
	}
	time.Sleep(200 * time.Millisecond)
	if n := len(s.mockMessages(to)); n != 1 {
		t.Errorf("mock Twilio holds %d messages for the owner, want 1", n)
	}
}

// With FEATURE_USE_LLM=true the memo text comes from OpenAI's chat
// completions — in mock mode from the in-process contract double — and the
// memo is still the same bytes for the same property and day.
func TestMemoWrittenByTheModel(t *testing.T) {
	t.Parallel()
	s := startStack(t, "FEATURE_USE_LLM", "true")
	token := s.login("agent@example.com", fixtures.DemoPassword)
	var status struct {
		LLM    string `json:"llm"`
		Health map[string]struct {
			Reachable bool   `json:"reachable"`
			Endpoint  string `json:"endpoint"`
		} `json:"health"`
	}
	s.do("GET", "/api/v1/status/providers?verbose=1", "", nil).json(t, &status)
	if status.LLM != "openai" || !status.Health["llm"].Reachable || !strings.HasPrefix(status.Health["llm"].Endpoint, "http://127.0.0.1:") {
		t.Fatalf("status = %+v", status)
	}
	var first, second job
	s.do("POST", "/api/v1/jobs/memo/generate", token, map[string]int{"property_id": 30}).json(t, &first)
	s.do("POST", "/api/v1/jobs/memo/generate", token, map[string]int{"property_id": 30}).json(t, &second)
	a, b := s.waitJob(token, first.ID), s.waitJob(token, second.ID)
	if a.Status != "done" || a.SHA256 == "" || a.SHA256 != b.SHA256 {
		t.Fatalf("jobs = %+v and %+v, want both done with one SHA-256", a, b)
	}
	plain := startStack(t)
	ptoken := plain.login("agent@example.com", fixtures.DemoPassword)
	var p job
	plain.do("POST", "/api/v1/jobs/memo/generate", ptoken, map[string]int{"property_id": 30}).json(t, &p)
	if c := plain.waitJob(ptoken, p.ID); c.SHA256 == a.SHA256 {
		t.Errorf("the model's memo has the same bytes as the templates' one: was the model asked?")
	}
}

// With GOTENBERG_URL the memo is printed by Gotenberg (here its double) from
// the memo's HTML page.
func TestMemoPrintedByGotenberg(t *testing.T) {
	t.Parallel()
	g := httptest.NewServer(mockgotenberg.New())
	t.Cleanup(g.Close)
	s := startStack(t, "GOTENBERG_URL", g.URL)
	token := s.login("agent@example.com", fixtures.DemoPassword)
	var status struct {
		PDF    string                              `json:"pdf"`
		Health map[string]struct{ Reachable bool } `json:"health"`
	}
	s.do("GET", "/api/v1/status/providers?verbose=1", "", nil).json(t, &status)
	if status.PDF != "gotenberg-local" || !status.Health["pdf"].Reachable {
		t.Fatalf("status = %+v", status)
	}
	var j job
	s.do("POST", "/api/v1/jobs/memo/generate", token, map[string]int{"property_id": 30}).json(t, &j)
	done := s.waitJob(token, j.ID)
	res, err := http.Get(done.MemoURL)
	if err != nil {
		t.Fatal(err)
	}
	pdf, _ := io.ReadAll(res.Body)
	res.Body.Close()
	var p system.Property
	s.do("GET", "/api/v1/properties/30", token, nil).json(t, &p)
	if done.Status != "done" || !bytes.Contains(pdf, []byte("Gotenberg double")) || !bytes.Contains(pdf, []byte(p.Address)) {
		t.Errorf("job %+v; PDF of %d bytes without the double's mark or the address %q", done, len(pdf), p.Address)
	}
}

// Twilio may call back before the worker has recorded the SID its create
// answered with. The callback URL names the message, so the status still
// lands; a callback naming another message's id with a foreign SID, or an
// email, changes nothing.
func TestStatusCallbackBeforeTheSIDIsRecorded(t *testing.T) {
	t.Parallel()
	// The vendor fails the create, and the retry is an hour away: the
	// message stays sending with no SID, as between a create and its record.
	s := startStack(t, "JOB_RETRY_BASE", "1h")
	token := s.login("agent@example.com", fixtures.DemoPassword)
	req, _ := http.NewRequest("PUT", s.main.Providers.SMS.BaseURL+"/mock/faults?to=%2B12055550129", strings.NewReader(`{"error_probability": 1}`))
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("faults: %v %v", res, err)
	}
	res.Body.Close()
	var out struct {
		MessageID string `json:"message_id"`
	}
	s.do("POST", "/api/v1/communications/sms", token, map[string]any{"property_id": 30, "to": "+12055550129", "body": "early callback"}).json(t, &out)
	s.waitMessage(token, 30, out.MessageID, system.MessageSending)

	callback := func(messageID, sid, status string) int {
		u := s.url + "/api/v1/webhooks/twilio/status?message_id=" + url.QueryEscape(messageID)
		form := url.Values{"MessageSid": {sid}, "MessageStatus": {status}}
		return s.do("POST", strings.TrimPrefix(u, s.url), "", form.Encode(), "Content-Type", "application/x-www-form-urlencoded",
			twilio.SignatureHeader, twilio.Signature(s.main.Providers.SMS.AuthToken, u, form)).status
	}
	sid := "SM" + strings.Repeat("a", 32)
	if code := callback(out.MessageID, sid, "delivered"); code != 204 {
		t.Fatalf("callback = %d", code)
	}
	s.waitMessage(token, 30, out.MessageID, system.MessageDelivered)
	m, err := postgres.NewMessageService(s.main.DB).FindMessage(context.Background(), out.MessageID)
	if err != nil || m.ProviderID != sid {
		t.Errorf("after the early callback: provider id %q, %v; want %s", m.ProviderID, err, sid)
	}
	// Another SID for the same message: not this message's callback.
	if code := callback(out.MessageID, "SM"+strings.Repeat("b", 32), "undelivered"); code != 204 {
		t.Fatalf("foreign callback = %d", code)
	}
	if m, _ := postgres.NewMessageService(s.main.DB).FindMessage(context.Background(), out.MessageID); m.Status != system.MessageDelivered || m.ProviderID != sid {
		t.Errorf("a callback with another SID changed the message: %s %s", m.Status, m.ProviderID)
	}
}
