package twilio_test

import (
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strings"
	"testing"

	twiliogo "github.com/twilio/twilio-go/client"
	"pgregory.net/rapid"

	"github.com/real-estate-os/reos/system/provider/twilio"
)

// Twilio's own Go SDK is the judge of the signature scheme: what reos signs,
// twilio-go's RequestValidator accepts, and on any URL (with or without its
// port), form and body the two validators agree.

// The worked example of Twilio's security documentation, as the SDK sees it.
func TestSignatureOfTwiliosExample(t *testing.T) {
	params := url.Values{"CallSid": {"CA1234567890ABCDE"}, "Caller": {"+12349013030"}, "Digits": {"1234"}, "From": {"+12349013030"}, "To": {"+18005551212"}}
	const u, token = "https://mycompany.com/myapp.php?foo=1&bar=2", "12345"
	got := twilio.Signature(token, u, params)
	rv := twiliogo.NewRequestValidator(token)
	if !rv.Validate(u, flat(params), got) {
		t.Errorf("twilio-go refuses reos's signature %s of the documentation's example", got)
	}
	if rv.Validate(u, flat(params), twilio.Signature("54321", u, params)) {
		t.Error("twilio-go accepts a signature made with another token: the oracle is not checking")
	}
}

func flat(v url.Values) map[string]string {
	m := map[string]string{}
	for k := range v {
		m[k] = v.Get(k)
	}
	return m
}

// urlPair is a URL Twilio signed and the URL a receiver checks it at: the
// same but for the port (none, the scheme's default, another), and now and
// then another path.
var urlPair = rapid.Custom(func(t *rapid.T) [2]string {
	scheme := rapid.SampledFrom([]string{"http", "https"}).Draw(t, "scheme")
	host := rapid.SampledFrom([]string{"example.com", "reos.example", "127.0.0.1"}).Draw(t, "host")
	ports := rapid.SampledFrom([]string{"", ":80", ":443", ":8080"})
	paths := rapid.SampledFrom([]string{"/api/v1/webhooks/twilio/status", "/hook.php", "/a%20b"})
	query := rapid.SampledFrom([]string{"", "?message_id=msg-1", "?foo=1&bar=2", "?x=%2B1"}).Draw(t, "query")
	path := paths.Draw(t, "path")
	signed := scheme + "://" + host + ports.Draw(t, "signed port") + path + query
	if rapid.IntRange(0, 9).Draw(t, "other path?") == 0 {
		path = paths.Draw(t, "other path")
	}
	return [2]string{signed, scheme + "://" + host + ports.Draw(t, "asked port") + path + query}
})

var paramsGen = rapid.Custom(func(t *rapid.T) url.Values {
	v := url.Values{}
	for _, k := range rapid.SliceOfDistinct(rapid.SampledFrom([]string{"To", "From", "Body", "MessageSid", "MessageStatus", "AccountSid", "ErrorCode"}), rapid.ID[string]).Draw(t, "keys") {
		v.Set(k, rapid.StringMatching(`[ -~é€]{0,20}`).Draw(t, k))
	}
	return v
})

func TestSignatureAgreesWithTwilioGo(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		token := rapid.StringMatching(`[0-9a-f]{32}`).Draw(t, "token")
		pair := urlPair.Draw(t, "URLs")
		signed, asked := pair[0], pair[1]
		params := paramsGen.Draw(t, "params")
		rv := twiliogo.NewRequestValidator(token)
		sig := twilio.Signature(token, signed, params)
		if !rv.Validate(signed, flat(params), sig) {
			t.Fatalf("twilio-go refuses reos's signature %s of %s", sig, signed)
		}
		form := []byte(params.Encode())
		ours := twilio.ValidateSignature(token, asked, "application/x-www-form-urlencoded", form, sig)
		if theirs := rv.Validate(asked, flat(params), sig); ours != theirs {
			t.Fatalf("a form signed for %s, checked at %s: reos says %v, twilio-go %v", signed, asked, ours, theirs)
		}
		if len(params) > 0 {
			tampered := url.Values{}
			for k := range params {
				tampered.Set(k, params.Get(k)+"!")
			}
			if twilio.ValidateSignature(token, signed, "application/x-www-form-urlencoded", []byte(tampered.Encode()), sig) {
				t.Fatalf("a changed form validated")
			}
		}
		// A JSON body is signed through the bodySHA256 query parameter.
		body := []byte(rapid.StringMatching(`\{"n":[0-9]{1,5}\}`).Draw(t, "body"))
		sum := sha256.Sum256(body)
		withHash := signed + map[bool]string{true: "&", false: "?"}[strings.Contains(signed, "?")] + "bodySHA256=" + hex.EncodeToString(sum[:])
		bsig := twilio.Signature(token, withHash, nil)
		if !rv.ValidateBody(withHash, body, bsig) || !twilio.ValidateSignature(token, withHash, "application/json", body, bsig) {
			t.Fatalf("a JSON body signed for %s: twilio-go %v, reos %v", withHash, rv.ValidateBody(withHash, body, bsig),
				twilio.ValidateSignature(token, withHash, "application/json", body, bsig))
		}
		other := append(body[:len(body):len(body)], ' ')
		if twilio.ValidateSignature(token, withHash, "application/json", other, bsig) || rv.ValidateBody(withHash, other, bsig) {
			t.Fatalf("a changed JSON body validated")
		}
	})
}

func FuzzValidateSignature(f *testing.F) {
	f.Add("https://example.com/hook?x=1", "application/x-www-form-urlencoded", []byte("To=%2B1&Body=hi"), "abc=")
	f.Add("https://example.com/hook?bodySHA256=00", "application/json", []byte(`{}`), "")
	f.Add("http://[::1]:80/x", "", []byte("%zz"), "AAAA")
	f.Fuzz(func(t *testing.T, rawURL, ct string, body []byte, sig string) {
		twilio.ValidateSignature("token", rawURL, ct, body, sig) // must not panic
		// A signature the signer made must validate.
		if u, err := url.Parse(rawURL); err == nil && u.Query().Get("bodySHA256") == "" {
			if params, err := url.ParseQuery(string(body)); err == nil && len(body) > 0 {
				if good := twilio.Signature("token", rawURL, params); !twilio.ValidateSignature("token", rawURL, ct, body, good) {
					t.Errorf("own signature %s for %q rejected", good, rawURL)
				}
			}
		}
	})
}
