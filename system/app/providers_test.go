package app_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/real-estate-os/reos/mocks/mailpit"
	"github.com/real-estate-os/reos/system"
	"github.com/real-estate-os/reos/system/egress"
	"github.com/real-estate-os/reos/system/postgres"
	"github.com/real-estate-os/reos/system/provider/twilio"
)

func TestVerboseStatusReportsEveryProvider(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	var got struct {
		AppMode string `json:"app_mode"`
		Health  map[string]struct {
			Provider  string  `json:"provider"`
			Reachable bool    `json:"reachable"`
			LatencyMS float64 `json:"latency_ms"`
			Endpoint  string  `json:"endpoint"`
			Error     string  `json:"error"`
		} `json:"health"`
	}
	s.do("GET", "/api/v1/status/providers?verbose=1", "", nil).json(t, &got)
	want := map[string]string{"email": "mailpit-smtp", "sms": "mock-twilio", "storage": "s3-local", "pdf": "native-pdf", "llm": "deterministic-templates"}
	for role, name := range want {
		h := got.Health[role]
		if h.Provider != name || !h.Reachable || h.Error != "" {
			t.Errorf("health[%s] = %+v, want %s reachable", role, h, name)
		}
	}
	for _, role := range []string{"email", "sms", "storage"} {
		if !strings.HasPrefix(got.Health[role].Endpoint, "http://127.0.0.1:") {
			t.Errorf("health[%s].endpoint = %q, want the local stand-in", role, got.Health[role].Endpoint)
		}
	}
	if plain := s.do("GET", "/api/v1/status/providers", "", nil); bytes.Contains(plain.body, []byte("health")) {
		t.Errorf("the plain status changed shape: %s", plain.body)
	}
}

func TestMockModeEmailLandsInMailpit(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	p := s.main.Providers
	ctx := context.Background()
	if _, err := p.Mailer.SendEmail(ctx, &system.Email{From: s.main.Config.EmailFrom, To: "owner30@example.com", Subject: "About 4127 Magnolia Ct", Text: "Hello"}); err != nil {
		t.Fatal(err)
	}
	c := &mailpit.Client{BaseURL: p.MailpitURL}
	var found []mailpit.Summary
	for deadline := time.Now().Add(5 * time.Second); len(found) == 0 && time.Now().Before(deadline); {
		found, _ = c.Search(ctx, `to:owner30@example.com subject:"About 4127 Magnolia Ct"`)
	}
	if len(found) != 1 {
		t.Fatalf("Mailpit found %d messages, want 1", len(found))
	}
}

func TestMockModeSMSIsDeliveredWithSignedCallbacks(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	p := s.main.Providers
	var mu sync.Mutex
	var statuses []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if !twilio.ValidateSignature(p.SMS.AuthToken, "http://"+r.Host+r.URL.RequestURI(), r.Header.Get("Content-Type"), b, r.Header.Get(twilio.SignatureHeader)) {
			t.Errorf("unsigned or badly signed callback")
		}
		r.Body = io.NopCloser(bytes.NewReader(b))
		r.ParseForm()
		mu.Lock()
		statuses = append(statuses, r.PostForm.Get("MessageStatus"))
		mu.Unlock()
	}))
	defer hook.Close()
	res, err := p.SMS.SendSMS(context.Background(), &system.SMS{To: "+16145550129", Body: "Hi from reos", StatusCallback: hook.URL + "/status"})
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		done := strings.Join(statuses, " ") == "queued sending sent delivered"
		mu.Unlock()
		if done {
			break
		}
	}
	msg, err := p.SMS.Fetch(context.Background(), res.SID)
	if err != nil || msg.Status != "delivered" {
		t.Errorf("message %s = %+v, %v; callbacks %v", res.SID, msg, err, statuses)
	}
}

func TestMockModeMemoIsStoredAndFetchedByPresignedURL(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	p := s.main.Providers
	ctx := context.Background()
	prop, err := postgres.NewPropertyService(s.main.DB).FindPropertyByID(ctx, 30)
	if err != nil {
		t.Fatal(err)
	}
	rules, _ := postgres.NewRuleService(s.main.DB).FindRules(ctx)
	reasons := system.Reasons(rules, prop, start)
	text, err := p.Writer.WriteMemo(ctx, prop, reasons)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := p.PDF.RenderMemo(ctx, &system.Memo{Property: prop, Reasons: reasons, Text: text})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(doc)
	key := "memos/" + string(rune('a'+sum[0]%26)) + ".pdf"
	if err := p.Store.Put(ctx, key, doc, "application/pdf"); err != nil {
		t.Fatal(err)
	}
	u, err := p.Store.PresignGet(ctx, key, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || sha256.Sum256(got) != sum {
		t.Errorf("presigned GET: %d, %d bytes, want the %d-byte memo", res.StatusCode, len(got), len(doc))
	}
}

func TestMockModeRefusesOutsideHosts(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	p := s.main.Providers
	outside := &twilio.Client{BaseURL: "https://api.twilio.com", AccountSID: p.SMS.AccountSID, AuthToken: p.SMS.AuthToken, HTTP: p.Guard.HTTPClient("twilio", 5*time.Second)}
	_, err := outside.SendSMS(context.Background(), &system.SMS{From: "+15005550006", To: "+16145550129", Body: "must not leave"})
	if err == nil || !strings.Contains(err.Error(), "twilio may not connect to api.twilio.com:443") {
		t.Fatalf("SendSMS to api.twilio.com in mock mode: %v", err)
	}
	f, err := os.Open(filepath.Join(s.main.Config.DataDir, "egress.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rec egress.Attempt
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		json.Unmarshal(sc.Bytes(), &rec)
	}
	if rec.Provider != "twilio" || rec.Host != "api.twilio.com" || rec.Allowed {
		t.Errorf("last egress record = %+v", rec)
	}
}
