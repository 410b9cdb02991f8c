package sendgrid

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzMailSend: whatever the body, the double answers as SendGrid does —
// 200 (sandbox), 202 with an X-Message-Id, or 400 with an error body —
// and never panics.
func FuzzMailSend(f *testing.F) {
	for _, seed := range []string{
		`{"personalizations":[{"to":[{"email":"a@example.com"}]}],"from":{"email":"b@example.com"},"subject":"s","content":[{"type":"text/plain","value":"v"}]}`,
		`{"personalizations":[{"to":[{"email":"a@example.com"}],"subject":"p"}],"from":{"email":"b@example.com"},"content":[{"type":"text/html","value":"<p>v</p>"}],"mail_settings":{"sandbox_mode":{"enable":true}}}`,
		`{"personalizations":[],"from":{}}`, `{"template_id":"d-1","personalizations":[{"to":[{"email":"x"}]}]}`, `[]`, `null`, `{`, ``,
	} {
		f.Add(seed)
	}
	s := New(Config{APIKey: "k"})
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest(http.MethodPost, "/v3/mail/send", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer k")
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK:
		case http.StatusAccepted:
			if len(rec.Header().Get("X-Message-Id")) != 22 {
				t.Errorf("202 without an X-Message-Id")
			}
		case http.StatusBadRequest:
			var e errorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || len(e.Errors) == 0 || e.Errors[0].Message == "" {
				t.Errorf("400 body %s: %v", rec.Body.Bytes(), err)
			}
		default:
			t.Errorf("status %d for %q", rec.Code, body)
		}
	})
}
