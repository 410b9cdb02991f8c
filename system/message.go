package system

import (
	"context"
	"time"
)

// MessageStatus is where a message stands. Outbound messages move
// queued → sending → sent → delivered, or end undelivered, failed, refused
// (do-not-contact) or suppressed (external sends off); inbound messages are
// received.
type MessageStatus string

// The message statuses.
const (
	MessageQueued      MessageStatus = "queued"
	MessageSending     MessageStatus = "sending"
	MessageSent        MessageStatus = "sent"
	MessageDelivered   MessageStatus = "delivered"
	MessageUndelivered MessageStatus = "undelivered"
	MessageFailed      MessageStatus = "failed"
	MessageRefused     MessageStatus = "refused"
	// MessageSuppressed is a production send held back because
	// FEATURE_EXTERNAL_SENDS is off: no real recipient got it.
	MessageSuppressed MessageStatus = "suppressed"
	MessageReceived   MessageStatus = "received"
)

// Rank orders statuses so that late or repeated vendor callbacks never move
// a message backwards.
func (s MessageStatus) Rank() int {
	switch s {
	case MessageQueued:
		return 0
	case MessageSending:
		return 1
	case MessageSent:
		return 2
	case MessageDelivered, MessageUndelivered, MessageFailed, MessageRefused, MessageSuppressed, MessageReceived:
		return 3
	}
	return -1
}

// Thread is a conversation with one owner over one channel.
type Thread struct {
	ID          int64      `json:"id"`
	PropertyID  int64      `json:"property_id"`
	Channel     Channel    `json:"channel"`
	Counterpart string     `json:"counterpart"` // the owner's address or number
	Subject     string     `json:"subject,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	Messages    []*Message `json:"messages"`
}

// Message is one email or SMS in a thread.
type Message struct {
	ID         string        `json:"id"`
	ThreadID   int64         `json:"thread_id"`
	PropertyID int64         `json:"property_id"`
	Direction  string        `json:"direction"` // outbound or inbound
	Channel    Channel       `json:"channel"`
	To         string        `json:"to"`
	From       string        `json:"from"`
	Subject    string        `json:"subject,omitempty"`
	Body       string        `json:"body"`
	Status     MessageStatus `json:"status"`
	ProviderID string        `json:"provider_id,omitempty"` // Twilio sid or email Message-ID
	Error      string        `json:"error,omitempty"`
	// TrackingToken names the message in open and click tracking URLs.
	TrackingToken string         `json:"-"`
	Links         []string       `json:"-"` // click-tracked links, by index
	Events        []MessageEvent `json:"events,omitempty"`
	ClaimedAt     *time.Time     `json:"-"`
	CreatedAt     time.Time      `json:"created_at"`
	UpdatedAt     time.Time      `json:"updated_at"`
}

// MessageEvent is something that happened to a message: a vendor status,
// an open, a click, a refusal.
type MessageEvent struct {
	Type      string         `json:"type"`
	Data      map[string]any `json:"data,omitempty"`
	CreatedAt time.Time      `json:"created_at"`
}

// MessageService stores threads and messages. Queuing a message also
// schedules its sending, in one transaction.
type MessageService interface {
	// QueueMessage stores m (outbound, queued) in the property's thread
	// with its counterpart, creating the thread, and schedules the send.
	QueueMessage(ctx context.Context, m *Message) error
	// RefuseMessage records m as refused by the do-not-contact list, so the
	// attempt is on record; nothing is sent.
	RefuseMessage(ctx context.Context, m *Message) error
	// FindMessage returns ENOTFOUND if there is no such message.
	FindMessage(ctx context.Context, id string) (*Message, error)
	// FindMessageByProviderID finds a message by its vendor id.
	FindMessageByProviderID(ctx context.Context, channel Channel, providerID string) (*Message, error)
	// FindMessageByToken finds a message by its tracking token.
	FindMessageByToken(ctx context.Context, token string) (*Message, error)
	// FindThreads returns the property's threads with their messages.
	FindThreads(ctx context.Context, propertyID int64) ([]*Thread, error)
	// ClaimMessage moves a queued message to sending and returns it; a
	// message that is not queued is returned unchanged, claimed false.
	ClaimMessage(ctx context.Context, id string) (m *Message, claimed bool, err error)
	// SetMessageStatus moves a message forward (never back, see Rank),
	// recording the vendor id, the error and an event.
	SetMessageStatus(ctx context.Context, id string, status MessageStatus, providerID, errText string) error
	// RequeueMessage puts a failed message back to queued; the caller
	// republishes it.
	RequeueMessage(ctx context.Context, id string) error
	// AddInbound appends an inbound SMS to the thread of the property whose
	// owner has that number. Returns ENOTFOUND when no owner has it.
	AddInbound(ctx context.Context, m *Message) error
	// RecordEvent appends an event to a message.
	RecordEvent(ctx context.Context, id, typ string, data map[string]any) error
}

// DNCService keeps the do-not-contact list.
type DNCService interface {
	// CheckContact applies the do-not-contact rule (Contactable) to a
	// message about propertyID to the recipient to on channel, in one read.
	// Returns ENOTFOUND if the property does not exist.
	CheckContact(ctx context.Context, propertyID int64, channel Channel, to string) (Contactable, error)
	// AddDNC adds an entry; adding one that exists changes nothing.
	AddDNC(ctx context.Context, e DNCEntry, source string) error
	// RemoveDNC removes the entry only if source put it there.
	RemoveDNC(ctx context.Context, kind DNCKind, value, source string) error
}

// DeadLetter is a job or send that used up its attempts.
type DeadLetter struct {
	ID           int64      `json:"id"`
	MessageID    string     `json:"message_id"`
	Kind         string     `json:"kind"`
	Payload      []byte     `json:"-"`
	Reason       string     `json:"reason"`
	Attempts     int        `json:"attempts"`
	Deaths       any        `json:"x_death"`
	FirstFailure string     `json:"first_failure"`
	LastFailure  string     `json:"last_failure"`
	CreatedAt    time.Time  `json:"created_at"`
	ReplayedAt   *time.Time `json:"replayed_at"`
	Replays      int        `json:"replays"`
}

// Idempotency is a stored answer to a request with an Idempotency-Key.
type Idempotency struct {
	RequestHash string
	Status      int // 0 while the first request is in flight
	Headers     map[string]string
	Body        []byte
}

// IdempotencyService remembers requests by key, per user.
type IdempotencyService interface {
	// BeginRequest claims key for a request with hash. When the key is
	// already known (and not expired) it returns the stored record instead,
	// and claimed false.
	BeginRequest(ctx context.Context, userID int64, key, hash string) (rec *Idempotency, claimed bool, err error)
	// CompleteRequest stores the answer to replay.
	CompleteRequest(ctx context.Context, userID int64, key string, rec *Idempotency) error
	// ReleaseRequest forgets a claimed key whose request failed, so the
	// client may try again.
	ReleaseRequest(ctx context.Context, userID int64, key string) error
}

// DeadLetterService lists and tracks dead letters.
type DeadLetterService interface {
	// FindDeadLetters returns the dead letters, newest first.
	FindDeadLetters(ctx context.Context) ([]*DeadLetter, error)
	// FindDeadLetter returns ENOTFOUND if there is no such dead letter.
	FindDeadLetter(ctx context.Context, id int64) (*DeadLetter, error)
	// MarkReplayed records a replay.
	MarkReplayed(ctx context.Context, id int64) error
}

// TemplateService reads the stage-aware message templates.
type TemplateService interface {
	// FindTemplate returns ENOTFOUND when the stage has no template.
	FindTemplate(ctx context.Context, channel Channel, stage Stage) (Template, error)
}
