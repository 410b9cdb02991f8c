package sendgrid

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/real-estate-os/reos/internal/contracts"
)

// validMail is a request SendGrid accepts; each case below breaks one thing.
const validMail = `{"personalizations":[{"to":[{"email":"owner@example.com"}]}],"from":{"email":"deals@example.com"},
	"subject":"Hello","content":[{"type":"text/plain","value":"Hi"}]}`

// mailSpec routes requests to tsg_mail_v3.json's operations, loaded once.
var mailSpec = sync.OnceValues(func() (routers.Router, error) {
	// The spec types addresses as format "email"; check it, with the
	// library's own pattern.
	openapi3.DefineStringFormatValidator("email", openapi3.NewRegexpFormatValidator(openapi3.FormatOfStringForEmail))
	b, err := contracts.Load("sendgrid/tsg_mail_v3.json")
	if err != nil {
		return nil, err
	}
	doc, err := openapi3.NewLoader().LoadFromData(b)
	if err != nil {
		return nil, err
	}
	doc.Servers = nil
	schema := doc.Components.RequestBodies["PostMailSend"].Value.Content["application/json"].Schema.Value
	schema.Properties["custom_args"] = openapi3.NewObjectSchema().NewRef() // QUIRKS.md
	return legacy.NewRouter(doc)
})

// specRejects reports whether tsg_mail_v3.json refuses body.
func specRejects(t *testing.T, body string) bool {
	t.Helper()
	router, err := mailSpec()
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, "/v3/mail/send", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	route, params, err := router.FindRoute(req)
	if err != nil {
		t.Fatal(err)
	}
	return openapi3filter.ValidateRequest(context.Background(), &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}) != nil
}

// Every rule of the double's Mail Send check has a case here that only it
// catches, so removing any one rule fails a case. Each case says whether
// SendGrid's spec refuses it too, or whether it is a rule of the service the
// spec cannot express (SendGrid's Mail Send errors page documents those).
func TestMailSendRules(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(m map[string]any)
		field string
		spec  bool // tsg_mail_v3.json refuses it too
	}{
		{"no personalizations", func(m map[string]any) { delete(m, "personalizations") }, "personalizations", true},
		{"too many personalizations", func(m map[string]any) {
			p := m["personalizations"].([]any)[0]
			many := make([]any, 1001)
			for i := range many {
				many[i] = p
			}
			m["personalizations"] = many
		}, "personalizations", true},
		{"no recipients", func(m map[string]any) { m["personalizations"].([]any)[0].(map[string]any)["to"] = []any{} }, "personalizations.0.to", false},
		{"a recipient that is not an address", func(m map[string]any) {
			m["personalizations"].([]any)[0].(map[string]any)["to"] = []any{map[string]any{"email": "not an address"}}
		}, "personalizations.0.to.0.email", true},
		{"no from", func(m map[string]any) { delete(m, "from") }, "from.email", true},
		{"a from that is not an address", func(m map[string]any) { m["from"] = map[string]any{"email": "deals"} }, "from.email", true},
		{"no subject anywhere", func(m map[string]any) { delete(m, "subject") }, "subject", false},
		{"no content", func(m map[string]any) { delete(m, "content") }, "content", false},
		{"an empty content value", func(m map[string]any) { m["content"] = []any{map[string]any{"type": "text/plain", "value": ""}} }, "content.0", true},
		{"a content block without a type", func(m map[string]any) { m["content"] = []any{map[string]any{"type": "", "value": "Hi"}} }, "content.0", true},
	}
	s := New(Config{APIKey: "k"})
	send := func(body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/v3/mail/send", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer k")
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		return rec
	}
	if rec := send(validMail); rec.Code != http.StatusAccepted || specRejects(t, validMail) {
		t.Fatalf("the valid mail: %d %s (spec refuses it: %v)", rec.Code, rec.Body, specRejects(t, validMail))
	}
	for _, tt := range tests {
		var m map[string]any
		json.Unmarshal([]byte(validMail), &m)
		tt.edit(m)
		b, _ := json.Marshal(m)
		if got := specRejects(t, string(b)); got != tt.spec {
			t.Errorf("%s: tsg_mail_v3.json refuses it: %v, the table says %v", tt.name, got, tt.spec)
		}
		rec := send(string(b))
		var e errorBody
		json.Unmarshal(rec.Body.Bytes(), &e)
		found := false
		for _, it := range e.Errors {
			if it.Field != nil && *it.Field == tt.field {
				found = true
				if !strings.HasPrefix(it.Help, mailHelp) || it.Message == "" {
					t.Errorf("%s: error %+v, want a message and SendGrid's help link", tt.name, it)
				}
			}
		}
		if rec.Code != http.StatusBadRequest || !found {
			t.Errorf("%s: %d %s, want 400 naming %s", tt.name, rec.Code, rec.Body, tt.field)
		}
		if bytes.Contains(rec.Body.Bytes(), []byte(`"help":null`)) {
			t.Errorf("%s: help is null: %s", tt.name, rec.Body)
		}
	}
}
