package mocktwilio_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/real-estate-os/reos/system"
	"github.com/real-estate-os/reos/system/mocktwilio"
	"github.com/real-estate-os/reos/system/provider/twilio"
)

const (
	sid   = "AC0123456789abcdef0123456789abcdef"
	token = "mock-auth-token"
	ours  = "+15005550006"
)

// webhooks records every request the mock posts to it, checking signatures.
type webhooks struct {
	t   testing.TB
	srv *httptest.Server
	mu  sync.Mutex
	got []url.Values
}

func newWebhooks(t testing.TB) *webhooks {
	h := &webhooks{t: t}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		full := h.srv.URL + r.URL.RequestURI()
		if !twilio.ValidateSignature(token, full, r.Header.Get("Content-Type"), b, r.Header.Get(twilio.SignatureHeader)) {
			t.Errorf("webhook to %s has a bad signature %q", full, r.Header.Get(twilio.SignatureHeader))
		}
		v, _ := url.ParseQuery(string(b))
		h.mu.Lock()
		h.got = append(h.got, v)
		h.mu.Unlock()
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *webhooks) statuses(messageSid string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, v := range h.got {
		if v.Get("MessageSid") == messageSid {
			out = append(out, v.Get("MessageStatus"))
		}
	}
	return out
}

type mock struct {
	*mocktwilio.Server
	url    string
	client *twilio.Client
}

func startMock(t testing.TB, dir string) *mock {
	t.Helper()
	s, err := mocktwilio.New(mocktwilio.Config{AccountSID: sid, AuthToken: token, DataDir: dir, StepDelay: time.Millisecond, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(func() { srv.Close(); s.Close() })
	return &mock{Server: s, url: srv.URL, client: &twilio.Client{BaseURL: srv.URL, AccountSID: sid, AuthToken: token, From: ours, HTTP: srv.Client()}}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSendReachesDeliveredWithSignedCallbacks(t *testing.T) {
	m := startMock(t, t.TempDir())
	hooks := newWebhooks(t)
	res, err := m.client.SendSMS(context.Background(), &system.SMS{To: "+14155550100", Body: "Hello from reos", StatusCallback: hooks.srv.URL + "/status?tenant=1"})
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^SM[0-9a-f]{32}$`).MatchString(res.SID) || res.Status != "queued" {
		t.Errorf("SendSMS = %+v", res)
	}
	want := "queued sending sent delivered"
	eventually(t, "the callbacks up to delivered", func() bool { return strings.Join(hooks.statuses(res.SID), " ") == want })

	msg, err := m.client.Fetch(context.Background(), res.SID)
	if err != nil {
		t.Fatal(err)
	}
	if msg.Status != "delivered" || msg.DateSent == nil || msg.Price == nil || *msg.PriceUnit != "USD" || msg.ErrorCode != nil {
		t.Errorf("fetched %+v", msg)
	}
	if _, err := time.Parse(time.RFC1123Z, msg.DateCreated); err != nil {
		t.Errorf("date_created %q is not RFC 2822: %v", msg.DateCreated, err)
	}
}

func TestTwilioErrors(t *testing.T) {
	m := startMock(t, "")
	tests := []struct {
		name   string
		params url.Values
		code   int
	}{
		{"no To", url.Values{"From": {ours}, "Body": {"x"}}, 21604},
		{"no From", url.Values{"To": {"+14155550100"}, "Body": {"x"}}, 21603},
		{"no Body", url.Values{"To": {"+14155550100"}, "From": {ours}}, 21602},
		{"bad To", url.Values{"To": {"555-0100"}, "From": {ours}, "Body": {"x"}}, 21211},
		{"magic invalid To", url.Values{"To": {"+15005550001"}, "From": {ours}, "Body": {"x"}}, 21211},
		{"magic unroutable To", url.Values{"To": {"+15005550002"}, "From": {ours}, "Body": {"x"}}, 21612},
		{"magic no permission To", url.Values{"To": {"+15005550003"}, "From": {ours}, "Body": {"x"}}, 21408},
		{"magic unsubscribed To", url.Values{"To": {"+15005550004"}, "From": {ours}, "Body": {"x"}}, 21610},
		{"magic not SMS-capable To", url.Values{"To": {"+15005550009"}, "From": {ours}, "Body": {"x"}}, 21614},
		{"magic invalid From", url.Values{"To": {"+14155550100"}, "From": {"+15005550001"}, "Body": {"x"}}, 21212},
		{"magic not-owned From", url.Values{"To": {"+14155550100"}, "From": {"+15005550007"}, "Body": {"x"}}, 21606},
		{"magic full queue From", url.Values{"To": {"+14155550100"}, "From": {"+15005550008"}, "Body": {"x"}}, 21611},
		{"a From the account does not own", url.Values{"To": {"+14155550100"}, "From": {"+14155550199"}, "Body": {"x"}}, 21606},
		{"body over 1600 characters", url.Values{"To": {"+14155550100"}, "From": {ours}, "Body": {strings.Repeat("é", 1601)}}, 21617},
	}
	for _, tt := range tests {
		_, err := m.client.Create(context.Background(), tt.params)
		var te *twilio.Error
		if !errors.As(err, &te) || te.Code != tt.code || te.Status != 400 || te.MoreInfo != "https://www.twilio.com/docs/errors/"+itoa(tt.code) || te.Message == "" {
			t.Errorf("%s: %v, want Twilio error %d with status 400", tt.name, err, tt.code)
		}
	}

	bad := &twilio.Client{BaseURL: m.url, AccountSID: sid, AuthToken: "wrong", HTTP: http.DefaultClient}
	_, err := bad.Create(context.Background(), url.Values{"To": {"+14155550100"}, "From": {ours}, "Body": {"x"}})
	if te, ok := err.(*twilio.Error); !ok || te.Code != 20003 || te.Status != 401 {
		t.Errorf("wrong token: %v, want 20003/401", err)
	}
	if _, err := m.client.Fetch(context.Background(), "SM00000000000000000000000000000000"); err == nil || err.(*twilio.Error).Code != 20404 {
		t.Errorf("unknown sid: %v, want 20404", err)
	}
	if err := twilio.SystemError(&twilio.Error{Code: 21610, Status: 400}); system.ErrorCode(err) != system.EDNC {
		t.Errorf("21610 maps to %v, want EDNC", err)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestInboundOptOutAndBack(t *testing.T) {
	m := startMock(t, t.TempDir())
	hooks := newWebhooks(t)
	m.SetInboundURL(hooks.srv.URL + "/inbound")
	inbound := func(body string) {
		res, err := http.PostForm(m.url+"/mock/inbound", url.Values{"From": {"+14155550123"}, "To": {ours}, "Body": {body}})
		if err != nil || res.StatusCode != 201 {
			t.Fatalf("inbound %q: %v %v", body, res, err)
		}
		res.Body.Close()
	}
	send := func() error {
		_, err := m.client.SendSMS(context.Background(), &system.SMS{To: "+14155550123", Body: "offer"})
		return err
	}
	inbound("  stop ")
	if err := send(); system.ErrorCode(err) != system.EDNC {
		t.Errorf("send after STOP: %v, want EDNC (Twilio 21610)", err)
	}
	inbound("START")
	if err := send(); err != nil {
		t.Errorf("send after START: %v", err)
	}
	hooks.mu.Lock()
	defer hooks.mu.Unlock()
	if len(hooks.got) != 2 || hooks.got[0].Get("OptOutType") != "STOP" || hooks.got[0].Get("Body") != "  stop " || hooks.got[1].Get("OptOutType") != "START" {
		t.Errorf("inbound webhooks = %v", hooks.got)
	}
}

func TestMessagesSurviveRestartAndFinish(t *testing.T) {
	dir := t.TempDir()
	hooks := newWebhooks(t)
	s, err := mocktwilio.New(mocktwilio.Config{AccountSID: sid, AuthToken: token, DataDir: dir, StepDelay: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	c := &twilio.Client{BaseURL: srv.URL, AccountSID: sid, AuthToken: token, From: ours, HTTP: srv.Client()}
	res, err := c.SendSMS(context.Background(), &system.SMS{To: "+14155550100", Body: "persist me", StatusCallback: hooks.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()
	s.Close() // stops while the message is queued

	if b, err := os.ReadFile(filepath.Join(dir, "messages.jsonl")); err != nil || !strings.Contains(string(b), res.SID) {
		t.Fatalf("the journal does not hold the message: %v", err)
	}
	m := startMock(t, dir)
	eventually(t, "the resumed message to be delivered", func() bool {
		msg, err := m.client.Fetch(context.Background(), res.SID)
		return err == nil && msg.Status == "delivered" && msg.Body == "persist me"
	})
}

func TestFaults(t *testing.T) {
	m := startMock(t, "")
	put := func(body string) int {
		req, _ := http.NewRequest("PUT", m.url+"/mock/faults", strings.NewReader(body))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if code := put(`{"error_probability": 2}`); code != 400 {
		t.Errorf("probability 2 accepted: %d", code)
	}
	if code := put(`{"rate_limit_probability": 1}`); code != 200 {
		t.Fatalf("put faults: %d", code)
	}
	_, err := m.client.SendSMS(context.Background(), &system.SMS{To: "+14155550100", Body: "x"})
	if system.ErrorCode(err) != system.EUNAVAILABLE || !strings.Contains(err.Error(), "20429") {
		t.Errorf("with 429 fault: %v", err)
	}
	put(`{"error_probability": 1}`)
	if _, err := m.client.SendSMS(context.Background(), &system.SMS{To: "+14155550100", Body: "x"}); !strings.Contains(err.Error(), "20500") {
		t.Errorf("with 500 fault: %v", err)
	}
	put(`{"undelivered_to": ["+14155550100"], "failed_to": ["+14155550101"]}`)
	hooks := newWebhooks(t)
	a, _ := m.client.SendSMS(context.Background(), &system.SMS{To: "+14155550100", Body: "x", StatusCallback: hooks.srv.URL})
	b, _ := m.client.SendSMS(context.Background(), &system.SMS{To: "+14155550101", Body: "x", StatusCallback: hooks.srv.URL})
	eventually(t, "undelivered and failed", func() bool {
		return strings.Join(hooks.statuses(a.SID), " ") == "queued sending sent undelivered" && strings.Join(hooks.statuses(b.SID), " ") == "queued failed"
	})
}

// Faults set for one recipient break only the messages to it: a parallel
// run's messages to anyone else go through untouched.
func TestScopedFaults(t *testing.T) {
	m := startMock(t, "")
	call := func(method, path, body string) int {
		req, _ := http.NewRequest(method, m.url+path, strings.NewReader(body))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if code := call("PUT", "/mock/faults?to=not-a-number", `{}`); code != 400 {
		t.Errorf("a scope that is not a number: %d", code)
	}
	if code := call("PUT", "/mock/faults?to=%2B14155550177", `{"error_probability": 1}`); code != 200 {
		t.Fatalf("put scoped faults: %d", code)
	}
	for range 5 {
		if _, err := m.client.SendSMS(context.Background(), &system.SMS{To: "+14155550100", Body: "x"}); err != nil {
			t.Fatalf("another recipient saw the scoped fault: %v", err)
		}
	}
	if _, err := m.client.SendSMS(context.Background(), &system.SMS{To: "+14155550177", Body: "x"}); err == nil || !strings.Contains(err.Error(), "20500") {
		t.Errorf("the scoped recipient: %v, want Twilio error 20500", err)
	}
	var got mocktwilio.Faults
	req, _ := http.NewRequest("GET", m.url+"/mock/faults?to=%2B14155550177", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(res.Body).Decode(&got)
	res.Body.Close()
	if got.ErrorProbability != 1 {
		t.Errorf("GET ?to= = %+v", got)
	}
	if code := call("DELETE", "/mock/faults?to=%2B14155550177", ""); code != 204 {
		t.Fatalf("delete scoped faults: %d", code)
	}
	if _, err := m.client.SendSMS(context.Background(), &system.SMS{To: "+14155550177", Body: "x"}); err != nil {
		t.Errorf("after DELETE: %v", err)
	}
}

func TestListPagingAndDelete(t *testing.T) {
	m := startMock(t, "")
	for range 5 {
		if _, err := m.client.SendSMS(context.Background(), &system.SMS{To: "+14155550100", Body: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	get := func(path string, v any) int {
		req, _ := http.NewRequest("GET", m.url+path, nil)
		req.SetBasicAuth(sid, token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		json.NewDecoder(res.Body).Decode(v)
		return res.StatusCode
	}
	var page struct {
		Messages        []twilio.Message `json:"messages"`
		Page, PageSize  int
		Start, End      int
		NextPageURI     *string `json:"next_page_uri"`
		PreviousPageURI *string `json:"previous_page_uri"`
	}
	base := "/2010-04-01/Accounts/" + sid + "/Messages.json"
	get(base+"?PageSize=2&Page=1&To=%2B14155550100", &page)
	if len(page.Messages) != 2 || page.Start != 2 || page.End != 3 || page.NextPageURI == nil || page.PreviousPageURI == nil {
		t.Errorf("page 1 of 2 = %+v", page)
	}
	del, _ := http.NewRequest("DELETE", m.url+"/2010-04-01/Accounts/"+sid+"/Messages/"+page.Messages[0].SID+".json", nil)
	del.SetBasicAuth(sid, token)
	res, err := http.DefaultClient.Do(del)
	if err != nil || res.StatusCode != 204 {
		t.Fatalf("delete: %v %v", res, err)
	}
	var all struct{ Messages []mocktwilio.Record }
	get("/mock/messages?To=%2B14155550100", &all)
	if len(all.Messages) != 4 {
		t.Errorf("after delete, %d messages, want 4", len(all.Messages))
	}
}

func TestSegments(t *testing.T) {
	for body, want := range map[string]int{"": 1, strings.Repeat("a", 160): 1, strings.Repeat("a", 161): 2, strings.Repeat("{", 80): 1, strings.Repeat("{", 81): 2,
		strings.Repeat("é", 160): 1, strings.Repeat("ł", 70): 1, strings.Repeat("ł", 71): 2, "Hello! 👍": 1} {
		if got := mocktwilio.Segments(body); got != want {
			t.Errorf("Segments(%d × %q…) = %d, want %d", len([]rune(body)), []rune(body + " ")[0], got, want)
		}
	}
}

// FuzzCreate posts arbitrary bodies to the Messages API: the mock must
// answer 201 or a Twilio error body with 400, never anything else.
func FuzzCreate(f *testing.F) {
	for _, seed := range []string{"To=%2B14155550100&From=%2B15005550006&Body=hi", "To=&From=", "%zz", "Body=" + strings.Repeat("x", 2000), "To=%2B15005550004&From=%2B15005550006&Body=x", "StatusCallback=ftp%3A%2F%2Fx&To=%2B14155550100&From=%2B15005550006&Body=x"} {
		f.Add(seed)
	}
	s, err := mocktwilio.New(mocktwilio.Config{AccountSID: sid, AuthToken: token, StepDelay: time.Hour})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest("POST", "/2010-04-01/Accounts/"+sid+"/Messages.json", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(sid, token)
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		switch rec.Code {
		case 201:
		case 400:
			var te twilio.Error
			if json.Unmarshal(rec.Body.Bytes(), &te) != nil || te.Code == 0 || te.Status != 400 {
				t.Errorf("400 without a Twilio error body: %s", rec.Body)
			}
		default:
			t.Errorf("POST %q answered %d", body, rec.Code)
		}
	})
}

// Every answer carries Twilio-Request-Id (RQ and 32 hex digits), new for
// each request, errors included.
func TestTwilioRequestID(t *testing.T) {
	m := startMock(t, "")
	seen := map[string]bool{}
	for _, path := range []string{"/health", "/2010-04-01/Accounts/" + sid + "/Messages.json", "/nope"} {
		res, err := http.Get(m.url + path) // the second is 401 without credentials
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		id := res.Header.Get("Twilio-Request-Id")
		if !regexp.MustCompile(`^RQ[0-9a-f]{32}$`).MatchString(id) || seen[id] {
			t.Errorf("GET %s (%d): Twilio-Request-Id %q, want a fresh RQ + 32 hex", path, res.StatusCode, id)
		}
		seen[id] = true
	}
}

// The journal is the messages' state across restarts: the last line of a
// sid wins, a deletion stays deleted, a last line cut short by a crash is
// skipped, and the one-file-per-message layout of earlier versions is read
// and folded in.
func TestJournalAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	m := startMock(t, dir)
	hooks := newWebhooks(t)
	var sids []string
	for range 3 {
		res, err := m.client.SendSMS(context.Background(), &system.SMS{To: "+14155550100", Body: "kept", StatusCallback: hooks.srv.URL})
		if err != nil {
			t.Fatal(err)
		}
		sids = append(sids, res.SID)
	}
	eventually(t, "three delivered", func() bool {
		for _, sid := range sids {
			if strings.Join(hooks.statuses(sid), " ") != "queued sending sent delivered" {
				return false
			}
		}
		return true
	})
	del, _ := http.NewRequest("DELETE", m.url+"/2010-04-01/Accounts/"+sid+"/Messages/"+sids[0]+".json", nil)
	del.SetBasicAuth(sid, token)
	if res, err := http.DefaultClient.Do(del); err != nil || res.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %v %v", res, err)
	}
	m.Close()

	// A crash cut the last line short; an earlier version left a file.
	f, _ := os.OpenFile(filepath.Join(dir, "messages.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"sid":"SM` + strings.Repeat("0", 32) + `","record":{"sid":"SM`)
	f.Close()
	legacy := `{"sid":"SM` + strings.Repeat("1", 32) + `","status":"delivered","direction":"outbound-api","to":"+14155550100","body":"old","callbacks":[]}`
	os.MkdirAll(filepath.Join(dir, "messages"), 0o700)
	os.WriteFile(filepath.Join(dir, "messages", "SM"+strings.Repeat("1", 32)+".json"), []byte(legacy), 0o600)

	m = startMock(t, dir)
	for _, c := range []struct {
		sid, want string
	}{{sids[0], "gone"}, {sids[1], "delivered"}, {sids[2], "delivered"}, {"SM" + strings.Repeat("1", 32), "delivered"}, {"SM" + strings.Repeat("0", 32), "gone"}} {
		msg, err := m.client.Fetch(context.Background(), c.sid)
		got := "gone"
		if err == nil {
			got = msg.Status
		}
		if got != c.want {
			t.Errorf("%s after the restart: %s (%v), want %s", c.sid, got, err, c.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "messages", "SM"+strings.Repeat("1", 32)+".json")); !os.IsNotExist(err) {
		t.Errorf("the earlier version's file is still there after it was folded into the journal: %v", err)
	}
}
