package sendgrid

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/real-estate-os/reos/system"
)

// MessageIDArg is the custom argument that carries the product's message id
// on every send, so that SendGrid's events name the message they are about.
const MessageIDArg = "reos_message_id"

// Client sends email with SendGrid's v3 Mail Send API
// (POST /v3/mail/send), the way tsg_mail_v3.json describes it.
type Client struct {
	// BaseURL is https://api.sendgrid.com, https://api.eu.sendgrid.com, or
	// a contract double's address.
	BaseURL string
	APIKey  string
	// From sends Check's sandbox message (to itself).
	From string
	// Sandbox sends every message in SendGrid's sandbox mode: validated,
	// answered 200, delivered to nobody.
	Sandbox bool
	HTTP    *http.Client
}

// Mail is the Mail Send request body: the parts of it the product uses.
type Mail struct {
	Personalizations []Personalization `json:"personalizations"`
	From             Address           `json:"from"`
	Subject          string            `json:"subject,omitempty"`
	Content          []Content         `json:"content,omitempty"`
	Headers          map[string]string `json:"headers,omitempty"`
	CustomArgs       map[string]string `json:"custom_args,omitempty"`
	MailSettings     *MailSettings     `json:"mail_settings,omitempty"`
}

// Personalization is one envelope.
type Personalization struct {
	To []Address `json:"to"`
}

// Address is an email address with an optional display name.
type Address struct {
	Email string `json:"email"`
	Name  string `json:"name,omitempty"`
}

// Content is one MIME body.
type Content struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// MailSettings holds sandbox mode: validated, answered 200, never sent.
type MailSettings struct {
	SandboxMode *Setting `json:"sandbox_mode,omitempty"`
}

// Setting switches a mail setting.
type Setting struct {
	Enable bool `json:"enable"`
}

// ErrorResponse is SendGrid's error body.
type ErrorResponse struct {
	Errors []ErrorItem `json:"errors"`
	ID     string      `json:"id,omitempty"`
}

// ErrorItem is one error. Field is null when no field is at fault; Help
// is a URL string or null (the spec says object; QUIRKS.md).
type ErrorItem struct {
	Message string  `json:"message"`
	Field   *string `json:"field"`
	Help    any     `json:"help"`
}

// Error is a refused send.
type Error struct {
	Status int
	ErrorResponse
}

func (e *Error) Error() string {
	var msgs []string
	for _, it := range e.Errors {
		if it.Field != nil && *it.Field != "" && *it.Field != "null" {
			msgs = append(msgs, *it.Field+": "+it.Message)
		} else {
			msgs = append(msgs, it.Message)
		}
	}
	if len(msgs) == 0 {
		msgs = append(msgs, http.StatusText(e.Status))
	}
	return fmt.Sprintf("sendgrid: %d: %s", e.Status, strings.Join(msgs, "; "))
}

// SendEmail sends e and returns the X-Message-Id SendGrid gave it (in
// sandbox mode, SendGrid sends none and delivers nothing). A
// request SendGrid refuses as malformed (400) is EINVALID; an address that
// is not one is refused before sending. Anything else (401, 403, 429,
// 5xx, no answer) may pass and is returned for a retry.
func (c *Client) SendEmail(ctx context.Context, e *system.Email) (string, error) {
	from, to, err := e.Addresses()
	if err != nil {
		return "", err
	}
	m := Mail{
		Personalizations: []Personalization{{To: []Address{{Email: to.Address, Name: to.Name}}}},
		From:             Address{Email: from.Address, Name: from.Name},
		Subject:          e.Subject,
		Headers:          e.Headers,
	}
	if e.Text != "" { // SendGrid refuses an empty content value
		m.Content = append(m.Content, Content{Type: "text/plain", Value: e.Text})
	}
	if e.HTML != "" {
		m.Content = append(m.Content, Content{Type: "text/html", Value: e.HTML})
	}
	if e.MessageID != "" {
		m.CustomArgs = map[string]string{MessageIDArg: e.MessageID}
	}
	want := http.StatusAccepted
	if c.Sandbox {
		m.MailSettings, want = &MailSettings{SandboxMode: &Setting{Enable: true}}, http.StatusOK
	}
	id, err := c.send(ctx, m, want)
	var se *Error
	if errors.As(err, &se) && se.Status == http.StatusBadRequest {
		return "", system.Errorf(system.EINVALID, "%v", err)
	}
	return id, err
}

// Check sends a sandbox message from From to itself: SendGrid validates
// the key and the request, answers 200 and delivers nothing.
func (c *Client) Check(ctx context.Context) error {
	_, err := c.send(ctx, Mail{
		Personalizations: []Personalization{{To: []Address{{Email: c.From}}}},
		From:             Address{Email: c.From},
		Subject:          "reos provider check",
		Content:          []Content{{Type: "text/plain", Value: "A sandbox-mode request: SendGrid sends nothing."}},
		MailSettings:     &MailSettings{SandboxMode: &Setting{Enable: true}},
	}, http.StatusOK)
	return err
}

// send posts m and returns the X-Message-Id of an answer with status want.
func (c *Client) send(ctx context.Context, m Mail, want int) (string, error) {
	body, err := json.Marshal(m)
	if err != nil {
		return "", err
	}
	base := strings.TrimRight(c.BaseURL, "/")
	if base == "" {
		base = "https://api.sendgrid.com"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v3/mail/send", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+c.APIKey)
	req.Header.Set("Content-Type", "application/json")
	res, err := c.HTTP.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return "", err
	}
	if res.StatusCode != want {
		se := &Error{Status: res.StatusCode}
		_ = json.Unmarshal(b, &se.ErrorResponse)
		return "", se
	}
	return res.Header.Get("X-Message-Id"), nil
}
