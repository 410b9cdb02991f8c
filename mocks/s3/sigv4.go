package s3

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const (
	algorithm       = "AWS4-HMAC-SHA256"
	amzDateFormat   = "20060102T150405Z"
	maxSkew         = 15 * time.Minute // S3's RequestTimeTooSkewed limit
	maxPresignValid = 7 * 24 * time.Hour
	unsignedPayload = "UNSIGNED-PAYLOAD"
	maxSignedBody   = 64 << 20 // bodies whose hash is signed are read to check it
)

// verifier checks AWS Signature Version 4 before passing a request on.
type verifier struct {
	keys map[string]string
	now  func() time.Time
	next http.Handler
}

// s3Error is S3's XML error body.
type s3Error struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string   `xml:"Code"`
	Message   string   `xml:"Message"`
	Resource  string   `xml:"Resource,omitempty"`
	RequestID string   `xml:"RequestId"`
	HostID    string   `xml:"HostId"`
}

type refusal struct {
	status        int
	code, message string
}

func (e *refusal) Error() string { return e.code + ": " + e.message }

var (
	errAccessDenied = &refusal{http.StatusForbidden, "AccessDenied", "Access Denied"}
	errExpired      = &refusal{http.StatusForbidden, "AccessDenied", "Request has expired"}
	errUnknownKey   = &refusal{http.StatusForbidden, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records."}
	errMismatch     = &refusal{http.StatusForbidden, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your key and signing method."}
	errSkewed       = &refusal{http.StatusForbidden, "RequestTimeTooSkewed", "The difference between the request time and the current time is too large."}
	errBodyHash     = &refusal{http.StatusBadRequest, "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed."}
)

func malformed(query bool, msg string) *refusal {
	if query {
		return &refusal{http.StatusBadRequest, "AuthorizationQueryParametersError", msg}
	}
	return &refusal{http.StatusBadRequest, "AuthorizationHeaderMalformed", msg}
}

// HealthPath answers 200 without a signature, for container health checks
// (the path MinIO deployments probe).
const HealthPath = "/minio/health/live"

func (v *verifier) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == HealthPath && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		w.WriteHeader(http.StatusOK)
		return
	}
	if err := v.verify(r); err != nil {
		rf, ok := err.(*refusal)
		if !ok {
			rf = &refusal{http.StatusBadRequest, "InvalidRequest", err.Error()}
		}
		id := make([]byte, 8)
		rand.Read(id)
		w.Header().Set("Content-Type", "application/xml")
		w.Header().Set("X-Amz-Request-Id", strings.ToUpper(hex.EncodeToString(id)))
		w.WriteHeader(rf.status)
		io.WriteString(w, xml.Header)
		xml.NewEncoder(w).Encode(s3Error{Code: rf.code, Message: rf.message, Resource: r.URL.Path,
			RequestID: strings.ToUpper(hex.EncodeToString(id)), HostID: "reos-mock-s3"})
		return
	}
	v.next.ServeHTTP(w, r)
}

// signature is what a request claims: who signed, when, for which scope,
// which headers, and the signature itself.
type signature struct {
	accessKey, date, region, service string
	signedHeaders                    []string
	signature                        string
	at                               time.Time
	expires                          time.Duration // presigned only
}

func (v *verifier) verify(r *http.Request) error {
	q := r.URL.Query()
	presigned := q.Get("X-Amz-Signature") != "" || q.Get("X-Amz-Algorithm") != ""
	var sig *signature
	var err error
	switch {
	case presigned:
		sig, err = fromQuery(q)
	case r.Header.Get("Authorization") != "":
		sig, err = fromHeader(r)
	default:
		return errAccessDenied // anonymous: the buckets are private
	}
	if err != nil {
		return err
	}
	secret, ok := v.keys[sig.accessKey]
	if !ok {
		return errUnknownKey
	}
	now := v.now()
	if presigned {
		if now.Before(sig.at.Add(-maxSkew)) {
			return errAccessDenied // not yet valid
		}
		if !now.Before(sig.at.Add(sig.expires)) {
			return errExpired
		}
	} else if d := now.Sub(sig.at); d > maxSkew || d < -maxSkew {
		return errSkewed
	}

	payload := unsignedPayload
	if !presigned {
		payload = r.Header.Get("X-Amz-Content-Sha256")
		if payload == "" {
			return malformed(false, "the x-amz-content-sha256 header is required")
		}
		if len(payload) == 64 && r.Body != nil { // a signed body hash: hold the body to it
			body, err := io.ReadAll(io.LimitReader(r.Body, maxSignedBody+1))
			if err != nil || len(body) > maxSignedBody {
				return &refusal{http.StatusBadRequest, "IncompleteBody", "the body could not be read"}
			}
			sum := sha256.Sum256(body)
			if hex.EncodeToString(sum[:]) != strings.ToLower(payload) {
				return errBodyHash
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		// STREAMING-* payloads: the seed signature (this one) is checked;
		// the chunk signatures are not.
	}

	// Rebuild the request from what was signed and sign it again.
	u := *r.URL
	clean := url.Values{}
	for k, vs := range q {
		switch k {
		case "X-Amz-Signature", "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-SignedHeaders":
		default:
			clean[k] = vs
		}
	}
	u.RawQuery = clean.Encode()
	if u.Scheme == "" {
		u.Scheme = "http"
	}
	u.Host = r.Host
	again := &http.Request{Method: r.Method, URL: &u, Host: r.Host, Header: http.Header{}}
	for _, h := range sig.signedHeaders {
		switch h {
		case "host":
		case "content-length":
			again.ContentLength = r.ContentLength
		default:
			if vs := r.Header.Values(h); len(vs) > 0 {
				again.Header[http.CanonicalHeaderKey(h)] = vs
			}
		}
	}
	creds := aws.Credentials{AccessKeyID: sig.accessKey, SecretAccessKey: secret}
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true; o.DisableHeaderHoisting = true })
	var want string
	if presigned {
		signed, _, err := signer.PresignHTTP(context.Background(), creds, again, payload, sig.service, sig.region, sig.at)
		if err != nil {
			return err
		}
		pu, err := url.Parse(signed)
		if err != nil {
			return err
		}
		want = pu.Query().Get("X-Amz-Signature")
	} else {
		again.Header.Set("X-Amz-Date", sig.at.Format(amzDateFormat))
		if err := signer.SignHTTP(context.Background(), creds, again, payload, sig.service, sig.region, sig.at); err != nil {
			return err
		}
		_, want, _ = strings.Cut(again.Header.Get("Authorization"), "Signature=")
	}
	if want == "" || subtle.ConstantTimeCompare([]byte(want), []byte(sig.signature)) != 1 {
		return errMismatch
	}
	return nil
}

// fromHeader reads "AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…,
// Signature=…" and X-Amz-Date.
func fromHeader(r *http.Request) (*signature, error) {
	auth := r.Header.Get("Authorization")
	rest, ok := strings.CutPrefix(auth, algorithm+" ")
	if !ok {
		return nil, malformed(false, "only "+algorithm+" (Signature Version 4) is supported")
	}
	parts := map[string]string{}
	for _, p := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		parts[k] = v
	}
	sig, err := parseCredential(false, parts["Credential"])
	if err != nil {
		return nil, err
	}
	sig.signedHeaders = strings.Split(parts["SignedHeaders"], ";")
	sig.signature = parts["Signature"]
	if parts["SignedHeaders"] == "" || sig.signature == "" {
		return nil, malformed(false, "the Authorization header needs Credential, SignedHeaders and Signature")
	}
	if sig.at, err = time.Parse(amzDateFormat, r.Header.Get("X-Amz-Date")); err != nil {
		return nil, &refusal{http.StatusForbidden, "AccessDenied", "AWS authentication requires a valid Date or x-amz-date header"}
	}
	if sig.at.Format("20060102") != sig.date {
		return nil, malformed(false, "the credential's date does not match x-amz-date")
	}
	return sig, nil
}

// fromQuery reads a presigned URL's X-Amz-* parameters.
func fromQuery(q url.Values) (*signature, error) {
	if q.Get("X-Amz-Algorithm") != algorithm {
		return nil, malformed(true, "X-Amz-Algorithm only supports \""+algorithm+"\"")
	}
	sig, err := parseCredential(true, q.Get("X-Amz-Credential"))
	if err != nil {
		return nil, err
	}
	sig.signedHeaders = strings.Split(q.Get("X-Amz-SignedHeaders"), ";")
	sig.signature = q.Get("X-Amz-Signature")
	if q.Get("X-Amz-SignedHeaders") == "" || sig.signature == "" {
		return nil, malformed(true, "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.")
	}
	if sig.at, err = time.Parse(amzDateFormat, q.Get("X-Amz-Date")); err != nil || sig.at.Format("20060102") != sig.date {
		return nil, malformed(true, "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\" and match the credential's date")
	}
	secs, err := strconv.Atoi(q.Get("X-Amz-Expires"))
	if err != nil || secs < 0 {
		return nil, malformed(true, "X-Amz-Expires should be a number")
	}
	if sig.expires = time.Duration(secs) * time.Second; sig.expires > maxPresignValid {
		return nil, malformed(true, "X-Amz-Expires must be less than a week (in seconds) that is 604800")
	}
	return sig, nil
}

// parseCredential reads "AKID/20261201/us-east-1/s3/aws4_request".
func parseCredential(query bool, cred string) (*signature, error) {
	f := strings.Split(cred, "/")
	if len(f) != 5 || f[0] == "" || f[4] != "aws4_request" || len(f[1]) != 8 {
		return nil, malformed(query, "the credential must be ACCESS_KEY/YYYYMMDD/REGION/SERVICE/aws4_request")
	}
	if f[3] != "s3" {
		return nil, malformed(query, "the credential's service must be s3")
	}
	return &signature{accessKey: f[0], date: f[1], region: f[2], service: f[3]}, nil
}
