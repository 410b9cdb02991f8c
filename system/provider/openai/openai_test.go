package openai_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	"github.com/real-estate-os/reos/internal/contracts"
	mockopenai "github.com/real-estate-os/reos/mocks/openai"
	"github.com/real-estate-os/reos/system"
	"github.com/real-estate-os/reos/system/provider/openai"
)

const apiKey = "sk-test-0123456789abcdef"

// contractCheck wraps the double: every request the writer sends and every
// answer the double gives are validated against OpenAI's openapi.yaml,
// route by route (QUIRKS.md: the whole document does not validate).
func contractCheck(t *testing.T, next http.Handler) http.Handler {
	doc, err := openapi3.NewLoader().LoadFromData(contracts.Read(t, "openai/openapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// A route per operation the writer uses: a router would validate the
	// whole document first, which fails (QUIRKS.md).
	findRoute := func(r *http.Request) (*routers.Route, map[string]string) {
		path, params := strings.TrimPrefix(r.URL.Path, "/v1"), map[string]string{}
		if model, ok := strings.CutPrefix(path, "/models/"); ok {
			path, params["model"] = "/models/{model}", model
		}
		item := doc.Paths.Value(path)
		if item == nil || item.GetOperation(r.Method) == nil {
			t.Errorf("%s %s is not in openapi.yaml", r.Method, r.URL.Path)
			return nil, nil
		}
		return &routers.Route{Spec: doc, Path: path, PathItem: item, Method: r.Method, Operation: item.GetOperation(r.Method)}, params
	}
	var mu sync.Mutex
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		route, params := findRoute(r)
		rec := httptest.NewRecorder()
		r2 := r.Clone(r.Context())
		r2.Body = io.NopCloser(bytes.NewReader(b))
		next.ServeHTTP(rec, r2)
		if route != nil {
			opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: false}
			r.Body = io.NopCloser(bytes.NewReader(b))
			in := &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route, Options: opts}
			mu.Lock()
			if rec.Code == http.StatusOK {
				if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
					t.Errorf("the double accepted a request openapi.yaml refuses: %v", err)
				}
			}
			out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: rec.Code, Header: rec.Header(),
				Body: io.NopCloser(bytes.NewReader(rec.Body.Bytes())), Options: opts}
			if rec.Code == http.StatusOK {
				if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
					t.Errorf("the double's answer does not match openapi.yaml: %v\n%s", err, rec.Body.Bytes())
				}
			} else if err := doc.Components.Schemas["ErrorResponse"].Value.VisitJSON(decode(t, rec.Body.Bytes())); err != nil {
				// QUIRKS.md: error bodies follow components.schemas.ErrorResponse.
				t.Errorf("the double's %d body is not an ErrorResponse: %v\n%s", rec.Code, err, rec.Body.Bytes())
			}
			mu.Unlock()
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
	})
}

func decode(t *testing.T, b []byte) any {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("not JSON: %s", b)
	}
	return v
}

func start(t *testing.T) *openai.Client {
	t.Helper()
	double := mockopenai.New(mockopenai.Config{APIKey: apiKey, Models: []string{"gpt-4o-mini"}, Now: func() time.Time { return time.Unix(1_795_000_000, 0) }})
	srv := httptest.NewServer(contractCheck(t, double))
	t.Cleanup(srv.Close)
	return &openai.Client{BaseURL: srv.URL + "/v1", APIKey: apiKey, Model: "gpt-4o-mini", HTTP: srv.Client()}
}

var property = &system.Property{ID: 30, Address: "4127 Magnolia Ct", City: "Birmingham", State: "AL", Zip: "35203", Stage: system.StageContacted,
	ListedOn: "2026-09-01", ListPriceCents: 185_000_00, ARVCents: 260_000_00, RehabCents: 35_000_00, MonthlyRentCents: 1_850_00, CapRateBps: 725}

func TestWriteMemo(t *testing.T) {
	client := start(t)
	ctx := context.Background()
	if err := client.Check(ctx); err != nil {
		t.Fatal(err)
	}
	reasons := []system.Reason{{RuleID: "r1", Priority: 1, Reason: "Contacted 10 days ago without an answer", Action: "Call the owner"}}
	text, err := client.WriteMemo(ctx, property, reasons)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"4127 Magnolia Ct", "$185,000.00", "$260,000.00", "7.25%", "Call the owner"} {
		if !strings.Contains(text, want) {
			t.Errorf("memo text lacks %q: %s", want, text)
		}
	}
	again, _ := client.WriteMemo(ctx, property, reasons)
	if again != text {
		t.Errorf("the same request gave two texts:\n%s\n%s", text, again)
	}
}

func TestWriteMemoRefusals(t *testing.T) {
	client := start(t)
	ctx := context.Background()

	unknown := *client
	unknown.Model = "gpt-unknown"
	if _, err := unknown.WriteMemo(ctx, property, nil); system.ErrorCode(err) != system.EINVALID || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("unknown model: %v, want EINVALID", err)
	}
	if err := unknown.Check(ctx); err == nil {
		t.Error("Check passed for an unknown model")
	}
	wrong := *client
	wrong.APIKey = "sk-wrong-key-000000"
	_, err := wrong.WriteMemo(ctx, property, nil)
	var oe *openai.Error
	if !errors.As(err, &oe) || oe.Status != 401 || system.ErrorCode(err) == system.EINVALID || strings.Contains(err.Error(), "sk-wrong-key-000000") {
		t.Errorf("wrong key: %v (a 401 is retried, and the key is not repeated in full)", err)
	}
}
