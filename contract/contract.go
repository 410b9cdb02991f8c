// Package contract judges HTTP exchanges against a published contract (an
// OpenAPI document) and keeps the result: one ledger entry per exchange
// (operation, status, verdict, each violation with its JSON pointer), the
// coverage of the contract that a run's ledger shows, and the differences
// between two runs' ledgers (drift between a double and its vendor).
package contract

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
)

// Spec says which document judged: its file, where it comes from, and its
// pin (a commit, or the product's own version).
type Spec struct {
	File   string `json:"file"`
	Source string `json:"source"`
	Pin    string `json:"pin,omitempty"`
}

// The verdicts.
const (
	// Conforms: the request and the answer are as the contract says.
	Conforms = "conforms"
	// Refused: a request outside the contract, refused with an answer the
	// contract documents (a 4xx problem) — the product holding its line.
	Refused = "refused"
	// Violation: an answer the contract does not allow, or a request
	// outside the contract that was accepted.
	Violation = "violation"
)

// Departure is one way an exchange departs from its contract.
type Departure struct {
	// Where is "request" or "response"; Pointer the JSON pointer into its
	// body ("" for the status, a header or a parameter).
	Where   string `json:"where"`
	Pointer string `json:"pointer,omitempty"`
	Message string `json:"message"`
}

// Entry is one exchange as the ledger keeps it. Bodies are not kept: only
// the shape of the answer (its fields and their JSON types), so a ledger
// holds no secrets and two ledgers can be compared.
type Entry struct {
	Time      time.Time `json:"time"`
	Contract  string    `json:"contract"`
	Operation string    `json:"operation"` // "METHOD /path/{template}"; "" when the contract has no such route
	Method    string    `json:"method"`
	Path      string    `json:"path"` // as sent, without the query
	Status    int       `json:"status"`
	Verdict   string    `json:"verdict"`
	// Departures say what was wrong, for Refused, Violation and
	// KnownQuirk; Quirk names the known quirk (Quirks).
	Departures []Departure `json:"departures,omitempty"`
	Quirk      string      `json:"quirk,omitempty"`
	// Mentions are the identifiers the request carried (Judge.Mentions):
	// what ties an exchange to the test that caused it.
	Mentions []string `json:"mentions,omitempty"`
	// Fields are the answer's JSON fields by pointer (arrays as /*), with
	// their types: what drift is measured on.
	Fields map[string]string `json:"fields,omitempty"`
}

// String names the exchange and its verdict, for failure messages.
func (e Entry) String() string {
	s := fmt.Sprintf("%s %s → %d: %s (contract %s, operation %q)", e.Method, e.Path, e.Status, e.Verdict, e.Contract, e.Operation)
	if e.Quirk != "" {
		s += " — known quirk " + e.Quirk
	}
	for _, d := range e.Departures {
		s += fmt.Sprintf("\n  %s %s: %s", d.Where, d.Pointer, d.Message)
	}
	return s
}

// Judge judges exchanges against one contract.
type Judge struct {
	Name string
	Spec Spec
	// Skip, when set, leaves an exchange unjudged (and off the ledger):
	// a product's web pages, a vendor's inspection endpoints.
	Skip func(r *http.Request) bool
	// Base is a path prefix the server adds before the document's paths
	// (OpenAI's /v1).
	Base string
	// Mentions, when set, picks out of a request the identifiers that tie
	// it to whoever caused it (a recipient, a test's key).
	Mentions func(r *http.Request, body []byte) []string
	// Check, when set, judges what the document cannot say of a request:
	// a callback's signature scheme. Any departure it returns makes the
	// exchange a violation.
	Check func(r *http.Request, body []byte) []Departure

	doc    *openapi3.T
	router *router
	rules  []Rule // a protocol without an OpenAPI document (NewRuleJudge)
}

var decoders sync.Once

// NewJudge loads an OpenAPI document (JSON or YAML).
func NewJudge(name string, spec Spec, document []byte) (*Judge, error) {
	doc, err := load(name, document)
	if err != nil {
		return nil, err
	}
	return judgeOf(name, spec, doc), nil
}

// judgeOf is a judge of a loaded document, which judges share: none
// changes it.
func judgeOf(name string, spec Spec, doc *openapi3.T) *Judge {
	return &Judge{Name: name, Spec: spec, doc: doc, router: newRouter(doc)}
}

// load parses an OpenAPI document.
func load(name string, document []byte) (*openapi3.T, error) {
	decoders.Do(func() {
		for _, ct := range []string{"text/xml", "text/event-stream", "text/csv", "text/plain", "text/html"} {
			openapi3filter.RegisterBodyDecoder(ct, openapi3filter.PlainBodyDecoder)
		}
		for _, ct := range []string{"image/gif", "image/png", "application/pdf"} {
			openapi3filter.RegisterBodyDecoder(ct, openapi3filter.FileBodyDecoder)
		}
	})
	loader := openapi3.NewLoader()
	var doc *openapi3.T
	var err error
	if trimmed := bytes.TrimLeft(document, " \t\r\n"); len(trimmed) > 0 && trimmed[0] == '{' {
		// A JSON document is decoded as JSON. The loader would try YAML
		// first: Twilio's document fails YAML 24,000 lines in (an escape
		// JSON allows), a third of its 0.4 s load, before the JSON decode.
		doc = &openapi3.T{}
		if err = json.Unmarshal(document, doc); err == nil {
			err = loader.ResolveRefsIn(doc, nil)
		}
	} else {
		doc, err = loader.LoadFromData(document)
	}
	if err != nil {
		return nil, fmt.Errorf("contract %s: %w", name, err)
	}
	doc.Servers = nil // judge paths as the document writes them, whatever host served them
	// The document itself is not judged (vendors' documents fail their own
	// schemas: QUIRKS.md), only what it says of exchanges.
	return doc, nil
}

// Operations are the contract's operations, "METHOD /path", sorted.
func (j *Judge) Operations() []string {
	var ops []string
	for _, r := range j.rules {
		ops = append(ops, r.Operation)
	}
	if j.doc == nil {
		return ops
	}
	for path, item := range j.doc.Paths.Map() {
		for method := range item.Operations() {
			ops = append(ops, method+" "+path)
		}
	}
	sort.Strings(ops)
	return ops
}

// Judge judges one exchange. req is the request as sent (its body is not
// read: reqBody is), status, header and body the answer.
func (j *Judge) Judge(req *http.Request, reqBody []byte, status int, header http.Header, body []byte) Entry {
	e := Entry{Time: time.Now().UTC(), Contract: j.Name, Method: req.Method, Path: req.URL.Path, Status: status, Fields: Fields(header, body)}
	if j.Mentions != nil {
		e.Mentions = j.Mentions(req, reqBody)
	}
	if j.rules != nil {
		return j.judgeByRules(e, req, reqBody, status, header, body)
	}
	r := req.Clone(context.Background())
	if j.Base != "" {
		r.URL.Path = strings.TrimPrefix(r.URL.Path, j.Base)
		r.URL.RawPath = ""
	}
	r.Body = io.NopCloser(bytes.NewReader(reqBody))
	r.ContentLength = int64(len(reqBody))
	route, params, err := j.router.FindRoute(r)
	if err != nil {
		// A route the contract does not have: the product is right to say
		// it has none.
		if status == http.StatusNotFound || status == http.StatusMethodNotAllowed {
			e.Verdict = Refused
		} else {
			e.Verdict = Violation
		}
		e.Departures = []Departure{{Where: "request", Message: "no operation of the contract matches " + req.Method + " " + req.URL.Path}}
		return e
	}
	e.Operation = route.Method + " " + route.Path
	for name, v := range params { // a token in the path is a credential: no ledger keeps it
		if strings.HasSuffix(strings.ToLower(name), "token") && v != "" {
			e.Path = strings.Replace(e.Path, "/"+v, "/REDACTED", 1)
		}
	}
	opts := &openapi3filter.Options{MultiError: true, IncludeResponseStatus: true, AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}
	in := &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route, Options: opts}
	reqErr := openapi3filter.ValidateRequest(context.Background(), in)
	resIn := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: status, Header: header,
		Body: io.NopCloser(bytes.NewReader(body)), Options: opts}
	resErr := openapi3filter.ValidateResponse(context.Background(), resIn)
	e.Departures = append(departures("request", reqErr), departures("response", resErr)...)
	switch {
	case resErr != nil:
		e.Verdict = Violation
	case reqErr != nil && status >= 400 && status < 500:
		e.Verdict = Refused
	case reqErr != nil:
		e.Verdict = Violation
		e.Departures = append(e.Departures, Departure{Where: "response", Message: fmt.Sprintf("answered %d to a request its contract does not allow", status)})
	default:
		e.Verdict = Conforms
	}
	if j.Check != nil {
		if more := j.Check(req, reqBody); len(more) > 0 {
			e.Departures = append(e.Departures, more...)
			e.Verdict = Violation
		}
	}
	if e.Verdict == Violation {
		if q := quirk(j.Name, e); q != "" {
			e.Verdict, e.Quirk = KnownQuirk, q
		}
	}
	return e
}

// departures flattens a validation error into its departures, each schema
// error with its JSON pointer.
func departures(where string, err error) []Departure {
	if err == nil {
		return nil
	}
	var out []Departure
	var walk func(err error)
	walk = func(err error) {
		var multi openapi3.MultiError
		if errors.As(err, &multi) {
			for _, e := range multi {
				walk(e)
			}
			return
		}
		var se *openapi3.SchemaError
		if errors.As(err, &se) {
			ptr := "/" + strings.Join(se.JSONPointer(), "/")
			msg := se.Reason
			if msg == "" {
				msg = se.Error()
			}
			out = append(out, Departure{Where: where, Pointer: ptr, Message: msg})
			return
		}
		msg := err.Error()
		if i := strings.Index(msg, "\n"); i > 0 {
			msg = msg[:i]
		}
		out = append(out, Departure{Where: where, Message: msg})
	}
	walk(err)
	return out
}

// Fields returns a JSON answer's fields by pointer with their JSON types
// (object, array, string, number, boolean, null); arrays' items are /*.
// An answer that is not JSON has none.
func Fields(header http.Header, body []byte) map[string]string {
	if !strings.Contains(header.Get("Content-Type"), "json") || len(body) == 0 {
		return nil
	}
	var v any
	if json.Unmarshal(body, &v) != nil {
		return nil
	}
	out := map[string]string{}
	var walk func(ptr string, v any, depth int)
	walk = func(ptr string, v any, depth int) {
		if depth > 8 || len(out) > 500 {
			return
		}
		switch t := v.(type) {
		case map[string]any:
			out[ptr] = "object"
			for k, c := range t {
				walk(ptr+"/"+strings.NewReplacer("~", "~0", "/", "~1").Replace(k), c, depth+1)
			}
		case []any:
			out[ptr] = "array"
			for _, c := range t {
				walk(ptr+"/*", c, depth+1)
			}
		case string:
			out[ptr] = "string"
		case float64:
			out[ptr] = "number"
		case bool:
			out[ptr] = "boolean"
		case nil:
			out[ptr] = "null"
		}
	}
	walk("", v, 0)
	if out[""] != "" && len(out) > 0 {
		delete(out, "") // the root's type is implied by its fields
	}
	return out
}

// Ledger appends entries as JSON lines; it is safe for concurrent use.
type Ledger struct {
	// Then, when set, sees each entry once it is on the ledger.
	Then func(Entry)

	mu sync.Mutex
	w  io.Writer
	n  int
}

// NewLedger returns a ledger writing to w.
func NewLedger(w io.Writer) *Ledger { return &Ledger{w: w} }

// Add appends e.
func (l *Ledger) Add(e Entry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.n++
	_, err = l.w.Write(append(b, '\n'))
	l.mu.Unlock()
	if err == nil && l.Then != nil {
		l.Then(e)
	}
	return err
}

// Read parses a ledger's JSON lines.
func Read(b []byte) ([]Entry, error) {
	var out []Entry
	for i, line := range bytes.Split(b, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var e Entry
		if err := json.Unmarshal(line, &e); err != nil {
			return nil, fmt.Errorf("ledger line %d: %w", i+1, err)
		}
		out = append(out, e)
	}
	return out, nil
}

// ErrNoLedger says a pack holds no ledger.
var ErrNoLedger = errors.New("no ledger (contracts/*ledger*.jsonl)")

// ReadFile reads a ledger file.
func ReadFile(path string) ([]Entry, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	entries, err := Read(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return entries, nil
}

// ReadPack reads every ledger in an evidence pack (contracts/), or
// returns ErrNoLedger when it holds none.
func ReadPack(dir string) ([]Entry, error) {
	paths, _ := filepath.Glob(filepath.Join(dir, "contracts", "*ledger*.jsonl"))
	if len(paths) == 0 {
		return nil, ErrNoLedger
	}
	var out []Entry
	for _, p := range paths {
		es, err := ReadFile(p)
		if err != nil {
			return nil, err
		}
		out = append(out, es...)
	}
	return out, nil
}
