package app_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/real-estate-os/reos/system/api"
)

// The API's OpenAPI document is held to every answer the tests get: stack.do
// checks each one against it, so a handler and its documentation cannot
// drift apart unnoticed.

var contract = sync.OnceValues(func() (routers.Router, error) {
	doc, err := api.OpenAPI()
	if err != nil {
		return nil, err
	}
	for _, ct := range []string{"text/xml", "text/event-stream"} {
		openapi3filter.RegisterBodyDecoder(ct, openapi3filter.PlainBodyDecoder)
	}
	openapi3filter.RegisterBodyDecoder("image/gif", openapi3filter.FileBodyDecoder)
	return legacy.NewRouter(doc)
})

// checkContract reports an answer that openapi.yaml does not describe.
// Requests to routes the API does not have (404/405 tests) are skipped.
func checkContract(t testing.TB, req *http.Request, status int, header http.Header, body []byte) {
	t.Helper()
	if req.Method == http.MethodOptions {
		return // CORS preflights are answered for every path by the middleware
	}
	if p := req.URL.Path; !strings.HasPrefix(p, "/api/") && p != "/healthz" && p != "/readyz" {
		return // the web UI's pages are not part of the API
	}
	router, err := contract()
	if err != nil {
		t.Fatal(err)
	}
	route, params, err := router.FindRoute(req)
	if err != nil {
		if status != http.StatusNotFound && status != http.StatusMethodNotAllowed {
			t.Errorf("%s %s answered %d but is not in openapi.yaml: %v", req.Method, req.URL.Path, status, err)
		}
		return
	}
	opts := &openapi3filter.Options{ExcludeRequestBody: true, IncludeResponseStatus: true, MultiError: true,
		AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts},
		Status:                 status, Header: header, Body: io.NopCloser(bytes.NewReader(body)), Options: opts,
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		t.Errorf("%s %s → %d does not match openapi.yaml: %v\nbody: %.300s", req.Method, req.URL.Path, status, err, body)
	}
}

func TestOpenAPIServed(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	r := s.do("GET", "/api/v1/openapi.json", "", nil)
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") || !bytes.Contains(r.body, []byte(`"/api/v1/properties/{id}"`)) {
		t.Fatalf("openapi.json: %d %s %.100s", r.status, r.header.Get("Content-Type"), r.body)
	}
	if again := s.do("GET", "/api/v1/openapi.json", "", nil, "If-None-Match", r.header.Get("ETag")); again.status != 304 {
		t.Errorf("openapi.json with its ETag: %d, want 304", again.status)
	}
}
