package api

import (
	"net/http"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
)

func TestOpenAPIDocumentIsValid(t *testing.T) {
	if _, err := OpenAPI(); err != nil {
		t.Fatal(err)
	}
	doc, err := openapiJSON()
	if err != nil || len(doc.body) == 0 || doc.etag == "" {
		t.Fatalf("served document: %d bytes, ETag %q, %v", len(doc.body), doc.etag, err)
	}
}

// Every problem type the API can answer with is in the document, and
// nothing else.
func TestOpenAPIListsEveryProblemType(t *testing.T) {
	doc, err := OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, v := range doc.Components.Schemas["Problem"].Value.Properties["type"].Value.Enum {
		documented[v.(string)] = true
	}
	for code := range problemKinds {
		if !documented[ProblemTypeBase+code] {
			t.Errorf("problem type %s%s is not in openapi.yaml", ProblemTypeBase, code)
		}
		delete(documented, ProblemTypeBase+code)
	}
	for typ := range documented {
		t.Errorf("openapi.yaml lists %s, which the API never answers with", typ)
	}
}

// Every route of the API the router serves is in the document, and every
// operation the document lists is served. (The web UI's pages, outside
// /api/, are HTML for people, not part of the API.)
func TestOpenAPIListsEveryRoute(t *testing.T) {
	doc, err := OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{}
	s.routes()
	served := map[string]bool{}
	err = chi.Walk(s.router, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		if strings.HasPrefix(route, "/api/") || route == "/healthz" || route == "/readyz" {
			served[method+" "+route] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			op := method + " " + path
			if !served[op] {
				t.Errorf("openapi.yaml has %s, which the router does not serve", op)
			}
			delete(served, op)
		}
	}
	for op := range served {
		t.Errorf("the router serves %s, which openapi.yaml does not describe", op)
	}
}
