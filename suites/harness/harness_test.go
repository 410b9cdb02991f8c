package harness

import (
	"strings"
	"testing"
	"time"
)

// Every bad setting is reported at once, each by name.
func TestLoadReportsEveryProblem(t *testing.T) {
	env := map[string]string{"REOS_SUITE_MODE": "staging", "REOS_BASE_URL": "ftp://x", "REOS_ADMIN_EMAIL": "a@example.com",
		"REOS_SSE_HEARTBEAT": "soon", "REOS_TWILIO_CONTROL_URL": "nope", "REOS_EVIDENCE_DIR": t.TempDir()}
	_, err := Load(func(k string) string { return env[k] })
	if err == nil {
		t.Fatal("bad settings accepted")
	}
	for _, name := range []string{"REOS_SUITE_MODE", "REOS_BASE_URL", "REOS_ADMIN_PASSWORD", "REOS_SSE_HEARTBEAT", "REOS_TWILIO_CONTROL_URL"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("the error does not name %s:\n%v", name, err)
		}
	}
	c, err := Load(func(k string) string { return map[string]string{"REOS_EVIDENCE_DIR": "/tmp/x"}[k] })
	if err != nil || c.Mode != "mock" || c.BaseURL != "" {
		t.Errorf("defaults: %+v, %v", c, err)
	}
	if _, err := Load(func(k string) string {
		return map[string]string{"REOS_SUITE_MODE": "production", "REOS_BASE_URL": "http://127.0.0.1:8000", "REOS_EVIDENCE_DIR": "/tmp/x"}[k]
	}); err == nil || !strings.Contains(err.Error(), "reos users create") {
		t.Errorf("a production target without an admin: %v", err)
	}
}

// The suite's own reading of the published rules, on cases worked by hand.
func TestEvaluate(t *testing.T) {
	rules, err := PublishedRules()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	ids := func(d Deal) string {
		var out []string
		for _, e := range Evaluate(rules, d, now) {
			out = append(out, e.RuleID)
		}
		return strings.Join(out, " ")
	}
	// (320k − 200k − 20k) / 320k = 31.25 %; listed 151 days; never contacted.
	fresh := Deal{Stage: "new", ListedOn: "2026-01-01", PriceCents: 200_000_00, ARVCents: 320_000_00, Rehab: 20_000_00}
	if got := ids(fresh); got != "first-contact high-equity long-listed" {
		t.Errorf("a fresh high-equity lead: %q", got)
	}
	fresh.OwnerDNC = true
	if got := ids(fresh); got != "dnc-owner high-equity long-listed" {
		t.Errorf("the same lead, owner on the list: %q", got)
	}
	contacted := now.AddDate(0, 0, -20)
	thin := Deal{Stage: "qualified", ListedOn: "2026-05-01", LastContact: &contacted, PriceCents: 95_00, ARVCents: 100_00}
	if got := ids(thin); got != "stale-follow-up thin-margin" {
		t.Errorf("a thin, stale qualified deal: %q", got)
	}
	if r := Evaluate(rules, thin, now); !strings.Contains(r[0].Reason, "20 days") || !strings.Contains(r[1].Reason, "5%") {
		t.Errorf("reasons filled: %+v", r)
	}
}
