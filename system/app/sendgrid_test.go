package app_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/real-estate-os/reos/fixtures"
	mocksendgrid "github.com/real-estate-os/reos/mocks/sendgrid"
	"github.com/real-estate-os/reos/system"
	"github.com/real-estate-os/reos/system/api"
	"github.com/real-estate-os/reos/system/postgres"
	"github.com/real-estate-os/reos/system/provider/sendgrid"
)

func TestSendGridSignedEvents(t *testing.T) {
	t.Parallel()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	s := startStack(t, "SENDGRID_WEBHOOK_PUBLIC_KEY", base64.StdEncoding.EncodeToString(der))
	token := s.login("agent@example.com", fixtures.DemoPassword)
	var out struct {
		Message system.Message `json:"message"`
	}
	s.do("POST", "/api/v1/communications/email-thread", token, map[string]any{"property_id": 30, "to_address": "owner30@example.com", "subject": "s", "body": "b"}).json(t, &out)
	id := out.Message.ID

	sign := func(ts string, body []byte) string {
		sum := sha256.Sum256(append([]byte(ts), body...))
		sig, _ := ecdsa.SignASN1(rand.Reader, key, sum[:])
		return base64.StdEncoding.EncodeToString(sig)
	}
	body, _ := json.Marshal([]map[string]any{
		{"email": "owner30@example.com", "event": "delivered", "sg_event_id": "e1", "timestamp": start.Unix(), "reos_message_id": id},
		{"email": "owner30@example.com", "event": "open", "sg_event_id": "e2", "timestamp": start.Unix(), "reos_message_id": id},
		{"email": "owner30@example.com", "event": "unsubscribe", "sg_event_id": "e3", "timestamp": start.Unix(), "reos_message_id": id},
		{"email": "someone@example.com", "event": "delivered", "sg_event_id": "e4"}, // not ours: ignored
	})
	now := strconv.FormatInt(start.Unix(), 10)
	post := func(ts, sig string) response {
		return s.do("POST", "/api/v1/webhooks/sendgrid/events", "", body, sendgrid.TimestampHeader, ts, sendgrid.SignatureHeader, sig)
	}
	wantProblem(t, "unsigned", s.do("POST", "/api/v1/webhooks/sendgrid/events", "", body), 401, system.EUNAUTHORIZED)
	stale := strconv.FormatInt(start.Add(-10*time.Minute).Unix(), 10)
	wantProblem(t, "stale", post(stale, sign(stale, body)), 401, system.EUNAUTHORIZED)
	wantProblem(t, "signed for another timestamp", post(now, sign(stale, body)), 403, system.EFORBIDDEN)
	wantProblem(t, "garbage signature", post(now, "!!"), 403, system.EFORBIDDEN)
	if r := post(now, sign(now, body)); r.status != 204 {
		t.Fatalf("signed batch = %d %s", r.status, r.body)
	}
	m := s.waitMessage(token, 30, id, system.MessageDelivered)
	seen := map[string]bool{}
	for _, e := range m.Events {
		seen[e.Type] = true
	}
	if !seen["open"] || !seen["unsubscribe"] {
		t.Errorf("events = %+v", m.Events)
	}
	wantProblem(t, "email after unsubscribe", s.do("POST", "/api/v1/communications/email-thread", token,
		map[string]any{"property_id": 30, "to_address": "owner30@example.com", "subject": "s", "body": "b"}), 422, system.EDNC)
}

// In production mode email goes through the SendGrid client. Against the
// SendGrid contract double the whole loop runs: the send is accepted with
// an X-Message-Id, and the double's signed events move the message to
// delivered.
func TestProductionEmailThroughSendGrid(t *testing.T) {
	t.Parallel()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	double := mocksendgrid.New(mocksendgrid.Config{APIKey: "SG.production-test", SigningKey: key, Now: func() time.Time { return start }})
	srv := httptest.NewServer(double)
	t.Cleanup(func() { srv.Close(); double.Close() })

	s := startStack(t, "APP_MODE", "production", "JWT_SECRET", strings.Repeat("s", 32), "EMAIL_FROM", "Real Estate OS <deals@reos.example.com>",
		"SENDGRID_API_KEY", "SG.production-test", "SENDGRID_BASE_URL", srv.URL, "SENDGRID_WEBHOOK_PUBLIC_KEY", base64.StdEncoding.EncodeToString(der),
		"TWILIO_ACCOUNT_SID", "AC"+strings.Repeat("0", 32), "TWILIO_AUTH_TOKEN", "t", "TWILIO_FROM_NUMBER", "+15005550006",
		"S3_ENDPOINT", "http://127.0.0.1:1", "S3_ACCESS_KEY_ID", "k", "S3_SECRET_ACCESS_KEY", "s")
	double.SetEventsURL(s.url + "/api/v1/webhooks/sendgrid/events")
	hash, _ := api.HashPassword("a production password")
	if err := postgres.NewUserService(s.main.DB).CreateUser(context.Background(), &system.User{Email: "ops@example.com", Role: system.RoleAgent, PasswordHash: hash}); err != nil {
		t.Fatal(err)
	}
	token := s.login("ops@example.com", "a production password")

	var health struct {
		Health map[string]struct{ Reachable bool } `json:"health"`
	}
	s.do("GET", "/api/v1/status/providers?verbose=1", "", nil).json(t, &health)
	if !health.Health["email"].Reachable {
		t.Errorf("the SendGrid check (a sandbox send) failed: %+v", health)
	}

	var out struct {
		Message system.Message `json:"message"`
	}
	s.do("POST", "/api/v1/communications/email-thread", token, map[string]any{"property_id": 30, "to_address": "owner30@example.com",
		"subject": "Your property", "body": "Hello"}).json(t, &out)
	m := s.waitMessage(token, 30, out.Message.ID, system.MessageDelivered)
	// The events may overtake the worker's record of the send, which brings
	// SendGrid's id for it.
	for deadline := time.Now().Add(5 * time.Second); m.ProviderID == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		m = s.waitMessage(token, 30, out.Message.ID, system.MessageDelivered)
	}
	sent := double.Messages()
	if len(sent) != 1 || m.ProviderID != sent[0].ID || sent[0].To[0] != "owner30@example.com" || sent[0].From != "deals@reos.example.com" ||
		sent[0].CustomArgs[sendgrid.MessageIDArg] != out.Message.ID || !strings.Contains(sent[0].HTML, "/api/v1/t/open/") {
		t.Errorf("message %+v; SendGrid double received %+v", m, sent)
	}
}
