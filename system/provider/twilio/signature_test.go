package twilio_test

import (
	"encoding/json"
	"net/url"
	"testing"

	"github.com/real-estate-os/reos/internal/contracts"
	"github.com/real-estate-os/reos/system/provider/twilio"
)

type vectors struct {
	AuthToken string            `json:"auth_token"`
	Params    map[string]string `json:"params"`
	Valid     []vector          `json:"valid"`
	Invalid   []vector          `json:"invalid"`
}

type vector struct {
	URL         string `json:"url"`
	Params      any    `json:"params"`
	Body        string `json:"body"`
	ContentType string `json:"content_type"`
	Signature   string `json:"signature"`
}

func TestSignatureVectors(t *testing.T) {
	b := contracts.Read(t, "twilio/signature_vectors.json")
	var v vectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	params := url.Values{}
	for k, val := range v.Params {
		params.Set(k, val)
	}
	body := func(vec vector) (string, []byte) {
		switch {
		case vec.Params != nil:
			return "application/x-www-form-urlencoded", []byte(params.Encode())
		case vec.ContentType != "":
			return vec.ContentType, []byte(vec.Body)
		default:
			return "application/json", []byte(vec.Body)
		}
	}
	if len(v.Valid) == 0 || len(v.Invalid) == 0 {
		t.Fatal("no vectors")
	}
	for _, vec := range v.Valid {
		ct, b := body(vec)
		if !twilio.ValidateSignature(v.AuthToken, vec.URL, ct, b, vec.Signature) {
			t.Errorf("ValidateSignature(%s, %q) = false, want true", vec.URL, vec.Signature)
		}
	}
	for _, vec := range v.Invalid {
		ct, b := body(vec)
		if twilio.ValidateSignature(v.AuthToken, vec.URL, ct, b, vec.Signature) {
			t.Errorf("ValidateSignature(%s, %q) = true, want false", vec.URL, vec.Signature)
		}
	}
	if got := twilio.Signature(v.AuthToken, "https://mycompany.com/myapp.php?foo=1&bar=2", params); got != "vOEb5UThFn24KEfnOFLQY2AE5FY=" {
		t.Errorf("Signature(base case) = %s, want vOEb5UThFn24KEfnOFLQY2AE5FY=", got)
	}
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
