package system

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
