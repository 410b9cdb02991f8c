package app_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/real-estate-os/reos/fixtures"
	"github.com/real-estate-os/reos/system"
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

// An unsigned webhook is 401 whatever is configured: no SendGrid key or
// partner secrets make it a 503.
func TestUnsignedWebhooksWithoutKeys(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	wantProblem(t, "unsigned SendGrid events, no key configured", s.do("POST", "/api/v1/webhooks/sendgrid/events", "", `[]`), 401, system.EUNAUTHORIZED)
	wantProblem(t, "unsigned partner webhook, no secrets configured", s.do("POST", "/api/v1/webhooks/partner", "", `{"type":"x"}`), 401, system.EUNAUTHORIZED)
}
