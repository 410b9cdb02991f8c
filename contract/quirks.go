package contract

import (
	"strings"
)

// KnownQuirk is the verdict of an exchange that departs from the vendor's
// document in a way the vendor itself does (Quirks): recorded, with the
// quirk that explains it, never silently allowed.
const KnownQuirk = "known-quirk"

// Quirk is one place where a vendor knowingly departs from its own
// document. Each is one rule, with where the fact comes from.
type Quirk struct {
	ID       string
	Contract string
	Source   string
	// Match reports whether e's departures are exactly this quirk's.
	Match func(e Entry) bool
}

// Quirks are every known departure, one rule each (QUIRKS.md of the
// vendor contracts).
var Quirks = []Quirk{
	{ID: "twilio-errors-undocumented", Contract: "twilio",
		Source: "QUIRKS.md, Twilio: only 200/201/204 responses are documented; error bodies {code, message, more_info, status} come from Twilio's documentation",
		Match:  func(e Entry) bool { return e.Status >= 400 && only(e, undocumentedStatus) }},
	{ID: "sendgrid-sandbox-200", Contract: "sendgrid",
		Source: "QUIRKS.md, SendGrid: only 202 is documented for mail send; in sandbox mode the service answers 200 and sends nothing",
		Match: func(e Entry) bool {
			return e.Operation == "POST /v3/mail/send" && e.Status == 200 && only(e, undocumentedStatus)
		}},
	{ID: "sendgrid-errors-help-string", Contract: "sendgrid",
		Source: "QUIRKS.md, SendGrid: errors[].help is typed as an object; the service sends a URL string (or null)",
		Match: func(e Entry) bool {
			return only(e, func(d Departure) bool { return d.Where == "response" && strings.HasSuffix(d.Pointer, "/help") })
		}},
	{ID: "sendgrid-custom-args-object", Contract: "sendgrid",
		Source: "QUIRKS.md, SendGrid: custom_args is typed as a string; the SDK and the service use an object",
		Match: func(e Entry) bool {
			return only(e, func(d Departure) bool {
				return d.Where == "request" && strings.Contains(d.Pointer+d.Message, "custom_args") || accepted(d)
			})
		}},
	{ID: "openai-errors-undocumented", Contract: "openai",
		Source: "QUIRKS.md, OpenAI: POST /chat/completions documents only 200 and 429; error bodies follow ErrorResponse",
		Match:  func(e Entry) bool { return e.Status >= 400 && only(e, undocumentedStatus) }},
}

// accepted is the departure Judge adds when an answer accepted a request
// outside the contract.
func accepted(d Departure) bool {
	return d.Where == "response" && strings.Contains(d.Message, "to a request its contract does not allow")
}

func undocumentedStatus(d Departure) bool {
	return d.Where == "response" && strings.Contains(d.Message, "status is not supported")
}

// only reports whether e has departures and every one satisfies f.
func only(e Entry, f func(Departure) bool) bool {
	if len(e.Departures) == 0 {
		return false
	}
	for _, d := range e.Departures {
		if !f(d) {
			return false
		}
	}
	return true
}

// quirk returns the known quirk that explains a violation of contract, if
// one does.
func quirk(contract string, e Entry) string {
	for _, q := range Quirks {
		if q.Contract == contract && q.Match(e) {
			return q.ID
		}
	}
	return ""
}
