// Package api is the product's HTTP interface: a chi router whose handlers
// return errors, rendered in one place as RFC 9457 problem details.
package api

import (
	"context"
	"crypto/rand"
	"errors"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/real-estate-os/reos/system"
	"github.com/real-estate-os/reos/system/config"
)

// Settings are the product settings the API reads.
type Settings struct {
	Mode      config.Mode
	PublicURL string // how vendors and clients reach the API; signed callback URLs start with it
	Features  config.Features
	Providers config.Providers // reported by /status/providers
	Sends     string           // reported by /status/providers
	// Signatures says whether callbacks must be signed (Config.CheckSignatures).
	Signatures         bool
	RequireIfMatch     bool
	SecurityHeaders    bool
	CORSOrigins        []string
	TrustedProxies     []netip.Prefix
	RateLimitPerMinute int
	RateLimitFailOpen  bool
	SSEHeartbeat       time.Duration
	// PasswordCost is the bcrypt cost of new passwords (0: bcrypt's default).
	PasswordCost int
}

// SettingsFrom takes the API's settings from the product's configuration.
func SettingsFrom(c *config.Config) Settings {
	return Settings{Mode: c.Mode, PublicURL: c.PublicURL, Features: c.Features, Providers: c.Providers(), Sends: c.Sends(),
		Signatures: c.CheckSignatures(), RequireIfMatch: c.RequireIfMatch, SecurityHeaders: c.SecurityHeaders,
		CORSOrigins: c.CORSOrigins, TrustedProxies: c.TrustedProxies, RateLimitPerMinute: c.RateLimitPerMinute,
		RateLimitFailOpen: c.RateLimitFailOpen, SSEHeartbeat: c.SSEHeartbeat, PasswordCost: c.PasswordCost}
}

// Verifiers check the signatures of callbacks: Twilio's status callbacks
// and inbound texts, SendGrid's event batches, partners' webhooks.
type Verifiers struct {
	Twilio, SendGrid, Partner system.CallbackVerifier
}

// ServerConfig is what the API needs. Every service is required; Logger
// defaults to slog.Default and Now to time.Now.
type ServerConfig struct {
	Settings   Settings
	Properties system.PropertyService
	Users      system.UserService
	Rules      system.RuleService
	Tokens     *Tokens

	Jobs        system.JobService
	Messages    system.MessageService
	DNC         system.DNCService
	Idempotency system.IdempotencyService
	DeadLetters system.DeadLetterService
	// Outreach queues messages and takes the owners' replies.
	Outreach *system.Outreach
	// Store presigns memo URLs.
	Store system.ObjectStore
	// Replay puts a dead letter back to work.
	Replay    func(ctx context.Context, d *system.DeadLetter) error
	Verifiers Verifiers
	// Sessions keeps the browser sessions of the web UI; EventLog gives its
	// property timelines.
	Sessions system.SessionStore
	EventLog system.EventLog
	// Limiter rate-limits logins and users; nil disables rate limiting.
	Limiter system.RateLimiter
	// Replays remembers partner webhook signatures; Events records theirs.
	Replays system.ReplayGuard
	Events  system.EventRecorder
	// Stream carries live updates; Closing is closed when the server shuts
	// down, so open streams end.
	Stream  system.EventStream
	Closing <-chan struct{}
	// Checks are pinged by /readyz.
	Checks []system.HealthCheck
	// Providers are reported, with their health, by
	// /status/providers?verbose=1.
	Providers []ProviderCheck
	Logger    *slog.Logger
	Now       func() time.Time
}

// Server routes and serves the API.
type Server struct {
	cfg        Settings
	properties system.PropertyService
	users      system.UserService
	rules      system.RuleService
	tokens     *Tokens

	jobs        system.JobService
	messages    system.MessageService
	dnc         system.DNCService
	idem        system.IdempotencyService
	deadLetters system.DeadLetterService
	outreach    *system.Outreach
	store       system.ObjectStore
	replay      func(ctx context.Context, d *system.DeadLetter) error
	verifiers   Verifiers
	limiter     system.RateLimiter
	sessions    system.SessionStore
	eventLog    system.EventLog
	replays     system.ReplayGuard
	events      system.EventRecorder
	stream      system.EventStream
	closing     <-chan struct{}
	checks      []system.HealthCheck
	providers   []ProviderCheck
	logger      *slog.Logger
	now         func() time.Time
	router      chi.Router
	// dummyHash is what a login for an unknown address is compared with:
	// a hash at the cost of real ones, made on first use.
	dummyHash func() string
}

// NewServer returns a Server with every route mounted.
func NewServer(c ServerConfig) (*Server, error) {
	v := c.Verifiers
	if c.Properties == nil || c.Users == nil || c.Rules == nil || c.Tokens == nil || c.Jobs == nil || c.Messages == nil ||
		c.DNC == nil || c.Idempotency == nil || c.DeadLetters == nil || c.Outreach == nil || c.Store == nil || c.Replay == nil ||
		v.Twilio == nil || v.SendGrid == nil || v.Partner == nil ||
		c.Replays == nil || c.Events == nil || c.Stream == nil || c.Closing == nil || c.Sessions == nil || c.EventLog == nil {
		return nil, errors.New("api: NewServer needs every service of ServerConfig")
	}
	if c.Settings.SSEHeartbeat <= 0 {
		return nil, errors.New("api: Settings.SSEHeartbeat must be positive")
	}
	s := &Server{cfg: c.Settings, properties: c.Properties, users: c.Users, rules: c.Rules, tokens: c.Tokens,
		jobs: c.Jobs, messages: c.Messages, dnc: c.DNC, idem: c.Idempotency, deadLetters: c.DeadLetters, outreach: c.Outreach,
		store: c.Store, replay: c.Replay, verifiers: v, limiter: c.Limiter, sessions: c.Sessions, eventLog: c.EventLog,
		replays: c.Replays, events: c.Events, stream: c.Stream, closing: c.Closing,
		checks: c.Checks, providers: c.Providers, logger: c.Logger, now: c.Now}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.dummyHash = sync.OnceValue(func() string {
		h, _ := HashPassword("reos-no-such-user", s.cfg.PasswordCost)
		return h
	})
	s.routes()
	return s, nil
}

// verifyCallback checks a callback's signature with v, unless signatures
// are off (FEATURE_WEBHOOK_SIGNATURES=false, which config allows in mock
// mode only). It returns the verified signature, "" when none was checked.
// The signed URL is the public URL the product gave the sender.
func (s *Server) verifyCallback(r *http.Request, v system.CallbackVerifier, body []byte) (string, error) {
	if !s.cfg.Signatures {
		return "", nil
	}
	sig, err := v.VerifyCallback(strings.TrimRight(s.cfg.PublicURL, "/")+r.URL.RequestURI(), r.Header, body)
	if err != nil {
		s.logger.WarnContext(r.Context(), "webhook refused", "path", logPath(r), "why", err.Error())
	}
	return sig, err
}

// The HTTP servers' timeouts: a slow or silent client cannot hold a
// connection open. The event stream lifts the read deadline and sets its
// own write deadline for each event.
const (
	ReadHeaderTimeout = 10 * time.Second
	ReadTimeout       = 30 * time.Second // the whole request, body included
	WriteTimeout      = 60 * time.Second // the whole answer
	IdleTimeout       = 120 * time.Second
)

// HTTPServer returns an http.Server for h with those timeouts; errorLog
// may be nil.
func HTTPServer(h http.Handler, errorLog *log.Logger) *GracefulServer {
	s := &GracefulServer{active: map[net.Conn]struct{}{}}
	s.Server = &http.Server{Handler: h, ReadHeaderTimeout: ReadHeaderTimeout, ReadTimeout: ReadTimeout,
		WriteTimeout: WriteTimeout, IdleTimeout: IdleTimeout, ErrorLog: errorLog, ConnState: s.track}
	return s
}

// GracefulServer is an http.Server whose Shutdown does not wait for
// connections that never sent a request.
type GracefulServer struct {
	*http.Server
	mu     sync.Mutex
	active map[net.Conn]struct{} // connections with a request in flight
}

func (s *GracefulServer) track(c net.Conn, state http.ConnState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if state == http.StateActive {
		s.active[c] = struct{}{}
	} else {
		delete(s.active, c)
	}
}

// Shutdown stops the server as http.Server.Shutdown does: no new
// connections, and every request in flight answered before it returns, or
// ctx's error. Unlike it, Shutdown does not wait for connections that have
// not sent a request — a client's spare connection, which Go's transport
// dials while another one serves its request, holds http.Server.Shutdown
// for five seconds: once no request is in flight, they are closed.
func (s *GracefulServer) Shutdown(ctx context.Context) error {
	done := make(chan error, 1)
	go func() { done <- s.Server.Shutdown(ctx) }()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			return err
		case <-tick.C:
			s.mu.Lock()
			idle := len(s.active) == 0
			s.mu.Unlock()
			if idle {
				return s.Server.Close() // Shutdown sees it at its next poll
			}
		}
	}
}

// ServeHTTP serves the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.router.ServeHTTP(w, r) }

// handlerFunc is a handler that returns its error instead of writing it.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (s *Server) h(fn handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			s.Error(w, r, err)
		}
	}
}

func (s *Server) routes() {
	r := chi.NewRouter()
	r.Use(s.logRequests, s.recoverPanics, s.refuseBadText)
	if s.cfg.SecurityHeaders {
		r.Use(securityHeaders)
	}
	if len(s.cfg.CORSOrigins) > 0 {
		r.Use(corsHandler(s.cfg.CORSOrigins))
	}
	r.NotFound(s.h(func(w http.ResponseWriter, r *http.Request) error {
		return system.Errorf(system.ENOTFOUND, "no route for %s", r.URL.Path)
	}))
	r.MethodNotAllowed(s.h(func(w http.ResponseWriter, r *http.Request) error {
		return system.Errorf(system.EMETHOD, "%s is not allowed on %s", r.Method, r.URL.Path)
	}))

	r.Get("/healthz", s.h(s.handleHealthz))
	r.Get("/readyz", s.h(s.handleReadyz))

	r.Route("/api/v1", func(r chi.Router) {
		r.Get("/openapi.json", s.h(s.handleOpenAPI))
		r.Get("/status/providers", s.h(s.handleProviders))
		r.With(s.limitLoginIP).Post("/auth/login", s.h(s.handleLogin))

		// Called by vendors and mail clients, not by signed-in users.
		r.Post("/webhooks/twilio/status", s.h(s.handleTwilioStatus))
		r.Post("/webhooks/twilio/inbound", s.h(s.handleTwilioInbound))
		r.Post("/webhooks/sendgrid/events", s.h(s.handleSendGridEvents))
		r.Post("/webhooks/partner", s.h(s.handlePartnerWebhook))
		r.Get("/sse-events/stream", s.h(s.handleSSEStream))
		r.Get("/t/open/{token}", s.h(s.handleOpen))
		r.Get("/t/click/{token}/{n}", s.h(s.handleClick))

		r.Group(func(r chi.Router) {
			r.Use(s.authenticate, s.limitUser)
			r.Get("/auth/me", s.h(s.handleMe))
			r.Get("/sse-events/token", s.h(s.handleSSEToken))
			r.Get("/properties", s.h(s.handleListProperties))
			r.With(s.idempotent).Post("/properties", s.h(s.handleCreateProperty))
			r.Get("/properties/{id}", s.h(s.handleGetProperty))
			r.Patch("/properties/{id}", s.h(s.handlePatchProperty))
			r.Get("/properties/{id}/reasons", s.h(s.handleReasons))
			r.Get("/pipeline", s.h(s.handlePipeline))
			r.Get("/portfolio/export.csv", s.h(s.handleExport))
			r.With(s.idempotent).Post("/jobs/memo/generate", s.h(s.handleGenerateMemo))
			r.Get("/jobs/{id}", s.h(s.handleGetJob))
			r.With(s.idempotent).Post("/communications/email-thread", s.h(s.handleEmailThread))
			r.With(s.idempotent).Post("/communications/sms", s.h(s.handleSMS))
			r.Get("/communications/threads", s.h(s.handleThreads))

			r.Group(func(r chi.Router) {
				r.Use(requireRole(s, system.RoleAdmin))
				r.Get("/users", s.h(s.handleListUsers))
				r.With(s.idempotent).Post("/users", s.h(s.handleCreateUser))
				r.Get("/dlq", s.h(s.handleListDLQ))
				r.With(s.idempotent).Post("/dlq/{id}/replay", s.h(s.handleReplayDLQ))
			})
		})
	})
	s.router = r
}

// trackingToken is the bearer part of a tracking link's path: whoever has
// it can mark a message opened or clicked.
var trackingToken = regexp.MustCompile(`^(/api/v1/t/(?:open|click)/)[^/.]+`)

// logPath is r's path as logs show it: without the query string, which
// may carry a token, and with a tracking link's token replaced.
func logPath(r *http.Request) string {
	if !strings.HasPrefix(r.URL.Path, "/api/v1/t/") {
		return r.URL.Path
	}
	return trackingToken.ReplaceAllString(r.URL.Path, "${1}REDACTED")
}

// requestIDs number the requests of this process, after a prefix that
// tells processes apart.
var requestIDs struct {
	prefix string
	n      atomic.Uint64
}

func init() { requestIDs.prefix = strings.ToLower(rand.Text()[:10]) + "-" }

// logRequests writes one line per request: its path as logPath gives it,
// and its id (the client's X-Request-Id, or this process's next number).
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r)
		if !s.logger.Enabled(r.Context(), slog.LevelInfo) {
			return
		}
		id := r.Header.Get("X-Request-Id")
		if id == "" {
			id = requestIDs.prefix + strconv.FormatUint(requestIDs.n.Add(1), 10)
		}
		// The record is made here, not by LogAttrs, which asks the runtime
		// for its caller's frame on every line: a sixth of the line's cost
		// on the 304 path, for a source no handler of the product prints.
		end := time.Now()
		rec := slog.NewRecord(end, slog.LevelInfo, "http request", 0)
		rec.AddAttrs(
			slog.String("method", r.Method),
			slog.String("path", logPath(r)),
			slog.Int("status", ww.Status()),
			slog.Int("bytes", ww.BytesWritten()),
			slog.Duration("duration", end.Sub(start)),
			slog.String("request_id", id),
		)
		s.logger.Handler().Handle(r.Context(), rec)
	})
}

// recoverPanics turns a panic into a 500 problem; the stack goes to the log,
// never to the client.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.logger.ErrorContext(r.Context(), "panic", "value", v, "stack", string(debug.Stack()))
				writeProblem(w, ProblemFor(errors.New("panic"), r.URL.Path))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

// readyTimeout bounds each dependency's ping.
const readyTimeout = 2 * time.Second

func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) error {
	checks := make([]func(context.Context) error, len(s.checks))
	for i, c := range s.checks {
		checks[i] = c.Check
	}
	errs, _ := checkAll(r.Context(), checks)
	results := make(map[string]string, len(s.checks))
	var failed []string
	for i, c := range s.checks {
		results[c.Name] = "ok"
		if errs[i] != nil {
			results[c.Name] = "failing: " + errs[i].Error()
			failed = append(failed, c.Name)
			s.logger.WarnContext(r.Context(), "dependency not ready", "dependency", c.Name, "err", errs[i])
		}
	}
	if len(failed) > 0 {
		p := ProblemFor(system.Errorf(system.EUNAVAILABLE, "not ready: %v", failed), r.URL.Path)
		p.Checks = results
		writeProblem(w, p)
		return nil
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "checks": results})
	return nil
}

// checkAll runs every check at once, each within readyTimeout, and returns
// each one's error and how long it took, in order.
func checkAll(ctx context.Context, checks []func(context.Context) error) ([]error, []time.Duration) {
	errs := make([]error, len(checks))
	took := make([]time.Duration, len(checks))
	var wg sync.WaitGroup
	for i, check := range checks {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, readyTimeout)
			defer cancel()
			start := time.Now()
			errs[i] = check(ctx)
			took[i] = time.Since(start)
		})
	}
	wg.Wait()
	return errs, took
}

// ProviderCheck is one vendor role's implementation, for the verbose
// status.
type ProviderCheck struct {
	Role     string // email, sms, storage, pdf, llm
	Name     string
	Endpoint string // where a local stand-in listens, in mock mode
	Check    func(ctx context.Context) error
}

// ProviderHealth is one provider's answer to its health check.
type ProviderHealth struct {
	Provider  string  `json:"provider"`
	Reachable bool    `json:"reachable"`
	LatencyMS float64 `json:"latency_ms"`
	Endpoint  string  `json:"endpoint,omitempty"`
	Error     string  `json:"error,omitempty"`
}

// ProvidersStatus is what GET /api/v1/status/providers answers: the mode,
// the provider of each role, whether sends go out, the feature flags, and
// with ?verbose=1 each provider's health.
type ProvidersStatus struct {
	AppMode config.Mode `json:"app_mode"`
	config.Providers
	Sends    string          `json:"sends"`
	Features config.Features `json:"features"`
	// Health is only present with ?verbose=1, so the seed's shape stays.
	Health map[string]ProviderHealth `json:"health,omitempty"`
}

func (s *Server) handleProviders(w http.ResponseWriter, r *http.Request) error {
	resp := ProvidersStatus{AppMode: s.cfg.Mode, Providers: s.cfg.Providers, Sends: s.cfg.Sends, Features: s.cfg.Features}
	switch r.URL.Query().Get("verbose") {
	case "", "0", "false":
	case "1", "true":
		resp.Health = s.providerHealth(r.Context())
	default:
		return system.Invalid(map[string]string{"verbose": "1 or 0"})
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// providerHealth checks every provider at once, each within readyTimeout.
func (s *Server) providerHealth(ctx context.Context) map[string]ProviderHealth {
	checks := make([]func(context.Context) error, len(s.providers))
	for i, p := range s.providers {
		checks[i] = p.Check
	}
	errs, took := checkAll(ctx, checks)
	out := make(map[string]ProviderHealth, len(s.providers))
	for i, p := range s.providers {
		h := ProviderHealth{Provider: p.Name, Reachable: errs[i] == nil, Endpoint: p.Endpoint, LatencyMS: float64(took[i].Microseconds()) / 1000}
		if errs[i] != nil {
			h.Error = errs[i].Error()
		}
		out[p.Role] = h
	}
	return out
}
