package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/real-estate-os/reos/system"
	"github.com/real-estate-os/reos/system/app"
	"github.com/real-estate-os/reos/system/config"
)

// contractRun starts a second stack in production mode, with every vendor
// replaced by its double on loopback (app.StartDoubles), on a database of
// its own beside base's, and checks that memos, SMS and email go end to
// end through the production clients.
func contractRun(ctx context.Context, base *app.Main, out io.Writer, c *checker) {
	m, doubles, err := startContractRun(ctx, base)
	if err != nil {
		c.check("a production-mode stack against the contract doubles starts", func() error { return err })
		return
	}
	defer doubles.Close()
	defer func() { m.Close(); m.Teardown() }()
	fmt.Fprintf(out, "reos green: production mode against contract doubles, stack started at %s\n", m.URL())
	p := &checker{client: newClient(m.URL()), out: out}
	defer func() { c.total, c.failed = c.total+p.total, c.failed+p.failed }()

	p.check("GET /api/v1/status/providers?verbose=1 finds sendgrid, twilio, s3, gotenberg and openai reachable", func() error {
		var got struct {
			AppMode string `json:"app_mode"`
			Health  map[string]struct {
				Provider  string `json:"provider"`
				Reachable bool   `json:"reachable"`
				Error     string `json:"error"`
			} `json:"health"`
		}
		if err := p.do("GET", "/api/v1/status/providers?verbose=1", nil, &got); err != nil {
			return err
		}
		var bad []string
		for role, want := range map[string]string{"email": "sendgrid", "sms": "twilio", "storage": "s3", "pdf": "gotenberg", "llm": "openai"} {
			if h := got.Health[role]; got.AppMode != "production" || h.Provider != want || !h.Reachable {
				bad = append(bad, fmt.Sprintf("%s: %s reachable=%v %s", role, h.Provider, h.Reachable, h.Error))
			}
		}
		if len(bad) > 0 {
			return fmt.Errorf("%v", bad)
		}
		return nil
	})
	p.check("POST /api/v1/auth/login as an admin made by `reos users create` (production seeds no demo users)", func() error {
		email, password := "green-"+strings.ToLower(rand.Text()[:8])+"@example.com", rand.Text()
		if _, _, err := m.CreateUser(ctx, email, system.RoleAdmin, password); err != nil {
			return err
		}
		return p.login(email, password)
	})
	propertyID := 0
	p.check("POST /api/v1/properties creates the run's property (production seeds no demo properties)", func() error {
		var created struct {
			ID int `json:"id"`
		}
		if err := p.do("POST", "/api/v1/properties", map[string]any{"address": "1 Contract Run Way", "city": "Austin", "state": "TX",
			"zip": "78701", "owner_name": "Casey Contract", "owner_phone": "+12055550129", "owner_email": "owner@example.com",
			"list_price_cents": 25000000, "arv_cents": 32000000, "rehab_cents": 3000000, "monthly_rent_cents": 210000,
			"cap_rate_bps": 650, "tags": []string{"contract-run"}, "listed_on": "2026-01-15"}, &created); err != nil {
			return err
		}
		propertyID = created.ID
		return nil
	})
	p.check("a memo for that property: text from the OpenAI double, printed by the Gotenberg double, fetched from S3", func() error {
		var job struct {
			ID      string `json:"job_id"`
			Status  string `json:"status"`
			Error   string `json:"error"`
			MemoURL string `json:"memo_url"`
		}
		if err := p.do("POST", "/api/v1/jobs/memo/generate", map[string]int{"property_id": propertyID}, &job); err != nil {
			return err
		}
		if err := waitFor(func() (bool, error) {
			err := p.do("GET", "/api/v1/jobs/"+job.ID, nil, &job)
			return job.Status == "done" || job.Status == "failed", err
		}); err != nil {
			return err
		}
		if job.Status != "done" {
			return fmt.Errorf("job %s: %s", job.Status, job.Error)
		}
		res, err := p.http.Get(job.MemoURL)
		if err != nil {
			return err
		}
		defer res.Body.Close()
		pdf, _ := io.ReadAll(res.Body)
		if !bytes.Contains(pdf, []byte("Gotenberg double")) || !bytes.Contains(pdf, []byte("OpenAI contract double")) {
			return fmt.Errorf("the memo (%d bytes) is not the doubles' work", len(pdf))
		}
		return nil
	})
	p.check("POST /api/v1/communications/sms reaches delivered through Twilio's signed callbacks", func() error {
		return greenSMS(p, propertyID)
	})
	p.check("POST /api/v1/communications/email-thread reaches delivered through SendGrid's signed events", func() error {
		var sent struct {
			Message struct {
				ID string `json:"id"`
			} `json:"message"`
		}
		if err := p.do("POST", "/api/v1/communications/email-thread", map[string]any{"property_id": propertyID, "to_address": "owner@example.com",
			"subject": "reos green", "body": "A contract-run email."}, &sent); err != nil {
			return err
		}
		return waitStatus(p, propertyID, sent.Message.ID, "delivered")
	})
	p.check("no provider tried to connect off the machine (egress log)", func() error {
		n, err := refusedSince(m, 0)
		if err != nil || n == 0 {
			return err
		}
		return fmt.Errorf("%d refused attempts recorded", n)
	})
}

// startContractRun starts the doubles and a production stack on them.
func startContractRun(ctx context.Context, base *app.Main) (*app.Main, *app.Doubles, error) {
	dir := filepath.Join(base.Config.DataDir, "contract-run")
	doubles, err := app.StartDoubles(filepath.Join(dir, "doubles"), time.Now)
	if err != nil {
		return nil, nil, err
	}
	u, err := url.Parse(base.DatabaseURL)
	if err != nil {
		doubles.Close()
		return nil, nil, err
	}
	u.Path += "_contract_run"
	if err := app.EnsureDatabase(ctx, u.String()); err != nil {
		doubles.Close()
		return nil, nil, fmt.Errorf("the contract run needs a database of its own, %s (create it, or let the role create databases): %w", strings.TrimPrefix(u.Path, "/"), err)
	}
	vars := map[string]string{"DATABASE_URL": u.String(), "REDIS_URL": base.Config.RedisURL, "AMQP_URL": base.Config.AMQPURL,
		"QUEUE_PREFIX": base.Config.QueuePrefix + "-contract-run", "REOS_DATA_DIR": dir, "REOS_ADDR": "127.0.0.1:0",
		"REOS_PUBLIC_URL": "http://127.0.0.1:0", "EMAIL_FROM": base.Config.EmailFrom, "MAILPIT_BIN": base.Config.MailpitBin}
	for k, v := range doubles.Env {
		vars[k] = v
	}
	cfg, err := config.Load(config.Lookup(vars, func(string) (string, bool) { return "", false }))
	if err != nil {
		doubles.Close()
		return nil, nil, err
	}
	m := &app.Main{Config: cfg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := m.Run(ctx); err != nil {
		m.Close()
		doubles.Close()
		return nil, nil, err
	}
	if err := doubles.Attach(m.URL()); err != nil {
		m.Close()
		doubles.Close()
		return nil, nil, err
	}
	return m, doubles, nil
}
