// Package sendgrid holds what the product needs of SendGrid's protocol
// today: verification of the Signed Event Webhook (ECDSA P-256 over SHA-256
// of the timestamp header followed by the raw body).
package sendgrid

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/real-estate-os/reos/system"
)

// The headers of a signed event POST.
const (
	SignatureHeader = "X-Twilio-Email-Event-Webhook-Signature"
	TimestampHeader = "X-Twilio-Email-Event-Webhook-Timestamp"
)

// ParsePublicKey reads the verification key as SendGrid's settings API
// gives it: base64 of a DER SubjectPublicKeyInfo for a P-256 key.
func ParsePublicKey(b64 string) (*ecdsa.PublicKey, error) {
	der, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("sendgrid: public key is not base64: %w", err)
	}
	key, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("sendgrid: public key: %w", err)
	}
	ec, ok := key.(*ecdsa.PublicKey)
	if !ok || ec.Curve != elliptic.P256() {
		return nil, errors.New("sendgrid: the public key is not an ECDSA P-256 key")
	}
	return ec, nil
}

// Verify reports whether signature (base64 DER) signs timestamp followed by
// body. A signature that is not base64 is an error; one that does not match
// is false.
func Verify(key *ecdsa.PublicKey, timestamp string, body []byte, signature string) (bool, error) {
	sig, err := base64.StdEncoding.DecodeString(signature)
	if err != nil {
		return false, fmt.Errorf("sendgrid: signature is not base64: %w", err)
	}
	h := sha256.New()
	h.Write([]byte(timestamp))
	h.Write(body)
	return ecdsa.VerifyASN1(key, h.Sum(nil), sig), nil
}

// Skew is how far a signed event's timestamp may be from now.
const Skew = 5 * time.Minute

// Verifier checks the Signed Event Webhook with the account's verification
// key. A nil Key refuses every batch as unverifiable; Now defaults to
// time.Now.
type Verifier struct {
	Key *ecdsa.PublicKey
	Now func() time.Time
}

var _ system.CallbackVerifier = Verifier{}

// VerifyCallback implements system.CallbackVerifier. An unsigned request is
// refused as such first, whatever is configured.
func (v Verifier) VerifyCallback(_ string, header map[string][]string, body []byte) (string, error) {
	h := http.Header(header)
	sig, ts := h.Get(SignatureHeader), h.Get(TimestampHeader)
	if sig == "" || ts == "" {
		return "", system.Errorf(system.EUNAUTHORIZED, "the %s and %s headers are required", SignatureHeader, TimestampHeader)
	}
	if v.Key == nil {
		return "", system.Errorf(system.EUNAVAILABLE, "SENDGRID_WEBHOOK_PUBLIC_KEY is not configured; signed events cannot be checked")
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return "", system.Errorf(system.EUNAUTHORIZED, "the %s header is not a Unix time", TimestampHeader)
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	if d := now().Sub(time.Unix(unix, 0)); d > Skew || d < -Skew {
		return "", system.Errorf(system.EUNAUTHORIZED, "the event timestamp is more than %v from now", Skew)
	}
	if ok, err := Verify(v.Key, ts, body, sig); err != nil || !ok {
		return "", system.Errorf(system.EFORBIDDEN, "the %s does not match", SignatureHeader)
	}
	return sig, nil
}
