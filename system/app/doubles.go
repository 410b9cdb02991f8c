package app

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"path/filepath"
	"time"

	mockgotenberg "github.com/real-estate-os/reos/mocks/gotenberg"
	mockopenai "github.com/real-estate-os/reos/mocks/openai"
	mocks3 "github.com/real-estate-os/reos/mocks/s3"
	mocksendgrid "github.com/real-estate-os/reos/mocks/sendgrid"
	"github.com/real-estate-os/reos/system/config"
	"github.com/real-estate-os/reos/system/mocktwilio"
)

// Doubles are local stand-ins for every production vendor — Twilio,
// SendGrid, S3, OpenAI and Gotenberg — each speaking its vendor's protocol
// on loopback. A contract run starts the product in production mode with
// Env, so the same clients that talk to the vendors talk to them.
type Doubles struct {
	// Env is the production configuration that points at the doubles,
	// credentials included (fresh ones for every start).
	Env map[string]string
	// Direct are the doubles' own URLs, by setting, where Env points at a
	// front (FrontDouble): the operator's set-up calls go there.
	Direct   map[string]string
	Twilio   *mocktwilio.Server
	SendGrid *mocksendgrid.Server

	closers []func()
}

// FrontDouble, when set, stands in front of each vendor's stand-in (twilio,
// sendgrid, openai, s3, gotenberg; in mock mode the in-process mock Twilio,
// S3 and OpenAI too): the product's client is
// pointed at the handler it returns, which forwards to the double at
// upstream. The suite sets it to judge every exchange against the vendor's
// contract (package contract).
var FrontDouble func(vendor, upstream string) (http.Handler, error)

// FrontCallbacks, when set, stands before the product for the doubles'
// callbacks (status callbacks, inbound texts, SendGrid's events): given
// the doubles' configuration, it returns the URL the product is to give
// the vendors (its public URL) and a function that points that front at
// the product once it listens.
var FrontCallbacks func(doubles map[string]string) (publicURL string, upstream func(productURL string), err error)

// frontedBy names the vendor behind each base URL setting that a
// contract-judging front may stand before.
var frontedBy = map[string]string{"TWILIO_BASE_URL": "twilio", "SENDGRID_BASE_URL": "sendgrid", "OPENAI_BASE_URL": "openai",
	"S3_ENDPOINT": "s3", "GOTENBERG_URL": "gotenberg"}

// StartDoubles starts the doubles, keeping what needs files under dir.
func StartDoubles(dir string, now func() time.Time) (*Doubles, error) {
	secret := func(n int) string {
		b := make([]byte, n)
		rand.Read(b)
		return hex.EncodeToString(b)
	}
	d := &Doubles{Env: map[string]string{
		"APP_MODE": "production", "JWT_SECRET": secret(32),
		"TWILIO_ACCOUNT_SID": "AC" + secret(16), "TWILIO_AUTH_TOKEN": secret(16), "TWILIO_FROM_NUMBER": mocktwilio.MagicFrom,
		"SENDGRID_API_KEY": "SG." + secret(16), "S3_ACCESS_KEY_ID": "contract-run", "S3_SECRET_ACCESS_KEY": secret(16),
		"FEATURE_EXTERNAL_SENDS": "true", "FEATURE_USE_LLM": "true", "OPENAI_API_KEY": "sk-" + secret(16), "OPENAI_MODEL": "gpt-4o-mini",
	}}
	d.Direct = map[string]string{}
	serve := func(env string, h http.Handler, suffix string) error {
		u, direct, stop, err := serveStandIn(frontedBy[env], h)
		if err != nil {
			return err
		}
		d.closers = append(d.closers, stop)
		d.Env[env], d.Direct[env] = u+suffix, direct+suffix
		return nil
	}
	fail := func(err error) (*Doubles, error) { d.Close(); return nil, err }

	twilio, err := mocktwilio.New(mocktwilio.Config{AccountSID: d.Env["TWILIO_ACCOUNT_SID"], AuthToken: d.Env["TWILIO_AUTH_TOKEN"],
		Numbers: []string{mocktwilio.MagicFrom}, DataDir: filepath.Join(dir, "twilio"), Now: now})
	if err != nil {
		return fail(err)
	}
	d.Twilio = twilio
	d.closers = append(d.closers, func() { twilio.Close() })
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fail(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	d.Env["SENDGRID_WEBHOOK_PUBLIC_KEY"] = base64.StdEncoding.EncodeToString(der)
	d.SendGrid = mocksendgrid.New(mocksendgrid.Config{APIKey: d.Env["SENDGRID_API_KEY"], SigningKey: key, Now: now})
	d.closers = append(d.closers, d.SendGrid.Close)
	store, err := mocks3.New(mocks3.Config{Dir: filepath.Join(dir, "s3"), AccessKeys: map[string]string{d.Env["S3_ACCESS_KEY_ID"]: d.Env["S3_SECRET_ACCESS_KEY"]}})
	if err != nil {
		return fail(err)
	}
	err = errors.Join(
		serve("TWILIO_BASE_URL", twilio, ""),
		serve("SENDGRID_BASE_URL", d.SendGrid, ""),
		serve("S3_ENDPOINT", store, ""),
		serve("OPENAI_BASE_URL", mockopenai.New(mockopenai.Config{APIKey: d.Env["OPENAI_API_KEY"], Models: []string{d.Env["OPENAI_MODEL"]}, Now: now}), "/v1"),
		serve("GOTENBERG_URL", mockgotenberg.New(), ""),
	)
	if err != nil {
		return fail(err)
	}
	return d, nil
}

// Attach points the doubles' callbacks at the product running at url:
// Twilio's inbound messages, and SendGrid's events — configured through
// SendGrid's Event Webhook settings API, as an operator configures SendGrid
// (url and enabled, then signing on, then the public key read back).
func (d *Doubles) Attach(url string) error {
	d.Twilio.SetInboundURL(url + "/api/v1/webhooks/twilio/inbound")
	base := d.Direct["SENDGRID_BASE_URL"] + "/v3/user/webhooks/event/settings"
	call := func(method, u string, body any, out any) error {
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, err := http.NewRequest(method, u, rd)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+d.Env["SENDGRID_API_KEY"])
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer res.Body.Close()
		if res.StatusCode != http.StatusOK {
			msg, _ := io.ReadAll(io.LimitReader(res.Body, 512))
			return fmt.Errorf("sendgrid double: %s %s: %d %s", method, u, res.StatusCode, msg)
		}
		if out != nil {
			return json.NewDecoder(res.Body).Decode(out)
		}
		return nil
	}
	var signed struct {
		PublicKey string `json:"public_key"`
	}
	err := errors.Join(
		call(http.MethodPatch, base, map[string]any{"enabled": true, "url": url + "/api/v1/webhooks/sendgrid/events", "processed": true, "delivered": true}, nil),
		call(http.MethodPatch, base+"/signed", map[string]bool{"enabled": true}, nil),
		call(http.MethodGet, base+"/signed", nil, &signed),
	)
	if err == nil && signed.PublicKey != d.Env["SENDGRID_WEBHOOK_PUBLIC_KEY"] {
		err = errors.New("sendgrid double: the signed webhook's public key is not SENDGRID_WEBHOOK_PUBLIC_KEY")
	}
	return err
}

// Close stops the doubles, last started first.
func (d *Doubles) Close() {
	for i := len(d.closers) - 1; i >= 0; i-- {
		d.closers[i]()
	}
	d.closers = nil
}

// RunAgainstDoubles starts the doubles (their files under dir) and runs the
// product in production mode on vars with the doubles' configuration on
// top, the doubles attached to it: a contract run. On success the caller
// closes the product, then the doubles.
func RunAgainstDoubles(ctx context.Context, vars map[string]string, dir string, logger *slog.Logger) (*Main, *Doubles, error) {
	d, err := StartDoubles(dir, time.Now)
	if err != nil {
		return nil, nil, err
	}
	all := maps.Clone(vars)
	maps.Copy(all, d.Env)
	var upstream func(string)
	if FrontCallbacks != nil {
		public, up, err := FrontCallbacks(d.Env)
		if err != nil {
			d.Close()
			return nil, nil, err
		}
		all["REOS_PUBLIC_URL"], upstream = public, up
	}
	cfg, err := config.Load(config.Lookup(all, func(string) (string, bool) { return "", false }))
	if err != nil {
		d.Close()
		return nil, nil, err
	}
	m := &Main{Config: cfg, Logger: logger}
	if err := m.Run(ctx); err == nil {
		callbacks := m.URL()
		if upstream != nil {
			upstream(m.URL())
			callbacks = cfg.PublicURL
		}
		err = d.Attach(callbacks)
	}
	if err != nil {
		m.Close()
		d.Close()
		return nil, nil, err
	}
	return m, d, nil
}
