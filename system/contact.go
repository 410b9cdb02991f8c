package system

import "fmt"

// Channel is how the product reaches an owner.
type Channel string

// The channels.
const (
	ChannelEmail Channel = "email"
	ChannelSMS   Channel = "sms"
)

// Template is the stage-aware message text for one channel. Subject and Body
// are text/template sources over the property, its owner and the agent.
type Template struct {
	Channel Channel `json:"channel"`
	Stage   Stage   `json:"stage"`
	Subject string  `json:"subject,omitempty"` // email only
	Body    string  `json:"body"`
}

// DNCKind says what a do-not-contact entry blocks.
type DNCKind string

// The kinds of do-not-contact entry.
const (
	DNCPhone DNCKind = "phone" // an E.164 number
	DNCEmail DNCKind = "email" // a lower-cased address
)

// DNCEntry is one phone number or email address on the do-not-contact list.
type DNCEntry struct {
	Kind   DNCKind `json:"kind"`
	Value  string  `json:"value"`
	Reason string  `json:"reason"`
	// AddedOn is the day the entry was added, YYYY-MM-DD.
	AddedOn string `json:"added_on"`
}

// Contactable is the do-not-contact rule, the one that decides both when a
// message is asked for and when a worker is about to send it: a message may
// not go to a recipient on the list for its channel, nor to anyone about a
// property whose owner is on the list by any phone or address (an owner who
// replied STOP to a text is not emailed either).
type Contactable struct {
	RecipientListed bool // the recipient, on the message's channel
	OwnerListed     bool // the property's owner, by any channel
}

// Blocked reports whether the message may not go out.
func (c Contactable) Blocked() bool { return c.RecipientListed || c.OwnerListed }

// Whom names what the list holds, for a refusal: the recipient to, or the
// owner of the property.
func (c Contactable) Whom(propertyID int64, to string) string {
	if c.RecipientListed {
		return to
	}
	return fmt.Sprintf("the owner of property %d", propertyID)
}
