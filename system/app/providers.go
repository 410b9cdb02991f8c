package app

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/real-estate-os/reos/mocks/mailpit"
	mockopenai "github.com/real-estate-os/reos/mocks/openai"
	mocks3 "github.com/real-estate-os/reos/mocks/s3"
	"github.com/real-estate-os/reos/system"
	"github.com/real-estate-os/reos/system/api"
	"github.com/real-estate-os/reos/system/config"
	"github.com/real-estate-os/reos/system/egress"
	"github.com/real-estate-os/reos/system/mocktwilio"
	"github.com/real-estate-os/reos/system/provider/gotenberg"
	"github.com/real-estate-os/reos/system/provider/openai"
	"github.com/real-estate-os/reos/system/provider/pdf"
	"github.com/real-estate-os/reos/system/provider/s3"
	"github.com/real-estate-os/reos/system/provider/sendgrid"
	"github.com/real-estate-os/reos/system/provider/smtp"
	"github.com/real-estate-os/reos/system/provider/templates"
	"github.com/real-estate-os/reos/system/provider/twilio"
)

// Providers are the vendor implementations the mode picked, and the local
// stand-ins started for them in mock mode.
type Providers struct {
	Guard  *egress.Guard
	Mailer system.Mailer
	SMS    *twilio.Client
	Store  *s3.Store
	PDF    system.PDFRenderer
	Writer system.Writer

	// MockTwilio is the in-process mock Twilio, when reos started one.
	MockTwilio *mocktwilio.Server
	// MailpitURL is the API of the Mailpit reos started, if any.
	MailpitURL string
	// SendGridKey verifies SendGrid's signed event webhook.
	SendGridKey *ecdsa.PublicKey

	checks  []api.ProviderCheck
	closers []func() error
	discard bool // Close need not keep what the stand-ins hold (Main.Discard)
}

func (p *Providers) onClose(fn func() error) { p.closers = append(p.closers, fn) }

// Close stops the local stand-ins, last started first.
func (p *Providers) Close() error {
	var errs []error
	for i := len(p.closers) - 1; i >= 0; i-- {
		errs = append(errs, p.closers[i]())
	}
	p.closers = nil
	return errors.Join(errs...)
}

// openProviders builds every provider for the configured mode, starting
// the mock-mode stand-ins that are not configured elsewhere.
func (m *Main) openProviders(ctx context.Context) (*Providers, error) {
	c := m.Config
	names := c.Providers()
	p := &Providers{}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	if c.SendGridWebhookKey != "" {
		key, err := sendgrid.ParsePublicKey(c.SendGridWebhookKey)
		if err != nil {
			return nil, fmt.Errorf("SENDGRID_WEBHOOK_PUBLIC_KEY: %w", err)
		}
		p.SendGridKey = key
	}

	// Every outbound connection goes through the guard.
	logPath := c.EgressLog
	if logPath == "" {
		logPath = filepath.Join(c.DataDir, "egress.jsonl")
	}
	sink, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("egress log: %w", err)
	}
	p.onClose(sink.Close)
	p.Guard = &egress.Guard{Allow: c.EgressAllow, Sink: sink, Now: m.Now}
	if c.Mode == config.ModeProduction {
		for _, u := range []string{c.TwilioBaseURL, "https://api.twilio.com", c.SendGridBaseURL, c.S3Endpoint, c.OpenAIBaseURL} {
			if parsed, err := url.Parse(u); err == nil && parsed.Hostname() != "" {
				p.Guard.Allow = append(p.Guard.Allow, parsed.Hostname())
			}
		}
	}

	fail := func(err error) (*Providers, error) { p.Close(); return nil, err }
	if err := m.openMail(ctx, p, names.Email); err != nil {
		return fail(err)
	}
	if err := m.openSMS(p, names.SMS); err != nil {
		return fail(err)
	}
	if err := m.openStore(ctx, p, names.Storage); err != nil {
		return fail(err)
	}
	if err := m.openWriter(p, names.LLM); err != nil {
		return fail(err)
	}
	m.openRenderer(p, names.PDF)
	return p, nil
}

// openRenderer picks the PDF renderer: native, or Gotenberg at
// GOTENBERG_URL.
func (m *Main) openRenderer(p *Providers, name string) {
	if m.Config.GotenbergURL == "" {
		p.PDF = pdf.Renderer{}
		p.checks = append(p.checks, api.ProviderCheck{Role: "pdf", Name: name, Check: pdf.Renderer{}.Check})
		return
	}
	g := &gotenberg.Client{BaseURL: m.Config.GotenbergURL, HTTP: p.Guard.HTTPClient(name, 60*time.Second)}
	p.PDF = g
	p.checks = append(p.checks, api.ProviderCheck{Role: "pdf", Name: name, Check: g.Check})
}

// openWriter picks the memo writer: the deterministic templates, or with
// FEATURE_USE_LLM=true OpenAI's chat completions — in mock mode served by
// the in-process contract double, so nothing leaves the machine.
func (m *Main) openWriter(p *Providers, name string) error {
	c := m.Config
	if !c.Features.UseLLM {
		p.Writer = templates.Writer{}
		p.checks = append(p.checks, api.ProviderCheck{Role: "llm", Name: name, Check: templates.Writer{}.Check})
		return nil
	}
	client := &openai.Client{BaseURL: c.OpenAIBaseURL, APIKey: c.OpenAIAPIKey, Model: c.OpenAIModel, HTTP: p.Guard.HTTPClient(name, 60*time.Second)}
	endpoint := ""
	if c.Mode == config.ModeMock {
		client.APIKey = "sk-reos-mock"
		u, _, closeServer, err := serveStandIn("openai", mockopenai.New(mockopenai.Config{APIKey: client.APIKey, Models: []string{c.OpenAIModel}, Now: m.Now}))
		if err != nil {
			return err
		}
		p.onClose(func() error { closeServer(); return nil })
		client.BaseURL, endpoint = u+"/v1", u+"/v1"
	}
	p.Writer = client
	p.checks = append(p.checks, api.ProviderCheck{Role: "llm", Name: name, Endpoint: endpoint, Check: client.Check})
	return nil
}

func (m *Main) openMail(ctx context.Context, p *Providers, name string) error {
	c := m.Config
	if c.Mode == config.ModeProduction {
		from, err := mail.ParseAddress(c.EmailFrom)
		if err != nil {
			return fmt.Errorf("EMAIL_FROM %q: %w", c.EmailFrom, err)
		}
		client := &sendgrid.Client{BaseURL: c.SendGridBaseURL, APIKey: c.SendGridAPIKey, From: from.Address,
			Sandbox: c.Sends() == config.SendsSandbox, HTTP: p.Guard.HTTPClient(name, 15*time.Second)}
		p.Mailer = client
		p.checks = append(p.checks, api.ProviderCheck{Role: "email", Name: name, Check: client.Check})
		return nil
	}
	addr, endpoint := "", ""
	if c.SMTPURL != "" {
		u, _ := url.Parse(c.SMTPURL)
		addr = u.Host
	} else {
		mp, err := mailpit.Start(ctx, c.MailpitBin, filepath.Join(c.DataDir, "mailpit"))
		if err != nil {
			return err
		}
		p.onClose(func() error {
			if p.discard {
				return mp.Kill()
			}
			return mp.Close()
		})
		addr, endpoint, p.MailpitURL = mp.SMTPAddr, mp.APIURL, mp.APIURL
	}
	mailer := &smtp.Mailer{Addr: addr, Dial: p.Guard.DialContext(name), Now: m.Now}
	p.Mailer = mailer
	p.checks = append(p.checks, api.ProviderCheck{Role: "email", Name: name, Endpoint: endpoint, Check: mailer.Check})
	return nil
}

func (m *Main) openSMS(p *Providers, name string) error {
	c := m.Config
	client := &twilio.Client{BaseURL: c.TwilioBaseURL, AccountSID: c.TwilioAccountSID, AuthToken: c.TwilioAuthToken,
		From: c.TwilioFromNumber, HTTP: p.Guard.HTTPClient(name, 15*time.Second)}
	endpoint := ""
	if c.Mode == config.ModeMock {
		if client.From == "" {
			client.From = mocktwilio.MagicFrom
		}
		if client.AccountSID == "" || client.AuthToken == "" {
			sid, token, err := mockTwilioCredentials(c.DataDir)
			if err != nil {
				return err
			}
			client.AccountSID, client.AuthToken = sid, token
		}
		if client.BaseURL == "" {
			mock, err := mocktwilio.New(mocktwilio.Config{
				AccountSID: client.AccountSID, AuthToken: client.AuthToken, Numbers: []string{client.From},
				DataDir: filepath.Join(c.DataDir, "mocktwilio"), HTTP: p.Guard.HTTPClient("mock-twilio-callbacks", 10*time.Second),
				Now: m.Now, Logger: m.Logger,
			})
			if err != nil {
				return err
			}
			u, _, closeServer, err := serveStandIn("twilio", mock)
			if err != nil {
				mock.Close()
				return err
			}
			p.onClose(func() error { closeServer(); return mock.Close() })
			p.MockTwilio, client.BaseURL = mock, u
		}
		endpoint = client.BaseURL
	}
	if client.BaseURL == "" {
		client.BaseURL = "https://api.twilio.com"
	}
	p.SMS = client
	p.checks = append(p.checks, api.ProviderCheck{Role: "sms", Name: name, Endpoint: endpoint, Check: client.Check})
	return nil
}

func (m *Main) openStore(ctx context.Context, p *Providers, name string) error {
	c := m.Config
	cfg := s3.Config{Endpoint: c.S3Endpoint, AccessKeyID: c.S3AccessKeyID, SecretAccessKey: c.S3SecretAccessKey,
		Bucket: c.S3Bucket, Region: c.S3Region,
		Transport: p.Guard.HTTPClient(name, 0).Transport}
	endpoint := ""
	if c.Mode == config.ModeMock {
		if cfg.AccessKeyID == "" {
			cfg.AccessKeyID, cfg.SecretAccessKey = "reos-local", "reos-local-secret"
		}
		if cfg.Endpoint == "" {
			// S3's clock is the real one, like S3's, whatever clock the
			// product is given: the signer (minio-go) signs with it too.
			srv, err := mocks3.New(mocks3.Config{Dir: filepath.Join(c.DataDir, "s3"), AccessKeys: map[string]string{cfg.AccessKeyID: cfg.SecretAccessKey}})
			if err != nil {
				return err
			}
			u, _, closeServer, err := serveStandIn("s3", srv)
			if err != nil {
				return err
			}
			p.onClose(func() error { closeServer(); return nil })
			cfg.Endpoint = u
		}
		endpoint = cfg.Endpoint
	}
	store, err := s3.New(cfg)
	if err != nil {
		return err
	}
	if c.Mode == config.ModeMock {
		if err := store.EnsureBucket(ctx); err != nil {
			return err
		}
	} else {
		// A vendor that is slow to answer must not hold up the start; the
		// verbose status and the memo jobs report what is wrong.
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := store.EnsureBucket(ctx); err != nil {
				m.Logger.Warn("the memo bucket is not reachable", "bucket", c.S3Bucket, "err", err)
			}
		}()
	}
	p.Store = store
	p.checks = append(p.checks, api.ProviderCheck{Role: "storage", Name: name, Endpoint: endpoint, Check: store.Check})
	return nil
}

// serveLoopback serves h on a free loopback port.
// serveStandIn serves a vendor's stand-in on loopback and returns the URL
// the product is to use (the stand-in's own, or that of the front
// FrontDouble puts before it), and the stand-in's own.
func serveStandIn(vendor string, h http.Handler) (use, direct string, stop func(), err error) {
	direct, stop, err = serveLoopback(h)
	if err != nil || FrontDouble == nil || vendor == "" {
		return direct, direct, stop, err
	}
	front, err := FrontDouble(vendor, direct)
	if err != nil {
		stop()
		return "", "", nil, err
	}
	use, fstop, err := serveLoopback(front)
	if err != nil {
		stop()
		return "", "", nil, err
	}
	standIn := stop // not the named result, which is the function returned
	return use, direct, func() { fstop(); standIn() }, nil
}

func serveLoopback(h http.Handler) (string, func(), error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := api.HTTPServer(h, nil)
	go srv.Serve(l)
	return "http://" + l.Addr().String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}, nil
}

// mockTwilioCredentials returns the mock Twilio's credentials, generated on
// first start and kept in the data directory like the JWT secret.
func mockTwilioCredentials(dataDir string) (sid, token string, err error) {
	var creds struct {
		AccountSID string `json:"account_sid"`
		AuthToken  string `json:"auth_token"`
	}
	raw := make([]byte, 32)
	rand.Read(raw)
	creds.AccountSID, creds.AuthToken = "AC"+hex.EncodeToString(raw[:16]), hex.EncodeToString(raw[16:])
	fresh, _ := json.Marshal(creds)
	b, err := keepOnce(filepath.Join(dataDir, "mocktwilio-credentials.json"), fresh)
	if err != nil {
		return "", "", err
	}
	if err := json.Unmarshal(b, &creds); err != nil {
		return "", "", fmt.Errorf("mock twilio credentials: %w", err)
	}
	return creds.AccountSID, creds.AuthToken, nil
}
