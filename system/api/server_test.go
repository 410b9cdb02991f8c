package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/real-estate-os/reos/mocks/fake"
	"github.com/real-estate-os/reos/system"
	"github.com/real-estate-os/reos/system/api"
)

// These tests build the whole API over fakes of its services: no
// PostgreSQL, Redis, RabbitMQ or vendor. A fake's function that a test
// does not set panics when called, which the API answers with a 500, so a
// call the test did not expect fails it.

// testServer is the API over fakes, with the fakes a test may program.
type testServer struct {
	*httptest.Server
	handler  http.Handler
	cfg      api.ServerConfig
	tokens   *api.Tokens
	messages *fake.MessageService
	dnc      *fake.DNCService
	stream   *fake.EventStream
	twilio   *fake.CallbackVerifier
}

func newTestServer(t *testing.T, configure func(*testServer)) *testServer {
	t.Helper()
	ts := &testServer{
		tokens:   &api.Tokens{Secret: []byte("a-test-secret-of-32-bytes-length"), TTL: time.Hour},
		messages: &fake.MessageService{},
		dnc:      &fake.DNCService{},
		stream:   &fake.EventStream{},
		twilio:   &fake.CallbackVerifier{},
	}
	props := &fake.PropertyService{FindPropertyByIDFn: func(_ context.Context, id int64) (*system.Property, error) {
		if id != 7 {
			return nil, system.Errorf(system.ENOTFOUND, "property %d does not exist", id)
		}
		return &system.Property{ID: 7, Address: "12 Elm St", City: "Columbus", OwnerName: "Ann Lee", Stage: system.StageContacted}, nil
	}}
	closing := make(chan struct{})
	t.Cleanup(func() { close(closing) })
	ts.cfg = api.ServerConfig{
		Settings:   api.Settings{PublicURL: "https://reos.example", Signatures: true, SSEHeartbeat: time.Minute},
		Properties: props, Users: &fake.UserService{}, Rules: &fake.RuleService{}, Tokens: ts.tokens,
		Jobs: &fake.JobService{}, Messages: ts.messages, DNC: ts.dnc, Idempotency: &fake.IdempotencyService{},
		DeadLetters: &fake.DeadLetterService{},
		Outreach: &system.Outreach{Properties: props, Templates: &fake.TemplateService{}, Messages: ts.messages, DNC: ts.dnc,
			SMSFrom: "+15005550006", Logger: slog.New(slog.DiscardHandler)},
		Store:     &fake.ObjectStore{},
		Replay:    func(context.Context, *system.DeadLetter) error { panic("replay") },
		Verifiers: api.Verifiers{Twilio: ts.twilio, SendGrid: &fake.CallbackVerifier{}, Partner: &fake.CallbackVerifier{}},
		Sessions:  &fake.SessionStore{}, EventLog: &fake.EventLog{}, Replays: &fake.ReplayGuard{}, Events: &fake.EventRecorder{},
		Stream: ts.stream, Closing: closing,
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil)),
	}
	if configure != nil {
		configure(ts)
	}
	srv, err := api.NewServer(ts.cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts.handler = srv
	ts.Server = httptest.NewServer(srv)
	t.Cleanup(ts.Server.Close)
	return ts
}

// do sends a request as user id with role; an empty role sends none.
func (ts *testServer) do(t *testing.T, method, path, body string, id int64, role system.Role) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), method, ts.URL+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if role != "" {
		tok, err := ts.tokens.Issue(&system.User{ID: id, Email: "sam@reos.example", Role: role})
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func TestNewServerNeedsEveryService(t *testing.T) {
	if _, err := api.NewServer(api.ServerConfig{}); err == nil {
		t.Fatal("NewServer with no services: no error")
	}
}

func TestATextToAListedOwnerIsRefusedOnRecord(t *testing.T) {
	var refused []*system.Message
	ts := newTestServer(t, func(ts *testServer) {
		ts.dnc.CheckContactFn = func(context.Context, int64, system.Channel, string) (system.Contactable, error) {
			return system.Contactable{OwnerListed: true}, nil
		}
		ts.messages.RefuseMessageFn = func(_ context.Context, m *system.Message) error {
			m.ID = "msg-5"
			refused = append(refused, m)
			return nil
		}
	})
	res, body := ts.do(t, "POST", "/api/v1/communications/sms", `{"property_id":7,"to":"+16145550100","body":"Hello"}`, 1, system.RoleAgent)
	if res.StatusCode != http.StatusUnprocessableEntity || res.Header.Get("Content-Type") != "application/problem+json" ||
		!strings.Contains(body, "the owner of property 7 is on the do-not-contact list") {
		t.Fatalf("%d %s %s: want a 422 problem naming the owner", res.StatusCode, res.Header.Get("Content-Type"), body)
	}
	if len(refused) != 1 || refused[0].To != "+16145550100" || refused[0].From != "+15005550006" {
		t.Errorf("refused %+v: want the attempt on record once", refused)
	}
	res, body = ts.do(t, "POST", "/api/v1/communications/sms", `{"property_id":8,"to":"+16145550100","body":"Hello"}`, 1, system.RoleAgent)
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("a text about a property that does not exist: %d %s, want 404", res.StatusCode, body)
	}
}

func TestCallbacksAreVerifiedAgainstThePublicURL(t *testing.T) {
	var urls []string
	ts := newTestServer(t, func(ts *testServer) {
		ts.twilio.VerifyCallbackFn = func(u string, h map[string][]string, _ []byte) (string, error) {
			urls = append(urls, u)
			if len(h["X-Twilio-Signature"]) == 0 {
				return "", system.Errorf(system.EUNAUTHORIZED, "unsigned")
			}
			return "", system.Errorf(system.EFORBIDDEN, "does not match")
		}
	})
	res, _ := ts.do(t, "POST", "/api/v1/webhooks/twilio/status?message_id=msg-1", "", 0, "")
	if res.StatusCode != http.StatusUnauthorized {
		t.Errorf("an unsigned callback: %d, want 401", res.StatusCode)
	}
	req, _ := http.NewRequest("POST", ts.URL+"/api/v1/webhooks/twilio/inbound", strings.NewReader("From=%2B16145550100&Body=STOP"))
	req.Header.Set("X-Twilio-Signature", "forged")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("a forged callback: %d, want 403 (and no STOP recorded: the DNC fake is unset)", res.StatusCode)
	}
	want := []string{"https://reos.example/api/v1/webhooks/twilio/status?message_id=msg-1", "https://reos.example/api/v1/webhooks/twilio/inbound"}
	if strings.Join(urls, " ") != strings.Join(want, " ") {
		t.Errorf("verified URLs %v, want %v", urls, want)
	}
}

func TestLiveEventsFollowTheVisibilityRule(t *testing.T) {
	subscribed := make(chan *system.Subscription, 1)
	ts := newTestServer(t, func(ts *testServer) {
		ts.stream.SubscribeFn = func(buf int) *system.Subscription {
			sub := system.NewSubscription(buf)
			subscribed <- sub
			return sub
		}
		ts.stream.UnsubscribeFn = func(*system.Subscription) {}
		ts.stream.LessFn = func(a, b string) bool { return a < b }
	})
	_, body := ts.do(t, "GET", "/api/v1/sse-events/token", "", 1, system.RoleAgent)
	var tok struct {
		StreamURL string `json:"stream_url"`
	}
	if err := json.Unmarshal([]byte(body), &tok); err != nil || tok.StreamURL == "" {
		t.Fatalf("stream token: %s", body)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", ts.URL+tok.StreamURL, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	sub := <-subscribed
	for i, e := range []system.Event{
		{Type: "dlq.added", Subject: "dlq/1"},
		{Type: "job.done", Subject: "job/a", Data: map[string]any{"user_id": float64(2)}},
		{Type: "job.done", Subject: "job/b", Data: map[string]any{"user_id": float64(1)}},
		{Type: "property.updated", Subject: "property/7"},
		{Type: "property.updated", Subject: "property/8"},
	} {
		e.ID = "1-" + string(rune('0'+i))
		sub.Offer(system.LiveEvent{Event: e, Frame: []byte("id: " + e.ID + "\nevent: " + e.Type + "\ndata: " + e.Subject + "\n\n")})
	}
	var seen []string
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() && !strings.HasSuffix(sc.Text(), "property/8") {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok && !strings.HasPrefix(data, "{") {
			seen = append(seen, data)
		}
	}
	if got := strings.Join(seen, " "); got != "job/b property/7" {
		t.Errorf("agent 1 saw %q before property/8, want job/b property/7 (not the DLQ, not user 2's job)", got)
	}
}

// testWriter sends the server's log to the test's.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// A tracking link's token lets whoever has it mark a message opened or
// clicked: the log keeps the route, never the token (found when the
// evidence pack's check for token shapes read the product's log).
func TestLogsHoldNoTrackingToken(t *testing.T) {
	const token = "431b5438a9fc028aeceec5b95fbb9629"
	var log strings.Builder
	ts := newTestServer(t, func(ts *testServer) {
		ts.cfg.Logger = slog.New(slog.NewTextHandler(&log, nil))
		ts.messages.FindMessageByTokenFn = func(_ context.Context, tok string) (*system.Message, error) {
			return nil, system.Errorf(system.ENOTFOUND, "no message has that token")
		}
	})
	for _, path := range []string{"/api/v1/t/open/" + token + ".gif", "/api/v1/t/click/" + token + "/0"} {
		if res, _ := ts.do(t, "GET", path, "", 0, ""); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, res.StatusCode)
		}
	}
	if strings.Contains(log.String(), token) || !strings.Contains(log.String(), "path=/api/v1/t/open/REDACTED.gif") ||
		!strings.Contains(log.String(), "path=/api/v1/t/click/REDACTED/0") {
		t.Errorf("the log:\n%s", log.String())
	}
}

// A client that leaves while the limiter asks Redis is not Redis being
// down: no "rate limiter unavailable" warning, no failed request in the
// log, and the limiter is not blamed (found when wrk's connections closing
// at the end of a run logged Redis as down).
func TestAClientLeavingIsNotALimiterOutage(t *testing.T) {
	var log strings.Builder
	ts := newTestServer(t, func(ts *testServer) {
		ts.cfg.Logger = slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelInfo}))
		ts.cfg.Settings.Features.RateLimit = true
		ts.cfg.Settings.RateLimitPerMinute = 100
		ts.cfg.Limiter = &fake.RateLimiter{AllowFn: func(ctx context.Context, _ string, _ int, _ time.Duration) (system.RateDecision, error) {
			<-ctx.Done() // Redis is slow; the client gives up first
			return system.RateDecision{}, ctx.Err()
		}}
	})
	tok, err := ts.tokens.Issue(&system.User{ID: 1, Email: "sam@reos.example", Role: system.RoleAgent})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	req := httptest.NewRequestWithContext(ctx, "GET", "/api/v1/properties/7", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	time.AfterFunc(20*time.Millisecond, cancel)
	ts.handler.ServeHTTP(httptest.NewRecorder(), req)
	if l := log.String(); strings.Contains(l, "rate limiter unavailable") || strings.Contains(l, "request failed") {
		t.Errorf("a client that left was logged as a failure:\n%s", l)
	}
}

// A spare connection (dialed, no request sent) holds http.Server.Shutdown
// for five seconds; the servers' Shutdown answers the request in flight,
// then closes it at once.
func TestShutdownAnswersRequestsAndDropsSpareConnections(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	srv := api.HTTPServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		io.WriteString(w, "answered")
	}), nil)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	spare, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer spare.Close()
	answer := make(chan string, 1)
	go func() {
		res, err := http.Get("http://" + l.Addr().String())
		if err != nil {
			answer <- err.Error()
			return
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		answer <- string(b)
	}()
	<-started
	// Well within net/http's five seconds for a connection that sent nothing.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	stopped := make(chan error, 1)
	go func() { stopped <- srv.Shutdown(ctx) }()
	close(release)
	if err := <-stopped; err != nil {
		t.Fatalf("Shutdown = %v, want nil: the spare connection held it", err)
	}
	if got := <-answer; got != "answered" {
		t.Errorf("the request in flight got %q, want its answer", got)
	}
	spare.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := spare.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("the spare connection: read = %v, want EOF (closed by the server)", err)
	}
}

// New passwords are hashed at PASSWORD_HASH_COST.
func TestNewPasswordsTakeTheConfiguredCost(t *testing.T) {
	for _, cost := range []int{0, 5} {
		var stored string
		ts := newTestServer(t, func(ts *testServer) {
			ts.cfg.Settings.PasswordCost = cost
			ts.cfg.Users = &fake.UserService{CreateUserFn: func(_ context.Context, u *system.User) error {
				stored, u.ID = u.PasswordHash, 9
				return nil
			}}
		})
		res, body := ts.do(t, "POST", "/api/v1/users", `{"email":"new@reos.example","password":"Vq8-tundra-Plinth-44","role":"agent"}`, 1, system.RoleAdmin)
		if res.StatusCode != http.StatusCreated {
			t.Fatalf("create user: %d %s", res.StatusCode, body)
		}
		want := cost
		if cost == 0 {
			want = bcrypt.DefaultCost
		}
		if got, err := bcrypt.Cost([]byte(stored)); err != nil || got != want {
			t.Errorf("PasswordCost %d: stored a hash of cost %d (%v), want %d", cost, got, err, want)
		}
	}
}

// Each request leaves one access line at info level: when it ended, the
// method, the path, the status, the bytes, how long it took, and the
// request id (the client's X-Request-Id when it sent one); none below
// the configured level.
func TestAccessLogLine(t *testing.T) {
	var log strings.Builder
	ts := newTestServer(t, func(ts *testServer) {
		ts.cfg.Logger = slog.New(slog.NewJSONHandler(&log, nil))
	})
	before := time.Now()
	req, _ := http.NewRequestWithContext(t.Context(), "GET", ts.URL+"/healthz", nil)
	req.Header.Set("X-Request-Id", "req-7")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %d", res.StatusCode)
	}
	var line struct {
		Time      time.Time     `json:"time"`
		Level     string        `json:"level"`
		Msg       string        `json:"msg"`
		Method    string        `json:"method"`
		Path      string        `json:"path"`
		Status    int           `json:"status"`
		Bytes     int           `json:"bytes"`
		Duration  time.Duration `json:"duration"`
		RequestID string        `json:"request_id"`
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(log.String())), &line); err != nil {
		t.Fatalf("the log is not one JSON line: %v\n%s", err, log.String())
	}
	if line.Level != "INFO" || line.Msg != "http request" || line.Method != "GET" || line.Path != "/healthz" ||
		line.Status != res.StatusCode || line.Bytes != len(body) || line.RequestID != "req-7" {
		t.Errorf("the access line: %+v (answered %d, %d bytes)", line, res.StatusCode, len(body))
	}
	if line.Time.Before(before) || line.Time.After(time.Now()) || line.Duration <= 0 || line.Duration > time.Since(before) {
		t.Errorf("the access line's time %v and duration %v, for a request sent at %v", line.Time, line.Duration, before)
	}

	log.Reset()
	quiet := newTestServer(t, func(ts *testServer) {
		ts.cfg.Logger = slog.New(slog.NewJSONHandler(&log, &slog.HandlerOptions{Level: slog.LevelWarn}))
	})
	if res, _ := quiet.do(t, "GET", "/healthz", "", 0, ""); res.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %d", res.StatusCode)
	}
	if log.Len() != 0 {
		t.Errorf("an access line below the configured level:\n%s", log.String())
	}
}
