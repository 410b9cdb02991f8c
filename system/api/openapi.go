package api

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
)

// openapiYAML describes every route of the API. The tests hold it to the
// truth: each route is in it and each answer they get matches it.
//
//go:embed openapi.yaml
var openapiYAML []byte

// OpenAPIDocument is openapi.yaml as the build embeds it.
func OpenAPIDocument() []byte { return openapiYAML }

// OpenAPI returns the API's OpenAPI document, parsed and validated.
func OpenAPI() (*openapi3.T, error) {
	doc, err := openapi3.NewLoader().LoadFromData(openapiYAML)
	if err != nil {
		return nil, fmt.Errorf("api: openapi.yaml: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("api: openapi.yaml: %w", err)
	}
	return doc, nil
}

// openapiJSON is the document as GET /api/v1/openapi.json serves it, with
// its ETag, made on the first request (TestOpenAPIDocumentIsValid keeps it
// loadable).
var openapiJSON = sync.OnceValues(func() (openapiDocument, error) {
	doc, err := OpenAPI()
	if err != nil {
		return openapiDocument{}, err
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return openapiDocument{}, err
	}
	return openapiDocument{body: b, etag: fmt.Sprintf(`"openapi.%x"`, sha256.Sum256(b))}, nil
})

type openapiDocument struct {
	body []byte
	etag string
}

func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) error {
	doc, err := openapiJSON()
	if err != nil {
		return err
	}
	if s.conditional(w, r, doc.etag) {
		return nil
	}
	w.Header().Set("Content-Type", "application/json")
	_, err = w.Write(doc.body)
	return err
}
