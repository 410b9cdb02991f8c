// Package harness is what the suites stand on: the target (a running stack,
// or one started in-process), an API client that records what matters into
// the evidence pack, a browser context per spec, the vendors' inboxes
// behind one interface, and each spec's isolation key.
//
// The specs never ask which mode they run in: the harness picks the
// adapters (Mailpit or the SendGrid double, the mock Twilio or its
// production double) and the specs speak to the interfaces.
package harness

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/real-estate-os/reos/internal/repo"
)

// Setting is one environment variable the harness reads.
type Setting struct {
	Name, Default, Usage string
}

// Settings lists every variable, for the README and for error messages.
var Settings = []Setting{
	{"REOS_SUITE_MODE", "mock", "mock or production: the mode the product runs in. Without REOS_BASE_URL, production starts the product against the contract doubles (every vendor stood in for on loopback)"},
	{"REOS_BASE_URL", "", "a running stack to test (http://host:port); unset, the suite starts the stack in-process on a database of its own"},
	{"REOS_ADMIN_EMAIL", "admin@example.com in mock mode", "an admin of the running stack, through whom each spec gets a user of its own"},
	{"REOS_ADMIN_PASSWORD", "the demo password in mock mode", "that admin's password"},
	{"REOS_TWILIO_CONTROL_URL", "found from the stack in mock mode", "with REOS_BASE_URL: the mock Twilio, or the Twilio double a production stack talks to; its /mock endpoints show the vendor's side (messages sent, replies, scoped faults). Unset in production mode (real Twilio), the checks that need them skip"},
	{"REOS_SENDGRID_INSPECT_URL", "", "with REOS_BASE_URL in production mode: the SendGrid double the stack talks to, whose /mock/messages shows what it accepted. Unset (real SendGrid), the checks that read the inbox skip"},
	{"REOS_MAILPIT_URL", "found from the stack in mock mode", "with REOS_BASE_URL in mock mode: Mailpit's API, when the stack uses a Mailpit it did not start"},
	{"REOS_SSE_HEARTBEAT", "20s", "with REOS_BASE_URL: the stack's SSE_HEARTBEAT, how long the realtime flow waits for a heartbeat"},
	{"REOS_WEBHOOK_SECRET", "", "with REOS_BASE_URL: one of the stack's WEBHOOK_SECRETS, to sign partner webhooks with; unset, the partner-webhook signature checks skip"},
	{"REOS_EVIDENCE_DIR", "audit_artifacts in the repository", "where the evidence pack is written"},
	{"REOS_TRACE_DIR", ".reos/traces in the repository", "where a failed spec's Playwright trace goes. Traces hold the run's throwaway passwords and session cookies, so they stay out of the evidence pack"},
	{"REOS_PROGRESS", "", "a file that gets a JSON line as each spec ends and one naming the sealed pack (reos green reads it to print progress)"},
	{"REOS_CONTRACTS_JUDGE", "on", "on or off: judge every exchange against its contract (the product's API, the vendors', the callbacks). off only to measure what judging costs: the pack then holds no ledger and says no exchange was judged"},
	{"EVIDENCE_SIGNING_KEY", "", "an ed25519 private key (PEM) to sign the pack with; unset, a key is made for the run and its public key printed"},
}

// Config is the harness's configuration, read and checked up front.
type Config struct {
	Mode          string
	BaseURL       string
	AdminEmail    string
	AdminPassword string
	TwilioURL     string
	SendGridURL   string
	MailpitURL    string
	WebhookSecret string
	Heartbeat     time.Duration
	EvidenceDir   string
	TraceDir      string
	Progress      string
	Judge         bool // REOS_CONTRACTS_JUDGE
}

// Load reads the configuration from getenv and reports every problem at
// once.
func Load(getenv func(string) string) (*Config, error) {
	c := &Config{Mode: getenv("REOS_SUITE_MODE"), BaseURL: strings.TrimRight(getenv("REOS_BASE_URL"), "/"),
		AdminEmail: getenv("REOS_ADMIN_EMAIL"), AdminPassword: getenv("REOS_ADMIN_PASSWORD"), WebhookSecret: getenv("REOS_WEBHOOK_SECRET"), EvidenceDir: getenv("REOS_EVIDENCE_DIR"),
		TraceDir: getenv("REOS_TRACE_DIR"), Progress: getenv("REOS_PROGRESS"), Heartbeat: 20 * time.Second}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Mode == "" {
		c.Mode = "mock"
	}
	switch getenv("REOS_CONTRACTS_JUDGE") {
	case "", "on":
		c.Judge = true
	case "off":
	default:
		bad("REOS_CONTRACTS_JUDGE=%q: want on or off", getenv("REOS_CONTRACTS_JUDGE"))
	}
	if c.Mode != "mock" && c.Mode != "production" {
		bad("REOS_SUITE_MODE=%q: want mock or production", c.Mode)
	}
	if c.BaseURL != "" {
		u, err := url.Parse(c.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
			bad("REOS_BASE_URL=%q: want http://host:port or https://host", c.BaseURL)
		}
	}
	for _, u := range []struct {
		name string
		v    *string
	}{{"REOS_TWILIO_CONTROL_URL", &c.TwilioURL}, {"REOS_SENDGRID_INSPECT_URL", &c.SendGridURL}, {"REOS_MAILPIT_URL", &c.MailpitURL}} {
		name, v := u.name, u.v
		*v = strings.TrimRight(getenv(name), "/")
		if *v == "" {
			continue
		}
		if u, err := url.Parse(*v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("%s=%q: want an http(s) URL", name, *v)
		}
		if c.BaseURL == "" {
			bad("%s is for a running stack (REOS_BASE_URL); without one the suite starts the stand-ins itself", name)
		}
	}
	if v := getenv("REOS_SSE_HEARTBEAT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			bad("REOS_SSE_HEARTBEAT=%q: want a duration such as 20s", v)
		}
		c.Heartbeat = d
	}
	if (c.AdminEmail == "") != (c.AdminPassword == "") {
		bad("REOS_ADMIN_EMAIL and REOS_ADMIN_PASSWORD go together: set both or neither")
	}
	if c.BaseURL != "" && c.Mode == "production" && c.AdminEmail == "" {
		bad("REOS_BASE_URL in production mode needs REOS_ADMIN_EMAIL and REOS_ADMIN_PASSWORD (production has no demo users: create one with `reos users create --role admin`)")
	}
	if c.EvidenceDir == "" || c.TraceDir == "" {
		root, err := repo.Root()
		if err != nil {
			bad("REOS_EVIDENCE_DIR or REOS_TRACE_DIR is not set and %v", err)
		}
		if c.EvidenceDir == "" {
			c.EvidenceDir = filepath.Join(root, "audit_artifacts")
		}
		if c.TraceDir == "" {
			c.TraceDir = filepath.Join(root, ".reos", "traces")
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("the suite's settings (README, The flows):\n%w", errors.Join(errs...))
	}
	return c, nil
}
