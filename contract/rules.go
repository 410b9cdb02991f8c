package contract

import (
	"bytes"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
)

// Rule is one operation of a protocol published without an OpenAPI
// document (S3's REST API and Signature Version 4; Gotenberg's routes):
// how a request is recognised, and what the exchange must be.
type Rule struct {
	Operation string // "METHOD /path/{template}"
	Match     func(r *http.Request) bool
	Judge     func(r *http.Request, body []byte, status int, h http.Header, resBody []byte) []Departure
}

// NewRuleJudge returns a judge of the exchanges its rules recognise.
func NewRuleJudge(name string, spec Spec, rules []Rule) *Judge {
	return &Judge{Name: name, Spec: spec, rules: rules}
}

func (j *Judge) judgeByRules(e Entry, req *http.Request, reqBody []byte, status int, header http.Header, body []byte) Entry {
	for _, r := range j.rules {
		if !r.Match(req) {
			continue
		}
		e.Operation = r.Operation
		e.Departures = r.Judge(req, reqBody, status, header, body)
		e.Verdict = Conforms
		if len(e.Departures) > 0 {
			e.Verdict = Violation
		}
		return e
	}
	e.Verdict = Violation
	e.Departures = []Departure{{Where: "request", Message: "no operation of the contract matches " + req.Method + " " + req.URL.Path}}
	return e
}

// segments are a path's parts.
func segments(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// s3Rules are the S3 operations the product and the suite use (path-style
// addressing), each judged by what AWS publishes: every request signed
// with Signature Version 4 (header or presigned query), every error an XML
// <Error> with a <Code>.
func s3Rules() []Rule {
	op := func(method string, parts int, name string) Rule {
		return Rule{Operation: name,
			Match: func(r *http.Request) bool {
				n := len(segments(r.URL.Path))
				return r.Method == method && (n == parts || parts == 2 && n > 2)
			},
			Judge: judgeS3}
	}
	return []Rule{
		op("PUT", 1, "PUT /{bucket} (CreateBucket)"), op("HEAD", 1, "HEAD /{bucket} (HeadBucket)"),
		op("GET", 1, "GET /{bucket} (ListObjectsV2)"), op("GET", 0, "GET / (ListBuckets)"),
		op("PUT", 2, "PUT /{bucket}/{key} (PutObject)"), op("GET", 2, "GET /{bucket}/{key} (GetObject)"),
		op("HEAD", 2, "HEAD /{bucket}/{key} (HeadObject)"), op("DELETE", 2, "DELETE /{bucket}/{key} (DeleteObject)"),
	}
}

func judgeS3(r *http.Request, _ []byte, status int, h http.Header, body []byte) []Departure {
	var out []Departure
	q := r.URL.Query()
	auth := r.Header.Get("Authorization")
	switch {
	case strings.HasPrefix(auth, "AWS4-HMAC-SHA256 "):
		for _, part := range []string{"Credential=", "SignedHeaders=", "Signature="} {
			if !strings.Contains(auth, part) {
				out = append(out, Departure{Where: "request", Message: "Signature Version 4: the Authorization header lacks " + strings.TrimSuffix(part, "=")})
			}
		}
		if r.Header.Get("X-Amz-Date") == "" || r.Header.Get("X-Amz-Content-Sha256") == "" {
			out = append(out, Departure{Where: "request", Message: "Signature Version 4: X-Amz-Date and X-Amz-Content-Sha256 are required"})
		}
	case q.Get("X-Amz-Algorithm") == "AWS4-HMAC-SHA256":
		for _, p := range []string{"X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature"} {
			if q.Get(p) == "" {
				out = append(out, Departure{Where: "request", Message: "Signature Version 4 (presigned): the query lacks " + p})
			}
		}
	default:
		out = append(out, Departure{Where: "request", Message: "not signed with Signature Version 4"})
	}
	if status >= 400 && r.Method != http.MethodHead {
		if !strings.Contains(h.Get("Content-Type"), "xml") || !bytes.Contains(body, []byte("<Error>")) || !bytes.Contains(body, []byte("<Code>")) {
			out = append(out, Departure{Where: "response", Message: "an S3 error is an XML <Error> with a <Code>"})
		}
	}
	return out
}

// gotenbergRules are Gotenberg's routes as mocks/gotenberg/ROUTES.md
// describes them.
func gotenbergRules() []Rule {
	route := func(method, path string, judge func(*http.Request, []byte, int, http.Header, []byte) []Departure) Rule {
		return Rule{Operation: method + " " + path, Match: func(r *http.Request) bool { return r.Method == method && r.URL.Path == path }, Judge: judge}
	}
	return []Rule{
		route("POST", "/forms/chromium/convert/html", func(r *http.Request, body []byte, status int, h http.Header, res []byte) []Departure {
			var out []Departure
			mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
			if err != nil || mt != "multipart/form-data" {
				out = append(out, Departure{Where: "request", Message: "the body must be multipart/form-data"})
			} else if !hasFile(body, params["boundary"], "index.html") {
				out = append(out, Departure{Where: "request", Message: "the form must carry a file named index.html"})
			}
			switch {
			case status == 200 && (!strings.HasPrefix(h.Get("Content-Type"), "application/pdf") || !bytes.HasPrefix(res, []byte("%PDF"))):
				out = append(out, Departure{Where: "response", Message: "200 answers a PDF (application/pdf, %PDF…)"})
			case status >= 400 && !strings.HasPrefix(h.Get("Content-Type"), "text/plain"):
				out = append(out, Departure{Where: "response", Message: "an error is plain text"})
			case status != 200 && status != 400 && status != 413 && status != 415 && status != 503:
				out = append(out, Departure{Where: "response", Message: "status is not one the route answers"})
			}
			return out
		}),
		route("GET", "/health", func(_ *http.Request, _ []byte, status int, h http.Header, res []byte) []Departure {
			if status == 200 && (!strings.Contains(h.Get("Content-Type"), "json") || !bytes.Contains(res, []byte(`"status"`))) {
				return []Departure{{Where: "response", Pointer: "/status", Message: "the health answer is JSON with a status"}}
			}
			return nil
		}),
		route("GET", "/version", func(*http.Request, []byte, int, http.Header, []byte) []Departure { return nil }),
	}
}

// hasFile reports whether a multipart body carries a file named name.
func hasFile(body []byte, boundary, name string) bool {
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	for {
		p, err := mr.NextPart()
		if err != nil {
			return false
		}
		if p.FileName() == name {
			return true
		}
	}
}
