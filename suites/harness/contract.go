package harness

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/mxschmitt/playwright-go"
	. "github.com/onsi/ginkgo/v2"

	"github.com/real-estate-os/reos/contract"
	"github.com/real-estate-os/reos/evidence"
	"github.com/real-estate-os/reos/suites/client"
	"github.com/real-estate-os/reos/system"
	"github.com/real-estate-os/reos/system/api"
	"github.com/real-estate-os/reos/system/provider/sendgrid"
	"github.com/real-estate-os/reos/system/provider/twilio"
)

// The product's own contract, its OpenAPI document as the target serves it
// (GET /api/v1/openapi.json), judges every exchange the suite's API
// clients have with the API: a violation fails the spec that caused it,
// with the exchange in the message. Each process keeps a ledger; the pack
// gets them, the document that judged, and the coverage they show.

// Contract file names in a pack.
const (
	contractsDir   = "contracts"
	apiContract    = "reos"
	apiDocument    = "contracts/reos.openapi.json"
	apiLedgerGlob  = "contracts/reos-ledger-*.jsonl"
	apiDocumentURL = "/api/v1/openapi.json"
)

// apiJudge is a process's judge of the product API, and its ledger.
type apiJudge struct {
	judge  *contract.Judge
	doc    []byte
	mu     sync.Mutex
	buf    bytes.Buffer
	ledger *contract.Ledger
	// loose are violations no spec owns (the suite admin's exchanges).
	loose []contract.Entry
}

// newAPIJudge fetches the target's OpenAPI document.
func newAPIJudge(t *Target) (*apiJudge, error) {
	r, err := (&Client{Base: t.URL}).Expect(200, "GET", apiDocumentURL, nil)
	if err != nil {
		return nil, fmt.Errorf("the product's contract: %w", err)
	}
	j, err := contract.NewJudge(apiContract, contract.Spec{File: "system/api/openapi.yaml", Source: "GET " + apiDocumentURL + " of the target",
		Pin: r.Header.Get("ETag")}, r.Body)
	if err != nil {
		return nil, err
	}
	host := ""
	if u, err := url.Parse(t.URL); err == nil {
		host = u.Host
	}
	j.Skip = func(r *http.Request) bool {
		p := r.URL.Path
		return r.URL.Host != host || r.Method == "OPTIONS" || !(strings.HasPrefix(p, "/api/") || p == "/healthz" || p == "/readyz")
	}
	a := &apiJudge{judge: j, doc: r.Body}
	a.ledger = contract.NewLedger(&a.buf)
	return a, nil
}

// observe judges each exchange c has, keeps it on the ledger, and hands a
// violation to violated.
func (a *apiJudge) observe(violated func(contract.Entry)) func(*client.Response) {
	return func(r *client.Response) {
		if a.judge.Skip(r.Request) {
			return
		}
		e := a.judge.Judge(r.Request, r.RequestBody, r.Status, r.Header, r.Body)
		a.mu.Lock()
		a.ledger.Add(e)
		a.mu.Unlock()
		if e.Verdict == contract.Violation {
			violated(e)
		}
	}
}

// WriteLedger puts the process's ledger into the pack (and, on the first
// process, the document that judged). Call it once, at the suite's end.
func (e *Env) WriteLedger() error {
	a := e.api
	if a == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if GinkgoParallelProcess() == 1 {
		if _, err := e.Pack.File(contractsDir, apiDocument, a.doc); err != nil {
			return err
		}
	}
	_, err := e.Pack.File(contractsDir, fmt.Sprintf("contracts/reos-ledger-p%d.jsonl", GinkgoParallelProcess()), a.buf.Bytes())
	if err == nil && len(a.loose) > 0 {
		var lines []string
		for _, v := range a.loose {
			lines = append(lines, v.String())
		}
		err = fmt.Errorf("the product's answers to the suite's admin break its contract:\n%s", strings.Join(lines, "\n"))
	}
	return err
}

// apiCoverageOf reads the pack's ledgers of the product API and reports
// the coverage they show, writing it into the pack.
func apiCoverageOf(pack *evidence.Pack) (*contract.Coverage, error) {
	doc, err := os.ReadFile(filepath.Join(pack.Dir, apiDocument))
	if os.IsNotExist(err) {
		return nil, nil // no process judged (the suite ran no spec)
	}
	if err != nil {
		return nil, err
	}
	j, err := contract.NewJudge(apiContract, contract.Spec{}, doc)
	if err != nil {
		return nil, err
	}
	files, _ := filepath.Glob(filepath.Join(pack.Dir, apiLedgerGlob))
	var entries []contract.Entry
	for _, f := range files {
		es, err := contract.ReadFile(f)
		if err != nil {
			return nil, err
		}
		entries = append(entries, es...)
	}
	c := j.Coverage(entries)
	c.Spec = contract.Spec{File: "system/api/openapi.yaml", Source: "GET " + apiDocumentURL + " of the target, kept as " + apiDocument}
	c.Behind = "the product"
	return &c, nil
}

// judgeVendor returns the front app.FrontDouble puts before each vendor's
// double: a contract proxy judging every exchange against the vendor's
// pinned document, its ledger under dir. The judge is made on the first
// exchange: the stack does not wait for a document to be parsed (Twilio's
// takes a quarter of a second, in the background since the suite began),
// only checks that it is here.
func (t *Target) judgeVendor(dir string, undo *[]func() error) func(vendor, upstream string) (http.Handler, error) {
	return func(vendor, upstream string) (http.Handler, error) {
		if err := contract.Available(vendor); err != nil {
			return nil, err
		}
		u, err := url.Parse(upstream)
		if err != nil {
			return nil, err
		}
		ledger, err := t.ledger(dir, vendor, undo)
		if err != nil {
			return nil, err
		}
		t.Behind[vendor] = "its stand-in (reos) at " + upstream + ", judged through a contract proxy before it"
		judge := func() (*contract.Judge, error) {
			j, err := contract.ForVendor(vendor)
			if j != nil {
				j.Mentions = mentionsOf
			}
			return j, err
		}
		return contract.Deferred(judge, u, ledger), nil
	}
}

// VendorContracts puts the vendors' ledgers into the pack and returns the
// exchanges that broke a vendor's contract. Call it once, on the first
// process, when the suite is done.
func (t *Target) VendorContracts(pack *evidence.Pack) ([]string, error) {
	var broken []string
	for _, vendor := range judgedBeyondTheAPI {
		path, ok := t.VendorLedgers[vendor]
		if !ok {
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		if _, err := pack.File(contractsDir, "contracts/"+vendor+"-ledger.jsonl", b); err != nil {
			return nil, err
		}
		entries, err := contract.Read(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		for _, e := range entries {
			if e.Verdict == contract.Violation {
				broken = append(broken, e.String())
			}
		}
	}
	return broken, nil
}

// judgedBeyondTheAPI are the production ledgers besides the suite's own:
// each vendor's (a proxy before its double) and the doubles' callbacks to
// the product.
var judgedBeyondTheAPI = append(slices.Clone(contract.Vendors), "callbacks")

// vendorCoverage reports the coverage the pack's vendor ledgers show.
func vendorCoverage(t *Target, pack *evidence.Pack) ([]contract.Coverage, error) {
	var out []contract.Coverage
	for _, vendor := range judgedBeyondTheAPI {
		entries, err := contract.ReadFile(filepath.Join(pack.Dir, "contracts", vendor+"-ledger.jsonl"))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		var j *contract.Judge
		if vendor == "callbacks" {
			j, err = callbacksJudge()
		} else {
			j, err = contract.ForVendor(vendor)
		}
		if err != nil {
			return nil, err
		}
		c := j.Coverage(entries)
		c.Behind = t.Behind[vendor]
		out = append(out, c)
	}
	return out, nil
}

// judgeCallbacks returns the front app.FrontCallbacks puts before the
// product for the doubles' callbacks: every callback (and anything else
// that reaches the product by its public URL: the email's tracking pixel
// and links) is judged against the product's document and, for the
// vendors' callbacks, against the vendor's signature scheme. Its ledger
// goes under dir.
func (t *Target) judgeCallbacks(dir string, undo *[]func() error) func(doubles map[string]string) (string, func(string), error) {
	return func(doubles map[string]string) (string, func(string), error) {
		j, err := callbacksJudge()
		if err != nil {
			return "", nil, err
		}
		key, err := sendgrid.ParsePublicKey(doubles["SENDGRID_WEBHOOK_PUBLIC_KEY"])
		if err != nil {
			return "", nil, err
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", nil, err
		}
		public := "http://" + l.Addr().String()
		verifiers := map[string]system.CallbackVerifier{
			"/api/v1/webhooks/twilio/":  twilio.Verifier{AuthToken: doubles["TWILIO_AUTH_TOKEN"]},
			"/api/v1/webhooks/sendgrid": sendgrid.Verifier{Key: key},
		}
		j.Check = func(r *http.Request, body []byte) []contract.Departure {
			for prefix, v := range verifiers {
				if strings.HasPrefix(r.URL.Path, prefix) {
					if _, err := v.VerifyCallback(public+r.URL.RequestURI(), r.Header, body); err != nil {
						return []contract.Departure{{Where: "request", Message: "signature: " + err.Error()}}
					}
				}
			}
			return nil
		}
		ledger, err := t.ledger(dir, "callbacks", undo)
		if err != nil {
			return "", nil, err
		}
		j.Mentions = mentionsOf
		var front atomic.Pointer[http.Handler]
		srv := api.HTTPServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := front.Load()
			if h == nil {
				http.Error(w, "the product is not up yet", http.StatusServiceUnavailable)
				return
			}
			(*h).ServeHTTP(w, r)
		}), nil)
		go srv.Serve(l)
		*undo = append(*undo, func() error { return srv.Close() })
		return public, func(product string) {
			u, _ := url.Parse(product)
			h := contract.Proxy(j, u, ledger)
			front.Store(&h)
		}, nil
	}
}

// judgeBrowser judges one exchange a page had with the API (the board's
// moves, the drawer's sends, the stream's token), as the suite's own
// clients' are.
func (s *Spec) judgeBrowser(req playwright.Request) {
	u, err := url.Parse(req.URL())
	if err != nil || s.api == nil {
		return
	}
	hreq, err := http.NewRequest(req.Method(), req.URL(), nil)
	if err != nil || s.api.judge.Skip(hreq) || strings.HasSuffix(u.Path, "/sse-events/stream") {
		return // not the API's, or a stream that never ends
	}
	res, err := req.Response()
	if err != nil || res == nil {
		return
	}
	reqHeaders, _ := req.AllHeaders()
	for k, v := range reqHeaders {
		hreq.Header.Set(k, v)
	}
	reqBody, _ := req.PostDataBuffer()
	resHeaders, _ := res.AllHeaders()
	header := http.Header{}
	for k, v := range resHeaders {
		header.Set(k, v)
	}
	body, err := res.Body()
	if err != nil {
		return // the page went away before its answer could be read
	}
	s.api.observe(func(v contract.Entry) {
		s.mu.Lock()
		s.violations = append(s.violations, "(the browser) "+v.String())
		s.mu.Unlock()
	})(&client.Response{Status: res.Status(), Header: header, Body: body, Request: hreq, RequestBody: reqBody})
}

// callbacksJudge judges the doubles' callbacks by the product's document
// (their signatures are checked by Judge.Check, set where the keys are).
func callbacksJudge() (*contract.Judge, error) {
	return contract.NewJudge("callbacks", contract.Spec{File: "system/api/openapi.yaml",
		Source: "this build of reos, and the vendors' signature schemes (Twilio's X-Twilio-Signature, SendGrid's signed event webhook)"},
		api.OpenAPIDocument())
}

// ledger opens the ledger of the proxy named name under dir (closed by
// undo) and records it in VendorLedgers. Its violations also go to the
// run's shared list (Target.Violations), where the spec that caused each
// finds it (Spec.CheckContract) by what the exchange mentions.
func (t *Target) ledger(dir, name string, undo *[]func() error) (*contract.Ledger, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, name+"-ledger.jsonl")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	*undo = append(*undo, f.Close)
	t.VendorLedgers[name] = path
	l := contract.NewLedger(f)
	l.Then = func(e contract.Entry) {
		if e.Verdict != contract.Violation || len(e.Mentions) == 0 || t.Violations == "" {
			return
		}
		b, _ := json.Marshal(e)
		violationsMu.Lock()
		defer violationsMu.Unlock()
		if vf, err := os.OpenFile(t.Violations, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644); err == nil {
			vf.Write(append(b, '\n'))
			vf.Close()
		}
	}
	return l, nil
}

var violationsMu sync.Mutex

// mentionPattern finds what ties a vendor's exchange to a spec: an E.164
// number or an email address (the spec's owners'), a spec's key
// (<flow>-<six letters and digits>, in owner names), or a property's id
// as the memo's prompt names it ("Property 12:").
var mentionPattern = regexp.MustCompile(`\+[1-9][0-9]{6,14}|[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}|\b[a-z]+(?:-[a-z]+)?-[a-z2-7]{6}\b|\bProperty [0-9]+:`)

// mentionsOf are the identifiers in a request's URL and body.
func mentionsOf(r *http.Request, body []byte) []string {
	text := r.URL.RawQuery + "\n" + string(body)
	if dec, err := url.QueryUnescape(text); err == nil {
		text = dec
	}
	seen := map[string]bool{}
	var out []string
	for _, m := range mentionPattern.FindAllString(text, 50) {
		if n, ok := strings.CutPrefix(m, "Property "); ok {
			m = "property/" + strings.TrimSuffix(n, ":")
		}
		if !seen[m] {
			seen[m] = true
			out = append(out, m)
		}
	}
	return out
}

// vendorViolations are the violations in the run's shared list, after
// offset, that mention one of marks; and the new offset.
func vendorViolations(path string, offset int64, marks map[string]bool) ([]string, int64) {
	f, err := os.Open(path)
	if err != nil {
		return nil, offset
	}
	defer f.Close()
	f.Seek(offset, io.SeekStart)
	b, _ := io.ReadAll(f)
	var out []string
	for _, line := range bytes.Split(b, []byte("\n")) {
		var e contract.Entry
		if json.Unmarshal(line, &e) != nil {
			continue
		}
		for _, m := range e.Mentions {
			if marks[m] {
				out = append(out, "(a vendor's exchange this spec caused) "+e.String())
				break
			}
		}
	}
	return out, offset + int64(len(b))
}
