package contract

import (
	"fmt"
	"net/http"
	"strings"

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
		return nil, fmt.Errorf("no vendor contract named %q: %s", name, strings.Join(Vendors, ", "))
	}
	doc, err := contracts.Load(d.file)
	if err != nil {
		return nil, err
	}
	spec := Spec{File: d.file}
	if pin, err := contracts.PinOf(d.file); err == nil {
		spec.Source = "https://github.com/" + pin.Repo + "/blob/" + pin.Commit + "/" + pin.Path
		spec.Pin = "sha256:" + pin.SHA256
	}
	j, err := NewJudge(name, spec, doc)
	if err != nil {
		return nil, err
	}
	j.Base = d.base
	j.Skip = func(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/mock/") }
	return j, nil
}
