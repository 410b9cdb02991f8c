package openai

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// FuzzChatCompletion: whatever the body, the double answers 200 with a
// completion, or 400/404 with OpenAI's error body, and never panics; the
// same body always gets the same completion.
func FuzzChatCompletion(f *testing.F) {
	for _, seed := range []string{
		`{"model":"m","messages":[{"role":"user","content":"Property 1.\n- Call the owner"}]}`,
		`{"model":"m","messages":[{"role":"system","content":"s"},{"role":"user","content":"u"}],"temperature":0,"seed":1}`,
		`{"model":"x","messages":[{"role":"user","content":"u"}]}`, `{"model":"m","messages":[]}`,
		`{"model":"m","messages":[{"role":"robot","content":1}]}`, `{}`, `[]`, `{`, ``,
	} {
		f.Add(seed)
	}
	s := New(Config{APIKey: "k", Models: []string{"m"}, Now: func() time.Time { return time.Unix(1_795_000_000, 0) }})
	post := func(body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer k")
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		return rec
	}
	f.Fuzz(func(t *testing.T, body string) {
		rec := post(body)
		switch rec.Code {
		case http.StatusOK:
			var c struct {
				Choices []struct {
					Message struct{ Content string }
				}
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &c); err != nil || len(c.Choices) != 1 || c.Choices[0].Message.Content == "" {
				t.Errorf("200 body %s: %v", rec.Body.Bytes(), err)
			}
			again := post(body)
			var c2 struct {
				ID      string
				Choices []struct {
					Message struct{ Content string }
				}
			}
			var c1 struct{ ID string }
			json.Unmarshal(rec.Body.Bytes(), &c1)
			json.Unmarshal(again.Body.Bytes(), &c2)
			if len(c2.Choices) != 1 || c2.Choices[0].Message.Content != c.Choices[0].Message.Content {
				t.Errorf("one body, two contents:\n%s\n%s", rec.Body.Bytes(), again.Body.Bytes())
			}
			if c1.ID == c2.ID || !strings.HasPrefix(c1.ID, "chatcmpl-") {
				t.Errorf("completion ids %q and %q: want unique chatcmpl- ids", c1.ID, c2.ID)
			}
			if a, b := rec.Header().Get("X-Request-Id"), again.Header().Get("X-Request-Id"); a == b || !strings.HasPrefix(a, "req_") {
				t.Errorf("x-request-id %q and %q: want a unique req_ id on each answer", a, b)
			}
		case http.StatusBadRequest, http.StatusNotFound:
			var e apiError
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error.Message == "" || e.Error.Type == "" {
				t.Errorf("%d body %s: %v", rec.Code, rec.Body.Bytes(), err)
			}
		default:
			t.Errorf("status %d for %q", rec.Code, body)
		}
	})
}
