// Package sendgrid is a contract double of SendGrid's v3 Mail Send API for
// production-mode runs that must not reach SendGrid: it checks each request
// the way tsg_mail_v3.json describes it (required fields, addresses,
// lengths; QUIRKS.md's allowances), answers with SendGrid's statuses, error
// bodies and X-Message-Id, keeps what it accepted for inspection
// (GET /mock/messages), and posts SendGrid's Event Webhook for each accepted
// message — processed, then delivered — to the webhooks configured through
// SendGrid's own settings API (/v3/user/webhooks/event/settings…), signed
// with ECDSA P-256 as SendGrid signs them once signing is enabled there.
package sendgrid

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/mail"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MaxBodyBytes is SendGrid's limit on a whole message: 30 MB.
const MaxBodyBytes = 30 << 20

// keepMessages is how many accepted messages the double remembers.
const keepMessages = 10_000

// Config configures a Server. APIKey is the only key it accepts.
type Config struct {
	APIKey string
	// SigningKey signs the event webhook; its public half is what the
	// receiver is configured with (SENDGRID_WEBHOOK_PUBLIC_KEY).
	SigningKey *ecdsa.PrivateKey
	// HTTP posts the events; Now stamps them.
	HTTP   *http.Client
	Now    func() time.Time
	Logger *slog.Logger
}

// Message is an accepted send, as the double keeps it.
type Message struct {
	ID         string            `json:"id"` // the X-Message-Id answered
	From       string            `json:"from"`
	To         []string          `json:"to"`
	Subject    string            `json:"subject"`
	Text       string            `json:"text,omitempty"`
	HTML       string            `json:"html,omitempty"`
	Headers    map[string]string `json:"headers,omitempty"`
	CustomArgs map[string]any    `json:"custom_args,omitempty"`
	// Sandbox is a request in sandbox mode: validated, answered 200,
	// delivered to nobody.
	Sandbox  bool      `json:"sandbox,omitempty"`
	Received time.Time `json:"received"`
}

// Server is the double. Its zero value is not usable: call New.
type Server struct {
	cfg Config
	mux *http.ServeMux

	mu       sync.Mutex
	messages []Message
	webhooks []*webhook
	wg       sync.WaitGroup
}

// New returns a double accepting cfg.APIKey.
func New(cfg Config) *Server {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux()}
	s.mux.HandleFunc("/v3/mail/send", s.authed(s.handleSend))
	s.mux.HandleFunc("GET /mock/messages", s.handleMessages)
	s.webhookRoutes()
	return s
}

// SetEventsURL points the account's webhook at u, enabled and signed, as
// PATCH /v3/user/webhooks/event/settings and …/settings/signed would; ""
// disables it.
func (s *Server) SetEventsURL(u string) {
	hook := s.defaultWebhook(true)
	s.mu.Lock()
	defer s.mu.Unlock()
	hook.URL, hook.Enabled, hook.Signed, hook.Updated = u, u != "", u != "", s.cfg.Now().UTC()
}

// authed refuses requests without the API key, as SendGrid does: 401 with
// field null.
func (s *Server) authed(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		key, ok := strings.CutPrefix(auth, "Bearer ")
		switch {
		case auth == "":
			writeErrors(w, http.StatusUnauthorized, fieldError("", "authorization required"))
		case !ok || subtle.ConstantTimeCompare([]byte(key), []byte(s.cfg.APIKey)) != 1:
			writeErrors(w, http.StatusUnauthorized, fieldError("", "The provided authorization grant is invalid, expired, or revoked"))
		default:
			next(w, r)
		}
	}
}

// Messages returns what the double accepted, oldest first (the last
// keepMessages).
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// Close waits for events being posted.
func (s *Server) Close() { s.wg.Wait() }

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// errorBody is SendGrid's error response.
type errorBody struct {
	Errors []errorItem `json:"errors"`
}

// errorItem is one error. Field is null when no field is at fault; Help,
// on Mail Send's field errors, links the errors page's entry for the field
// (http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html#message.FIELD,
// list indexes left out), as SendGrid fills it; absent elsewhere.
type errorItem struct {
	Message string  `json:"message"`
	Field   *string `json:"field"`
	Help    string  `json:"help,omitempty"`
}

// mailHelp is the errors page SendGrid's Mail Send errors link to.
const mailHelp = "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html#message."

func writeErrors(w http.ResponseWriter, status int, items ...errorItem) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(errorBody{Errors: items})
}

func fieldError(field, msg string) errorItem {
	if field == "" {
		return errorItem{Message: msg}
	}
	return errorItem{Message: msg, Field: &field}
}

// mailError is a Mail Send field error with its help link.
func mailError(field, msg string) errorItem {
	e := fieldError(field, msg)
	var anchor []string
	for _, part := range strings.Split(field, ".") {
		if _, err := strconv.Atoi(part); err != nil {
			anchor = append(anchor, part)
		}
	}
	e.Help = mailHelp + strings.Join(anchor, ".")
	return e
}

// request is the Mail Send body as far as the double checks it.
type request struct {
	Personalizations []struct {
		To      []address      `json:"to"`
		Subject *string        `json:"subject"`
		Custom  map[string]any `json:"custom_args"`
	} `json:"personalizations"`
	From       *address          `json:"from"`
	Subject    *string           `json:"subject"`
	Content    []content         `json:"content"`
	TemplateID string            `json:"template_id"`
	Headers    map[string]string `json:"headers"`
	// An object, as the SDK and the service use it; the spec says string.
	CustomArgs   map[string]any `json:"custom_args"`
	MailSettings struct {
		SandboxMode struct {
			Enable bool `json:"enable"`
		} `json:"sandbox_mode"`
	} `json:"mail_settings"`
}

type address struct {
	Email string `json:"email"`
	Name  string `json:"name"`
}

type content struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// check returns what SendGrid would refuse in req.
func (req *request) check() []errorItem {
	var errs []errorItem
	if n := len(req.Personalizations); n == 0 || n > 1000 {
		errs = append(errs, mailError("personalizations", "The personalizations field is required and must have 1 to 1000 personalizations."))
	}
	everyHasSubject := len(req.Personalizations) > 0
	for i, p := range req.Personalizations {
		if n := len(p.To); n == 0 || n > 1000 {
			errs = append(errs, mailError(fmt.Sprintf("personalizations.%d.to", i), "The to array is required and must have 1 to 1000 recipients."))
		}
		for j, a := range p.To {
			if !validEmail(a.Email) {
				errs = append(errs, mailError(fmt.Sprintf("personalizations.%d.to.%d.email", i, j), "Does not contain a valid address."))
			}
		}
		everyHasSubject = everyHasSubject && p.Subject != nil && *p.Subject != ""
	}
	if req.From == nil || !validEmail(req.From.Email) {
		errs = append(errs, mailError("from.email", "The from object must be provided for every email send, with a valid email."))
	}
	if req.TemplateID == "" {
		if (req.Subject == nil || *req.Subject == "") && !everyHasSubject {
			errs = append(errs, mailError("subject", "The subject is required unless a template or every personalization defines one."))
		}
		if len(req.Content) == 0 {
			errs = append(errs, mailError("content", "Unless a template_id is provided, the content parameter is required: at least one content block."))
		}
	}
	for i, c := range req.Content {
		if c.Type == "" || c.Value == "" {
			errs = append(errs, mailError(fmt.Sprintf("content.%d", i), "Each content block needs a type and a value of at least one character."))
		}
	}
	return errs
}

func validEmail(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s && a.Name == ""
}

func (s *Server) handleSend(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeErrors(w, http.StatusMethodNotAllowed, fieldError("", "method not allowed"))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		writeErrors(w, http.StatusBadRequest, fieldError("", "invalid request"))
		return
	}
	if len(body) > MaxBodyBytes {
		writeErrors(w, http.StatusRequestEntityTooLarge, fieldError("", "content too large"))
		return
	}
	var req request
	if err := json.Unmarshal(body, &req); err != nil {
		writeErrors(w, http.StatusBadRequest, fieldError("", "The request body is not valid JSON: "+err.Error()))
		return
	}
	if errs := req.check(); len(errs) > 0 {
		writeErrors(w, http.StatusBadRequest, errs...)
		return
	}
	m := Message{ID: newMessageID(), From: req.From.Email, Headers: req.Headers, CustomArgs: req.CustomArgs,
		Sandbox: req.MailSettings.SandboxMode.Enable, Received: s.cfg.Now().UTC()}
	if req.Subject != nil {
		m.Subject = *req.Subject
	}
	for _, p := range req.Personalizations {
		for _, a := range p.To {
			m.To = append(m.To, a.Email)
		}
		for k, v := range p.Custom { // a personalization's arguments override the message's
			if m.CustomArgs == nil {
				m.CustomArgs = map[string]any{}
			}
			m.CustomArgs[k] = v
		}
	}
	for _, c := range req.Content {
		switch c.Type {
		case "text/plain":
			m.Text = c.Value
		case "text/html":
			m.HTML = c.Value
		}
	}
	s.mu.Lock()
	if len(s.messages) == keepMessages {
		s.messages = append(s.messages[:0], s.messages[1:]...)
	}
	s.messages = append(s.messages, m)
	s.mu.Unlock()
	if m.Sandbox {
		w.WriteHeader(http.StatusOK) // validated, delivered to nobody, no events
		return
	}
	for _, hook := range s.eventTargets() {
		s.wg.Go(func() { s.postEvents(hook, m) })
	}
	w.Header().Set("X-Message-Id", m.ID)
	w.WriteHeader(http.StatusAccepted)
}

func (s *Server) handleMessages(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"messages": s.Messages()})
}

// newMessageID returns an id shaped like SendGrid's: 22 URL-safe base64
// characters.
func newMessageID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// postEvents posts processed, then delivered (those of the two the webhook
// wants), for every recipient of m; each batch signed as SendGrid signs its
// Event Webhook when the webhook has signing on.
func (s *Server) postEvents(hook webhook, m Message) {
	for _, kind := range []string{"processed", "delivered"} {
		if !hook.Events[kind] {
			continue
		}
		var batch []map[string]any
		for _, to := range m.To {
			ev := map[string]any{"email": to, "timestamp": s.cfg.Now().Unix(), "event": kind,
				"sg_event_id": newMessageID(), "sg_message_id": m.ID + ".filter0001"}
			for k, v := range m.CustomArgs { // custom arguments ride on every event
				ev[k] = v
			}
			if kind == "delivered" {
				ev["response"] = "250 OK"
			}
			batch = append(batch, ev)
		}
		if err := s.post(hook.URL, hook.Signed, batch); err != nil {
			s.cfg.Logger.Warn("mock sendgrid: posting events", "event", kind, "err", err)
			return
		}
	}
}

func (s *Server) post(url string, signed bool, batch []map[string]any) error {
	body, err := json.Marshal(batch)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if signed && s.cfg.SigningKey != nil {
		ts := strconv.FormatInt(s.cfg.Now().Unix(), 10)
		sum := sha256.Sum256(append([]byte(ts), body...))
		sig, err := ecdsa.SignASN1(rand.Reader, s.cfg.SigningKey, sum[:])
		if err != nil {
			return err
		}
		req.Header.Set("X-Twilio-Email-Event-Webhook-Signature", base64.StdEncoding.EncodeToString(sig))
		req.Header.Set("X-Twilio-Email-Event-Webhook-Timestamp", ts)
	}
	res, err := s.cfg.HTTP.Do(req)
	if err != nil {
		return err
	}
	res.Body.Close()
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("%s answered %d", url, res.StatusCode)
	}
	return nil
}
