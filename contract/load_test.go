package contract

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/real-estate-os/reos/internal/contracts"
)

// load decodes a JSON document as JSON, not as the loader would (YAML
// first): every vendor's document comes out the same either way.
func TestLoadReadsVendorDocumentsAsTheLoaderDoes(t *testing.T) {
	for name, d := range vendorDocuments {
		document, err := contracts.Load(d.file)
		if err != nil {
			t.Skipf("the vendors' documents are not here (scripts/setup fetches them): %v", err)
		}
		ours, err := load(name, document)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		theirs, err := openapi3.NewLoader().LoadFromData(document)
		if err != nil {
			t.Fatalf("%s, by the loader: %v", name, err)
		}
		theirs.Servers = nil
		if n := unresolved(ours); n > 0 {
			t.Errorf("%s: %d references are left unresolved", name, n)
		}
		a, errA := json.Marshal(ours)
		b, errB := json.Marshal(theirs)
		if errA != nil || errB != nil {
			t.Fatalf("%s: %v %v", name, errA, errB)
		}
		if !bytes.Equal(a, b) {
			i := 0
			for i < len(a) && i < len(b) && a[i] == b[i] {
				i++
			}
			t.Errorf("%s: the document differs from the loader's at byte %d: …%s… against …%s…", name, i, a[max(0, i-80):min(len(a), i+80)], b[max(0, i-80):min(len(b), i+80)])
		}
	}
}

// unresolved counts the references of doc's operations (parameters, bodies,
// answers, and their schemas) that were not resolved.
func unresolved(doc *openapi3.T) int {
	n := 0
	schema := func(s *openapi3.SchemaRef) {
		if s != nil && s.Value == nil {
			n++
		}
	}
	content := func(c openapi3.Content) {
		for _, m := range c {
			schema(m.Schema)
		}
	}
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			for _, p := range op.Parameters {
				if p.Value == nil {
					n++
				} else {
					schema(p.Value.Schema)
				}
			}
			if op.RequestBody != nil {
				if op.RequestBody.Value == nil {
					n++
				} else {
					content(op.RequestBody.Value.Content)
				}
			}
			for _, r := range op.Responses.Map() {
				if r.Value == nil {
					n++
				} else {
					content(r.Value.Content)
				}
			}
		}
	}
	return n
}
