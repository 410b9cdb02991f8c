// Package config reads the product's configuration from the environment
// (12-factor): the mode, the feature flags, every address and credential.
// Load reports every bad or missing variable in one error, so an operator
// fixes them all in one go.
package config

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Mode picks the vendors: local stand-ins, or the real ones.
type Mode string

// The modes.
const (
	ModeMock       Mode = "mock"
	ModeProduction Mode = "production"
)

// Features are the FEATURE_* switches.
type Features struct {
	ExternalSends     bool `json:"external_sends"`
	UseLLM            bool `json:"use_llm"`
	RateLimit         bool `json:"rate_limit"`
	WebhookSignatures bool `json:"webhook_signatures"`
	CacheResponses    bool `json:"cache_responses"`
}

// Config is everything the product reads from its environment.
type Config struct {
	Mode     Mode
	Features Features

	SecurityHeaders    bool
	CORSOrigins        []string
	RequireIfMatch     bool
	RateLimitPerMinute int
	RateLimitFailOpen  bool
	TrustedProxies     []netip.Prefix
	SSEHeartbeat       time.Duration
	SSEBuffer          int64
	WebhookSecrets     []string
	PasswordCost       int // bcrypt cost of new passwords

	Addr            string // where the API listens
	PublicURL       string // how clients reach the API; derived from Addr when empty
	DataDir         string
	LogLevel        slog.Level
	ShutdownTimeout time.Duration

	// Empty infrastructure URLs are discovered (system/app).
	DatabaseURL string
	RedisURL    string
	AMQPURL     string

	QueuePrefix    string
	JobMaxAttempts int
	JobRetryBase   time.Duration
	Workers        bool

	JWTSecret string
	JWTTTL    time.Duration

	EmailFrom          string
	SMTPURL            string
	MailpitBin         string
	SendGridAPIKey     string
	SendGridWebhookKey string
	SendGridBaseURL    string

	TwilioAccountSID string
	TwilioAuthToken  string
	TwilioFromNumber string
	TwilioBaseURL    string

	S3Endpoint        string
	S3AccessKeyID     string
	S3SecretAccessKey string
	S3Bucket          string
	S3Region          string

	GotenbergURL string

	EgressAllow []string
	EgressLog   string

	OpenAIAPIKey  string
	OpenAIBaseURL string
	OpenAIModel   string
}

// Var documents one environment variable. Vars drives loading, `reos --help`
// and the command-line flags, so the three cannot drift apart.
type Var struct {
	Name    string
	Default string
	Usage   string
	Secret  bool // never printed
	set     func(c *Config, v string) error
}

// Flag is the command-line flag that sets the variable: APP_MODE → app-mode.
func (v Var) Flag() string { return strings.ToLower(strings.ReplaceAll(v.Name, "_", "-")) }

var (
	e164       = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
	accountSID = regexp.MustCompile(`^AC[0-9a-fA-F]{32}$`)
)

// Vars lists every variable the product reads, in the order --help shows them.
var Vars = []Var{
	{Name: "APP_MODE", Default: "mock", Usage: "mock (local stand-ins for every vendor) or production (the real vendors; needs their credentials)",
		set: func(c *Config, v string) error {
			c.Mode = Mode(v)
			if c.Mode != ModeMock && c.Mode != ModeProduction {
				return errors.New(`must be "mock" or "production"`)
			}
			return nil
		}},
	{Name: "FEATURE_EXTERNAL_SENDS", Default: "false", Usage: "let email and SMS reach real recipients; when false, production sends email in SendGrid's sandbox mode and records SMS as suppressed (refused in mock mode)", set: boolVar(func(c *Config) *bool { return &c.Features.ExternalSends })},
	{Name: "FEATURE_USE_LLM", Default: "false", Usage: "write memo text with OpenAI instead of the deterministic templates", set: boolVar(func(c *Config) *bool { return &c.Features.UseLLM })},
	{Name: "FEATURE_RATE_LIMIT", Default: "true", Usage: "rate-limit the API through Redis", set: boolVar(func(c *Config) *bool { return &c.Features.RateLimit })},
	{Name: "FEATURE_WEBHOOK_SIGNATURES", Default: "true", Usage: "verify webhook signatures (cannot be turned off in production)", set: boolVar(func(c *Config) *bool { return &c.Features.WebhookSignatures })},
	{Name: "FEATURE_CACHE_RESPONSES", Default: "true", Usage: "ETags and conditional requests", set: boolVar(func(c *Config) *bool { return &c.Features.CacheResponses })},

	{Name: "REOS_ADDR", Default: "127.0.0.1:8000", Usage: "host:port the API listens on (port 0 picks a free one)",
		set: func(c *Config, v string) error {
			c.Addr = v
			if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
				return errors.New("must be host:port, e.g. 127.0.0.1:8000")
			}
			return nil
		}},
	{Name: "REOS_PUBLIC_URL", Usage: "base URL clients use to reach the API (default: http://REOS_ADDR)", set: urlVar(func(c *Config) *string { return &c.PublicURL }, "http", "https")},
	{Name: "SECURITY_HEADERS", Usage: "send X-Frame-Options, CSP, HSTS, … (default: on in production, off in mock mode)", set: func(c *Config, v string) error {
		c.SecurityHeaders = c.Mode == ModeProduction
		if v == "" {
			return nil
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return errors.New("must be true or false")
		}
		c.SecurityHeaders = b
		return nil
	}},
	{Name: "CORS_ALLOWED_ORIGINS", Usage: "comma-separated origins allowed to call the API from a browser (default: none)", set: func(c *Config, v string) error {
		c.CORSOrigins = nil
		for _, o := range strings.Split(v, ",") {
			if o = strings.TrimSpace(o); o == "" {
				continue
			}
			if u, err := url.Parse(o); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" {
				return fmt.Errorf("%q is not an origin such as https://app.example.com", o)
			}
			c.CORSOrigins = append(c.CORSOrigins, o)
		}
		return nil
	}},
	{Name: "REQUIRE_IF_MATCH", Default: "false", Usage: "refuse PATCH without If-Match (428)", set: boolVar(func(c *Config) *bool { return &c.RequireIfMatch })},
	{Name: "RATE_LIMIT_PER_MINUTE", Default: "600", Usage: "requests per minute per signed-in user (login: 10 per account and per client IP)", set: func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return errors.New("must be a positive integer")
		}
		c.RateLimitPerMinute = n
		return nil
	}},
	{Name: "RATE_LIMIT_FAIL_OPEN", Default: "true", Usage: "when Redis is down, let API requests through (login always fails closed)", set: boolVar(func(c *Config) *bool { return &c.RateLimitFailOpen })},
	{Name: "TRUSTED_PROXIES", Usage: "comma-separated addresses or CIDRs of proxies whose X-Forwarded-For is believed", set: func(c *Config, v string) error {
		c.TrustedProxies = nil
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p == "" {
				continue
			}
			if !strings.Contains(p, "/") {
				if strings.Contains(p, ":") {
					p += "/128"
				} else {
					p += "/32"
				}
			}
			prefix, err := netip.ParsePrefix(p)
			if err != nil {
				return fmt.Errorf("%q is not an address or CIDR", p)
			}
			c.TrustedProxies = append(c.TrustedProxies, prefix.Masked())
		}
		return nil
	}},
	{Name: "SSE_HEARTBEAT", Default: "20s", Usage: "interval of the event stream's ping", set: durationVar(func(c *Config) *time.Duration { return &c.SSEHeartbeat })},
	{Name: "SSE_BUFFER", Default: "10000", Usage: "events kept in Redis for clients that reconnect with Last-Event-ID", set: func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 10 {
			return errors.New("must be an integer of at least 10")
		}
		c.SSEBuffer = int64(n)
		return nil
	}},
	{Name: "WEBHOOK_SECRETS", Usage: "comma-separated HMAC secrets of partner webhooks, newest first (two during a rotation)", Secret: true, set: func(c *Config, v string) error {
		c.WebhookSecrets = nil
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				if len(s) < 16 {
					return errors.New("each secret must be at least 16 bytes")
				}
				c.WebhookSecrets = append(c.WebhookSecrets, s)
			}
		}
		return nil
	}},
	{Name: "REOS_DATA_DIR", Default: ".reos", Usage: "directory for local state: the generated mock-mode JWT secret, mock vendors' data",
		set: func(c *Config, v string) error { c.DataDir = v; return nonEmpty(v) }},
	{Name: "LOG_LEVEL", Default: "info", Usage: "debug, info, warn or error",
		set: func(c *Config, v string) error { return c.LogLevel.UnmarshalText([]byte(v)) }},
	{Name: "SHUTDOWN_TIMEOUT", Default: "10s", Usage: "how long a graceful shutdown waits for open requests", set: durationVar(func(c *Config) *time.Duration { return &c.ShutdownTimeout })},

	{Name: "DATABASE_URL", Usage: "PostgreSQL URL (default: discovered on 127.0.0.1:5432, database reos)", Secret: true, set: urlVar(func(c *Config) *string { return &c.DatabaseURL }, "postgres", "postgresql")},
	{Name: "REDIS_URL", Usage: "Redis URL (default: discovered on 127.0.0.1:6379)", Secret: true, set: urlVar(func(c *Config) *string { return &c.RedisURL }, "redis", "rediss")},
	{Name: "AMQP_URL", Usage: "RabbitMQ URL (default: discovered on 127.0.0.1:5672 as guest)", Secret: true, set: urlVar(func(c *Config) *string { return &c.AMQPURL }, "amqp", "amqps")},

	{Name: "QUEUE_PREFIX", Default: "reos", Usage: "prefix of every RabbitMQ exchange and queue and every Redis key (one per deployment or test run)",
		set: func(c *Config, v string) error { c.QueuePrefix = v; return nonEmpty(v) }},
	{Name: "JOB_MAX_ATTEMPTS", Default: "5", Usage: "attempts before a job or send is dead-lettered",
		set: intVar(1, 20, func(c *Config) *int { return &c.JobMaxAttempts })},
	{Name: "JOB_RETRY_BASE", Default: "1s", Usage: "wait before the second attempt; it doubles for each attempt after", set: durationVar(func(c *Config) *time.Duration { return &c.JobRetryBase })},
	{Name: "REOS_WORKERS", Default: "true", Usage: "run the job workers in this process (false: API only)", set: boolVar(func(c *Config) *bool { return &c.Workers })},
	{Name: "JWT_SECRET", Usage: "HS256 key for access tokens, at least 32 bytes (mock mode: generated once and kept in REOS_DATA_DIR)", Secret: true,
		set: func(c *Config, v string) error {
			c.JWTSecret = v
			if v != "" && len(v) < 32 {
				return errors.New("must be at least 32 bytes")
			}
			return nil
		}},
	{Name: "PASSWORD_HASH_COST", Default: "10", Usage: "bcrypt cost of new passwords, 4 to 31; production mode takes 10 or more (a lower cost is for mock-mode stacks whose users are throwaway, like the suite's)",
		set: intVar(4, 31, func(c *Config) *int { return &c.PasswordCost })},
	{Name: "JWT_TTL", Default: "1h", Usage: "lifetime of an access token", set: durationVar(func(c *Config) *time.Duration { return &c.JWTTTL })},

	{Name: "EMAIL_FROM", Default: "Real Estate OS <deals@reos.example.com>", Usage: "sender of owner emails",
		set: func(c *Config, v string) error {
			c.EmailFrom = v
			if v == "" {
				return nil
			}
			_, err := mail.ParseAddress(v)
			return err
		}},
	{Name: "SMTP_URL", Usage: "mock mode: SMTP server for email, smtp://host:port (default: a Mailpit that reos up starts)", set: urlVar(func(c *Config) *string { return &c.SMTPURL }, "smtp")},
	{Name: "MAILPIT_BIN", Usage: "mock mode: the Mailpit binary (default: mailpit on PATH, or the one scripts/setup installs)", set: stringVar(func(c *Config) *string { return &c.MailpitBin })},
	{Name: "SENDGRID_API_KEY", Usage: "production: SendGrid API key", Secret: true, set: stringVar(func(c *Config) *string { return &c.SendGridAPIKey })},
	{Name: "SENDGRID_WEBHOOK_PUBLIC_KEY", Usage: "verification key of SendGrid's Signed Event Webhook (base64 DER, as SendGrid's settings show it)", set: stringVar(func(c *Config) *string { return &c.SendGridWebhookKey })},
	{Name: "SENDGRID_BASE_URL", Default: "https://api.sendgrid.com", Usage: "SendGrid API base URL", set: urlVar(func(c *Config) *string { return &c.SendGridBaseURL }, "http", "https")},

	{Name: "TWILIO_ACCOUNT_SID", Usage: "Twilio Account SID (AC + 32 hex digits)",
		set: func(c *Config, v string) error {
			c.TwilioAccountSID = v
			if v != "" && !accountSID.MatchString(v) {
				return errors.New("must be AC followed by 32 hex digits")
			}
			return nil
		}},
	{Name: "TWILIO_AUTH_TOKEN", Usage: "Twilio auth token", Secret: true, set: stringVar(func(c *Config) *string { return &c.TwilioAuthToken })},
	{Name: "TWILIO_FROM_NUMBER", Usage: "sender number in E.164, e.g. +15005550006",
		set: func(c *Config, v string) error {
			c.TwilioFromNumber = v
			if v != "" && !e164.MatchString(v) {
				return errors.New("must be an E.164 number such as +15005550006")
			}
			return nil
		}},
	{Name: "TWILIO_BASE_URL", Usage: "Twilio REST API base URL (default: https://api.twilio.com; in mock mode a mock Twilio that reos up starts)", set: urlVar(func(c *Config) *string { return &c.TwilioBaseURL }, "http", "https")},

	{Name: "S3_ENDPOINT", Usage: "S3 endpoint URL (mock mode default: an S3 server that reos up starts, data in REOS_DATA_DIR)", set: urlVar(func(c *Config) *string { return &c.S3Endpoint }, "http", "https")},
	{Name: "S3_ACCESS_KEY_ID", Usage: "S3 access key id", Secret: true, set: stringVar(func(c *Config) *string { return &c.S3AccessKeyID })},
	{Name: "S3_SECRET_ACCESS_KEY", Usage: "S3 secret access key", Secret: true, set: stringVar(func(c *Config) *string { return &c.S3SecretAccessKey })},
	{Name: "S3_BUCKET", Default: "memos", Usage: "bucket for investment memos",
		set: func(c *Config, v string) error { c.S3Bucket = v; return nonEmpty(v) }},
	{Name: "S3_REGION", Default: "us-east-1", Usage: "S3 region", set: stringVar(func(c *Config) *string { return &c.S3Region })},

	{Name: "EGRESS_ALLOW_HOSTS", Usage: "comma-separated hosts providers may reach besides loopback (e.g. compose service names); production adds the vendors' hosts", set: func(c *Config, v string) error {
		c.EgressAllow = nil
		for _, h := range strings.Split(v, ",") {
			if h = strings.ToLower(strings.TrimSpace(h)); h != "" {
				c.EgressAllow = append(c.EgressAllow, h)
			}
		}
		return nil
	}},
	{Name: "EGRESS_LOG", Usage: "file that receives one JSON line per refused outbound connection (default: REOS_DATA_DIR/egress.jsonl)", set: stringVar(func(c *Config) *string { return &c.EgressLog })},
	{Name: "GOTENBERG_URL", Usage: "render PDFs with Gotenberg at this URL instead of the native renderer", set: urlVar(func(c *Config) *string { return &c.GotenbergURL }, "http", "https")},

	{Name: "OPENAI_API_KEY", Usage: "OpenAI API key (needed when FEATURE_USE_LLM=true)", Secret: true, set: stringVar(func(c *Config) *string { return &c.OpenAIAPIKey })},
	{Name: "OPENAI_BASE_URL", Default: "https://api.openai.com/v1", Usage: "OpenAI API base URL", set: urlVar(func(c *Config) *string { return &c.OpenAIBaseURL }, "http", "https")},
	{Name: "OPENAI_MODEL", Default: "gpt-4o-mini", Usage: "chat model for memo text", set: stringVar(func(c *Config) *string { return &c.OpenAIModel })},
}

// Load reads every variable through lookup (os.LookupEnv in production) and
// checks the combination. The error names every bad or missing variable.
func Load(lookup func(string) (string, bool)) (*Config, error) {
	c := &Config{}
	var errs []error
	for _, v := range Vars {
		val, ok := lookup(v.Name)
		if !ok {
			val = v.Default
		}
		if err := v.set(c, strings.TrimSpace(val)); err != nil {
			shown := strconv.Quote(val)
			if v.Secret {
				shown = "(hidden)"
			}
			errs = append(errs, fmt.Errorf("%s=%s: %v", v.Name, shown, err))
		}
	}
	if len(errs) == 0 {
		errs = c.check()
	}
	if len(errs) > 0 {
		return nil, &Error{Problems: errs}
	}
	if c.PublicURL == "" {
		c.PublicURL = "http://" + c.Addr
	}
	return c, nil
}

// check applies the rules that span variables.
func (c *Config) check() []error {
	var errs []error
	switch c.Mode {
	case ModeMock:
		if c.Features.ExternalSends {
			errs = append(errs, errors.New("FEATURE_EXTERNAL_SENDS=true: mock mode never sends outside the machine; use APP_MODE=production"))
		}
	case ModeProduction:
		if c.PasswordCost < 10 {
			errs = append(errs, fmt.Errorf("PASSWORD_HASH_COST=%d: production mode hashes passwords at bcrypt cost 10 or more", c.PasswordCost))
		}
		if !c.Features.WebhookSignatures {
			errs = append(errs, errors.New("FEATURE_WEBHOOK_SIGNATURES=false: signatures can only be switched off in mock mode"))
		}
		for _, r := range c.required() {
			if r.value == "" {
				errs = append(errs, fmt.Errorf("%s: missing; production mode needs it", r.name))
			}
		}
	}
	return errs
}

type requirement struct{ name, value string }

// required lists the credentials production mode cannot start without.
func (c *Config) required() []requirement {
	r := []requirement{
		{"JWT_SECRET", c.JWTSecret},
		{"EMAIL_FROM", c.EmailFrom},
		{"SENDGRID_API_KEY", c.SendGridAPIKey},
		{"TWILIO_ACCOUNT_SID", c.TwilioAccountSID},
		{"TWILIO_AUTH_TOKEN", c.TwilioAuthToken},
		{"TWILIO_FROM_NUMBER", c.TwilioFromNumber},
		{"S3_ENDPOINT", c.S3Endpoint},
		{"S3_ACCESS_KEY_ID", c.S3AccessKeyID},
		{"S3_SECRET_ACCESS_KEY", c.S3SecretAccessKey},
	}
	if c.Features.UseLLM {
		r = append(r, requirement{"OPENAI_API_KEY", c.OpenAIAPIKey})
	}
	return r
}

// Error is a configuration that cannot be used. It lists every problem.
type Error struct{ Problems []error }

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "invalid configuration (%d problem", len(e.Problems))
	if len(e.Problems) != 1 {
		b.WriteString("s")
	}
	b.WriteString("):")
	for _, p := range e.Problems {
		b.WriteString("\n  - ")
		b.WriteString(p.Error())
	}
	return b.String()
}

// Providers names the implementation picked for each vendor role, as
// /api/v1/status/providers reports them.
type Providers struct {
	Email   string `json:"email"`
	SMS     string `json:"sms"`
	Storage string `json:"storage"`
	PDF     string `json:"pdf"`
	LLM     string `json:"llm"`
}

// Providers returns the names of the implementations this configuration picks.
func (c *Config) Providers() Providers {
	p := Providers{Email: "mailpit-smtp", SMS: "mock-twilio", Storage: "s3-local", PDF: "native-pdf", LLM: "deterministic-templates"}
	if c.GotenbergURL != "" {
		p.PDF = "gotenberg-local"
	}
	if c.Mode == ModeProduction {
		p.Email, p.SMS, p.Storage = "sendgrid", "twilio", "s3"
		if c.GotenbergURL != "" {
			p.PDF = "gotenberg"
		}
	}
	if c.Features.UseLLM {
		p.LLM = "openai"
	}
	return p
}

// Where sends go (Sends).
const (
	SendsStandIns = "stand-ins" // mock mode: Mailpit and the mock Twilio
	SendsSandbox  = "sandbox"   // production, FEATURE_EXTERNAL_SENDS=false: nobody receives anything
	SendsLive     = "live"      // production, FEATURE_EXTERNAL_SENDS=true
)

// Sends says whether email and SMS reach real recipients.
func (c *Config) Sends() string {
	switch {
	case c.Mode == ModeMock:
		return SendsStandIns
	case c.Features.ExternalSends:
		return SendsLive
	}
	return SendsSandbox
}

// Help writes every variable with its default and meaning.
func Help(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  VARIABLE\tFLAG\tDEFAULT\tMEANING")
	for _, v := range Vars {
		def := v.Default
		if def == "" {
			def = "-"
		}
		fmt.Fprintf(tw, "  %s\t--%s\t%s\t%s\n", v.Name, v.Flag(), def, v.Usage)
	}
	tw.Flush()
}

// Lookup returns a lookup function that reads the names in overrides first,
// then env. The CLI uses it so that a flag wins over its variable.
func Lookup(overrides map[string]string, env func(string) (string, bool)) func(string) (string, bool) {
	return func(name string) (string, bool) {
		if v, ok := overrides[name]; ok {
			return v, true
		}
		return env(name)
	}
}

func boolVar(field func(*Config) *bool) func(*Config, string) error {
	return func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return errors.New("must be true or false")
		}
		*field(c) = b
		return nil
	}
}

func intVar(lo, hi int, field func(*Config) *int) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			return fmt.Errorf("must be an integer from %d to %d", lo, hi)
		}
		*field(c) = n
		return nil
	}
}

func durationVar(field func(*Config) *time.Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return errors.New("must be a positive duration such as 10s or 1h")
		}
		*field(c) = d
		return nil
	}
}

func stringVar(field func(*Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error { *field(c) = v; return nil }
}

func urlVar(field func(*Config) *string, schemes ...string) func(*Config, string) error {
	return func(c *Config, v string) error {
		*field(c) = v
		if v == "" {
			return nil
		}
		u, err := url.Parse(v)
		if err != nil || u.Host == "" || !slices.Contains(schemes, u.Scheme) {
			return fmt.Errorf("must be a %s:// URL with a host", strings.Join(schemes, ":// or "))
		}
		return nil
	}
}

func nonEmpty(v string) error {
	if v == "" {
		return errors.New("must not be empty")
	}
	return nil
}

// CheckSignatures says whether callbacks (vendors' and partners') must be
// signed: always outside mock mode; in mock mode unless
// FEATURE_WEBHOOK_SIGNATURES=false.
func (c *Config) CheckSignatures() bool {
	return c.Features.WebhookSignatures || c.Mode != ModeMock
}
