package contract

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/real-estate-os/reos/internal/contracts"
)

// vendorDocuments are the vendors' published documents (pinned in
// internal/contracts), by contract name, with the path prefix their
// servers add.
var vendorDocuments = map[string]struct{ file, base string }{
	"twilio":   {"twilio/twilio_api_v2010.json", ""},
	"sendgrid": {"sendgrid/tsg_mail_v3.json", ""},
	"openai":   {"openai/openapi.yaml", "/v1"},
}

// VendorDocument is the pinned document of a vendor's contract.
func VendorDocument(name string) (file string, ok bool) {
	d, ok := vendorDocuments[name]
	return d.file, ok
}

// Vendors are the vendors whose exchanges are judged: by their published
// OpenAPI document, or (S3, Gotenberg: none published) by rules.
var Vendors = []string{"gotenberg", "openai", "s3", "sendgrid", "twilio"}

// ForVendor returns the judge of a vendor's pinned document. A double's
// inspection endpoints (/mock/…) are not contract traffic.
func ForVendor(name string) (*Judge, error) {
	switch name {
	case "s3":
		return NewRuleJudge(name, Spec{File: "contract/rules.go (s3Rules)",
			Source: "AWS S3 API reference: REST operations (path style), Signature Version 4, the <Error> answer"}, s3Rules()), nil
	case "gotenberg":
		return NewRuleJudge(name, Spec{File: "mocks/gotenberg/ROUTES.md (contract/rules.go gotenbergRules)",
			Source: "Gotenberg 8's routes, as the project describes them"}, gotenbergRules()), nil
	}
	d, ok := vendorDocuments[name]
	if !ok {
		return nil, unknownVendor(name)
	}
	doc, err := vendorDocument(name, d.file)
	if err != nil {
		return nil, err
	}
	spec := Spec{File: d.file}
	if pin, err := contracts.PinOf(d.file); err == nil {
		spec.Source = "https://github.com/" + pin.Repo + "/blob/" + pin.Commit + "/" + pin.Path
		spec.Pin = "sha256:" + pin.SHA256
	}
	j := judgeOf(name, spec, doc)
	j.Base = d.base
	j.Skip = func(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/mock/") }
	return j, nil
}

// Available says why ForVendor(name) would fail for want of its contract:
// an unknown name, or a pinned document this machine does not have. It
// reads the document but does not parse it.
func Available(name string) error {
	if !slices.Contains(Vendors, name) {
		return unknownVendor(name)
	}
	if d, ok := vendorDocuments[name]; ok {
		_, err := contracts.Load(d.file)
		return err
	}
	return nil
}

func unknownVendor(name string) error {
	return fmt.Errorf("no vendor contract named %q: %s", name, strings.Join(Vendors, ", "))
}

// parsed holds each vendor's document, parsed once per process (Twilio's
// takes a quarter of a second): every judge of the vendor, and the
// coverage of its ledger, share it.
var parsed sync.Map // contract name → func() (*openapi3.T, error)

func vendorDocument(name, file string) (*openapi3.T, error) {
	f, _ := parsed.LoadOrStore(name, sync.OnceValues(func() (*openapi3.T, error) {
		doc, err := contracts.Load(file)
		if err != nil {
			return nil, err
		}
		return load(name, doc)
	}))
	return f.(func() (*openapi3.T, error))()
}

// Preload parses the named vendors' documents in the background, for
// ForVendor to find them parsed: a suite calls it first thing, so the
// parse overlaps starting the stack. A name without a document is left
// out; errors surface in ForVendor.
func Preload(names ...string) {
	for _, name := range names {
		if d, ok := vendorDocuments[name]; ok {
			go vendorDocument(name, d.file)
		}
	}
}
