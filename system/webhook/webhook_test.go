package webhook_test

import (
	"strings"
	"testing"
	"time"

	"github.com/real-estate-os/reos/system"
	"github.com/real-estate-os/reos/system/webhook"
)

var now = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func TestVerify(t *testing.T) {
	body := []byte(`{"type":"lead.created","data":{"id":7}}`)
	current, previous := "whsec_current_0123456789", "whsec_previous_0123456789"
	secrets := []string{current, previous}
	tests := []struct {
		name   string
		header string
		body   []byte
		want   string // error code, "" for valid
	}{
		{"valid", webhook.Sign(current, now, body), body, ""},
		{"signed with the previous secret during a rotation", webhook.Sign(previous, now, body), body, ""},
		{"sender sends both", webhook.Sign(current, now, body) + ",v1=" + strings.Repeat("0", 64), body, ""},
		{"4 minutes old", webhook.Sign(current, now.Add(-4*time.Minute), body), body, ""},
		{"missing", "", body, system.EUNAUTHORIZED},
		{"malformed", "garbage", body, system.EUNAUTHORIZED},
		{"no v1", "t=1764244800", body, system.EUNAUTHORIZED},
		{"stale", webhook.Sign(current, now.Add(-6*time.Minute), body), body, system.EUNAUTHORIZED},
		{"from the future", webhook.Sign(current, now.Add(6*time.Minute), body), body, system.EUNAUTHORIZED},
		{"other body", webhook.Sign(current, now, body), []byte(`{}`), system.EFORBIDDEN},
		{"retired secret", webhook.Sign("whsec_retired_0123456789", now, body), body, system.EFORBIDDEN},
		{"timestamp swapped", strings.Replace(webhook.Sign(current, now, body), "t=", "t=1", 1), body, system.EUNAUTHORIZED},
	}
	for _, tt := range tests {
		_, err := webhook.Verify(secrets, tt.header, tt.body, now)
		if got := system.ErrorCode(err); got != tt.want {
			t.Errorf("%s: Verify = %v, want code %q", tt.name, err, tt.want)
		}
	}
}

func FuzzVerify(f *testing.F) {
	f.Add("t=1764244800,v1=00", []byte("{}"))
	f.Add("", []byte{})
	f.Add("t=,v1=,v1=", []byte("x"))
	f.Add("t=-99999999999999999999,v1=a", []byte("x"))
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		_, err := webhook.Verify([]string{"whsec_fuzz_0123456789"}, header, body, now)
		if err == nil {
			t.Fatalf("a fuzzed header verified: %q", header)
		}
		if c := system.ErrorCode(err); c != system.EUNAUTHORIZED && c != system.EFORBIDDEN {
			t.Fatalf("Verify(%q) = %v", header, err)
		}
		good := webhook.Sign("whsec_fuzz_0123456789", now, body)
		if _, err := webhook.Verify([]string{"whsec_fuzz_0123456789"}, good, body, now); err != nil {
			t.Fatalf("own signature refused: %v", err)
		}
	})
}
