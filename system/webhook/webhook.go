// Package webhook is the product's own signature scheme for partner
// webhooks: HMAC-SHA256 over "timestamp.body", sent as
//
//	Reos-Signature: t=1764230400,v1=5257a869e7…
//
// A sender in the middle of a key rotation may send one v1 per secret. The
// receiver accepts any of its active secrets (two during a rotation), a
// timestamp within the skew of now, and — with a replay guard — each
// signature once.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/real-estate-os/reos/system"
)

// Header carries the signature.
const Header = "Reos-Signature"

// Skew is how far the timestamp may be from the receiver's clock.
const Skew = 5 * time.Minute

// Sign returns the header value for body sent at t with secret.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + mac(secret, ts, body)
}

func mac(secret, ts string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Verify checks header against body with any of secrets at time now. It
// returns the matching signature (the key for replay checks), or:
// EUNAUTHORIZED when the header is missing or malformed or the timestamp is
// stale or in the future; EFORBIDDEN when no signature matches.
func Verify(secrets []string, header string, body []byte, now time.Time) (string, error) {
	if header == "" {
		return "", system.Errorf(system.EUNAUTHORIZED, "the %s header is missing", Header)
	}
	var ts string
	var sigs []string
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		switch {
		case !ok:
			return "", system.Errorf(system.EUNAUTHORIZED, "the %s header is malformed", Header)
		case k == "t":
			ts = v
		case k == "v1":
			sigs = append(sigs, v)
		}
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return "", system.Errorf(system.EUNAUTHORIZED, "the %s header needs t= and v1=", Header)
	}
	if d := now.Sub(time.Unix(unix, 0)); d > Skew || d < -Skew {
		return "", system.Errorf(system.EUNAUTHORIZED, "the signature's timestamp is more than %v from now", Skew)
	}
	for _, secret := range secrets {
		want := []byte(mac(secret, ts, body))
		for _, sig := range sigs {
			if hmac.Equal(want, []byte(sig)) {
				return sig, nil
			}
		}
	}
	return "", system.Errorf(system.EFORBIDDEN, "no signature in %s matches", Header)
}

// Verifier checks partners' signatures with any of Secrets (several while
// a secret is rotated). Now defaults to time.Now.
type Verifier struct {
	Secrets []string
	Now     func() time.Time
}

var _ system.CallbackVerifier = Verifier{}

// VerifyCallback implements system.CallbackVerifier.
func (v Verifier) VerifyCallback(_ string, header map[string][]string, body []byte) (string, error) {
	h := http.Header(header).Get(Header)
	if h == "" {
		return "", system.Errorf(system.EUNAUTHORIZED, "the %s header is missing", Header)
	}
	if len(v.Secrets) == 0 {
		return "", system.Errorf(system.EUNAVAILABLE, "WEBHOOK_SECRETS is not configured; partner webhooks cannot be checked")
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	return Verify(v.Secrets, h, body, now())
}
