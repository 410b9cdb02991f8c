package twilio

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/real-estate-os/reos/system"
)

// SignatureHeader carries a webhook's signature.
const SignatureHeader = "X-Twilio-Signature"

// Signature computes X-Twilio-Signature for a request to fullURL (exactly as
// requested, query string included) with form parameters params: base64 of
// HMAC-SHA1, keyed with the auth token, over the URL followed by each
// parameter's name and value in byte-wise name order. A repeated name
// contributes its first value only.
func Signature(authToken, fullURL string, params url.Values) string {
	names := make([]string, 0, len(params))
	for name := range params {
		names = append(names, name)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString(fullURL)
	for _, name := range names {
		b.WriteString(name)
		b.WriteString(params.Get(name))
	}
	mac := hmac.New(sha1.New, []byte(authToken))
	mac.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// ValidateSignature reports whether signature is valid for a request to
// fullURL with the given raw body and content type. A form body is signed
// through its parameters; any other body through the bodySHA256 query
// parameter, which must then match the body's SHA-256. The URL is tried as
// given, then, like Twilio's own validator, with and without its port. Comparisons are
// constant-time.
func ValidateSignature(authToken, fullURL, contentType string, body []byte, signature string) bool {
	u, err := url.Parse(fullURL)
	if err != nil || signature == "" {
		return false
	}
	params := url.Values{}
	if bodyHash := u.Query().Get("bodySHA256"); bodyHash != "" {
		sum := sha256.Sum256(body)
		if subtle.ConstantTimeCompare([]byte(hex.EncodeToString(sum[:])), []byte(strings.ToLower(bodyHash))) != 1 {
			return false
		}
	} else if len(body) > 0 {
		if params, err = url.ParseQuery(string(body)); err != nil {
			return false
		}
	}
	ok := false
	for _, candidate := range []string{fullURL, withoutPort(u), withPort(u)} {
		expected := Signature(authToken, candidate, params)
		ok = subtle.ConstantTimeCompare([]byte(expected), []byte(signature)) == 1 || ok
	}
	return ok
}

func withoutPort(u *url.URL) string {
	c := *u
	c.Host = c.Hostname()
	if strings.Contains(c.Host, ":") { // IPv6 literal
		c.Host = "[" + c.Host + "]"
	}
	return c.String()
}

func withPort(u *url.URL) string {
	if u.Port() != "" {
		return u.String()
	}
	c := *u
	port := "443"
	if c.Scheme == "http" {
		port = "80"
	}
	host := c.Hostname()
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	c.Host = host + ":" + port
	return c.String()
}

// Verifier checks Twilio's signature on its callbacks with the account's
// auth token.
type Verifier struct{ AuthToken string }

var _ system.CallbackVerifier = Verifier{}

// VerifyCallback implements system.CallbackVerifier.
func (v Verifier) VerifyCallback(fullURL string, header map[string][]string, body []byte) (string, error) {
	h := http.Header(header)
	sig := h.Get(SignatureHeader)
	if sig == "" {
		return "", system.Errorf(system.EUNAUTHORIZED, "the %s header is missing", SignatureHeader)
	}
	if !ValidateSignature(v.AuthToken, fullURL, h.Get("Content-Type"), body, sig) {
		return "", system.Errorf(system.EFORBIDDEN, "the %s does not match", SignatureHeader)
	}
	return sig, nil
}
