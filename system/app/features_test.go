package app_test

import (
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/real-estate-os/reos/fixtures"
	"github.com/real-estate-os/reos/system"
	"github.com/real-estate-os/reos/system/webhook"
)

func TestConditionalGETs(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	token := s.login("agent@example.com", fixtures.DemoPassword)
	paths := []string{"/api/v1/properties/30", "/api/v1/properties?tag=seed", "/api/v1/pipeline", "/api/v1/properties/30/reasons", "/api/v1/portfolio/export.csv"}
	etags := map[string]string{}
	for _, p := range paths {
		r := s.do("GET", p, token, nil)
		etag := r.header.Get("ETag")
		if r.status != 200 || !strings.HasPrefix(etag, `"`) || r.header.Get("Cache-Control") != "private, no-cache" {
			t.Fatalf("%s: %d ETag %q Cache-Control %q", p, r.status, etag, r.header.Get("Cache-Control"))
		}
		etags[p] = etag
		again := s.do("GET", p, token, nil, "If-None-Match", etag)
		if again.status != 304 || len(again.body) != 0 || again.header.Get("ETag") != etag {
			t.Errorf("%s with If-None-Match: %d, %d bytes", p, again.status, len(again.body))
		}
		if r := s.do("GET", p, token, nil, "If-None-Match", `"other", W/`+etag); r.status != 304 {
			t.Errorf("%s with a list holding the weak form: %d", p, r.status)
		}
	}

	// A stale If-Match is refused and writes nothing; the current one wins.
	stale := etags["/api/v1/properties/30"]
	ok := s.do("PATCH", "/api/v1/properties/30", token, map[string]string{"notes": "first"}, "If-Match", stale)
	if ok.status != 200 || ok.header.Get("ETag") == stale {
		t.Fatalf("PATCH with the current ETag: %d, ETag %q", ok.status, ok.header.Get("ETag"))
	}
	wantProblem(t, "stale If-Match", s.do("PATCH", "/api/v1/properties/30", token, map[string]string{"notes": "lost update"}, "If-Match", stale), 412, system.EPRECONDITION)
	wantProblem(t, "another property's ETag", s.do("PATCH", "/api/v1/properties/30", token, map[string]string{"notes": "x"}, "If-Match", `"p31.v1"`), 412, system.EPRECONDITION)
	var p system.Property
	s.do("GET", "/api/v1/properties/30", token, nil).json(t, &p)
	if p.Notes != "first" {
		t.Errorf("notes = %q after a refused PATCH", p.Notes)
	}
	// Every path's validator moved with the write.
	for _, path := range paths {
		if r := s.do("GET", path, token, nil, "If-None-Match", etags[path]); r.status != 200 {
			t.Errorf("%s after a write: %d, want 200 with a new ETag", path, r.status)
		}
	}
	// The owner opting out changes the property's body (owner_dnc): its ETag moves.
	before := s.do("GET", "/api/v1/properties/30", token, nil).header.Get("ETag")
	s.inbound("+12055550129", "STOP")
	if r := s.do("GET", "/api/v1/properties/30", token, nil, "If-None-Match", before); r.status != 200 || !strings.Contains(string(r.body), `"owner_dnc":true`) {
		t.Errorf("after the owner's STOP: %d %s", r.status, r.body)
	}
}

// Each instance answers conditional GETs from versions it keeps in memory;
// a write on another instance must still move them.
func TestConditionalGETsAcrossInstances(t *testing.T) {
	t.Parallel()
	a := startStack(t)
	b := startWith(t, map[string]string{"DATABASE_URL": a.main.Config.DatabaseURL, "REOS_ADDR": "127.0.0.1:0",
		"REOS_DATA_DIR": a.main.Config.DataDir, "QUEUE_PREFIX": a.main.Config.QueuePrefix, "JOB_RETRY_BASE": "50ms"})
	token := a.login("agent@example.com", fixtures.DemoPassword)
	paths := []string{"/api/v1/properties/30", "/api/v1/pipeline"}
	etags := map[string]string{}
	for _, p := range paths {
		etags[p] = b.do("GET", p, token, nil).header.Get("ETag")
		if r := b.do("GET", p, token, nil, "If-None-Match", etags[p]); r.status != 304 {
			t.Fatalf("%s on B: %d, want 304", p, r.status)
		}
	}
	if r := a.do("PATCH", "/api/v1/properties/30", token, map[string]string{"stage": "contacted"}); r.status != 200 {
		t.Fatalf("PATCH on A: %d %s", r.status, r.body)
	}
	for _, p := range paths {
		deadline := time.Now().Add(2 * time.Second)
		for b.do("GET", p, token, nil, "If-None-Match", etags[p]).status == 304 {
			if time.Now().After(deadline) {
				t.Fatalf("%s on B still answers 304 to the ETag from before A's write", p)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

func TestIfMatchRequiredAndCachingOff(t *testing.T) {
	t.Parallel()
	s := startStack(t, "REQUIRE_IF_MATCH", "true")
	token := s.login("agent@example.com", fixtures.DemoPassword)
	wantProblem(t, "PATCH without If-Match", s.do("PATCH", "/api/v1/properties/30", token, map[string]string{"notes": "x"}), 428, system.EPRECONDITIONREQUIRED)

	off := startStack(t, "FEATURE_CACHE_RESPONSES", "false")
	token = off.login("agent@example.com", fixtures.DemoPassword)
	r := off.do("GET", "/api/v1/properties/30", token, nil, "If-None-Match", "*")
	if r.status != 200 || r.header.Get("ETag") != "" {
		t.Errorf("caching off: %d, ETag %q", r.status, r.header.Get("ETag"))
	}
}

func TestLoginRateLimit(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	login := func(email string, header ...string) response {
		return s.do("POST", "/api/v1/auth/login", "", map[string]string{"email": email, "password": "wrong"}, header...)
	}
	// The window runs on Redis's clock: one attempt comes back every 6 s, so
	// on a slow machine (bcrypt under -race) a few more may get through.
	began := time.Now()
	refilled := func() int { return int(time.Since(began) / (6 * time.Second)) }
	r := login("agent@example.com")
	attempts := 1
	for ; r.status == 401 && attempts <= 10+refilled(); attempts++ {
		remaining, _ := strconv.Atoi(r.header.Get("RateLimit-Remaining"))
		if r.header.Get("RateLimit-Limit") != "10" || remaining < 10-attempts || remaining > 10-attempts+refilled() {
			t.Fatalf("attempt %d: limit %q remaining %q", attempts, r.header.Get("RateLimit-Limit"), r.header.Get("RateLimit-Remaining"))
		}
		r = login("agent@example.com")
	}
	if attempts < 11 {
		t.Fatalf("refused after %d attempts, want 10 allowed", attempts-1)
	}
	wantProblem(t, "the login after the budget", r, 429, system.ERATELIMIT)
	if ra, _ := strconv.Atoi(r.header.Get("Retry-After")); ra < 1 || ra > 6 || r.header.Get("RateLimit-Reset") == "" {
		t.Errorf("Retry-After %q, RateLimit-Reset %q", r.header.Get("Retry-After"), r.header.Get("RateLimit-Reset"))
	}
	// The address is spent too: another account from it is refused, and a
	// forged X-Forwarded-For from an untrusted peer changes nothing.
	wantProblem(t, "another account, same address", login("admin@example.com", "X-Forwarded-For", "203.0.113.7"), 429, system.ERATELIMIT)
}

// A signed-in user has RATE_LIMIT_PER_MINUTE requests a minute; past it,
// 429 with Retry-After, and another user's budget is untouched.
func TestUserRateLimit(t *testing.T) {
	t.Parallel()
	s := startStack(t, "RATE_LIMIT_PER_MINUTE", "5")
	agent := s.login("agent@example.com", fixtures.DemoPassword)
	var limited *response
	for i := 0; i < 8 && limited == nil; i++ {
		if r := s.do("GET", "/api/v1/properties?limit=1", agent, nil); r.status == 429 {
			limited = &r
		} else if r.status != 200 {
			t.Fatalf("request %d: %d %s", i+1, r.status, r.body)
		}
	}
	if limited == nil {
		t.Fatal("8 requests a minute under a limit of 5 were never answered 429")
	}
	wantProblem(t, "past the user's budget", *limited, 429, system.ERATELIMIT)
	if ra := limited.header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("Retry-After = %q, want the seconds to wait", ra)
	}
	admin := s.login("admin@example.com", fixtures.DemoPassword)
	if r := s.do("GET", "/api/v1/properties?limit=1", admin, nil); r.status != 200 {
		t.Errorf("another user after the agent's budget ran out: %d", r.status)
	}
}

func TestTrustedProxyAndLimitsOff(t *testing.T) {
	t.Parallel()
	s := startStack(t, "TRUSTED_PROXIES", "127.0.0.1")
	for i := range 11 {
		// Each attempt comes "through the proxy" from its own client, on
		// its own account: no budget runs out.
		r := s.do("POST", "/api/v1/auth/login", "", map[string]string{"email": fmt.Sprintf("u%d@example.com", i), "password": "x"},
			"X-Forwarded-For", fmt.Sprintf("198.51.100.%d, 127.0.0.1", i+1))
		if r.status != 401 {
			t.Fatalf("attempt %d behind the proxy: %d", i+1, r.status)
		}
	}
	off := startStack(t, "FEATURE_RATE_LIMIT", "false")
	for range 12 {
		if r := off.do("POST", "/api/v1/auth/login", "", map[string]string{"email": "agent@example.com", "password": "x"}); r.status != 401 || r.header.Get("RateLimit-Limit") != "" {
			t.Fatalf("limits off: %d %v", r.status, r.header)
		}
	}
}

// TestLimiterFailsClosedForLoginOpenForReads stops the stack's Redis.
func TestLimiterFailsClosedForLoginOpenForReads(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	cmd := exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatalf("redis-server: %v (scripts/setup installs it)", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("tcp", "127.0.0.1:"+port); err == nil {
			c.Close()
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	s := startStack(t, "REDIS_URL", "redis://127.0.0.1:"+port+"/0")
	token := s.login("agent@example.com", fixtures.DemoPassword)
	cmd.Process.Kill()
	cmd.Wait()
	wantProblem(t, "login with Redis down", s.do("POST", "/api/v1/auth/login", "", map[string]string{"email": "agent@example.com", "password": fixtures.DemoPassword}), 503, system.EUNAVAILABLE)
	if r := s.do("GET", "/api/v1/properties/30", token, nil); r.status != 200 {
		t.Errorf("read with Redis down: %d %s", r.status, r.body)
	}
}

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

func TestSecurityHeadersAndCORS(t *testing.T) {
	t.Parallel()
	mock := startStack(t)
	if h := mock.do("GET", "/healthz", "", nil).header; h.Get("X-Frame-Options") != "" {
		t.Errorf("mock mode sends security headers by default: %v", h)
	}
	s := startStack(t, "APP_MODE", "production", "JWT_SECRET", strings.Repeat("s", 32), "SENDGRID_API_KEY", "SG.x",
		"TWILIO_ACCOUNT_SID", "AC"+strings.Repeat("0", 32), "TWILIO_AUTH_TOKEN", "t", "TWILIO_FROM_NUMBER", "+15005550006",
		"S3_ENDPOINT", "http://127.0.0.1:1", "S3_ACCESS_KEY_ID", "k", "S3_SECRET_ACCESS_KEY", "s",
		"CORS_ALLOWED_ORIGINS", "https://app.example.com")
	h := s.do("GET", "/api/v1/status/providers", "", nil).header
	for k, want := range map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "strict-origin-when-cross-origin"} {
		if h.Get(k) != want {
			t.Errorf("%s = %q, want %q", k, h.Get(k), want)
		}
	}
	if !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'self'") || !strings.Contains(h.Get("Strict-Transport-Security"), "max-age=") {
		t.Errorf("CSP %q, HSTS %q", h.Get("Content-Security-Policy"), h.Get("Strict-Transport-Security"))
	}
	pre := s.do("OPTIONS", "/api/v1/properties", "", nil, "Origin", "https://app.example.com", "Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "authorization")
	if pre.header.Get("Access-Control-Allow-Origin") != "https://app.example.com" {
		t.Errorf("preflight from an allowed origin: %d %v", pre.status, pre.header)
	}
	other := s.do("OPTIONS", "/api/v1/properties", "", nil, "Origin", "https://evil.example.com", "Access-Control-Request-Method", "GET")
	if other.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight from another origin allowed: %v", other.header)
	}
	on := startStack(t, "SECURITY_HEADERS", "true")
	if on.do("GET", "/healthz", "", nil).header.Get("X-Frame-Options") != "DENY" {
		t.Error("SECURITY_HEADERS=true in mock mode sends no headers")
	}
}

func TestPartnerWebhook(t *testing.T) {
	t.Parallel()
	secrets := "whsec_current_0123456789,whsec_previous_0123456789"
	s := startStack(t, "WEBHOOK_SECRETS", secrets)
	body := []byte(`{"type":"lead.created","data":{"address":"9 Pine St"}}`)
	post := func(header string, b []byte) response {
		return s.do("POST", "/api/v1/webhooks/partner", "", b, webhook.Header, header)
	}
	signed := webhook.Sign("whsec_previous_0123456789", start, body) // mid-rotation: the old key still works
	if r := post(signed, body); r.status != 202 {
		t.Fatalf("signed webhook = %d %s", r.status, r.body)
	}
	wantProblem(t, "replay", post(signed, body), 409, system.ECONFLICT)
	wantProblem(t, "unsigned", s.do("POST", "/api/v1/webhooks/partner", "", body), 401, system.EUNAUTHORIZED)
	wantProblem(t, "bad signature", post(webhook.Sign("whsec_other_0123456789", start, body), body), 403, system.EFORBIDDEN)
	wantProblem(t, "stale", post(webhook.Sign("whsec_current_0123456789", start.Add(-10*time.Minute), body), body), 401, system.EUNAUTHORIZED)
	wantProblem(t, "future", post(webhook.Sign("whsec_current_0123456789", start.Add(10*time.Minute), body), body), 401, system.EUNAUTHORIZED)
	bad := []byte(`{"type":"Bad Type"}`)
	wantProblem(t, "bad event", post(webhook.Sign("whsec_current_0123456789", start, bad), bad), 400, system.EINVALID)
	var n int
	s.main.DB.Pool.QueryRow(t.Context(), `SELECT count(*) FROM events WHERE type = 'partner.lead.created'`).Scan(&n)
	if n != 1 {
		t.Errorf("partner events recorded = %d, want 1", n)
	}
}
