package system

import (
	"slices"
	"strings"
)

// The SMS keywords carriers and Twilio act on.
var (
	optOutWords = []string{"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT", "STOP ALL"}
	optInWords  = []string{"START", "YES", "UNSTOP"}
	helpWords   = []string{"HELP", "INFO"}
)

// Keyword returns STOP, START or HELP when an SMS body is one of the
// standard opt-out, opt-in or help keywords, and "" otherwise.
func Keyword(body string) string {
	word := strings.ToUpper(strings.Join(strings.Fields(body), " "))
	switch {
	case slices.Contains(optOutWords, word):
		return "STOP"
	case slices.Contains(optInWords, word):
		return "START"
	case slices.Contains(helpWords, word):
		return "HELP"
	}
	return ""
}

// OptedOut reports whether the owner's last keyword in an SMS thread was an
// opt-out (messages come oldest first).
func (t *Thread) OptedOut() bool {
	out := false
	if t.Channel != ChannelSMS {
		return false
	}
	for _, m := range t.Messages {
		if m.Direction != "inbound" {
			continue
		}
		switch Keyword(m.Body) {
		case "STOP":
			out = true
		case "START":
			out = false
		}
	}
	return out
}
