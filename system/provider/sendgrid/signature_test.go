package sendgrid_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"testing"

	"github.com/real-estate-os/reos/internal/contracts"
	"github.com/real-estate-os/reos/system/provider/sendgrid"
)

type vector struct {
	PublicKey string            `json:"public_key_b64"`
	Headers   map[string]string `json:"headers"`
	Body      string            `json:"body"`
}

func loadVector(t testing.TB) vector {
	b := contracts.Read(t, "sendgrid/signature_vectors.json")
	var v vector
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestVendorVector(t *testing.T) {
	v := loadVector(t)
	key, err := sendgrid.ParsePublicKey(v.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	sig, ts := v.Headers[sendgrid.SignatureHeader], v.Headers[sendgrid.TimestampHeader]
	if ok, err := sendgrid.Verify(key, ts, []byte(v.Body), sig); !ok || err != nil {
		t.Errorf("Verify(vendor vector) = %v, %v; want true", ok, err)
	}
	for name, tc := range map[string]struct {
		ts, body, sig string
		wantErr       bool
	}{
		"other body":        {ts, v.Body + " ", sig, false},
		"other timestamp":   {"invalid timestamp", v.Body, sig, false},
		"empty timestamp":   {"", v.Body, sig, false},
		"signature + junk":  {ts, v.Body, sig + "junk", true},
		"body without CRLF": {ts, v.Body[:len(v.Body)-2], sig, false},
	} {
		ok, err := sendgrid.Verify(key, tc.ts, []byte(tc.body), tc.sig)
		if ok || (err != nil) != tc.wantErr {
			t.Errorf("%s: Verify = %v, %v", name, ok, err)
		}
	}
	if _, err := sendgrid.ParsePublicKey(v.PublicKey + "AAAA"); err == nil {
		t.Error("a key with junk appended parsed")
	}
	rsaKey := "MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8QuKUpRKfFLfRYC9AIKjbJTWit+CqvjWYzvQwECAwEAAQ=="
	if _, err := sendgrid.ParsePublicKey(rsaKey); err == nil {
		t.Error("an RSA key was accepted")
	}
}

func FuzzVerify(f *testing.F) {
	v := loadVector(f)
	key, _ := sendgrid.ParsePublicKey(v.PublicKey)
	f.Add(v.Headers[sendgrid.TimestampHeader], []byte(v.Body), v.Headers[sendgrid.SignatureHeader])
	f.Add("", []byte{}, "")
	f.Add("1", []byte("[]"), "MEUCIQ==")
	own, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	f.Fuzz(func(t *testing.T, ts string, body []byte, sig string) {
		sendgrid.Verify(key, ts, body, sig) // must not panic
		// What a signer signs verifies; nothing else does.
		sum := sha256.Sum256(append([]byte(ts), body...))
		good, _ := ecdsa.SignASN1(rand.Reader, own, sum[:])
		der, _ := x509.MarshalPKIXPublicKey(&own.PublicKey)
		k, err := sendgrid.ParsePublicKey(base64.StdEncoding.EncodeToString(der))
		if err != nil {
			t.Fatal(err)
		}
		if ok, _ := sendgrid.Verify(k, ts, body, base64.StdEncoding.EncodeToString(good)); !ok {
			t.Error("own signature rejected")
		}
		if ok, _ := sendgrid.Verify(k, ts+"x", body, base64.StdEncoding.EncodeToString(good)); ok {
			t.Error("signature accepted for another timestamp")
		}
	})
}
