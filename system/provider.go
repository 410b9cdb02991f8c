package system

import (
	"context"
	"net/mail"
	"time"
)

// The vendor-facing interfaces. Each has one implementation per vendor
// protocol (system/provider/...), configured by base URL and credentials: the
// client that talks to a local stand-in in mock mode is the one that talks to
// the vendor in production.

// Email is one outgoing message.
type Email struct {
	From    string
	To      string
	Subject string
	Text    string
	HTML    string // optional
	// MessageID is the product's id of the message. Providers carry it so
	// that delivery events name the message: SMTP as the header
	// X-Reos-Message-Id, SendGrid as the custom argument reos_message_id.
	MessageID string
	// Headers are extra headers.
	Headers map[string]string
}

// Addresses parses From and To; an address that is not one is EINVALID,
// named as the API names it.
func (e *Email) Addresses() (from, to *mail.Address, err error) {
	if from, err = mail.ParseAddress(e.From); err != nil {
		return nil, nil, Invalid(map[string]string{"from": "not an email address"})
	}
	if to, err = mail.ParseAddress(e.To); err != nil {
		return nil, nil, Invalid(map[string]string{"to_address": "not an email address"})
	}
	return from, to, nil
}

// Mailer sends email.
type Mailer interface {
	// SendEmail hands e to the mail service and returns the id it gave the
	// message. Returns EINVALID for an address the service refuses.
	SendEmail(ctx context.Context, e *Email) (id string, err error)
}

// SMS is one outgoing text message.
type SMS struct {
	From string
	To   string
	Body string
	// StatusCallback is the URL the vendor posts delivery updates to.
	StatusCallback string
}

// SMSResult is what the SMS vendor answered.
type SMSResult struct {
	SID    string
	Status string // queued, sending, sent, delivered, undelivered, failed
}

// SMSSender sends text messages.
type SMSSender interface {
	// SendSMS asks the vendor to send m. Returns EDNC when the recipient
	// has opted out with the vendor, EINVALID for numbers the vendor
	// refuses, EUNAVAILABLE when the vendor fails or throttles.
	SendSMS(ctx context.Context, m *SMS) (*SMSResult, error)
	// FindSMS lists the texts the vendor holds from one number to another,
	// newest first, so that an interrupted send can be resumed without
	// texting twice.
	FindSMS(ctx context.Context, from, to string) ([]SentSMS, error)
}

// SentSMS is a text as the vendor recorded it.
type SentSMS struct {
	SID     string
	Body    string
	Created time.Time
}

// ObjectStore keeps files such as memo PDFs.
type ObjectStore interface {
	// Put stores data under key.
	Put(ctx context.Context, key string, data []byte, contentType string) error
	// Get returns the object; ENOTFOUND if there is none.
	Get(ctx context.Context, key string) ([]byte, error)
	// PresignGet returns a URL anyone can GET the object from until expiry.
	PresignGet(ctx context.Context, key string, expiry time.Duration) (string, error)
}

// Memo is the content of an investment memo.
type Memo struct {
	Property *Property
	Reasons  []Reason
	// Text is the memo's prose, from a Writer.
	Text string
	// AsOf is the day the memo describes, YYYY-MM-DD.
	AsOf string
}

// PDFRenderer turns a memo into a PDF document.
type PDFRenderer interface {
	// RenderMemo returns the PDF. The same memo always gives the same bytes.
	RenderMemo(ctx context.Context, m *Memo) ([]byte, error)
}

// Writer writes the product's prose: memo text and owner messages.
type Writer interface {
	// WriteMemo returns the memo text for a property and its reasons.
	WriteMemo(ctx context.Context, p *Property, reasons []Reason) (string, error)
}

// CallbackVerifier checks that a callback came from whom it claims: a
// vendor's status callback or a partner's webhook. url is the full URL the
// sender was given, header and body the request's. It returns the verified
// signature, which a replay guard may remember; EUNAUTHORIZED when the
// request is unsigned or stale, EFORBIDDEN when the signature does not
// match, EUNAVAILABLE when the verifier has no key to check with.
type CallbackVerifier interface {
	VerifyCallback(url string, header map[string][]string, body []byte) (signature string, err error)
}
