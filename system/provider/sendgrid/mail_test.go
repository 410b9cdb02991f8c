package sendgrid_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/real-estate-os/reos/internal/contracts"
	mocksendgrid "github.com/real-estate-os/reos/mocks/sendgrid"
	"github.com/real-estate-os/reos/system"
	"github.com/real-estate-os/reos/system/provider/sendgrid"
)

const apiKey = "SG.test-key.0123456789"

// contractCheck wraps the double: every request it gets and every answer it
// gives are validated against SendGrid's tsg_mail_v3.json, with the
// allowances QUIRKS.md records.
func contractCheck(t *testing.T, next http.Handler) http.Handler {
	doc, err := openapi3.NewLoader().LoadFromData(contracts.Read(t, "sendgrid/tsg_mail_v3.json"))
	if err != nil {
		t.Fatal(err)
	}
	doc.Servers = nil // the double listens on loopback
	body := doc.Components.RequestBodies["PostMailSend"].Value.Content["application/json"].Schema.Value
	body.Properties["custom_args"] = openapi3.NewObjectSchema().NewRef() // QUIRKS.md: an object, not a string
	// QUIRKS.md: errors[].field is null when no field is at fault, and
	// errors[].help a URL string or null, not an object.
	item := doc.Components.Schemas["ErrorResponse"].Value.Properties["errors"].Value.Items.Value
	for _, name := range []string{"field", "help"} {
		item.Properties[name] = (&openapi3.Schema{Type: &openapi3.Types{"string", "null"}}).NewRef()
	}
	// QUIRKS.md: in sandbox mode the service answers 200, undocumented.
	doc.Paths.Value("/v3/mail/send").Post.Responses.Set("200", &openapi3.ResponseRef{Value: openapi3.NewResponse().WithDescription("sandbox mode")})
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(b))
		route, params, err := router.FindRoute(r)
		if err != nil {
			t.Errorf("%s %s is not in tsg_mail_v3.json: %v", r.Method, r.URL.Path, err)
			next.ServeHTTP(w, r)
			return
		}
		in := &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
		rec := httptest.NewRecorder()
		r2 := r.Clone(r.Context())
		r2.Body = io.NopCloser(bytes.NewReader(b))
		next.ServeHTTP(rec, r2)
		mu.Lock()
		defer mu.Unlock()
		// A request the double accepted must be one the spec accepts.
		if rec.Code/100 == 2 {
			r.Body = io.NopCloser(bytes.NewReader(b))
			if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
				t.Errorf("the double accepted a request tsg_mail_v3.json refuses: %v", err)
			}
		}
		out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: rec.Code, Header: rec.Header(),
			Body: io.NopCloser(bytes.NewReader(rec.Body.Bytes())), Options: &openapi3filter.Options{IncludeResponseStatus: true}}
		if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
			t.Errorf("the double's %d answer does not match tsg_mail_v3.json: %v\n%s", rec.Code, err, rec.Body.Bytes())
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
	})
}

func start(t *testing.T, cfg mocksendgrid.Config) (*mocksendgrid.Server, *sendgrid.Client) {
	t.Helper()
	double := mocksendgrid.New(cfg)
	srv := httptest.NewServer(contractCheck(t, double))
	t.Cleanup(func() { srv.Close(); double.Close() })
	return double, &sendgrid.Client{BaseURL: srv.URL, APIKey: apiKey, From: "deals@reos.example.com", HTTP: srv.Client()}
}

func TestSendEmail(t *testing.T) {
	double, client := start(t, mocksendgrid.Config{APIKey: apiKey})
	ctx := context.Background()
	id, err := client.SendEmail(ctx, &system.Email{From: "Real Estate OS <deals@reos.example.com>", To: "Zoë Müller <owner30@example.com>",
		Subject: "Following up on 4127 Magnolia Ct", Text: "Hello Zoë", HTML: "<p>Hello Zoë</p>", MessageID: "msg-42",
		Headers: map[string]string{"X-Campaign": "spring"}})
	if err != nil {
		t.Fatal(err)
	}
	got := double.Messages()
	if len(got) != 1 || got[0].ID != id || len(id) != 22 {
		t.Fatalf("id %q; the double holds %+v", id, got)
	}
	m := got[0]
	if m.From != "deals@reos.example.com" || len(m.To) != 1 || m.To[0] != "owner30@example.com" || m.Subject != "Following up on 4127 Magnolia Ct" ||
		m.Text != "Hello Zoë" || m.HTML != "<p>Hello Zoë</p>" || m.CustomArgs[sendgrid.MessageIDArg] != "msg-42" || m.Headers["X-Campaign"] != "spring" {
		t.Errorf("the double received %+v", m)
	}

	// Check is a sandbox send: answered, validated, not delivered.
	if err := client.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if got := double.Messages(); len(got) != 2 || got[0].Sandbox || !got[1].Sandbox {
		t.Errorf("the double holds %+v, want the send and then the check in sandbox mode", got)
	}

	// A client in sandbox mode (FEATURE_EXTERNAL_SENDS=false) sends every
	// message that way: SendGrid validates it and delivers it to nobody.
	sandboxed := *client
	sandboxed.Sandbox = true
	if _, err := sandboxed.SendEmail(ctx, &system.Email{From: "deals@reos.example.com", To: "owner30@example.com", Subject: "s", Text: "t"}); err != nil {
		t.Fatal(err)
	}
	if got := double.Messages(); len(got) != 3 || !got[2].Sandbox {
		t.Errorf("a sandbox client's send: the double holds %+v, want it in sandbox mode", got)
	}
}

func TestSendEmailRefusals(t *testing.T) {
	_, client := start(t, mocksendgrid.Config{APIKey: apiKey})
	ctx := context.Background()

	if _, err := client.SendEmail(ctx, &system.Email{From: "deals@reos.example.com", To: "not an address", Subject: "s", Text: "t"}); system.ErrorCode(err) != system.EINVALID {
		t.Errorf("a bad address: %v, want EINVALID before sending", err)
	}
	// No body at all: SendGrid's 400 names the field, and the send is not retried.
	_, err := client.SendEmail(ctx, &system.Email{From: "deals@reos.example.com", To: "owner30@example.com", Subject: "s"})
	if system.ErrorCode(err) != system.EINVALID || !strings.Contains(err.Error(), "content") {
		t.Errorf("no content: %v, want EINVALID naming content", err)
	}
	// A wrong key is SendGrid's 401, left for a retry (not EINVALID).
	wrong := *client
	wrong.APIKey = "SG.wrong"
	_, err = wrong.SendEmail(ctx, &system.Email{From: "deals@reos.example.com", To: "owner30@example.com", Subject: "s", Text: "t"})
	var se *sendgrid.Error
	if !errors.As(err, &se) || se.Status != 401 || system.ErrorCode(err) == system.EINVALID || !strings.Contains(err.Error(), "authorization grant is invalid") {
		t.Errorf("wrong key: %v", err)
	}
	if err := wrong.Check(ctx); err == nil {
		t.Error("Check passed with a wrong key")
	}
}

// The double's events are SendGrid's Signed Event Webhook: the product's
// verifier accepts them, and they carry the message's custom arguments.
func TestDoublePostsSignedEvents(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan []map[string]any, 2)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ok, err := sendgrid.Verify(&key.PublicKey, r.Header.Get(sendgrid.TimestampHeader), body, r.Header.Get(sendgrid.SignatureHeader))
		if err != nil || !ok {
			t.Errorf("event batch not verified: %v", err)
			w.WriteHeader(403)
			return
		}
		var batch []map[string]any
		json.Unmarshal(body, &batch)
		got <- batch
		w.WriteHeader(204)
	}))
	defer receiver.Close()
	double, client := start(t, mocksendgrid.Config{APIKey: apiKey, SigningKey: key})
	double.SetEventsURL(receiver.URL)
	id, err := client.SendEmail(context.Background(), &system.Email{From: "deals@reos.example.com", To: "owner30@example.com", Subject: "s", Text: "t", MessageID: "msg-7"})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"processed", "delivered"} {
		batch := <-got
		if len(batch) != 1 || batch[0]["event"] != want || batch[0][sendgrid.MessageIDArg] != "msg-7" || batch[0]["email"] != "owner30@example.com" ||
			!strings.HasPrefix(batch[0]["sg_message_id"].(string), id) {
			t.Errorf("%s batch = %v", want, batch)
		}
	}
}
