package app_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/real-estate-os/reos/system"
	"github.com/real-estate-os/reos/system/api"
	"github.com/real-estate-os/reos/system/app"
	"github.com/real-estate-os/reos/system/postgres"
	"github.com/real-estate-os/reos/system/provider/sendgrid"
)

// A contract run: production mode, every vendor replaced by its double on
// loopback — Twilio, SendGrid, S3, OpenAI, Gotenberg — through the same
// clients that talk to the vendors. Memos, SMS and email go end to end.
func TestProductionAgainstContractDoubles(t *testing.T) {
	t.Parallel()
	d, err := app.StartDoubles(t.TempDir(), func() time.Time { return start })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	var env []string
	for k, v := range d.Env {
		env = append(env, k, v)
	}
	s := startStack(t, append(env, "EMAIL_FROM", "Real Estate OS <deals@reos.example.com>")...)
	d.Attach(s.url)
	mail := d.SendGrid
	hash, _ := api.HashPassword("a production password")
	if err := postgres.NewUserService(s.main.DB).CreateUser(context.Background(), &system.User{Email: "ops@example.com", Role: system.RoleAgent, PasswordHash: hash}); err != nil {
		t.Fatal(err)
	}
	bearer := s.login("ops@example.com", "a production password")

	var status struct {
		AppMode string `json:"app_mode"`
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

	// A memo: text from the OpenAI double, printed by the Gotenberg double,
	// stored in S3, fetched by its presigned URL.
	var j job
	s.do("POST", "/api/v1/jobs/memo/generate", bearer, map[string]int{"property_id": 30}).json(t, &j)
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
	s.do("POST", "/api/v1/communications/sms", bearer, map[string]any{"property_id": 30, "to": "+12055550129"}).json(t, &sms)
	if m := s.waitMessage(bearer, 30, sms.MessageID, system.MessageDelivered); !strings.HasPrefix(m.ProviderID, "SM") {
		t.Errorf("sms %+v", m)
	}

	// An email, delivered through SendGrid's signed events. The events may
	// overtake the worker's record of the send, which brings SendGrid's id.
	var email struct {
		Message system.Message `json:"message"`
	}
	s.do("POST", "/api/v1/communications/email-thread", bearer, map[string]any{"property_id": 30, "to_address": "owner30@example.com",
		"subject": "Your property", "body": "Hello"}).json(t, &email)
	m := s.waitMessage(bearer, 30, email.Message.ID, system.MessageDelivered)
	for deadline := time.Now().Add(5 * time.Second); m.ProviderID == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		m = s.waitMessage(bearer, 30, email.Message.ID, system.MessageDelivered)
	}
	sent := mail.Messages()
	if len(sent) != 1 || m.ProviderID != sent[0].ID || sent[0].To[0] != "owner30@example.com" || sent[0].From != "deals@reos.example.com" ||
		sent[0].CustomArgs[sendgrid.MessageIDArg] != email.Message.ID || !strings.Contains(sent[0].HTML, "/api/v1/t/open/") {
		t.Errorf("email %+v; the SendGrid double received %+v", m, sent)
	}
}
