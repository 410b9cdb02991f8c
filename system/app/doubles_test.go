package app_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	mockgotenberg "github.com/real-estate-os/reos/mocks/gotenberg"
	mockopenai "github.com/real-estate-os/reos/mocks/openai"
	mocks3 "github.com/real-estate-os/reos/mocks/s3"
	mocksendgrid "github.com/real-estate-os/reos/mocks/sendgrid"
	"github.com/real-estate-os/reos/system"
	"github.com/real-estate-os/reos/system/api"
	"github.com/real-estate-os/reos/system/mocktwilio"
	"github.com/real-estate-os/reos/system/postgres"
	"github.com/real-estate-os/reos/system/provider/sendgrid"
)

// serve runs h on loopback until the test ends.
func serve(t *testing.T, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// A contract run: production mode, every vendor replaced by its double on
// loopback — Twilio, SendGrid, S3, OpenAI, Gotenberg — through the same
// clients that talk to the vendors. Memos, SMS and email go end to end.
func TestProductionAgainstContractDoubles(t *testing.T) {
	t.Parallel()
	sid, token := "AC"+strings.Repeat("0a", 16), "a-twilio-auth-token"
	twilio, err := mocktwilio.New(mocktwilio.Config{AccountSID: sid, AuthToken: token, Numbers: []string{mocktwilio.MagicFrom}, Now: func() time.Time { return start }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { twilio.Close() })
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	mail := mocksendgrid.New(mocksendgrid.Config{APIKey: "SG.contract-run", SigningKey: key, Now: func() time.Time { return start }})
	t.Cleanup(mail.Close)
	store, err := mocks3.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}

	s := startStack(t, "APP_MODE", "production", "JWT_SECRET", strings.Repeat("s", 32), "EMAIL_FROM", "Real Estate OS <deals@reos.example.com>",
		"SENDGRID_API_KEY", "SG.contract-run", "SENDGRID_BASE_URL", serve(t, mail), "SENDGRID_WEBHOOK_PUBLIC_KEY", base64.StdEncoding.EncodeToString(der),
		"TWILIO_ACCOUNT_SID", sid, "TWILIO_AUTH_TOKEN", token, "TWILIO_FROM_NUMBER", mocktwilio.MagicFrom, "TWILIO_BASE_URL", serve(t, twilio),
		"S3_ENDPOINT", serve(t, store), "S3_ACCESS_KEY_ID", "k", "S3_SECRET_ACCESS_KEY", "s",
		"FEATURE_USE_LLM", "true", "OPENAI_API_KEY", "sk-contract-run", "OPENAI_BASE_URL",
		serve(t, mockopenai.New(mockopenai.Config{APIKey: "sk-contract-run", Models: []string{"gpt-4o-mini"}}))+"/v1",
		"GOTENBERG_URL", serve(t, mockgotenberg.New()))
	mail.SetEventsURL(s.url + "/api/v1/webhooks/sendgrid/events")
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
