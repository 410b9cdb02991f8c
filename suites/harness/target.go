package harness

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/real-estate-os/reos/contract"
	"github.com/real-estate-os/reos/evidence"
	"github.com/real-estate-os/reos/fixtures"
	"github.com/real-estate-os/reos/internal/progress"
	"github.com/real-estate-os/reos/system"
	"github.com/real-estate-os/reos/system/app"
	"github.com/real-estate-os/reos/system/config"
)

// Target is the stack under test as every Ginkgo process sees it: the
// first process starts (or finds) it and hands it to the others as JSON.
type Target struct {
	Mode          string `json:"mode"`
	URL           string `json:"url"`
	AdminEmail    string `json:"admin_email"`
	AdminPassword string `json:"admin_password"` // handed between the suite's processes only
	// TwilioURL is the control API of the mock Twilio or its double; empty
	// with the real Twilio.
	TwilioURL string `json:"twilio_url"`
	// MailKind is mailpit or sendgrid (the double), MailURL its API; both
	// empty with the real SendGrid.
	MailKind  string            `json:"mail_kind"`
	MailURL   string            `json:"mail_url"`
	Heartbeat time.Duration     `json:"heartbeat"`
	Providers map[string]string `json:"providers"`
	// Config is what the pack records about the target, secrets redacted.
	Config map[string]string `json:"config"`
	// VendorLedgers are the ledgers of the contract proxies before the
	// vendors' doubles (production mode), by vendor; Behind says what
	// answered behind each.
	VendorLedgers map[string]string `json:"vendor_ledgers,omitempty"`
	// Judge says whether exchanges are judged against their contracts
	// (REOS_CONTRACTS_JUDGE).
	Judge bool `json:"judge"`
	// Violations is the run's shared list of the vendors' violations,
	// which each spec reads for those it caused.
	Violations string            `json:"violations,omitempty"`
	Behind     map[string]string `json:"behind,omitempty"`
	// EgressLog is the product's log of refused connections, when the
	// suite started the product (a running stack keeps its own).
	EgressLog string `json:"egress_log"`
	// ProductLog is the product's own log, when the suite started the
	// product; the pack keeps a copy.
	ProductLog string `json:"product_log"`
	InProcess  bool   `json:"in_process"`
	// WebhookSecret signs partner webhooks (WEBHOOK_SECRETS); empty when
	// the suite was not given it.
	WebhookSecret string `json:"webhook_secret"`
	// Pack is the evidence pack every process records into.
	Pack string `json:"pack"`
	// TraceDir is where failed specs' Playwright traces go (out of the pack).
	TraceDir string `json:"trace_dir"`
	// Progress is REOS_PROGRESS, or empty.
	Progress string `json:"progress"`
}

// Start finds the target c describes, or starts it in-process; stop
// undoes what Start did.
func Start(ctx context.Context, c *Config) (t *Target, stop func() error, err error) {
	t = &Target{Mode: c.Mode, Judge: c.Judge, URL: c.BaseURL, AdminEmail: c.AdminEmail, AdminPassword: c.AdminPassword, Heartbeat: c.Heartbeat,
		TwilioURL: c.TwilioURL, WebhookSecret: c.WebhookSecret, TraceDir: c.TraceDir, Progress: c.Progress}
	stop = func() error { return nil }
	if c.BaseURL == "" {
		if stop, err = t.startInProcess(ctx); errors.Is(err, app.ErrMissing) {
			// The suite does not link Docker's client (it would add half a
			// second to every build); reos green does.
			return nil, nil, fmt.Errorf("%w; with a Docker engine, `go run ./cmd/reos green` starts what is missing in containers", err)
		} else if err != nil {
			return nil, nil, err
		}
	} else {
		if t.AdminEmail == "" { // mock mode (Load insists in production)
			t.AdminEmail, t.AdminPassword = "admin@example.com", fixtures.DemoPassword
		}
		t.Config = map[string]string{"REOS_BASE_URL": c.BaseURL, "REOS_SUITE_MODE": c.Mode}
		switch {
		case c.MailpitURL != "":
			t.MailKind, t.MailURL = "mailpit", c.MailpitURL
		case c.SendGridURL != "":
			t.MailKind, t.MailURL = "sendgrid", c.SendGridURL
		}
	}
	if err := t.discover(ctx); err != nil {
		stop()
		return nil, nil, err
	}
	return t, stop, nil
}

// Status is GET /api/v1/status/providers?verbose=1 as the API answers it.
type Status struct {
	AppMode  string          `json:"app_mode"`
	Features map[string]bool `json:"features"`
	Health   map[string]struct {
		Provider  string `json:"provider"`
		Endpoint  string `json:"endpoint"`
		Reachable bool   `json:"reachable"`
		Error     string `json:"error"`
	} `json:"health"`
}

// discover asks the stack its mode and providers, and where the mock-mode
// stand-ins listen when they were not given.
func (t *Target) discover(ctx context.Context) error {
	req, _ := http.NewRequestWithContext(ctx, "GET", t.URL+"/api/v1/status/providers?verbose=1", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("the target %s does not answer: %w", t.URL, err)
	}
	defer res.Body.Close()
	var status Status
	if err := json.NewDecoder(res.Body).Decode(&status); err != nil || res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s/api/v1/status/providers: %d %v", t.URL, res.StatusCode, err)
	}
	if status.AppMode != t.Mode {
		return fmt.Errorf("the target %s runs in %s mode but REOS_SUITE_MODE is %s", t.URL, status.AppMode, t.Mode)
	}
	t.Providers = map[string]string{}
	for role, h := range status.Health {
		t.Providers[role] = h.Provider
	}
	if t.Mode == "mock" {
		if t.TwilioURL == "" {
			t.TwilioURL = status.Health["sms"].Endpoint
		}
		if t.MailKind == "" && status.Health["email"].Endpoint != "" {
			t.MailKind, t.MailURL = "mailpit", status.Health["email"].Endpoint
		}
	}
	return nil
}

// startInProcess starts the product on a database, queue namespace and
// data folder of its own, and in production mode the contract doubles
// before it.
func (t *Target) startInProcess(ctx context.Context) (func() error, error) {
	if t.Judge { // the vendors' documents are parsed while the stack starts
		if t.Mode == "production" {
			contract.Preload(contract.Vendors...)
		} else {
			contract.Preload("twilio")
		}
	}
	key := strings.ToLower(rand.Text()[:6])
	base, err := app.DatabaseURL(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	u.Path = "/reos_suite_" + key
	dbURL := u.String()
	if err := app.EnsureDatabase(ctx, dbURL); err != nil {
		return nil, fmt.Errorf("the suite needs a database of its own (%s): %w", u.Path[1:], err)
	}
	dir, err := os.MkdirTemp("", "reos-suite-")
	if err != nil {
		return nil, err
	}
	var undo []func() error
	stop := func() error {
		var errs []error
		for i := len(undo) - 1; i >= 0; i-- {
			errs = append(errs, undo[i]())
		}
		return errors.Join(errs...)
	}
	undo = append(undo, func() error { return os.RemoveAll(dir) })
	undo = append(undo, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		return app.DropDatabase(ctx, dbURL)
	})
	fail := func(err error) (func() error, error) { stop(); return nil, err }

	t.Heartbeat = 2 * time.Second
	t.WebhookSecret = "whsec-" + strings.ToLower(rand.Text())
	vars := map[string]string{"APP_MODE": t.Mode, "DATABASE_URL": dbURL, "REOS_ADDR": "127.0.0.1:0", "REOS_PUBLIC_URL": "http://127.0.0.1:0",
		"REOS_DATA_DIR": filepath.Join(dir, "data"), "QUEUE_PREFIX": "suite-" + key,
		// Each spec signs in from an address of its own, sent as
		// X-Forwarded-For by the suite on loopback.
		"TRUSTED_PROXIES": "127.0.0.1/32,::1/128",
		// Retries back off from 100 ms, so a dead letter comes in a second.
		"JOB_RETRY_BASE":  "100ms",
		"SSE_HEARTBEAT":   t.Heartbeat.String(),
		"WEBHOOK_SECRETS": t.WebhookSecret,
		// The flows check production's headers in both modes (mock mode
		// leaves them off by default, for developers on plain HTTP).
		"SECURITY_HEADERS": "true",
	}
	if t.Mode == "mock" {
		// Every user of the run is thrown away with its database: their
		// passwords are hashed at bcrypt's least cost, not the product's
		// default 10 (a login's 60 ms of CPU). Production mode, which
		// refuses a cost below 10, keeps the default.
		vars["PASSWORD_HASH_COST"] = "4"
	}
	for _, k := range []string{"REDIS_URL", "AMQP_URL", "MAILPIT_BIN"} {
		if v := os.Getenv(k); v != "" {
			vars[k] = v
		}
	}
	t.ProductLog = filepath.Join(dir, "reos.log")
	logFile, err := os.Create(t.ProductLog)
	if err != nil {
		return fail(err)
	}
	undo = append(undo, logFile.Close)
	logger := slog.New(slog.NewTextHandler(logFile, nil))
	var m *app.Main
	t.VendorLedgers, t.Behind = map[string]string{}, map[string]string{}
	t.Violations = filepath.Join(dir, "contracts", "violations.jsonl")
	app.FrontDouble, app.FrontCallbacks = nil, nil
	if t.Judge {
		app.FrontDouble = t.judgeVendor(filepath.Join(dir, "contracts"), &undo)
	}
	if t.Mode == "production" {
		var doubles *app.Doubles
		if t.Judge {
			app.FrontCallbacks = t.judgeCallbacks(filepath.Join(dir, "contracts"), &undo)
		}
		if m, doubles, err = app.RunAgainstDoubles(ctx, vars, filepath.Join(dir, "doubles"), logger); err != nil {
			return fail(fmt.Errorf("start the product against the contract doubles: %w", err))
		}
		undo = append(undo, func() error { doubles.Close(); return nil })
		maps.Copy(vars, doubles.Env)
		t.Behind["callbacks"] = "the product, reached by its public URL " + m.Config.PublicURL + " (a contract proxy) from the doubles"
		t.TwilioURL = doubles.Env["TWILIO_BASE_URL"]
		t.MailKind, t.MailURL = "sendgrid", doubles.Env["SENDGRID_BASE_URL"]
	} else {
		cfg, err := config.Load(config.Lookup(vars, func(string) (string, bool) { return "", false }))
		if err != nil {
			return fail(err)
		}
		m = &app.Main{Config: cfg, Logger: logger}
		if err := m.Run(ctx); err != nil {
			m.Close()
			return fail(fmt.Errorf("start the product: %w", err))
		}
	}
	undo = append(undo, m.Discard)
	t.URL, t.InProcess = m.URL(), true
	t.EgressLog = m.Config.EgressLog
	if t.EgressLog == "" {
		t.EgressLog = filepath.Join(m.Config.DataDir, "egress.jsonl")
	}
	// The suite's admin is made the way an operator makes one (reos users
	// create): production seeds no users.
	t.AdminEmail, t.AdminPassword = "suite-admin-"+key+"@example.com", rand.Text()
	if _, _, err := m.CreateUser(ctx, t.AdminEmail, system.RoleAdmin, t.AdminPassword); err != nil {
		return fail(err)
	}
	t.Config = evidence.RedactConfig(vars)
	delete(t.Config, "SENDGRID_WEBHOOK_PUBLIC_KEY")
	t.Config["WEBHOOK_SECRETS"] = evidence.Redacted
	return stop, nil
}

// Refused returns the product's egress log lines written since offset
// (every one a connection the guard refused), and the new offset.
func (t *Target) Refused(offset int64) ([]string, int64) {
	if t.EgressLog == "" {
		return nil, 0
	}
	f, err := os.Open(t.EgressLog)
	if err != nil {
		return nil, 0
	}
	defer f.Close()
	f.Seek(offset, io.SeekStart)
	b, _ := io.ReadAll(f)
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(l) != "" {
			lines = append(lines, l)
		}
	}
	return lines, offset + int64(len(b))
}

// Vendors are the providers the mode's sends and storage go through, by
// role: the stand-ins in mock mode, the vendors' clients in production
// (pdf and llm may be either in both modes, as configured).
func (t *Target) Vendors() map[string]string {
	if t.Mode == "production" {
		return map[string]string{"email": "sendgrid", "sms": "twilio", "storage": "s3"}
	}
	return map[string]string{"email": "mailpit-smtp", "sms": "mock-twilio", "storage": "s3-local"}
}

// Report appends l to the progress file (REOS_PROGRESS), when there is one.
func (t *Target) Report(l progress.Line) error {
	if t.Progress == "" {
		return nil
	}
	return progress.Append(t.Progress, l)
}
