package contract_test

import (
	"bytes"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/real-estate-os/reos/contract"
	"github.com/real-estate-os/reos/internal/contracts"
)

// doc is the contract the tests judge by (contract/upgrade's tests change it).
var doc = string(must(os.ReadFile("testdata/things.yaml")))

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func judge(t *testing.T) *contract.Judge {
	t.Helper()
	j, err := contract.NewJudge("things", contract.Spec{File: "things.yaml", Source: "test"}, []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func exchange(j *contract.Judge, method, path, reqBody string, status int, ct, body string) contract.Entry {
	req := httptest.NewRequest(method, "http://127.0.0.1:9"+path, nil)
	if reqBody != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	h := http.Header{}
	if ct != "" {
		h.Set("Content-Type", ct)
	}
	return j.Judge(req, []byte(reqBody), status, h, []byte(body))
}

func TestVerdicts(t *testing.T) {
	j := judge(t)
	for _, c := range []struct {
		name                   string
		method, path, req      string
		status                 int
		ct, body               string
		verdict, pointer, what string
	}{
		{"an answer as documented", "GET", "/things/7", "", 200, "application/json", `{"id":7,"name":"x","tags":["a"]}`, contract.Conforms, "", ""},
		{"a required field missing", "GET", "/things/7", "", 200, "application/json", `{"id":7}`, contract.Violation, "", "name"},
		{"a field of the wrong type", "GET", "/things/7", "", 200, "application/json", `{"id":7,"name":3}`, contract.Violation, "/name", ""},
		{"an undocumented status", "GET", "/things/7", "", 500, "application/problem+json", `{"title":"x"}`, contract.Violation, "", "status"},
		{"a bad id refused as documented", "GET", "/things/abc", "", 404, "application/problem+json", `{"title":"no"}`, contract.Refused, "", ""},
		{"a bad body refused as documented", "POST", "/things", `{"nom":"x"}`, 422, "application/problem+json", `{}`, contract.Refused, "", ""},
		{"a bad body accepted", "POST", "/things", `{"nom":"x"}`, 201, "", "", contract.Violation, "", "does not allow"},
		{"no such route, 404", "GET", "/nope", "", 404, "application/problem+json", `{}`, contract.Refused, "", ""},
		{"no such route, answered", "GET", "/nope", "", 200, "application/json", `{}`, contract.Violation, "", "no operation"},
	} {
		e := exchange(j, c.method, c.path, c.req, c.status, c.ct, c.body)
		if e.Verdict != c.verdict {
			t.Errorf("%s: verdict %s, want %s\n%s", c.name, e.Verdict, c.verdict, e)
			continue
		}
		all := e.String()
		if c.pointer != "" && !strings.Contains(all, "response "+c.pointer) {
			t.Errorf("%s: departures do not point at %s:\n%s", c.name, c.pointer, all)
		}
		if c.what != "" && !strings.Contains(all, c.what) {
			t.Errorf("%s: departures do not say %q:\n%s", c.name, c.what, all)
		}
	}
}

func TestCoverage(t *testing.T) {
	j := judge(t)
	entries := []contract.Entry{
		exchange(j, "GET", "/things/7", "", 200, "application/json", `{"id":7,"name":"x"}`),
		exchange(j, "GET", "/things/8", "", 404, "application/problem+json", `{"title":"no"}`),
		exchange(j, "POST", "/things", `{"name":"x"}`, 500, "", ""),
	}
	c := j.Coverage(entries)
	if c.Documented != 2 || c.Exercised != 2 || c.Validated != 1 || c.Exchanges != 3 || c.Violations != 1 {
		t.Errorf("coverage %+v: want 2 documented, 2 exercised, 1 validated, 3 exchanges, 1 violation", c)
	}
	if c.Operations[0].Operation != "GET /things/{id}" || c.Operations[0].Statuses[200] != 1 || c.Operations[0].Statuses[404] != 1 {
		t.Errorf("operations %+v", c.Operations)
	}
	if !strings.Contains(c.Summary(), "2 of   2 operations") || !strings.Contains(c.Summary(), "66.7 %") {
		t.Errorf("summary %q", c.Summary())
	}
}

// Drift: a double that drops a field or answers another status is named;
// values that differ (ids, names) are not.
func TestDiffNamesTheDriftAndNothingElse(t *testing.T) {
	j := judge(t)
	vendor := []contract.Entry{
		exchange(j, "GET", "/things/7", "", 200, "application/json", `{"id":7,"name":"x","tags":["a"]}`),
		exchange(j, "POST", "/things", `{"name":"x"}`, 201, "", ""),
	}
	same := []contract.Entry{
		exchange(j, "GET", "/things/9", "", 200, "application/json", `{"id":9,"name":"other","tags":["b","c"]}`),
		exchange(j, "POST", "/things", `{"name":"y"}`, 201, "", ""),
	}
	if d := contract.Diff(vendor, same); len(d) != 0 {
		t.Errorf("two runs that differ only in values: %v", d)
	}
	drifted := []contract.Entry{
		exchange(j, "GET", "/things/9", "", 200, "application/json", `{"id":9,"tags":["b"]}`),
		exchange(j, "POST", "/things", `{"name":"y"}`, 200, "", ""),
	}
	var got []string
	for _, d := range contract.Diff(vendor, drifted) {
		got = append(got, d.String())
	}
	want := []string{
		"things GET /things/{id}: status 200: field /name (string) in A only",
		"things POST /things: status 200 in B only",
		"things POST /things: status 201 in A only",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("diff:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestLedgerRoundTrip(t *testing.T) {
	var b strings.Builder
	l := contract.NewLedger(&b)
	j := judge(t)
	e := exchange(j, "GET", "/things/7", "", 200, "application/json", `{"id":7}`)
	if err := l.Add(e); err != nil {
		t.Fatal(err)
	}
	back, err := contract.Read([]byte(b.String()))
	if err != nil || len(back) != 1 || back[0].Verdict != contract.Violation || back[0].Operation != "GET /things/{id}" {
		t.Errorf("read back %+v, %v", back, err)
	}
}

// The proxy forwards an exchange unchanged and judges it on the way.
func TestProxyJudgesWhatPassesThrough(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/things/7" {
			w.Write([]byte(`{"id":7,"name":"x"}`))
			return
		}
		w.Write([]byte(`{"id":8}`)) // name missing: a double that drifted
	}))
	defer upstream.Close()
	u, _ := url.Parse(upstream.URL)
	var b strings.Builder
	j := judge(t)
	proxy := httptest.NewServer(contract.Proxy(j, u, contract.NewLedger(&b)))
	defer proxy.Close()
	for _, path := range []string{"/things/7", "/things/8"} {
		res, err := http.Get(proxy.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if !strings.Contains(string(body), `"id"`) {
			t.Errorf("%s through the proxy: %s", path, body)
		}
	}
	entries, err := contract.Read([]byte(b.String()))
	if err != nil || len(entries) != 2 {
		t.Fatalf("ledger: %v %v", entries, err)
	}
	if entries[0].Verdict != contract.Conforms || entries[1].Verdict != contract.Violation || !strings.Contains(entries[1].String(), "name") {
		t.Errorf("verdicts:\n%s\n%s", entries[0], entries[1])
	}
}

// A vendor's known departure from its own document is recorded as that
// quirk; the same departure from another contract is a violation.
func TestKnownQuirks(t *testing.T) {
	tw, err := contract.NewJudge("twilio", contract.Spec{}, []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	e := exchange(tw, "GET", "/things/7", "", 500, "application/json", `{"code":20500,"message":"x","more_info":"u","status":500}`)
	if e.Verdict != contract.KnownQuirk || e.Quirk != "twilio-errors-undocumented" {
		t.Errorf("Twilio's undocumented error: %s", e)
	}
	if e := exchange(judge(t), "GET", "/things/7", "", 500, "application/json", `{}`); e.Verdict != contract.Violation {
		t.Errorf("the same from another contract: %s", e)
	}
	if e := exchange(tw, "GET", "/things/7", "", 200, "application/json", `{"id":7}`); e.Verdict != contract.Violation {
		t.Errorf("a missing field is no quirk of Twilio's: %s", e)
	}
}

// S3 and Gotenberg publish no OpenAPI document: their exchanges are judged
// by rules (Signature Version 4 and S3's XML errors; Gotenberg's routes).
func TestRuleJudges(t *testing.T) {
	s3, _ := contract.ForVendor("s3")
	signed := httptest.NewRequest("PUT", "http://127.0.0.1:9/memos/ab/cd.pdf", nil)
	signed.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=k/20261206/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=abc")
	signed.Header.Set("X-Amz-Date", "20261206T000000Z")
	signed.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	xml := http.Header{"Content-Type": {"application/xml"}}
	for _, c := range []struct {
		name    string
		req     *http.Request
		status  int
		h       http.Header
		body    string
		verdict string
	}{
		{"a signed put", signed, 200, http.Header{}, "", contract.Conforms},
		{"a presigned get", httptest.NewRequest("GET", "http://127.0.0.1:9/memos/a.pdf?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=c&X-Amz-Date=d&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Signature=s", nil), 200, http.Header{}, "%PDF", contract.Conforms},
		{"an unsigned get", httptest.NewRequest("GET", "http://127.0.0.1:9/memos/a.pdf", nil), 200, http.Header{}, "", contract.Violation},
		{"an error as XML", signed, 404, xml, "<Error><Code>NoSuchKey</Code></Error>", contract.Conforms},
		{"an error as JSON", signed, 404, http.Header{"Content-Type": {"application/json"}}, `{"code":"NoSuchKey"}`, contract.Violation},
	} {
		if e := s3.Judge(c.req, nil, c.status, c.h, []byte(c.body)); e.Verdict != c.verdict {
			t.Errorf("s3, %s: %s", c.name, e)
		}
	}
	g, _ := contract.ForVendor("gotenberg")
	form := func(file string) (*http.Request, []byte) {
		var b bytes.Buffer
		w := multipart.NewWriter(&b)
		fw, _ := w.CreateFormFile("files", file)
		fw.Write([]byte("<html></html>"))
		w.Close()
		r := httptest.NewRequest("POST", "http://127.0.0.1:9/forms/chromium/convert/html", nil)
		r.Header.Set("Content-Type", w.FormDataContentType())
		return r, b.Bytes()
	}
	pdf := http.Header{"Content-Type": {"application/pdf"}}
	r, body := form("index.html")
	if e := g.Judge(r, body, 200, pdf, []byte("%PDF-1.7")); e.Verdict != contract.Conforms {
		t.Errorf("gotenberg, a conversion: %s", e)
	}
	r, body = form("page.html")
	if e := g.Judge(r, body, 200, pdf, []byte("%PDF-1.7")); e.Verdict != contract.Violation || !strings.Contains(e.String(), "index.html") {
		t.Errorf("gotenberg, a form without index.html: %s", e)
	}
}

// A path parameter named token is a credential: the ledger keeps the
// route and the rest of the path, never its value.
func TestLedgerKeepsNoPathToken(t *testing.T) {
	j, err := contract.NewJudge("pixel", contract.Spec{File: "pixel.yaml", Source: "test"}, []byte(`openapi: 3.0.3
info: {title: pixel, version: "1"}
paths:
  /t/open/{token}:
    get:
      parameters: [{name: token, in: path, required: true, schema: {type: string}}]
      responses:
        "200": {description: a pixel}
`))
	if err != nil {
		t.Fatal(err)
	}
	e := exchange(j, "GET", "/t/open/431b5438a9fc028aeceec5b95fbb9629.gif", "", 200, "", "")
	if e.Verdict != contract.Conforms || e.Operation != "GET /t/open/{token}" || e.Path != "/t/open/REDACTED" {
		t.Errorf("entry %+v", e)
	}
}

// An exchange with a body larger than the proxy judges reaches the other
// side whole, either way, and stays off the ledger.
func TestProxyPassesLargeBodiesWhole(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), (8<<20)/16+1) // just over 8 MiB
	var received atomic.Pointer[[]byte]
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		received.Store(&b)
		if r.URL.Path == "/things/big" {
			w.Write(big)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"id":7,"name":"x"}`))
	}))
	defer upstream.Close()
	u, _ := url.Parse(upstream.URL)
	var b strings.Builder
	proxy := httptest.NewServer(contract.Proxy(judge(t), u, contract.NewLedger(&b)))
	defer proxy.Close()

	res, err := http.Post(proxy.URL+"/things/7", "application/octet-stream", bytes.NewReader(big))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if got := received.Load(); got == nil || !bytes.Equal(*got, big) {
		t.Errorf("the double did not receive the %d-byte request whole (%s)", len(big), res.Status)
	}
	res, err = http.Get(proxy.URL + "/things/big")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil || !bytes.Equal(got, big) {
		t.Errorf("the client received %d bytes of a %d-byte answer (%v)", len(got), len(big), err)
	}
	if b.Len() != 0 {
		t.Errorf("exchanges too large to judge went on the ledger:\n%s", b.String())
	}
}

// A deferred proxy makes its judge when the first exchange comes, once;
// without a judge it answers 502 and lets nothing through.
func TestDeferredMakesItsJudgeOnTheFirstExchange(t *testing.T) {
	var hits atomic.Int32
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"id":7,"name":"x"}`))
	}))
	defer upstream.Close()
	u, _ := url.Parse(upstream.URL)
	get := func(proxy *httptest.Server) (int, string) {
		t.Helper()
		res, err := http.Get(proxy.URL + "/things/7")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(body)
	}

	var made atomic.Int32
	var b strings.Builder
	j := judge(t)
	proxy := httptest.NewServer(contract.Deferred(func() (*contract.Judge, error) { made.Add(1); return j, nil }, u, contract.NewLedger(&b)))
	defer proxy.Close()
	if made.Load() != 0 {
		t.Fatal("the judge was made before any exchange")
	}
	for range 2 {
		if status, body := get(proxy); status != 200 {
			t.Fatalf("through the proxy: %d %s", status, body)
		}
	}
	if made.Load() != 1 {
		t.Errorf("the judge was made %d times for two exchanges, want once", made.Load())
	}
	if entries, err := contract.Read([]byte(b.String())); err != nil || len(entries) != 2 {
		t.Errorf("ledger: %v %v", entries, err)
	}

	failing := httptest.NewServer(contract.Deferred(func() (*contract.Judge, error) { return nil, errors.New("the document does not parse") }, u, contract.NewLedger(&b)))
	defer failing.Close()
	before := hits.Load()
	if status, body := get(failing); status != http.StatusBadGateway || !strings.Contains(body, "the document does not parse") {
		t.Errorf("without a judge: %d %s, want 502 naming the error", status, body)
	}
	if hits.Load() != before {
		t.Error("an exchange went through a proxy without a judge")
	}
}

// Available answers for a vendor without parsing its document: unknown
// names are refused, rule-judged vendors need no document.
func TestAvailable(t *testing.T) {
	if err := contract.Available("twillio"); err == nil || !strings.Contains(err.Error(), "twilio") {
		t.Errorf("an unknown vendor: %v, want an error naming the known ones", err)
	}
	for _, name := range []string{"s3", "gotenberg"} {
		if err := contract.Available(name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := contracts.Load("twilio/twilio_api_v2010.json"); err != nil {
		t.Skipf("the vendors' documents are not here (scripts/setup fetches them): %v", err)
	}
	if err := contract.Available("twilio"); err != nil {
		t.Errorf("twilio, its document here: %v", err)
	}
}
