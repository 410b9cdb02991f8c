package mocktwilio_test

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/real-estate-os/reos/internal/contracts"
	"github.com/real-estate-os/reos/system"
)

// schema is the part of an OpenAPI schema the contract check reads.
type schema struct {
	Ref        string             `json:"$ref"`
	Type       string             `json:"type"`
	Format     string             `json:"format"`
	Pattern    string             `json:"pattern"`
	Enum       []string           `json:"enum"`
	Nullable   bool               `json:"nullable"`
	Properties map[string]*schema `json:"properties"`
}

type spec struct {
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Schemas map[string]*schema `json:"schemas"`
	} `json:"components"`
}

func loadSpec(t *testing.T) *spec {
	t.Helper()
	b := contracts.Read(t, "twilio/twilio_api_v2010.json")
	var s spec
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return &s
}

// conform checks that doc has every property the schema documents (Twilio
// returns every key, null or not) with the documented type, pattern, enum
// and date format.
func conform(t *testing.T, s *spec, sc *schema, doc map[string]any, where string) {
	t.Helper()
	for name, prop := range sc.Properties {
		if prop.Ref != "" {
			prop = s.Components.Schemas[filepath.Base(prop.Ref)]
		}
		v, ok := doc[name]
		if !ok {
			t.Errorf("%s: key %q is missing", where, name)
			continue
		}
		if v == nil {
			if !prop.Nullable && prop.Type != "" {
				t.Errorf("%s: %q is null but not nullable", where, name)
			}
			continue
		}
		switch prop.Type {
		case "string":
			str, ok := v.(string)
			if !ok {
				t.Errorf("%s: %q = %v, want a string", where, name, v)
				continue
			}
			if prop.Pattern != "" && !regexp.MustCompile(prop.Pattern).MatchString(str) {
				t.Errorf("%s: %q = %q does not match %s", where, name, str, prop.Pattern)
			}
			if len(prop.Enum) > 0 && !slices.Contains(prop.Enum, str) {
				t.Errorf("%s: %q = %q is not one of %v", where, name, str, prop.Enum)
			}
			if prop.Format == "date-time-rfc-2822" {
				if _, err := time.Parse(time.RFC1123Z, str); err != nil {
					t.Errorf("%s: %q = %q is not an RFC 2822 date", where, name, str)
				}
			}
		case "integer":
			if f, ok := v.(float64); !ok || f != float64(int64(f)) {
				t.Errorf("%s: %q = %v, want an integer", where, name, v)
			}
		case "object":
			if _, ok := v.(map[string]any); !ok {
				t.Errorf("%s: %q = %v, want an object", where, name, v)
			}
		case "array":
			if _, ok := v.([]any); !ok {
				t.Errorf("%s: %q = %v, want an array", where, name, v)
			}
		}
	}
}

func TestMessageResourceMatchesTheSpec(t *testing.T) {
	s := loadSpec(t)
	message := s.Components.Schemas["api.v2010.account.message"]
	if message == nil || len(message.Properties) < 20 {
		t.Fatal("the spec has no Message schema")
	}
	m := startMock(t, "")
	hooks := newWebhooks(t)
	res, err := m.client.SendSMS(context.Background(), &system.SMS{To: "+14155550100", Body: "contract", StatusCallback: hooks.srv.URL + "/cb"})
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string) map[string]any {
		req, _ := http.NewRequest("GET", m.url+path, nil)
		req.SetBasicAuth(sid, token)
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		if ct := r.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
			t.Errorf("%s: Content-Type %q", path, ct)
		}
		var doc map[string]any
		json.NewDecoder(r.Body).Decode(&doc)
		return doc
	}
	conform(t, s, message, get("/2010-04-01/Accounts/"+sid+"/Messages/"+res.SID+".json"), "fetch (queued)")
	eventually(t, "delivered", func() bool { return len(hooks.statuses(res.SID)) == 4 })
	conform(t, s, message, get("/2010-04-01/Accounts/"+sid+"/Messages/"+res.SID+".json"), "fetch (delivered)")

	var listOp struct {
		Get struct {
			Responses map[string]struct {
				Content map[string]struct {
					Schema *schema `json:"schema"`
				} `json:"content"`
			} `json:"responses"`
		} `json:"get"`
	}
	raw, _ := json.Marshal(s.Paths["/2010-04-01/Accounts/{AccountSid}/Messages.json"])
	json.Unmarshal(raw, &listOp)
	list := listOp.Get.Responses["200"].Content["application/json"].Schema
	if list == nil {
		t.Fatal("the spec has no list response schema")
	}
	doc := get("/2010-04-01/Accounts/" + sid + "/Messages.json?PageSize=1")
	conform(t, s, list, doc, "list")
	for _, item := range doc["messages"].([]any) {
		conform(t, s, message, item.(map[string]any), "list item")
	}
}
