package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	mockgotenberg "github.com/real-estate-os/reos/mocks/gotenberg"
	mockopenai "github.com/real-estate-os/reos/mocks/openai"
	mocks3 "github.com/real-estate-os/reos/mocks/s3"
	mocksendgrid "github.com/real-estate-os/reos/mocks/sendgrid"
	"github.com/real-estate-os/reos/system/api"
	"github.com/real-estate-os/reos/system/egress"
	"github.com/real-estate-os/reos/system/mocktwilio"
)

// mockFlag is a flag of `reos mock …` with its environment variable.
type mockFlag struct{ name, env, def, usage string }

var mockServices = map[string]struct {
	summary string
	flags   []mockFlag
	handler func(v map[string]string, logger *slog.Logger) (http.Handler, func() error, error)
}{
	"twilio": {
		summary: "serve the mock Twilio (Messages API, signed callbacks, inbound, /mock controls)",
		flags: []mockFlag{
			{"addr", "MOCK_TWILIO_ADDR", "127.0.0.1:8081", "host:port to listen on"},
			{"data", "MOCK_TWILIO_DATA", ".reos/mocktwilio", "directory that keeps one JSON file per message"},
			{"account-sid", "TWILIO_ACCOUNT_SID", "", "the AccountSid it accepts (AC + 32 hex digits; required)"},
			{"auth-token", "TWILIO_AUTH_TOKEN", "", "the auth token it accepts and signs callbacks with (required)"},
			{"from", "TWILIO_FROM_NUMBER", mocktwilio.MagicFrom, "a sender number the account owns"},
			{"inbound-url", "MOCK_TWILIO_INBOUND_URL", "", "where inbound messages are posted (the product's /api/v1/webhooks/twilio/inbound)"},
			{"allow-hosts", "EGRESS_ALLOW_HOSTS", "", "hosts callbacks may reach besides loopback (comma-separated)"},
		},
		handler: func(v map[string]string, logger *slog.Logger) (http.Handler, func() error, error) {
			if v["account-sid"] == "" || v["auth-token"] == "" {
				return nil, nil, errors.New("set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN (or --account-sid and --auth-token): the credentials the mock accepts")
			}
			guard := &egress.Guard{Allow: splitList(v["allow-hosts"]), Sink: os.Stderr}
			s, err := mocktwilio.New(mocktwilio.Config{AccountSID: v["account-sid"], AuthToken: v["auth-token"], Numbers: []string{v["from"]},
				DataDir: v["data"], InboundURL: v["inbound-url"], HTTP: guard.HTTPClient("mock-twilio-callbacks", 10*time.Second), Logger: logger})
			if err != nil {
				return nil, nil, err
			}
			return s, s.Close, nil
		},
	},
	"sendgrid": {
		summary: "serve a contract double of SendGrid's Mail Send API (and its signed event webhook)",
		flags: []mockFlag{
			{"addr", "MOCK_SENDGRID_ADDR", "127.0.0.1:8082", "host:port to listen on"},
			{"api-key", "SENDGRID_API_KEY", "", "the API key it accepts (required)"},
			{"events-url", "MOCK_SENDGRID_EVENTS_URL", "", "where signed events are posted (the product's /api/v1/webhooks/sendgrid/events)"},
			{"signing-key", "MOCK_SENDGRID_SIGNING_KEY", "", "base64 PKCS #8 P-256 key that signs events; a new one when empty (its public half is printed)"},
			{"allow-hosts", "EGRESS_ALLOW_HOSTS", "", "hosts events may reach besides loopback (comma-separated)"},
		},
		handler: func(v map[string]string, logger *slog.Logger) (http.Handler, func() error, error) {
			if v["api-key"] == "" {
				return nil, nil, errors.New("set SENDGRID_API_KEY (or --api-key): the key the double accepts")
			}
			key, err := signingKey(v["signing-key"])
			if err != nil {
				return nil, nil, err
			}
			pub, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
			logger.Info("events are signed; give the product this key", "SENDGRID_WEBHOOK_PUBLIC_KEY", base64.StdEncoding.EncodeToString(pub))
			guard := &egress.Guard{Allow: splitList(v["allow-hosts"]), Sink: os.Stderr}
			s := mocksendgrid.New(mocksendgrid.Config{APIKey: v["api-key"], SigningKey: key,
				HTTP: guard.HTTPClient("mock-sendgrid-events", 10*time.Second), Logger: logger})
			s.SetEventsURL(v["events-url"])
			return s, func() error { s.Close(); return nil }, nil
		},
	},
	"openai": {
		summary: "serve a contract double of OpenAI's Chat Completions API (deterministic answers)",
		flags: []mockFlag{
			{"addr", "MOCK_OPENAI_ADDR", "127.0.0.1:8083", "host:port to listen on (the API is under /v1)"},
			{"api-key", "OPENAI_API_KEY", "", "the API key it accepts (required)"},
			{"models", "OPENAI_MODEL", "gpt-4o-mini", "the models it knows (comma-separated)"},
		},
		handler: func(v map[string]string, _ *slog.Logger) (http.Handler, func() error, error) {
			if v["api-key"] == "" {
				return nil, nil, errors.New("set OPENAI_API_KEY (or --api-key): the key the double accepts")
			}
			return mockopenai.New(mockopenai.Config{APIKey: v["api-key"], Models: splitList(v["models"])}), func() error { return nil }, nil
		},
	},
	"gotenberg": {
		summary: "serve a double of Gotenberg's HTML route (a real PDF of the page's text)",
		flags: []mockFlag{
			{"addr", "MOCK_GOTENBERG_ADDR", "127.0.0.1:3000", "host:port to listen on"},
		},
		handler: func(map[string]string, *slog.Logger) (http.Handler, func() error, error) {
			return mockgotenberg.New(), func() error { return nil }, nil
		},
	},
	"s3": {
		summary: "serve the S3 API from a directory (buckets and objects as files)",
		flags: []mockFlag{
			{"addr", "MOCK_S3_ADDR", "127.0.0.1:9000", "host:port to listen on"},
			{"data", "MOCK_S3_DATA", ".reos/s3", "directory that keeps the buckets"},
			{"access-key", "S3_ACCESS_KEY_ID", "reos-local", "the access key id requests must be signed with (AWS Signature V4)"},
			{"secret-key", "S3_SECRET_ACCESS_KEY", "reos-local-secret", "its secret key"},
		},
		handler: func(v map[string]string, _ *slog.Logger) (http.Handler, func() error, error) {
			h, err := mocks3.New(mocks3.Config{Dir: v["data"], AccessKeys: map[string]string{v["access-key"]: v["secret-key"]}})
			return h, func() error { return nil }, err
		},
	},
}

// signingKey reads a base64 PKCS #8 P-256 private key, or makes one.
func signingKey(b64 string) (*ecdsa.PrivateKey, error) {
	if b64 == "" {
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	der, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("signing key: not base64: %w", err)
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if ec, ok := k.(*ecdsa.PrivateKey); err == nil && ok && ec.Curve == elliptic.P256() {
		return ec, nil
	}
	return nil, errors.New("signing key: not a PKCS #8 P-256 private key")
}

// splitList splits a comma-separated list, trimmed and lower-cased.
func splitList(v string) []string {
	var out []string
	for _, h := range strings.Split(v, ",") {
		if h = strings.TrimSpace(h); h != "" {
			out = append(out, strings.ToLower(h))
		}
	}
	return out
}

// runMock serves one stand-in until ctx ends.
func runMock(ctx context.Context, args []string, env func(string) (string, bool), stdout, stderr io.Writer) int {
	if len(args) == 0 || mockServices[args[0]].handler == nil {
		fmt.Fprintln(stderr, "Usage: reos mock twilio|sendgrid|openai|gotenberg|s3 [flags]")
		for _, name := range []string{"twilio", "sendgrid", "openai", "gotenberg", "s3"} {
			fmt.Fprintf(stderr, "  %-9s %s\n", name, mockServices[name].summary)
		}
		return 2
	}
	svc := mockServices[args[0]]
	fs := flag.NewFlagSet("reos mock "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	vals := map[string]*string{}
	for _, f := range svc.flags {
		def := f.def
		if v, ok := env(f.env); ok {
			def = v
		}
		vals[f.name] = fs.String(f.name, def, fmt.Sprintf("%s (env %s)", f.usage, f.env))
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	v := map[string]string{}
	for k, p := range vals {
		v[k] = *p
	}
	logger := slog.New(slog.NewJSONHandler(stderr, nil))
	h, closeFn, err := svc.handler(v, logger)
	if err != nil {
		fmt.Fprintf(stderr, "reos mock %s: %v\n", args[0], err)
		return 1
	}
	defer closeFn()
	l, err := net.Listen("tcp", v["addr"])
	if err != nil {
		fmt.Fprintf(stderr, "reos mock %s: %v\n", args[0], err)
		return 1
	}
	srv := api.HTTPServer(h, nil)
	go srv.Serve(l)
	if v["data"] != "" {
		fmt.Fprintf(stdout, "reos mock %s listening on http://%s (data in %s)\n", args[0], l.Addr(), v["data"])
	} else {
		fmt.Fprintf(stdout, "reos mock %s listening on http://%s\n", args[0], l.Addr())
	}
	<-ctx.Done()
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(shutdown)
	return 0
}
