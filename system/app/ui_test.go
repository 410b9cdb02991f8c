package app_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/real-estate-os/reos/fixtures"
	"github.com/real-estate-os/reos/system"
)

// cookieClient is a cookie-keeping HTTP client that does not follow redirects.
type cookieClient struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newBrowser(t *testing.T, base string) *cookieClient {
	jar, _ := cookiejar.New(nil)
	return &cookieClient{t: t, base: base, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *cookieClient) send(method, path, contentType, body string, header ...string) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest(method, b.base+path, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	return res, string(out)
}

func (b *cookieClient) login(email, password string) *http.Response {
	b.t.Helper()
	res, _ := b.send("POST", "/login", "application/x-www-form-urlencoded", url.Values{"email": {email}, "password": {password}, "next": {"/"}}.Encode())
	return res
}

// csrf reads the session's CSRF token from the board page.
func (b *cookieClient) csrf() string {
	b.t.Helper()
	_, page := b.send("GET", "/", "", "")
	m := regexp.MustCompile(`data-csrf="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		b.t.Fatalf("no CSRF token on the board page:\n%.300s", page)
	}
	return m[1]
}

func sessionCookie(t *testing.T, res *http.Response) *http.Cookie {
	t.Helper()
	for _, c := range res.Cookies() {
		if c.Name == "reos_session" {
			return c
		}
	}
	t.Fatalf("no session cookie in %d %v", res.StatusCode, res.Header)
	return nil
}

func TestSessionCookieAndCSRF(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	b := newBrowser(t, s.url)

	res := b.login("agent@example.com", fixtures.DemoPassword)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
		t.Fatalf("sign-in: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	c := sessionCookie(t, res)
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Secure || c.Path != "/" {
		t.Errorf("mock-mode session cookie %+v: want HttpOnly, SameSite=Strict, not Secure (plain HTTP), Path=/", c)
	}
	token := b.csrf()
	patch := `{"stage":"contacted"}`
	for _, tt := range []struct {
		name   string
		header []string
		want   int
	}{
		{"no CSRF token", nil, 403},
		{"a wrong CSRF token", []string{"X-CSRF-Token", token + "x"}, 403},
		{"the session's CSRF token", []string{"X-CSRF-Token", token}, 200},
	} {
		if res, body := b.send("PATCH", "/api/v1/properties/1", "application/json", patch, tt.header...); res.StatusCode != tt.want {
			t.Errorf("cookie PATCH with %s: %d %s, want %d", tt.name, res.StatusCode, body, tt.want)
		}
	}
	// A JSON POST and a form post are held to it too.
	if res, _ := b.send("POST", "/api/v1/jobs/memo/generate", "application/json", `{"property_id":30}`); res.StatusCode != 403 {
		t.Errorf("cookie POST without a CSRF token: %d, want 403", res.StatusCode)
	}
	for _, form := range []string{"", "csrf_token=wrong"} {
		if res, _ := b.send("POST", "/logout", "application/x-www-form-urlencoded", form); res.StatusCode != 403 {
			t.Errorf("logout form %q: %d, want 403", form, res.StatusCode)
		}
	}
	// A bearer request needs none.
	bearer := s.login("agent@example.com", fixtures.DemoPassword)
	if r := s.do("PATCH", "/api/v1/properties/2", bearer, map[string]string{"stage": "contacted"}); r.status != 200 {
		t.Errorf("bearer PATCH without a CSRF token: %d %s", r.status, r.body)
	}

	// Logging out ends the session on the server: the old cookie is dead.
	if res, _ := b.send("POST", "/logout", "application/x-www-form-urlencoded", "csrf_token="+url.QueryEscape(token)); res.StatusCode != 303 {
		t.Fatalf("logout: %d", res.StatusCode)
	}
	replay := newBrowser(t, s.url)
	u, _ := url.Parse(s.url)
	replay.c.Jar.SetCookies(u, []*http.Cookie{{Name: "reos_session", Value: c.Value}})
	if res, _ := replay.send("GET", "/api/v1/auth/me", "", ""); res.StatusCode != 401 {
		t.Errorf("the logged-out session's cookie on the API: %d, want 401", res.StatusCode)
	}
	if res, _ := replay.send("GET", "/", "", ""); res.StatusCode != 303 || !strings.HasPrefix(res.Header.Get("Location"), "/login") {
		t.Errorf("the logged-out session's cookie on the board: %d %s, want a redirect to /login", res.StatusCode, res.Header.Get("Location"))
	}
}

func TestProductionSessionCookieIsSecure(t *testing.T) {
	t.Parallel()
	s, _, _, _ := productionStack(t)
	res := newBrowser(t, s.url).login("ops@example.com", "Contract run secret 2026")
	if c := sessionCookie(t, res); !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
		t.Errorf("production session cookie %+v: want Secure, HttpOnly, SameSite=Strict", c)
	}
}

// The login page explains a refusal inline, and the lockout with its wait.
func TestLoginPageErrorsAndLockout(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	b := newBrowser(t, s.url)
	res, page := b.send("POST", "/login", "application/x-www-form-urlencoded", "email=agent%40example.com&password=wrong&next=%2F")
	if res.StatusCode != 401 || !strings.Contains(page, "Wrong email or password.") || !strings.Contains(page, `value="agent@example.com"`) {
		t.Errorf("a wrong password: %d, want 401 with the error and the email kept:\n%.400s", res.StatusCode, page)
	}
	for i := 0; i < 12 && res.StatusCode != 429; i++ {
		res, page = b.send("POST", "/login", "application/x-www-form-urlencoded", "email=agent%40example.com&password=wrong")
	}
	if res.StatusCode != 429 || !regexp.MustCompile(`Wait \d+ s`).MatchString(page) || !strings.Contains(page, "data-retry-after=") ||
		res.Header.Get("Retry-After") == "" {
		t.Errorf("the lockout: %d Retry-After %q, want 429 and the wait on the page:\n%.600s", res.StatusCode, res.Header.Get("Retry-After"), page)
	}
	if res, _ := b.send("POST", "/login", "application/x-www-form-urlencoded", "email=a%40b.c&password=x", "Origin", "https://evil.example"); res.StatusCode != 403 {
		t.Errorf("a cross-site sign-in: %d, want 403", res.StatusCode)
	}
	if res, _ := b.send("GET", "/login?next=https://evil.example", "", ""); res.StatusCode != 200 {
		t.Errorf("login page: %d", res.StatusCode)
	} else if _, page := b.send("GET", "/login?next=//evil.example", "", ""); !strings.Contains(page, `name="next" value="/"`) {
		t.Error("an off-site next= is kept")
	}
}

// Every page is sent under the strict CSP, renders hostile property data
// as text, and has its empty and error states.
func TestPagesEscapeAndStates(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	bearer := s.login("agent@example.com", fixtures.DemoPassword)
	hostile := `<script>alert(1)</script>`
	owner := `"><img src=x onerror=alert(2)>`
	var p system.Property
	r := s.do("POST", "/api/v1/properties", bearer, map[string]any{"address": "1 " + hostile + " St", "city": "Austin", "state": "TX", "zip": "78701",
		"owner_name": owner, "list_price_cents": 10000000, "arv_cents": 15000000, "tags": []string{"hostile"}, "listed_on": "2026-01-01"})
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	r.json(t, &p)
	b := newBrowser(t, s.url)
	b.login("agent@example.com", fixtures.DemoPassword)
	for _, path := range []string{"/", "/?tag=hostile", "/ui/board?tag=hostile", "/ui/properties/" + strconv.FormatInt(p.ID, 10), "/portfolio", "/status"} {
		res, page := b.send("GET", path, "", "")
		if res.StatusCode != 200 {
			t.Errorf("GET %s: %d", path, res.StatusCode)
			continue
		}
		if csp := res.Header.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "default-src 'self'") {
			t.Errorf("GET %s: CSP %q", path, csp)
		}
		if strings.Contains(page, hostile) || strings.Contains(page, "<img src=x") {
			t.Errorf("GET %s renders hostile data as markup", path)
		}
		if strings.Contains(page, " style=") || strings.Contains(page, " onclick=") || regexp.MustCompile(`<script>`).MatchString(page) {
			t.Errorf("GET %s has inline style or script", path)
		}
	}
	if _, page := b.send("GET", "/ui/board?tag=hostile", "", ""); !strings.Contains(page, "&lt;script&gt;alert(1)&lt;/script&gt;") ||
		!strings.Contains(page, "No properties in Offer yet.") {
		t.Errorf("the filtered board: want the address as text and the empty columns' message:\n%.500s", page)
	}
	if res, body := b.send("GET", "/ui/properties/999999", "", ""); res.StatusCode != 404 || !strings.Contains(body, "problems/not-found") {
		t.Errorf("an unknown property's drawer: %d %s", res.StatusCode, body)
	}
	if res, body := b.send("GET", "/ui/board?q=%00", "", ""); res.StatusCode != 400 {
		t.Errorf("a board filter with a NUL: %d %s", res.StatusCode, body)
	}
	anon := newBrowser(t, s.url)
	if res, _ := anon.send("GET", "/ui/board", "", ""); res.StatusCode != 401 {
		t.Errorf("a fragment without a session: %d, want 401", res.StatusCode)
	}
}

// The portfolio page's totals are the CSV's: the same count and list value.
func TestPortfolioPageMatchesTheCSV(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	b := newBrowser(t, s.url)
	b.login("agent@example.com", fixtures.DemoPassword)
	_, page := b.send("GET", "/portfolio", "", "")
	_, csv := b.send("GET", "/api/v1/portfolio/export.csv", "", "")
	lines := strings.Split(strings.TrimSpace(csv), "\n")
	total := strings.Split(lines[len(lines)-1], ",")
	count := strings.Fields(total[1])[0]
	cents, _ := strconv.ParseFloat(total[7], 64)
	value := strings.TrimSuffix(system.Dollars(int64(cents*100+0.5)), ".00")
	for _, want := range []string{`data-testid="total-count">` + count + `<`, `data-testid="total-value">` + value + `<`} {
		if !strings.Contains(page, want) {
			t.Errorf("the portfolio page lacks %s (the CSV's totals row: %s)", want, lines[len(lines)-1])
		}
	}
	if n := strings.Count(page, `<tr data-stage=`); n != len(system.Stages) {
		t.Errorf("the per-stage table has %d rows, want %d", n, len(system.Stages))
	}
}
