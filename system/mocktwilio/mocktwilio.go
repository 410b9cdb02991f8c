// Package mocktwilio is the mock Twilio of mock mode: the Messages resource
// of Twilio's REST API 2010-04-01 (contracts/twilio/twilio_api_v2010.json),
// with Twilio's error codes and test-credential magic numbers, signed status
// callbacks, inbound messages with opt-out keywords, and mock-only endpoints
// to inspect messages and inject faults at run time.
//
// Mock-only endpoints (not Twilio's):
//
//	GET    /health                 {"status":"ok"}
//	GET    /mock/messages?To=&From= every message, with its status callbacks
//	DELETE /mock/messages          forget every message
//	GET    /mock/faults[?to=]      the fault settings: the default, or one recipient's
//	PUT    /mock/faults[?to=]      change them (JSON, see Faults); with to, only
//	                               messages to that number see them
//	DELETE /mock/faults[?to=]      clear one recipient's faults, or every fault
//	POST   /mock/inbound           {From, To, Body[, Url]}: a phone texts one of the account's numbers
//	GET    /mock/numbers           {"numbers": [...]}: the account's numbers
package mocktwilio

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/real-estate-os/reos/system"
	"github.com/real-estate-os/reos/system/provider/twilio"
)

// MagicFrom is the test-credential sender number Twilio always accepts.
const MagicFrom = "+15005550006"

// Config configures the mock.
type Config struct {
	// AccountSID and AuthToken are the only credentials accepted; the token
	// also signs callbacks.
	AccountSID string
	AuthToken  string
	// Numbers are the sender numbers the account owns, besides MagicFrom.
	Numbers []string
	// DataDir keeps the messages' journal (messages.jsonl: each change
	// appended, one JSON line), so messages survive restarts. Empty keeps
	// them in memory only.
	DataDir string
	// InboundURL receives inbound messages (the product's inbound webhook).
	InboundURL string
	// HTTP sends callbacks; it should dial through the egress guard.
	HTTP *http.Client
	// StepDelay is the time between status steps; 20 ms when zero.
	StepDelay time.Duration
	Now       func() time.Time
	Logger    *slog.Logger
	// Seed makes fault injection repeatable; 0 picks one at random.
	Seed uint64
}

// Faults are the run-time fault settings, changed through PUT /mock/faults.
// Probabilities are between 0 and 1 and apply to the Messages API. A
// recipient with faults of its own (PUT /mock/faults?to=NUMBER) sees only
// those; every other message sees the default ones. Scoping lets parallel
// runs each break their own recipients without touching anyone else's.
type Faults struct {
	ErrorProbability        float64  `json:"error_probability"`         // answer 500 (Twilio 20500)
	RateLimitProbability    float64  `json:"rate_limit_probability"`    // answer 429 (Twilio 20429)
	LatencyMS               int      `json:"latency_ms"`                // added before every answer
	DropCallbackProbability float64  `json:"drop_callback_probability"` // status callbacks not sent
	UndeliveredTo           []string `json:"undelivered_to"`            // these numbers end undelivered (30003)
	FailedTo                []string `json:"failed_to"`                 // these numbers end failed (30008)
}

func (f Faults) validate() error {
	for name, p := range map[string]float64{"error_probability": f.ErrorProbability, "rate_limit_probability": f.RateLimitProbability, "drop_callback_probability": f.DropCallbackProbability} {
		if p < 0 || p > 1 {
			return fmt.Errorf("%s must be between 0 and 1", name)
		}
	}
	if f.LatencyMS < 0 || f.LatencyMS > 60000 {
		return fmt.Errorf("latency_ms must be between 0 and 60000")
	}
	return nil
}

// Callback is one status callback the mock made.
type Callback struct {
	Status       string `json:"status"`
	URL          string `json:"url"`
	ResponseCode int    `json:"response_code,omitempty"`
	Error        string `json:"error,omitempty"`
	Dropped      bool   `json:"dropped,omitempty"`
}

// Record is a message as the mock keeps it.
type Record struct {
	twilio.Message
	StatusCallback string     `json:"status_callback,omitempty"`
	Callbacks      []Callback `json:"callbacks"`
	CreatedNano    int64      `json:"created_nano"`
}

// Server is the mock Twilio.
type Server struct {
	cfg       Config
	handler   http.Handler
	mu        sync.Mutex
	messages  map[string]*Record
	optOuts   map[string]bool // "ourNumber|theirNumber"
	faults    Faults
	scoped    map[string]Faults // by recipient
	rnd       *mrand.Rand
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	postSlots chan struct{} // webhooks in flight

	// The journal is written behind the requests by one goroutine: pending
	// holds, in order, the changes not yet appended (copies of the
	// records; a deleted message's sid alone).
	pending     []journalEntry
	journal     *os.File
	lines       int // in the journal file
	wake        chan struct{}
	stopFlusher chan struct{}
	flusherDone chan struct{}
}

// New returns a mock with the messages kept in cfg.DataDir, resuming the
// status progression of any that had not finished.
func New(cfg Config) (*Server, error) {
	if !strings.HasPrefix(cfg.AccountSID, "AC") || len(cfg.AccountSID) != 34 || cfg.AuthToken == "" {
		return nil, fmt.Errorf("mocktwilio: an AccountSid (AC + 32 hex digits) and an auth token are required")
	}
	if cfg.HTTP == nil {
		// Callbacks reuse their connections: the default keeps two idle
		// per host, and a busy mock would dial for most of its callbacks.
		cfg.HTTP = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second}}
	}
	if cfg.StepDelay == 0 {
		cfg.StepDelay = 20 * time.Millisecond
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = mrand.Uint64()
	}
	s := &Server{cfg: cfg, messages: map[string]*Record{}, optOuts: map[string]bool{}, scoped: map[string]Faults{}, rnd: mrand.New(mrand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		wake: make(chan struct{}, 1), postSlots: make(chan struct{}, postSlots), stopFlusher: make(chan struct{}), flusherDone: make(chan struct{})}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if err := s.load(); err != nil {
		return nil, err
	}
	s.routes()
	go s.flusher()
	for _, rec := range s.messages {
		if rec.Direction != "inbound" && !final(rec.Status) {
			s.progress(rec.SID)
		}
	}
	return s, nil
}

// ServeHTTP serves the Twilio API and the mock-only endpoints.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Close stops the status progressions, waits for them, and writes every
// message's file.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.cancel()
		s.wg.Wait()
		close(s.stopFlusher)
		<-s.flusherDone
	})
	return nil
}

// requestID sets Twilio-Request-Id on every answer, as Twilio does: RQ and
// 32 hex digits, new for each request.
func requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, 16)
		rand.Read(b)
		w.Header().Set("Twilio-Request-Id", "RQ"+hex.EncodeToString(b))
		next.ServeHTTP(w, r)
	})
}

// SetInboundURL changes where inbound messages are posted.
func (s *Server) SetInboundURL(u string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cfg.InboundURL = u
}

func (s *Server) routes() {
	r := chi.NewRouter()
	r.Use(requestID)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, 20404, fmt.Sprintf("The requested resource %s was not found", r.URL.Path), http.StatusNotFound)
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, 20004, "Method not allowed", http.StatusMethodNotAllowed)
	})
	r.Get("/health", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	r.Route("/2010-04-01/Accounts/{AccountSid}", func(r chi.Router) {
		r.Use(s.authenticate, s.injectFaults)
		r.Post("/Messages.json", s.handleCreate)
		r.Get("/Messages.json", s.handleList)
		r.Get("/Messages/{Sid}.json", s.handleFetch)
		r.Post("/Messages/{Sid}.json", s.handleUpdate)
		r.Delete("/Messages/{Sid}.json", s.handleDelete)
	})
	r.Route("/mock", func(r chi.Router) {
		r.Get("/messages", s.handleInspect)
		r.Delete("/messages", s.handleClear)
		r.Get("/faults", s.handleGetFaults)
		r.Put("/faults", s.handlePutFaults)
		r.Delete("/faults", s.handleDeleteFaults)
		r.Post("/inbound", s.handleInbound)
		r.Get("/numbers", func(w http.ResponseWriter, r *http.Request) {
			numbers := slices.Clone(s.cfg.Numbers)
			if !slices.Contains(numbers, MagicFrom) {
				numbers = append(numbers, MagicFrom)
			}
			writeJSON(w, http.StatusOK, map[string][]string{"numbers": numbers})
		})
	})
	s.handler = r
}

// writeError writes Twilio's error body.
func writeError(w http.ResponseWriter, code int, message string, status int) {
	writeJSON(w, status, twilio.Error{Code: code, Message: message, MoreInfo: fmt.Sprintf("https://www.twilio.com/docs/errors/%d", code), Status: status})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		good := ok &&
			subtle.ConstantTimeCompare([]byte(user), []byte(s.cfg.AccountSID)) == 1 &&
			subtle.ConstantTimeCompare([]byte(pass), []byte(s.cfg.AuthToken)) == 1 &&
			chi.URLParam(r, "AccountSid") == s.cfg.AccountSID
		if !good {
			w.Header().Set("WWW-Authenticate", `Basic realm="Twilio API"`)
			writeError(w, 20003, "Authenticate", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// faultsFor returns the faults a message to to sees. Hold s.mu.
func (s *Server) faultsFor(to string) Faults {
	if f, ok := s.scoped[to]; ok {
		return f
	}
	return s.faults
}

func (s *Server) injectFaults(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		to := ""
		if r.Method == http.MethodPost && r.Body != nil { // a send: its recipient picks the faults
			b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
			if err != nil {
				writeError(w, 20001, "Could not read the request body", http.StatusBadRequest)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(b))
			if f, err := url.ParseQuery(string(b)); err == nil {
				to = f.Get("To")
			}
		}
		s.mu.Lock()
		f := s.faultsFor(to)
		roll := s.rnd.Float64()
		s.mu.Unlock()
		if f.LatencyMS > 0 {
			select {
			case <-time.After(time.Duration(f.LatencyMS) * time.Millisecond):
			case <-r.Context().Done():
				return
			}
		}
		switch {
		case roll < f.RateLimitProbability:
			w.Header().Set("Retry-After", "1")
			writeError(w, 20429, "Too Many Requests", http.StatusTooManyRequests)
		case roll < f.RateLimitProbability+f.ErrorProbability:
			writeError(w, 20500, "An internal server error has occurred", http.StatusInternalServerError)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

func (s *Server) handleGetFaults(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if to := r.URL.Query().Get("to"); to != "" {
		writeJSON(w, http.StatusOK, s.faultsFor(to))
		return
	}
	writeJSON(w, http.StatusOK, s.faults)
}

func (s *Server) handleDeleteFaults(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if to := r.URL.Query().Get("to"); to != "" {
		delete(s.scoped, to)
	} else {
		s.faults, s.scoped = Faults{}, map[string]Faults{}
	}
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handlePutFaults(w http.ResponseWriter, r *http.Request) {
	var f Faults
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "faults must be a JSON object: " + err.Error()})
		return
	}
	if err := f.validate(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	to := r.URL.Query().Get("to")
	if to != "" && !system.E164.MatchString(to) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "to must be an E.164 number"})
		return
	}
	s.mu.Lock()
	if to != "" {
		s.scoped[to] = f
	} else {
		s.faults = f
	}
	s.mu.Unlock()
	s.cfg.Logger.Info("mock twilio faults changed", "to", to, "faults", f)
	writeJSON(w, http.StatusOK, f)
}

func (s *Server) handleInspect(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"messages": s.Messages(r.URL.Query().Get("To"), r.URL.Query().Get("From"))})
}

// Messages returns the messages to and from the numbers given ("" for
// any), newest first: what GET /mock/messages answers.
func (s *Server) Messages(to, from string) []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []Record{}
	for _, rec := range s.sorted() {
		if (to == "" || rec.To == to) && (from == "" || deref(rec.From) == from) {
			out = append(out, copyRecord(rec))
		}
	}
	return out
}

func (s *Server) handleClear(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	for sid := range s.messages {
		s.persistRemoval(sid)
	}
	s.messages = map[string]*Record{}
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// sorted returns the messages newest first, as Twilio lists them. Callers
// hold s.mu.
func (s *Server) sorted() []*Record {
	out := make([]*Record, 0, len(s.messages))
	for _, rec := range s.messages {
		out = append(out, rec)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].CreatedNano != out[j].CreatedNano {
			return out[i].CreatedNano > out[j].CreatedNano
		}
		return out[i].SID > out[j].SID
	})
	return out
}

func copyRecord(rec *Record) Record {
	c := *rec
	c.Callbacks = append([]Callback{}, rec.Callbacks...)
	return c
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func ptr[T any](v T) *T { return &v }

// newSID returns prefix followed by 32 random hex digits.
func newSID(prefix string) string {
	b := make([]byte, 16)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// rfc2822 formats t as Twilio's dates: "Thu, 24 Aug 2023 05:01:45 +0000".
func rfc2822(t time.Time) string { return t.UTC().Format(time.RFC1123Z) }

func final(status string) bool {
	switch status {
	case "delivered", "undelivered", "failed", "received", "canceled", "read":
		return true
	}
	return false
}

// postSlots is how many webhooks may be in flight at once.
const postSlots = 16

// journalEntry is one line of the journal: a message as it now is, or
// its removal.
type journalEntry struct {
	SID     string  `json:"sid"`
	Record  *Record `json:"record,omitempty"`
	Deleted bool    `json:"deleted,omitempty"`
}

// journalFile keeps every change to the messages, one JSON line each,
// appended: the last line of a sid is its state. It is rewritten whole at
// start and when it holds compactAt times more lines than messages.
const (
	journalFile = "messages.jsonl"
	compactAt   = 4
)

// persist queues rec's current state for the journal. Callers hold s.mu.
func (s *Server) persist(rec *Record) {
	if s.cfg.DataDir == "" {
		return
	}
	c := copyRecord(rec)
	s.queue(journalEntry{SID: rec.SID, Record: &c})
}

// persistRemoval queues a deleted message's removal. Callers hold s.mu.
func (s *Server) persistRemoval(sid string) {
	if s.cfg.DataDir == "" {
		return
	}
	s.queue(journalEntry{SID: sid, Deleted: true})
}

func (s *Server) queue(e journalEntry) {
	s.pending = append(s.pending, e)
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// flusher appends queued changes to the journal, a batch at a time, so a
// request never waits for the disk and the journal has the changes in the
// order they were made.
func (s *Server) flusher() {
	defer close(s.flusherDone)
	for {
		select {
		case <-s.wake:
			s.flush()
		case <-s.stopFlusher:
			s.flush()
			if s.journal != nil {
				s.journal.Close()
			}
			return
		}
	}
}

// flush appends what is queued in one write, marshaled outside the lock;
// then, when the journal has grown, rewrites it.
func (s *Server) flush() {
	s.mu.Lock()
	batch := s.pending
	s.pending = nil
	messages := len(s.messages)
	s.mu.Unlock()
	if len(batch) == 0 || s.journal == nil {
		return
	}
	var b []byte
	for _, e := range batch {
		line, err := json.Marshal(e)
		if err != nil {
			s.cfg.Logger.Error("mock twilio: journal", "sid", e.SID, "err", err)
			continue
		}
		b = append(append(b, line...), '\n')
	}
	if _, err := s.journal.Write(b); err != nil {
		s.cfg.Logger.Error("mock twilio: journal", "err", err)
	}
	s.lines += len(batch)
	if s.lines > compactAt*messages+1000 {
		if err := s.compact(); err != nil {
			s.cfg.Logger.Error("mock twilio: compact the journal", "err", err)
		}
	}
}

// compact rewrites the journal as one line per message, aside and then
// renamed: a crash leaves the old journal or the new. Only the flusher (or
// New, before it starts) calls it.
func (s *Server) compact() error {
	s.mu.Lock()
	entries := make([]journalEntry, 0, len(s.messages))
	for sid, rec := range s.messages {
		c := copyRecord(rec)
		entries = append(entries, journalEntry{SID: sid, Record: &c})
	}
	// What is queued now is appended after the rewrite, in order.
	s.mu.Unlock()
	sort.Slice(entries, func(i, j int) bool { return entries[i].Record.CreatedNano < entries[j].Record.CreatedNano })
	var b []byte
	for _, e := range entries {
		line, err := json.Marshal(e)
		if err != nil {
			return err
		}
		b = append(append(b, line...), '\n')
	}
	path := filepath.Join(s.cfg.DataDir, journalFile)
	if err := os.WriteFile(path+".tmp", b, 0o600); err != nil {
		return err
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if s.journal != nil {
		s.journal.Close()
	}
	s.journal, s.lines = f, len(entries)
	return nil
}

// keep puts a loaded record in place.
func (s *Server) keep(rec *Record) {
	if rec.Callbacks == nil {
		rec.Callbacks = []Callback{}
	}
	s.messages[rec.SID] = rec
}

func (s *Server) persistOptOuts() {
	if s.cfg.DataDir == "" {
		return
	}
	keys := make([]string, 0, len(s.optOuts))
	for k := range s.optOuts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b, _ := json.Marshal(keys)
	path := filepath.Join(s.cfg.DataDir, "optouts.json")
	if err := os.WriteFile(path+".tmp", b, 0o600); err == nil {
		os.Rename(path+".tmp", path)
	}
}

// load reads the messages: the files of earlier versions (one per
// message, under messages/), then the journal, whose last line for a sid
// wins; a last line cut short by a crash is skipped. It then rewrites the
// journal whole and removes the old files.
func (s *Server) load() error {
	if s.cfg.DataDir == "" {
		return nil
	}
	if err := os.MkdirAll(s.cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("mocktwilio: data dir: %w", err)
	}
	legacy, err := filepath.Glob(filepath.Join(s.cfg.DataDir, "messages", "*.json"))
	if err != nil {
		return err
	}
	for _, f := range legacy {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var rec Record
		if err := json.Unmarshal(b, &rec); err != nil {
			return fmt.Errorf("mocktwilio: %s: %w", f, err)
		}
		s.keep(&rec)
	}
	if b, err := os.ReadFile(filepath.Join(s.cfg.DataDir, journalFile)); err == nil {
		lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
		for i, line := range lines {
			var e journalEntry
			if err := json.Unmarshal(line, &e); err != nil || e.SID == "" {
				if i == len(lines)-1 { // cut short as it was written
					s.cfg.Logger.Warn("mock twilio: the journal's last line is incomplete; skipped", "err", err)
					continue
				}
				return fmt.Errorf("mocktwilio: %s line %d: %v", journalFile, i+1, err)
			}
			switch {
			case e.Deleted:
				delete(s.messages, e.SID)
			case e.Record != nil:
				s.keep(e.Record)
			}
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("mocktwilio: %w", err)
	}
	if err := s.compact(); err != nil {
		return fmt.Errorf("mocktwilio: journal: %w", err)
	}
	for _, f := range legacy {
		os.Remove(f)
	}
	if b, err := os.ReadFile(filepath.Join(s.cfg.DataDir, "optouts.json")); err == nil {
		var keys []string
		if json.Unmarshal(b, &keys) == nil {
			for _, k := range keys {
				s.optOuts[k] = true
			}
		}
	}
	return nil
}
