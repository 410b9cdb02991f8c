package config_test

import (
	"strings"
	"testing"

	"github.com/real-estate-os/reos/system/config"
)

func env(kv ...string) func(string) (string, bool) {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

var production = []string{
	"APP_MODE", "production",
	"JWT_SECRET", strings.Repeat("k", 32),
	"SENDGRID_API_KEY", "SG.test",
	"TWILIO_ACCOUNT_SID", "AC" + strings.Repeat("a", 32),
	"TWILIO_AUTH_TOKEN", "token",
	"TWILIO_FROM_NUMBER", "+15005550006",
	"S3_ENDPOINT", "https://s3.example.com",
	"S3_ACCESS_KEY_ID", "id",
	"S3_SECRET_ACCESS_KEY", "secret",
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name string
		env  []string
		// wantErr lists substrings the error must contain; none means success.
		wantErr []string
		// notInErr lists substrings the error must not contain (secrets).
		notInErr []string
	}{
		{name: "defaults are a valid mock configuration"},
		{name: "complete production", env: production},
		{name: "unknown mode", env: []string{"APP_MODE", "staging"}, wantErr: []string{`APP_MODE="staging"`}},
		{name: "every bad variable at once",
			env:     []string{"FEATURE_RATE_LIMIT", "yes please", "REOS_ADDR", "8000", "JWT_TTL", "-1s", "DATABASE_URL", "mysql://u:hunter2@x/db", "LOG_LEVEL", "loud"},
			wantErr: []string{"FEATURE_RATE_LIMIT", "REOS_ADDR", "JWT_TTL", "DATABASE_URL", "LOG_LEVEL", "5 problems"}, notInErr: []string{"hunter2"}},
		{name: "mock mode refuses external sends", env: []string{"FEATURE_EXTERNAL_SENDS", "true"}, wantErr: []string{"FEATURE_EXTERNAL_SENDS"}},
		{name: "production without credentials names each one",
			env:     []string{"APP_MODE", "production"},
			wantErr: []string{"JWT_SECRET", "SENDGRID_API_KEY", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM_NUMBER", "S3_ENDPOINT", "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY", "8 problems"}},
		{name: "production with the LLM needs its key", env: append(production[:len(production):len(production)], "FEATURE_USE_LLM", "true"), wantErr: []string{"OPENAI_API_KEY"}},
		{name: "production keeps webhook signatures on", env: append(production[:len(production):len(production)], "FEATURE_WEBHOOK_SIGNATURES", "false"), wantErr: []string{"FEATURE_WEBHOOK_SIGNATURES"}},
		{name: "mock mode may hash at a throwaway cost", env: []string{"PASSWORD_HASH_COST", "4"}},
		{name: "production hashes at cost 10 or more", env: append(production[:len(production):len(production)], "PASSWORD_HASH_COST", "4"), wantErr: []string{"PASSWORD_HASH_COST=4", "cost 10 or more"}},
		{name: "no cost below bcrypt's least", env: []string{"PASSWORD_HASH_COST", "3"}, wantErr: []string{"PASSWORD_HASH_COST", "4 to 31"}},
		{name: "short JWT secret", env: []string{"JWT_SECRET", "short-secret"}, wantErr: []string{"JWT_SECRET=(hidden)", "32 bytes"}, notInErr: []string{"short-secret"}},
		{name: "malformed account sid", env: []string{"TWILIO_ACCOUNT_SID", "AC123"}, wantErr: []string{"TWILIO_ACCOUNT_SID"}},
		{name: "malformed from number", env: []string{"TWILIO_FROM_NUMBER", "555-0100"}, wantErr: []string{"TWILIO_FROM_NUMBER"}},
		{name: "bad sender", env: []string{"EMAIL_FROM", "not an address"}, wantErr: []string{"EMAIL_FROM"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Load(env(tt.env...))
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Load = %v, want no error", err)
				}
				if c.PublicURL == "" {
					t.Errorf("PublicURL is empty, want it derived from REOS_ADDR")
				}
				return
			}
			if err == nil {
				t.Fatalf("Load = nil error, want one naming %v", tt.wantErr)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Load error = %q, want it to contain %q", err, w)
				}
			}
			for _, w := range tt.notInErr {
				if strings.Contains(err.Error(), w) {
					t.Errorf("Load error = %q, leaks %q", err, w)
				}
			}
		})
	}
}

func TestProviders(t *testing.T) {
	tests := []struct {
		name string
		env  []string
		want config.Providers
	}{
		{"mock", nil, config.Providers{Email: "mailpit-smtp", SMS: "mock-twilio", Storage: "s3-local", PDF: "native-pdf", LLM: "deterministic-templates"}},
		{"mock with gotenberg", []string{"GOTENBERG_URL", "http://127.0.0.1:3000"}, config.Providers{Email: "mailpit-smtp", SMS: "mock-twilio", Storage: "s3-local", PDF: "gotenberg-local", LLM: "deterministic-templates"}},
		{"production", production, config.Providers{Email: "sendgrid", SMS: "twilio", Storage: "s3", PDF: "native-pdf", LLM: "deterministic-templates"}},
		{"production with llm", append(production[:len(production):len(production)], "FEATURE_USE_LLM", "true", "OPENAI_API_KEY", "sk-x"),
			config.Providers{Email: "sendgrid", SMS: "twilio", Storage: "s3", PDF: "native-pdf", LLM: "openai"}},
	}
	for _, tt := range tests {
		c, err := config.Load(env(tt.env...))
		if err != nil {
			t.Fatalf("%s: Load = %v", tt.name, err)
		}
		if got := c.Providers(); got != tt.want {
			t.Errorf("%s: Providers() = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestHelpListsEveryVariable(t *testing.T) {
	var b strings.Builder
	config.Help(&b)
	for _, v := range config.Vars {
		if !strings.Contains(b.String(), v.Name) || !strings.Contains(b.String(), "--"+v.Flag()) {
			t.Errorf("Help does not list %s (--%s)", v.Name, v.Flag())
		}
	}
}
