package app_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	mocksendgrid "github.com/real-estate-os/reos/mocks/sendgrid"
	"github.com/real-estate-os/reos/system"
	"github.com/real-estate-os/reos/system/app"
	"github.com/real-estate-os/reos/system/provider/sendgrid"
)

// A contract run: production mode, every vendor replaced by its double on
// loopback — Twilio, SendGrid, S3, OpenAI, Gotenberg — through the same
// clients that talk to the vendors. Memos, SMS and email go end to end.
// productionStack starts doubles and a production-mode stack on them,
// with env on top of the doubles' configuration. It checks that production
// seeds no demo data, then makes an admin the way an operator does (the
// code of `reos users create`) and a property through the API. It returns
// the stack, the doubles, the admin's token and the property's id.
func productionStack(t *testing.T, env ...string) (*stack, *app.Doubles, string, int) {
	t.Helper()
	d, err := app.StartDoubles(t.TempDir(), func() time.Time { return start })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	var vars []string
	for k, v := range d.Env {
		vars = append(vars, k, v)
	}
	s := startStack(t, append(append(vars, "EMAIL_FROM", "Real Estate OS <deals@reos.example.com>"), env...)...)
	if err := d.Attach(s.url); err != nil {
		t.Fatal(err)
	}
	var demo int
	s.main.DB.Pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM properties) + (SELECT count(*) FROM users) + (SELECT count(*) FROM dnc_entries)`).Scan(&demo)
	if demo != 0 {
		t.Errorf("production mode started with %d demo rows (properties, users, do-not-contact entries), want none", demo)
	}
	if _, created, err := s.main.CreateUser(context.Background(), "ops@example.com", system.RoleAdmin, "Contract run secret 2026"); err != nil || !created {
		t.Fatalf("CreateUser: created %v, %v", created, err)
	}
	bearer := s.login("ops@example.com", "Contract run secret 2026")
	var p system.Property
	r := s.do("POST", "/api/v1/properties", bearer, map[string]any{"address": "1 Contract Run Way", "city": "Austin", "state": "TX",
		"zip": "78701", "owner_name": "Casey Contract", "owner_phone": "+12055550129", "owner_email": "owner@example.com",
		"list_price_cents": 25000000, "arv_cents": 32000000, "rehab_cents": 3000000, "monthly_rent_cents": 210000,
		"cap_rate_bps": 650, "tags": []string{"contract-run"}, "listed_on": "2026-01-15"})
	if r.status != 201 {
		t.Fatalf("create property: %d %s", r.status, r.body)
	}
	r.json(t, &p)
	return s, d, bearer, int(p.ID)
}

// A contract run: production mode, every vendor replaced by its double on
// loopback — Twilio, SendGrid, S3, OpenAI, Gotenberg — through the same
// clients that talk to the vendors. Memos, SMS and email go end to end.
func TestProductionAgainstContractDoubles(t *testing.T) {
	t.Parallel()
	s, d, bearer, pid := productionStack(t)
	mail := d.SendGrid

	var status struct {
		AppMode string `json:"app_mode"`
		Sends   string `json:"sends"`
		Health  map[string]struct {
			Provider  string `json:"provider"`
			Reachable bool   `json:"reachable"`
			Error     string `json:"error"`
		} `json:"health"`
	}
	s.do("GET", "/api/v1/status/providers?verbose=1", "", nil).json(t, &status)
	want := map[string]string{"email": "sendgrid", "sms": "twilio", "storage": "s3", "pdf": "gotenberg", "llm": "openai"}
	for role, provider := range want {
		if h := status.Health[role]; status.AppMode != "production" || h.Provider != provider || !h.Reachable {
			t.Errorf("%s: %+v, want %s reachable in production", role, h, provider)
		}
	}
	if status.Sends != "live" {
		t.Errorf("sends = %q, want live (FEATURE_EXTERNAL_SENDS=true)", status.Sends)
	}

	// A memo: text from the OpenAI double, printed by the Gotenberg double,
	// stored in S3, fetched by its presigned URL.
	var j job
	s.do("POST", "/api/v1/jobs/memo/generate", bearer, map[string]int{"property_id": pid}).json(t, &j)
	done := s.waitJob(bearer, j.ID)
	res, err := http.Get(done.MemoURL)
	if err != nil {
		t.Fatal(err)
	}
	pdf, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if done.Status != "done" || !bytes.Contains(pdf, []byte("Gotenberg double")) || !bytes.Contains(pdf, []byte("OpenAI contract double")) {
		t.Errorf("memo job %+v: %d bytes, want the Gotenberg double's PDF of the OpenAI double's text", done, len(pdf))
	}

	// An SMS, delivered through Twilio's signed status callbacks.
	var sms struct {
		MessageID string `json:"message_id"`
	}
	s.do("POST", "/api/v1/communications/sms", bearer, map[string]any{"property_id": pid, "to": "+12055550129", "body": "A contract-run text"}).json(t, &sms)
	if m := s.waitMessage(bearer, pid, sms.MessageID, system.MessageDelivered); !strings.HasPrefix(m.ProviderID, "SM") {
		t.Errorf("sms %+v", m)
	}

	// An email, delivered through SendGrid's signed events. The events may
	// overtake the worker's record of the send, which brings SendGrid's id.
	var email struct {
		Message system.Message `json:"message"`
	}
	s.do("POST", "/api/v1/communications/email-thread", bearer, map[string]any{"property_id": pid, "to_address": "owner@example.com",
		"subject": "Your property", "body": "Hello"}).json(t, &email)
	m := s.waitMessage(bearer, pid, email.Message.ID, system.MessageDelivered)
	for deadline := time.Now().Add(5 * time.Second); m.ProviderID == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		m = s.waitMessage(bearer, pid, email.Message.ID, system.MessageDelivered)
	}
	var sent []mocksendgrid.Message
	for _, v := range mail.Messages() {
		if !v.Sandbox { // the health check's sandbox sends
			sent = append(sent, v)
		}
	}
	if len(sent) != 1 || m.ProviderID != sent[0].ID || sent[0].To[0] != "owner@example.com" || sent[0].From != "deals@reos.example.com" ||
		sent[0].CustomArgs[sendgrid.MessageIDArg] != email.Message.ID || !strings.Contains(sent[0].HTML, "/api/v1/t/open/") {
		t.Errorf("email %+v; the SendGrid double received %+v", m, sent)
	}
}

// FEATURE_EXTERNAL_SENDS=false in production: email goes to SendGrid in
// sandbox mode (validated, delivered to nobody), SMS never reaches Twilio;
// both are recorded as suppressed.
func TestProductionWithoutExternalSends(t *testing.T) {
	t.Parallel()
	s, d, bearer, pid := productionStack(t, "FEATURE_EXTERNAL_SENDS", "false")
	var status struct {
		Sends string `json:"sends"`
	}
	s.do("GET", "/api/v1/status/providers", "", nil).json(t, &status)
	if status.Sends != "sandbox" {
		t.Errorf("sends = %q, want sandbox", status.Sends)
	}
	var sms struct {
		MessageID string `json:"message_id"`
	}
	s.do("POST", "/api/v1/communications/sms", bearer, map[string]any{"property_id": pid, "to": "+12055550129", "body": "not for real"}).json(t, &sms)
	var email struct {
		Message system.Message `json:"message"`
	}
	s.do("POST", "/api/v1/communications/email-thread", bearer, map[string]any{"property_id": pid, "to_address": "owner@example.com",
		"subject": "Sandboxed", "body": "Nobody gets this"}).json(t, &email)
	s.waitMessage(bearer, pid, sms.MessageID, system.MessageSuppressed)
	s.waitMessage(bearer, pid, email.Message.ID, system.MessageSuppressed)
	if got := d.Twilio.Messages("", ""); len(got) != 0 {
		t.Errorf("Twilio received %d messages with external sends off, want none: %+v", len(got), got)
	}
	var sandboxed []mocksendgrid.Message
	for _, v := range d.SendGrid.Messages() {
		if v.Subject == "Sandboxed" {
			sandboxed = append(sandboxed, v)
		}
	}
	if len(sandboxed) != 1 || !sandboxed[0].Sandbox {
		t.Errorf("SendGrid received %+v, want the email once, in sandbox mode", sandboxed)
	}
}
