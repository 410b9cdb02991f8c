package app_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/real-estate-os/reos/fixtures"
	"github.com/real-estate-os/reos/system"
	"github.com/real-estate-os/reos/system/api"
	"github.com/real-estate-os/reos/system/app"
	"github.com/real-estate-os/reos/system/config"
	"github.com/real-estate-os/reos/system/postgres/postgrestest"
	"github.com/real-estate-os/reos/system/provider/twilio"
)

// stack is a running product on a database of the test's own.
type stack struct {
	t     testing.TB
	main  *app.Main
	url   string
	clock *atomic.Int64 // unix nanoseconds
}

var start = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

func startStack(t testing.TB, env ...string) *stack {
	t.Helper()
	vars := map[string]string{"DATABASE_URL": postgrestest.NewDatabase(t), "REOS_ADDR": "127.0.0.1:0", "REOS_DATA_DIR": t.TempDir(),
		"QUEUE_PREFIX": "test-" + strings.ToLower(rand.Text()[:8]), "JOB_RETRY_BASE": "50ms"}
	for i := 0; i+1 < len(env); i += 2 {
		vars[env[i]] = env[i+1]
	}
	return startWith(t, vars)
}

func startWith(t testing.TB, vars map[string]string) *stack {
	t.Helper()
	cfg, err := config.Load(config.Lookup(vars, func(string) (string, bool) { return "", false }))
	if err != nil {
		t.Fatal(err)
	}
	clock := &atomic.Int64{}
	clock.Store(start.UnixNano())
	m := &app.Main{Config: cfg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return time.Unix(0, clock.Load()).UTC() }}
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		m.Close()
		if err := m.Teardown(); err != nil {
			t.Logf("teardown: %v", err) // e.g. the test stopped its own Redis
		}
	})
	return &stack{t: t, main: m, url: m.URL(), clock: clock}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// do sends a request. body may be nil, a string or []byte (sent as is), or
// any other value (sent as JSON). Content-Type defaults to application/json.
func (s *stack) do(method, path, token string, body any, header ...string) response {
	s.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, s.url+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	checkContract(s.t, req, res.StatusCode, res.Header, b)
	return response{status: res.StatusCode, header: res.Header, body: b}
}

func (s *stack) login(email, password string) string {
	s.t.Helper()
	r := s.do("POST", "/api/v1/auth/login", "", map[string]string{"email": email, "password": password})
	if r.status != 200 {
		s.t.Fatalf("login %s: %d %s", email, r.status, r.body)
	}
	var out struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int    `json:"expires_in"`
	}
	r.json(s.t, &out)
	if out.TokenType != "Bearer" || out.ExpiresIn != 3600 || out.AccessToken == "" {
		s.t.Errorf("login response = %s", r.body)
	}
	return out.AccessToken
}

// wantProblem checks that r is a problem-details answer with the status and
// type, that leaks nothing internal.
func wantProblem(t *testing.T, name string, r response, status int, code string) api.Problem {
	t.Helper()
	var p api.Problem
	if r.status != status || r.header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("%s: %d %s %s, want %d problem+json", name, r.status, r.header.Get("Content-Type"), r.body, status)
		return p
	}
	_ = json.Unmarshal(r.body, &p)
	if p.Type != api.ProblemTypeBase+code || p.Status != status || p.Title == "" {
		t.Errorf("%s: problem %s, want type …/%s and status %d", name, r.body, code, status)
	}
	for _, leak := range []string{"SELECT", "INSERT", "pgx", "goroutine", "panic", ".go:"} {
		if bytes.Contains(r.body, []byte(leak)) {
			t.Errorf("%s: body leaks %q: %s", name, leak, r.body)
		}
	}
	return p
}

func TestStatusAndHealth(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	r := s.do("GET", "/api/v1/status/providers", "", nil)
	want := `{"app_mode":"mock","email":"mailpit-smtp","sms":"mock-twilio","storage":"s3-local","pdf":"native-pdf","llm":"deterministic-templates",` +
		`"sends":"stand-ins","features":{"external_sends":false,"use_llm":false,"rate_limit":true,"webhook_signatures":true,"cache_responses":true}}`
	if r.status != 200 || strings.TrimSpace(string(r.body)) != want {
		t.Errorf("status/providers = %d %s\nwant %s", r.status, r.body, want)
	}
	if r := s.do("GET", "/healthz", "", nil); r.status != 200 {
		t.Errorf("healthz = %d", r.status)
	}
	r = s.do("GET", "/readyz", "", nil)
	if r.status != 200 || !strings.Contains(string(r.body), `"postgres":"ok"`) || !strings.Contains(string(r.body), `"rabbitmq":"ok"`) || !strings.Contains(string(r.body), `"redis":"ok"`) {
		t.Errorf("readyz = %d %s", r.status, r.body)
	}

	s.main.Redis.Close() // the dependency goes away
	p := wantProblem(t, "readyz with redis down", s.do("GET", "/readyz", "", nil), 503, system.EUNAVAILABLE)
	if !strings.HasPrefix(p.Checks["redis"], "failing") || p.Checks["postgres"] != "ok" {
		t.Errorf("readyz with redis down names %v, want redis failing and postgres ok", p.Checks)
	}
}

func TestAuth(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	token := s.login("agent@example.com", fixtures.DemoPassword)

	r := s.do("GET", "/api/v1/auth/me", token, nil)
	var me system.User
	r.json(t, &me)
	if r.status != 200 || me.Email != "agent@example.com" || me.Role != system.RoleAgent || strings.Contains(string(r.body), "password") {
		t.Errorf("me = %d %s", r.status, r.body)
	}

	tests := []struct {
		name   string
		r      response
		status int
		code   string
	}{
		{"wrong password", s.do("POST", "/api/v1/auth/login", "", map[string]string{"email": "agent@example.com", "password": "nope"}), 401, system.EUNAUTHORIZED},
		{"unknown user", s.do("POST", "/api/v1/auth/login", "", map[string]string{"email": "who@example.com", "password": fixtures.DemoPassword}), 401, system.EUNAUTHORIZED},
		{"missing password", s.do("POST", "/api/v1/auth/login", "", map[string]string{"email": "agent@example.com"}), 400, system.EINVALID},
		{"no token", s.do("GET", "/api/v1/properties", "", nil), 401, system.EUNAUTHORIZED},
		{"forged token", s.do("GET", "/api/v1/properties", token[:len(token)-4]+"AAAA", nil), 401, system.EUNAUTHORIZED},
		{"basic auth", s.do("GET", "/api/v1/properties", "", nil, "Authorization", "Basic YTpi"), 401, system.EUNAUTHORIZED},
		{"agent lists users", s.do("GET", "/api/v1/users", token, nil), 403, system.EFORBIDDEN},
	}
	for _, tt := range tests {
		wantProblem(t, tt.name, tt.r, tt.status, tt.code)
	}
	if r := s.do("GET", "/api/v1/properties", "", nil); r.header.Get("WWW-Authenticate") == "" {
		t.Errorf("401 without WWW-Authenticate")
	}

	s.clock.Add(int64(61 * time.Minute)) // past the token's hour
	p := wantProblem(t, "expired token", s.do("GET", "/api/v1/auth/me", token, nil), 401, system.EUNAUTHORIZED)
	if !strings.Contains(p.Detail, "expired") {
		t.Errorf("expired token detail = %q", p.Detail)
	}
}

func TestMockSecretIsSharedThroughTheDataDirectory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := postgrestest.NewDatabase(t)
	a := startStack(t, "DATABASE_URL", db, "REOS_DATA_DIR", dir)
	token := a.login("agent@example.com", fixtures.DemoPassword)
	b := startStack(t, "DATABASE_URL", db, "REOS_DATA_DIR", dir)
	if r := b.do("GET", "/api/v1/auth/me", token, nil); r.status != 200 {
		t.Errorf("a token from instance A on instance B: %d %s", r.status, r.body)
	}
}

func TestProductionSeedsNoDemoUsers(t *testing.T) {
	t.Parallel()
	s := startStack(t, "APP_MODE", "production", "JWT_SECRET", strings.Repeat("s", 32), "SENDGRID_API_KEY", "SG.x",
		"TWILIO_ACCOUNT_SID", "AC"+strings.Repeat("0", 32), "TWILIO_AUTH_TOKEN", "t", "TWILIO_FROM_NUMBER", "+15005550006",
		"S3_ENDPOINT", "http://127.0.0.1:1", "S3_ACCESS_KEY_ID", "k", "S3_SECRET_ACCESS_KEY", "s")
	wantProblem(t, "demo login in production", s.do("POST", "/api/v1/auth/login", "", map[string]string{"email": "agent@example.com", "password": fixtures.DemoPassword}), 401, system.EUNAUTHORIZED)
	r := s.do("GET", "/api/v1/status/providers", "", nil)
	if !strings.Contains(string(r.body), `"app_mode":"production","email":"sendgrid","sms":"twilio","storage":"s3"`) {
		t.Errorf("production providers = %s", r.body)
	}
}

type propertyList struct {
	Items    []system.Property `json:"items"`
	Total    int               `json:"total"`
	Page     int               `json:"page"`
	PageSize int               `json:"page_size"`
}

func TestListAndGetProperties(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	token := s.login("agent@example.com", fixtures.DemoPassword)

	var list propertyList
	s.do("GET", "/api/v1/properties?page_size=100", token, nil).json(t, &list)
	if list.Total != 50 || len(list.Items) != 50 || list.Page != 1 || list.PageSize != 100 {
		t.Errorf("page_size=100: total %d, %d items, page %d, size %d", list.Total, len(list.Items), list.Page, list.PageSize)
	}
	s.do("GET", "/api/v1/properties?page=3&page_size=7", token, nil).json(t, &list)
	if list.Total != 50 || len(list.Items) != 7 || list.Items[0].ID != 15 {
		t.Errorf("page 3 of 7: total %d, %d items, first id %d", list.Total, len(list.Items), list.Items[0].ID)
	}
	s.do("GET", "/api/v1/properties?stage=closed&tag=seed", token, nil).json(t, &list)
	for _, p := range list.Items {
		if p.Stage != system.StageClosed {
			t.Errorf("stage=closed returned %d at %s", p.ID, p.Stage)
		}
	}

	var p system.Property
	r := s.do("GET", "/api/v1/properties/30", token, nil)
	r.json(t, &p)
	fx, _ := fixtures.Properties()
	if r.status != 200 || p.ID != 30 || p.Address != fx[29].Address || p.ListPriceCents != fx[29].ListPriceCents || p.Version != 1 {
		t.Errorf("property 30 = %d %s", r.status, r.body)
	}

	for _, tt := range []struct {
		path   string
		status int
		code   string
		field  string
	}{
		{"/api/v1/properties?page=0", 400, system.EINVALID, "page"},
		{"/api/v1/properties?page=abc", 400, system.EINVALID, "page"},
		{"/api/v1/properties?page_size=101", 400, system.EINVALID, "page_size"},
		{"/api/v1/properties?page_size=-1", 400, system.EINVALID, "page_size"},
		{"/api/v1/properties?stage=sold", 400, system.EINVALID, "stage"},
		{"/api/v1/properties?tag=Not%20A%20Tag", 400, system.EINVALID, "tag"},
		{"/api/v1/properties?q=" + strings.Repeat("x", 201), 400, system.EINVALID, "q"},
		{"/api/v1/properties/abc", 400, system.EINVALID, "id"},
		{"/api/v1/properties/0", 400, system.EINVALID, "id"},
		{"/api/v1/properties/99999999999999999999", 400, system.EINVALID, "id"},
		{"/api/v1/properties/9999", 404, system.ENOTFOUND, ""},
		{"/api/v1/properties/9999/reasons", 404, system.ENOTFOUND, ""},
		{"/api/v1/pipeline?tag=BAD", 400, system.EINVALID, "tag"},
		{"/api/v1/portfolio/export.csv?stage=sold", 400, system.EINVALID, "stage"},
	} {
		p := wantProblem(t, tt.path, s.do("GET", tt.path, token, nil), tt.status, tt.code)
		if tt.field != "" && p.Errors[tt.field] == "" {
			t.Errorf("%s: problem does not name %q: %+v", tt.path, tt.field, p)
		}
	}
}

func countProperties(s *stack, token string) int {
	var list propertyList
	s.do("GET", "/api/v1/properties?page_size=1", token, nil).json(s.t, &list)
	return list.Total
}

func TestCreateProperty(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	token := s.login("agent@example.com", fixtures.DemoPassword)
	valid := map[string]any{"address": "12 Test Ave", "city": "Columbus", "state": "OH", "zip": "43201", "owner_name": "Tess Owner",
		"owner_phone": "+16145550999", "owner_email": "tess@example.com", "list_price_cents": 12345678, "arv_cents": 20000000,
		"rehab_cents": 1500000, "monthly_rent_cents": 150000, "cap_rate_bps": 650, "tags": []string{"create-test"}}
	r := s.do("POST", "/api/v1/properties", token, valid)
	var p system.Property
	r.json(t, &p)
	if r.status != 201 || p.ID <= 50 || p.Stage != system.StageNew || p.Version != 1 || r.header.Get("Location") != fmt.Sprintf("/api/v1/properties/%d", p.ID) {
		t.Fatalf("create = %d %s (Location %q)", r.status, r.body, r.header.Get("Location"))
	}
	if got := s.do("GET", r.header.Get("Location"), token, nil); got.status != 200 {
		t.Errorf("GET Location = %d", got.status)
	}

	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for kk, vv := range valid {
			m[kk] = vv
		}
		m[k] = v
		return m
	}
	before := countProperties(s, token)
	for _, tt := range []struct {
		name   string
		body   any
		header []string
		status int
		code   string
		field  string
	}{
		{"malformed JSON", `{"address": "x",`, nil, 400, system.EINVALID, ""},
		{"not an object", `[1,2,3]`, nil, 400, system.EINVALID, ""},
		{"two values", `{} {}`, nil, 400, system.EINVALID, ""},
		{"empty body", ``, nil, 400, system.EINVALID, ""},
		{"unknown field", with("owner_ssn", "123"), nil, 400, system.EINVALID, "owner_ssn"},
		{"wrong type", with("list_price_cents", "lots"), nil, 400, system.EINVALID, "list_price_cents"},
		{"float cents", with("list_price_cents", 12.5), nil, 400, system.EINVALID, "list_price_cents"},
		{"invalid UTF-8", []byte("{\"address\": \"\xff\xfe\"}"), nil, 400, system.EINVALID, ""},
		{"missing fields", map[string]any{"city": "Columbus"}, nil, 400, system.EINVALID, "address"},
		{"bad state", with("state", "Ohio"), nil, 400, system.EINVALID, "state"},
		{"bad phone", with("owner_phone", "555-0100"), nil, 400, system.EINVALID, "owner_phone"},
		{"negative price", with("list_price_cents", -1), nil, 400, system.EINVALID, "list_price_cents"},
		{"bad stage", with("stage", "sold"), nil, 400, system.EINVALID, "stage"},
		{"bad tags", with("tags", []string{"UPPER"}), nil, 400, system.EINVALID, "tags"},
		{"DNC owner past contacted", with("stage", "offer"), []string{}, 0, "", ""},
		{"over 1 MiB", `{"notes": "` + strings.Repeat("a", api.MaxBodyBytes) + `"}`, nil, 413, system.ETOOLARGE, ""},
		{"text/plain", with("city", "x"), []string{"Content-Type", "text/plain"}, 415, system.EUNSUPPORTED, ""},
		{"latin-1 charset", with("city", "x"), []string{"Content-Type", "application/json; charset=latin1"}, 415, system.EUNSUPPORTED, ""},
	} {
		if tt.status == 0 {
			// A DNC owner (property 42's phone) cannot start past contacted.
			body := with("stage", "offer")
			body["owner_phone"] = "+19015550141"
			wantProblem(t, tt.name, s.do("POST", "/api/v1/properties", token, body), 422, system.EDNC)
			continue
		}
		p := wantProblem(t, tt.name, s.do("POST", "/api/v1/properties", token, tt.body, tt.header...), tt.status, tt.code)
		if tt.field != "" && p.Errors[tt.field] == "" {
			t.Errorf("%s: problem does not name %q: %+v", tt.name, tt.field, p)
		}
	}
	if after := countProperties(s, token); after != before {
		t.Errorf("refused creates wrote rows: %d properties before, %d after", before, after)
	}
}

func TestPatchProperty(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	token := s.login("agent@example.com", fixtures.DemoPassword)

	// Property 1 is new.
	var p system.Property
	r := s.do("PATCH", "/api/v1/properties/1", token, map[string]any{"stage": "contacted", "notes": "called, left a voicemail", "tags": []string{"seed", "hot"}})
	r.json(t, &p)
	if r.status != 200 || p.Stage != system.StageContacted || p.Version != 2 || p.Notes != "called, left a voicemail" || len(p.Tags) != 2 || p.LastContactedAt == nil {
		t.Errorf("patch = %d %s", r.status, r.body)
	}
	r = s.do("PATCH", "/api/v1/properties/1", token, `{"notes": ""}`, "Content-Type", "application/merge-patch+json")
	r.json(t, &p)
	if r.status != 200 || p.Version != 3 || p.Notes != "" {
		t.Errorf("merge-patch = %d %s", r.status, r.body)
	}

	for _, tt := range []struct {
		name, path string
		body       any
		status     int
		code       string
	}{
		{"illegal move", "/api/v1/properties/1", map[string]any{"stage": "closed"}, 422, system.ETRANSITION},
		{"DNC owner past contacted", "/api/v1/properties/13", map[string]any{"stage": "qualified"}, 422, system.EDNC},
		{"unknown stage", "/api/v1/properties/1", map[string]any{"stage": "sold"}, 400, system.EINVALID},
		{"nothing to change", "/api/v1/properties/1", `{}`, 400, system.EINVALID},
		{"read-only field", "/api/v1/properties/1", map[string]any{"list_price_cents": 1}, 400, system.EINVALID},
		{"notes too long", "/api/v1/properties/1", map[string]any{"notes": strings.Repeat("n", system.MaxNotes+1)}, 400, system.EINVALID},
		{"unknown id", "/api/v1/properties/4242", map[string]any{"notes": "x"}, 404, system.ENOTFOUND},
		{"illegal move with notes", "/api/v1/properties/1", map[string]any{"stage": "closed", "notes": "must not be written"}, 422, system.ETRANSITION},
	} {
		wantProblem(t, tt.name, s.do("PATCH", tt.path, token, tt.body), tt.status, tt.code)
	}
	s.do("GET", "/api/v1/properties/1", token, nil).json(t, &p)
	if p.Version != 3 || p.Notes != "" || p.Stage != system.StageContacted {
		t.Errorf("refused patches wrote: %+v", p)
	}
}

func TestReasons(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	token := s.login("agent@example.com", fixtures.DemoPassword)
	var first, second struct {
		PropertyID int64           `json:"property_id"`
		Reasons    []system.Reason `json:"reasons"`
	}
	r := s.do("GET", "/api/v1/properties/7/reasons", token, nil)
	r.json(t, &first)
	s.do("GET", "/api/v1/properties/7/reasons", token, nil).json(t, &second)
	if r.status != 200 || first.PropertyID != 7 || len(first.Reasons) == 0 || first.Reasons[0].RuleID != "dnc-owner" {
		t.Fatalf("reasons for 7 (a DNC owner) = %d %s", r.status, r.body)
	}
	if fmt.Sprint(first) != fmt.Sprint(second) {
		t.Errorf("reasons differ between calls: %v vs %v", first, second)
	}
	for i := 1; i < len(first.Reasons); i++ {
		if first.Reasons[i].Priority < first.Reasons[i-1].Priority {
			t.Errorf("reasons not ordered by priority: %v", first.Reasons)
		}
	}
}

func TestPipelineAndExportMatchFixtures(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	token := s.login("agent@example.com", fixtures.DemoPassword)
	// A property of the test's own, without the seed tag, must not count.
	s.do("POST", "/api/v1/properties", token, map[string]any{"address": "1 Other St", "city": "Columbus", "state": "OH", "zip": "43201",
		"owner_name": "Other", "list_price_cents": 99, "tags": []string{"other"}})

	fx, _ := fixtures.Properties()
	var wantPrice, wantARV, wantRehab, wantRent int64
	byStage := map[string]int64{}
	for _, p := range fx {
		wantPrice += p.ListPriceCents
		wantARV += p.ARVCents
		wantRehab += p.RehabCents
		wantRent += p.MonthlyRentCents
		byStage[p.Stage]++
	}

	var pipe struct {
		Stages []system.StageTotal `json:"stages"`
		Count  int64               `json:"total_count"`
		Value  int64               `json:"total_list_price_cents"`
	}
	s.do("GET", "/api/v1/pipeline?tag=seed", token, nil).json(t, &pipe)
	if pipe.Count != 50 || pipe.Value != wantPrice || len(pipe.Stages) != 7 {
		t.Errorf("pipeline = %+v, want 50 properties worth %d", pipe, wantPrice)
	}
	for _, st := range pipe.Stages {
		if st.Count != byStage[string(st.Stage)] {
			t.Errorf("pipeline %s = %d, want %d", st.Stage, st.Count, byStage[string(st.Stage)])
		}
	}

	r := s.do("GET", "/api/v1/portfolio/export.csv?tag=seed", token, nil)
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/csv") || !bytes.Contains(r.body, []byte("\r\n")) {
		t.Fatalf("export = %d %s", r.status, r.header.Get("Content-Type"))
	}
	rows, err := csv.NewReader(bytes.NewReader(r.body)).ReadAll()
	if err != nil {
		t.Fatalf("export is not RFC 4180 CSV: %v", err)
	}
	if len(rows) != 52 || rows[0][0] != "id" || rows[51][0] != "TOTAL" {
		t.Fatalf("export has %d rows (first %v, last %v), want header + 50 + totals", len(rows), rows[0], rows[len(rows)-1])
	}
	cents := func(s string) int64 {
		whole, frac, _ := strings.Cut(s, ".")
		w, _ := strconv.ParseInt(whole, 10, 64)
		f, _ := strconv.ParseInt(frac, 10, 64)
		return w*100 + f
	}
	var sum int64
	for _, row := range rows[1:51] {
		sum += cents(row[7])
	}
	total := rows[51]
	for i, want := range map[int]int64{7: wantPrice, 8: wantARV, 9: wantRehab, 10: wantRent, 11: wantARV - wantPrice - wantRehab} {
		if got := cents(total[i]); got != want {
			t.Errorf("totals column %s = %s, want %s", rows[0][i], total[i], system.Amount(want))
		}
	}
	if sum != wantPrice {
		t.Errorf("sum of list_price rows = %d, want %d", sum, wantPrice)
	}
}

func TestUsers(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	admin := s.login("admin@example.com", fixtures.DemoPassword)
	r := s.do("POST", "/api/v1/users", admin, map[string]string{"email": "new.agent@example.com", "password": "a long passphrase", "role": "agent"})
	if r.status != 201 || r.header.Get("Location") == "" || strings.Contains(string(r.body), "passphrase") {
		t.Fatalf("create user = %d %s", r.status, r.body)
	}
	s.login("new.agent@example.com", "a long passphrase")

	wantProblem(t, "duplicate", s.do("POST", "/api/v1/users", admin, map[string]string{"email": "new.agent@example.com", "password": "a long passphrase", "role": "agent"}), 409, system.ECONFLICT)
	p := wantProblem(t, "invalid", s.do("POST", "/api/v1/users", admin, map[string]string{"email": "nope", "password": "short", "role": "owner"}), 400, system.EINVALID)
	if len(p.Errors) != 3 {
		t.Errorf("invalid user: errors %v, want email, password and role", p.Errors)
	}
	var list struct{ Items []system.User }
	s.do("GET", "/api/v1/users", admin, nil).json(t, &list)
	if len(list.Items) != 3 {
		t.Errorf("users = %+v, want the two demo users and the new one", list.Items)
	}
}

func TestUnknownRoutesAndMethods(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	wantProblem(t, "unknown route", s.do("GET", "/api/v1/nothing-here", "", nil), 404, system.ENOTFOUND)
	wantProblem(t, "wrong method", s.do("DELETE", "/api/v1/status/providers", "", nil), 405, system.EMETHOD)
}

// Text PostgreSQL cannot store — a NUL byte, bytes that are not UTF-8 — is
// refused with a 400 naming where it came from, whatever the door: a query
// parameter, a path id, a JSON field, a signed webhook's form. Nothing is
// written.
func TestBadTextIsRefusedAtTheEdge(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	token := s.login("agent@example.com", fixtures.DemoPassword)
	for _, tt := range []struct{ name, path, field string }{
		{"q with a NUL", "/api/v1/properties?q=%00", "q"},
		{"q not UTF-8", "/api/v1/properties?q=%ff%fe", "q"},
		{"tag with a NUL", "/api/v1/pipeline?tag=seed%00", "tag"},
		{"export stage not UTF-8", "/api/v1/portfolio/export.csv?stage=%c3", "stage"},
		{"a NUL in a parameter's name", "/api/v1/properties?%00=1", `\0`},
		{"a path id with a NUL", "/api/v1/jobs/abc%00def", "path"},
		{"a path id not UTF-8", "/api/v1/jobs/%ff", "path"},
		{"threads property_id", "/api/v1/communications/threads?property_id=30%00", "property_id"},
	} {
		if p := wantProblem(t, tt.name, s.do("GET", tt.path, token, nil), 400, system.EINVALID); p.Errors[tt.field] == "" {
			t.Errorf("%s: %+v, want the field %q named", tt.name, p, tt.field)
		}
	}
	var before struct{ Total int }
	s.do("GET", "/api/v1/properties", token, nil).json(t, &before)
	body := `{"address":"1 Nul\u0000 St","city":"Austin","state":"TX","zip":"78701","owner_name":"A","list_price_cents":1,"listed_on":"2026-01-01","tags":["ok"]}`
	if p := wantProblem(t, "a JSON field with \\u0000", s.do("POST", "/api/v1/properties", token, body), 400, system.EINVALID); p.Errors["address"] == "" {
		t.Errorf("JSON NUL: %+v, want address named", p)
	}
	wantProblem(t, "a JSON body not UTF-8", s.do("POST", "/api/v1/properties", token, []byte("{\"address\":\"\xff\"}")), 400, system.EINVALID)
	var after struct{ Total int }
	s.do("GET", "/api/v1/properties", token, nil).json(t, &after)
	if after.Total != before.Total {
		t.Errorf("a refused create wrote a property: %d → %d", before.Total, after.Total)
	}

	// A signed Twilio inbound message whose text has a NUL.
	form := url.Values{"From": {"+14155550123"}, "To": {s.main.Providers.SMS.From}, "Body": {"hi\x00there"}, "MessageSid": {"SM0123456789abcdef0123456789abcdef"}}
	full := s.url + "/api/v1/webhooks/twilio/inbound"
	r := s.do("POST", "/api/v1/webhooks/twilio/inbound", "", form.Encode(), "Content-Type", "application/x-www-form-urlencoded",
		twilio.SignatureHeader, twilio.Signature(s.main.Providers.SMS.AuthToken, full, form))
	if p := wantProblem(t, "a signed inbound SMS with a NUL", r, 400, system.EINVALID); p.Errors["Body"] == "" {
		t.Errorf("inbound NUL: %+v, want Body named", p)
	}
}
