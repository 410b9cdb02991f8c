// Package twilio is the product's Twilio client: the Messages resource of
// the REST API 2010-04-01, form-encoded, with Basic auth, and webhook
// signatures. The same client talks to Twilio in production and to the mock
// Twilio (system/mocktwilio) in mock mode; only the base URL differs.
package twilio

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/real-estate-os/reos/system"
)

// APIVersion is the REST API version the client speaks.
const APIVersion = "2010-04-01"

// Message is Twilio's Message resource, with every documented key. Nullable
// keys are pointers so that null is sent and read as null.
type Message struct {
	AccountSID          string            `json:"account_sid"`
	APIVersion          string            `json:"api_version"`
	Body                string            `json:"body"`
	DateCreated         string            `json:"date_created"`
	DateSent            *string           `json:"date_sent"`
	DateUpdated         string            `json:"date_updated"`
	Direction           string            `json:"direction"`
	ErrorCode           *int              `json:"error_code"`
	ErrorMessage        *string           `json:"error_message"`
	From                *string           `json:"from"`
	MessagingServiceSID *string           `json:"messaging_service_sid"`
	NumMedia            string            `json:"num_media"`
	NumSegments         string            `json:"num_segments"`
	Price               *string           `json:"price"`
	PriceUnit           *string           `json:"price_unit"`
	SID                 string            `json:"sid"`
	Status              string            `json:"status"`
	SubresourceURIs     map[string]string `json:"subresource_uris"`
	To                  string            `json:"to"`
	URI                 string            `json:"uri"`
}

// Error is Twilio's error body, also used as the Go error.
type Error struct {
	Code     int    `json:"code"`
	Message  string `json:"message"`
	MoreInfo string `json:"more_info"`
	Status   int    `json:"status"`
}

func (e *Error) Error() string {
	return fmt.Sprintf("twilio: %d %s (HTTP %d)", e.Code, e.Message, e.Status)
}

// Client calls the Messages API.
type Client struct {
	BaseURL    string // https://api.twilio.com, or the mock's URL
	AccountSID string
	AuthToken  string
	From       string // default sender
	HTTP       *http.Client
}

var _ system.SMSSender = (*Client)(nil)

func (c *Client) messagesURL(sid string) string {
	base := strings.TrimRight(c.BaseURL, "/") + "/" + APIVersion + "/Accounts/" + url.PathEscape(c.AccountSID)
	if sid == "" {
		return base + "/Messages.json"
	}
	return base + "/Messages/" + url.PathEscape(sid) + ".json"
}

// Create sends a message. params are the form fields of Twilio's
// CreateMessage request (To, From, Body, StatusCallback, …).
func (c *Client) Create(ctx context.Context, params url.Values) (*Message, error) {
	var m Message
	return &m, c.do(ctx, http.MethodPost, c.messagesURL(""), params, http.StatusCreated, &m)
}

// Fetch reads one message.
func (c *Client) Fetch(ctx context.Context, sid string) (*Message, error) {
	var m Message
	return &m, c.do(ctx, http.MethodGet, c.messagesURL(sid), nil, http.StatusOK, &m)
}

// List returns the newest messages (one page of up to 50) sent to to from
// from.
func (c *Client) List(ctx context.Context, to, from string) ([]Message, error) {
	var page struct {
		Messages []Message `json:"messages"`
	}
	q := url.Values{"To": {to}, "From": {from}, "PageSize": {"50"}}
	return page.Messages, c.do(ctx, http.MethodGet, c.messagesURL("")+"?"+q.Encode(), nil, http.StatusOK, &page)
}

// FindSMS lists the texts Twilio holds from one number to another (one
// page, newest first). A date Twilio wrote in another form is the zero time.
func (c *Client) FindSMS(ctx context.Context, from, to string) ([]system.SentSMS, error) {
	msgs, err := c.List(ctx, to, from)
	if err != nil {
		return nil, SystemError(err)
	}
	out := make([]system.SentSMS, len(msgs))
	for i, m := range msgs {
		created, _ := time.Parse(time.RFC1123Z, m.DateCreated)
		out[i] = system.SentSMS{SID: m.SID, Body: m.Body, Created: created}
	}
	return out, nil
}

// SendSMS sends m from m.From, or the client's default sender.
func (c *Client) SendSMS(ctx context.Context, m *system.SMS) (*system.SMSResult, error) {
	from := m.From
	if from == "" {
		from = c.From
	}
	params := url.Values{"To": {m.To}, "From": {from}, "Body": {m.Body}}
	if m.StatusCallback != "" {
		params.Set("StatusCallback", m.StatusCallback)
	}
	msg, err := c.Create(ctx, params)
	if err != nil {
		return nil, SystemError(err)
	}
	return &system.SMSResult{SID: msg.SID, Status: msg.Status}, nil
}

// Check asks for one message of the account: it proves the API answers and
// the credentials are accepted.
func (c *Client) Check(ctx context.Context) error {
	var list struct{}
	return c.do(ctx, http.MethodGet, c.messagesURL("")+"?PageSize=1", nil, http.StatusOK, &list)
}

// SystemError maps Twilio's answer onto the product's error codes.
func SystemError(err error) error {
	te, ok := err.(*Error)
	if !ok {
		return system.Errorf(system.EUNAVAILABLE, "twilio: %v", err)
	}
	switch {
	case te.Code == 21610:
		return system.Errorf(system.EDNC, "the recipient has opted out of messages (Twilio %d)", te.Code)
	case te.Status == http.StatusTooManyRequests || te.Status >= 500:
		return system.Errorf(system.EUNAVAILABLE, "twilio: %s (%d)", te.Message, te.Code)
	case te.Status == http.StatusUnauthorized || te.Status == http.StatusForbidden:
		return system.Errorf(system.EUNAVAILABLE, "twilio refused the credentials: %s (%d)", te.Message, te.Code)
	}
	return system.Errorf(system.EINVALID, "twilio: %s (%d)", te.Message, te.Code)
}

func (c *Client) do(ctx context.Context, method, u string, form url.Values, want int, out any) error {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(c.AccountSID, c.AuthToken)
	res, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return err
	}
	if res.StatusCode != want {
		te := &Error{Status: res.StatusCode}
		if json.Unmarshal(b, te) != nil || te.Code == 0 {
			te.Message = fmt.Sprintf("unexpected answer %d", res.StatusCode)
		}
		if te.Status == 0 {
			te.Status = res.StatusCode
		}
		return te
	}
	return json.Unmarshal(b, out)
}

// Opt-out handling keywords, as Twilio's default Advanced Opt-Out has them.
