package sendgrid_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"testing"

	"github.com/sendgrid/sendgrid-go/helpers/eventwebhook"
	"pgregory.net/rapid"

	"github.com/real-estate-os/reos/system/provider/sendgrid"
)

// SendGrid's own Go SDK (helpers/eventwebhook) is the judge of the Signed
// Event Webhook: on keys, timestamps, bodies and signatures, signed and
// tampered, reos's verifier and the SDK's agree.

// signed is one signed event batch.
type signed struct {
	keyB64, ts, sig string
	body            []byte
	key             *ecdsa.PrivateKey
}

func sign(t testing.TB, key *ecdsa.PrivateKey, ts string, body []byte) signed {
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(append([]byte(ts), body...))
	sig, err := ecdsa.SignASN1(rand.Reader, key, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return signed{base64.StdEncoding.EncodeToString(der), ts, base64.StdEncoding.EncodeToString(sig), body, key}
}

func TestVerifyAgreesWithSendGridGo(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rapid.Check(t, func(rt *rapid.T) {
		ts := rapid.StringMatching(`[0-9]{10}`).Draw(rt, "timestamp")
		body := []byte(rapid.StringMatching(`\[\{"email":"[a-z]{1,8}@example\.com","event":"(delivered|open|bounce)"\}\]\r\n`).Draw(rt, "body"))
		s := sign(t, rapid.SampledFrom([]*ecdsa.PrivateKey{key, other}).Draw(rt, "signer"), ts, body)
		checkTs, checkBody, checkSig := ts, body, s.sig
		switch rapid.IntRange(0, 4).Draw(rt, "tamper") {
		case 1:
			checkTs = ts + "0"
		case 2:
			checkBody = append(body[:len(body):len(body)], ' ')
		case 3:
			checkSig = s.sig[:len(s.sig)-4] + "AAAA"
		case 4:
			checkBody = body[:len(body)-2] // the CRLF SendGrid signs with
		}
		ours, _ := sendgrid.ParsePublicKey(s.keyB64)
		theirs, err := eventwebhook.ConvertPublicKeyBase64ToECDSA(s.keyB64)
		if ours == nil || err != nil || !ours.Equal(theirs) {
			rt.Fatalf("the key %s: reos parses %v, sendgrid-go %v (%v)", s.keyB64, ours, theirs, err)
		}
		verifier := rapid.SampledFrom([]*ecdsa.PublicKey{&key.PublicKey, &other.PublicKey}).Draw(rt, "verifier")
		a, _ := sendgrid.Verify(verifier, checkTs, checkBody, checkSig)
		b, _ := eventwebhook.VerifySignature(verifier, checkBody, checkSig, checkTs)
		if a != b {
			rt.Fatalf("reos says %v, sendgrid-go %v", a, b)
		}
	})
}

func TestParsePublicKeyRefusesWhatIsNotAP256Key(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	s := sign(t, key, "1700000000", []byte("[]\r\n"))
	if _, err := sendgrid.ParsePublicKey(s.keyB64 + "AAAA"); err == nil {
		t.Error("a key with junk appended parsed")
	}
	for _, junk := range []string{"junk", "AAAA", "=="} {
		if ok, _ := sendgrid.Verify(&key.PublicKey, s.ts, s.body, s.sig+junk); ok {
			t.Errorf("a signature with %q appended verified", junk)
		}
	}
	rsaKey := "MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8QuKUpRKfFLfRYC9AIKjbJTWit+CqvjWYzvQwECAwEAAQ=="
	if _, err := sendgrid.ParsePublicKey(rsaKey); err == nil {
		t.Error("an RSA key was accepted")
	}
}

func FuzzVerify(f *testing.F) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	s := sign(f, key, "1700000000", []byte(`[{"event":"open"}]`+"\r\n"))
	f.Add(s.ts, s.body, s.sig)
	f.Add("", []byte{}, "")
	f.Add("1", []byte("[]"), "MEUCIQ==")
	f.Fuzz(func(t *testing.T, ts string, body []byte, sig string) {
		sendgrid.Verify(&key.PublicKey, ts, body, sig) // must not panic
		// What a signer signs verifies; nothing else does.
		good := sign(t, key, ts, body)
		k, err := sendgrid.ParsePublicKey(good.keyB64)
		if err != nil {
			t.Fatal(err)
		}
		if ok, _ := sendgrid.Verify(k, ts, body, good.sig); !ok {
			t.Error("own signature rejected")
		}
		if ok, _ := sendgrid.Verify(k, ts+"x", body, good.sig); ok {
			t.Error("signature accepted for another timestamp")
		}
	})
}
