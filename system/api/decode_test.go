package api_test

import (
	"testing"

	"github.com/real-estate-os/reos/system"
	"github.com/real-estate-os/reos/system/api"
)

type body struct {
	Stage *string   `json:"stage"`
	Count int       `json:"count"`
	Tags  *[]string `json:"tags"`
}

func TestDecodeJSONBody(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		code  string
		field string
	}{
		{"valid", `{"stage":"new","count":2,"tags":["a"]}`, "", ""},
		{"null fields", `{"stage":null}`, "", ""},
		{"empty", `   `, system.EINVALID, ""},
		{"malformed", `{"stage":`, system.EINVALID, ""},
		{"syntax", `{stage: 1}`, system.EINVALID, ""},
		{"unknown field", `{"nope":1}`, system.EINVALID, "nope"},
		{"wrong type", `{"count":"two"}`, system.EINVALID, "count"},
		{"array for object", `[]`, system.EINVALID, ""},
		{"trailing value", `{}{}`, system.EINVALID, ""},
		{"invalid utf-8", "{\"stage\":\"\xc3\x28\"}", system.EINVALID, ""},
	}
	for _, tt := range tests {
		var b body
		err := api.DecodeJSONBody([]byte(tt.in), &b)
		if got := system.ErrorCode(err); got != tt.code {
			t.Errorf("%s: DecodeJSONBody(%q) = %v, want code %q", tt.name, tt.in, err, tt.code)
			continue
		}
		if tt.field != "" && err.(*system.Error).Fields[tt.field] == "" {
			t.Errorf("%s: error %v does not name %q", tt.name, err, tt.field)
		}
	}
}

// FuzzDecodeJSONBody checks that no input makes decoding panic or fail with
// anything but a client error.
func FuzzDecodeJSONBody(f *testing.F) {
	for _, seed := range []string{`{"stage":"new"}`, `{"count":1e400}`, `{"tags":[1,2]}`, `{"a":`, "\xff", `null`, `{}`, `"x"`, `{"stage":"\u0000"}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var b body
		err := api.DecodeJSONBody(in, &b)
		if err != nil && system.ErrorCode(err) != system.EINVALID {
			t.Fatalf("DecodeJSONBody(%q) = %v, want nil or %s", in, err, system.EINVALID)
		}
	})
}
