package sendgrid

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A client points the double at itself the way it points SendGrid: the
// Event Webhook settings API. Events go to the URL set there, signed once
// signing is enabled, and nowhere while the webhook is disabled.
func TestEventWebhookSettings(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	type hit struct{ signed bool }
	hits := make(chan hit, 10)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits <- hit{signed: r.Header.Get("X-Twilio-Email-Event-Webhook-Signature") != ""}
	}))
	defer receiver.Close()
	s := New(Config{APIKey: "k", SigningKey: key})
	defer s.Close()
	srv := httptest.NewServer(s)
	defer srv.Close()
	call := func(method, path, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer k")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		var out map[string]any
		json.Unmarshal(b, &out)
		return res.StatusCode, out
	}
	send := func() {
		t.Helper()
		if code, _ := call("POST", "/v3/mail/send", validMail); code != 202 {
			t.Fatalf("send: %d", code)
		}
	}
	const settings = "/v3/user/webhooks/event/settings"

	if code, got := call("GET", settings, ""); code != 200 || got["enabled"] != false || got["url"] != "" {
		t.Errorf("GET settings before any change: %d %v, want disabled with no URL", code, got)
	}
	if code, got := call("PATCH", settings, `{"enabled": true, "url": "not a url"}`); code != 400 || !strings.Contains(toJSON(got), `"field":"url"`) {
		t.Errorf("PATCH a bad url: %d %v, want 400 naming url", code, got)
	}
	if code, got := call("PATCH", settings, `{"enabled": true, "url": "`+receiver.URL+`", "processed": true, "delivered": false}`); code != 200 ||
		got["enabled"] != true || got["url"] != receiver.URL || got["delivered"] != false {
		t.Errorf("PATCH settings: %d %v", code, got)
	}
	send()
	if h := <-hits; h.signed {
		t.Error("an event was signed before signing was enabled")
	}
	if code, got := call("PATCH", settings+"/signed", `{"enabled": true}`); code != 200 || got["public_key"] != s.publicKey() || s.publicKey() == "" {
		t.Errorf("PATCH settings/signed: %d %v", code, got)
	}
	if code, got := call("GET", settings+"/signed", ""); code != 200 || got["public_key"] != s.publicKey() {
		t.Errorf("GET settings/signed: %d %v", code, got)
	}
	send()
	if h := <-hits; !h.signed {
		t.Error("an event was unsigned after signing was enabled")
	}
	if code, got := call("GET", settings+"/all", ""); code != 200 || len(got["webhooks"].([]any)) != 1 || got["max_allowed"] != float64(maxWebhooks) {
		t.Errorf("GET settings/all: %d %v", code, got)
	}
	id := ""
	if _, got := call("GET", settings, ""); got["id"] != nil {
		id = got["id"].(string)
	}
	if code, got := call("PATCH", settings+"/"+id, `{"enabled": false}`); code != 200 || got["enabled"] != false {
		t.Errorf("PATCH settings/{id}: %d %v", code, got)
	}
	if code, _ := call("GET", settings+"/no-such-id", ""); code != 404 {
		t.Errorf("GET an unknown webhook: %d, want 404", code)
	}
	send()
	s.Close() // wait for any event posts
	select {
	case h := <-hits:
		t.Errorf("an event reached a disabled webhook (%+v)", h)
	default:
	}
	req, _ := http.NewRequest("GET", srv.URL+settings, nil)
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != 401 {
		t.Errorf("settings without the key: %v %v, want 401", res, err)
	}
}

func toJSON(v any) string { b, _ := json.Marshal(v); return string(b) }
