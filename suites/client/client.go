// Package client calls the product's API (and the stand-ins' control APIs)
// over HTTP, the way any user would, keeping each exchange for transcripts.
package client

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/real-estate-os/reos/evidence"
	"github.com/real-estate-os/reos/system/egress"
)

// Client calls the product's API (and the stand-ins' control APIs) as one
// spec: with its bearer token and its client address.
type Client struct {
	Base  string
	Token string
	// IP is sent as X-Forwarded-For: the product believes it from a
	// trusted proxy (TRUSTED_PROXIES), so each spec has limits of its own.
	IP   string
	HTTP *http.Client
	// Seen, when set, gets every exchange (an evidence pack's transcripts).
	Seen func(*Response)
}

// Guarded returns a client that may reach only loopback and base's host:
// anything else is refused before any lookup and written to sink.
func Guarded(base string, sink io.Writer) *http.Client {
	g := &egress.Guard{Sink: sink}
	if u, err := url.Parse(base); err == nil {
		g.Allow = append(g.Allow, strings.ToLower(u.Hostname()))
	}
	return g.HTTPClient("suite", 30*time.Second)
}

// Response is an answer, with the request that got it (for transcripts).
type Response struct {
	Status      int
	Header      http.Header
	Body        []byte
	Request     *http.Request
	RequestBody []byte
	Raw         *http.Response
}

// JSON decodes the body into v.
func (r *Response) JSON(v any) error {
	if err := json.Unmarshal(r.Body, v); err != nil {
		return fmt.Errorf("%s %s answered %d with a body that is not the JSON expected: %v: %.300s", r.Request.Method, r.Request.URL.Path, r.Status, err, r.Body)
	}
	return nil
}

// String is the status line and the start of the body, for messages.
// String shows the exchange for a failure message, secrets redacted (a
// message goes into junit.xml, and so into the pack).
func (r *Response) String() string {
	body := evidence.RedactBody(r.Header.Get("Content-Type"), bytes.TrimSpace(r.Body))
	var compact bytes.Buffer
	if json.Compact(&compact, body) == nil {
		body = compact.Bytes()
	}
	return fmt.Sprintf("%s %s → %d %.400s", r.Request.Method, r.Request.URL.Path, r.Status, body)
}

// Do sends a request. path is the product's (/api/v1/…) or a full URL.
// body may be nil, a string or []byte (sent as is, form-encoded unless a
// Content-Type header is given), or anything else (sent as JSON). header
// holds name, value pairs; a value of "" removes a default.
func (c *Client) Do(method, path string, body any, header ...string) (*Response, error) {
	var raw []byte
	contentType := ""
	switch b := body.(type) {
	case nil:
	case string:
		raw, contentType = []byte(b), "application/x-www-form-urlencoded"
	case []byte:
		raw, contentType = b, "application/x-www-form-urlencoded"
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return nil, err
		}
		raw, contentType = j, "application/json"
	}
	u := path
	if !strings.HasPrefix(path, "http://") && !strings.HasPrefix(path, "https://") {
		u = c.Base + path
	}
	req, err := http.NewRequest(method, u, bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	if body == nil {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.Token != "" && strings.HasPrefix(u, c.Base) {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	if c.IP != "" {
		req.Header.Set("X-Forwarded-For", c.IP)
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] == "" {
			req.Header.Del(header[i])
		} else {
			req.Header.Set(header[i], header[i+1])
		}
	}
	httpc := c.HTTP
	if httpc == nil {
		httpc = http.DefaultClient
	}
	res, err := httpc.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	r := &Response{Status: res.StatusCode, Header: res.Header, Body: b, Request: req, RequestBody: raw, Raw: res}
	if c.Seen != nil {
		c.Seen(r)
	}
	return r, nil
}

// Expect sends a request and insists on status.
func (c *Client) Expect(status int, method, path string, body any, header ...string) (*Response, error) {
	r, err := c.Do(method, path, body, header...)
	if err != nil {
		return nil, err
	}
	if r.Status != status {
		return r, fmt.Errorf("%s, want %d", r, status)
	}
	return r, nil
}

// Login signs in with the API and keeps the bearer token.
func (c *Client) Login(email, password string) error {
	r, err := c.Expect(http.StatusOK, "POST", "/api/v1/auth/login", map[string]string{"email": email, "password": password})
	if err != nil {
		return fmt.Errorf("login as %s: %w", email, err)
	}
	var out struct {
		Token string `json:"access_token"`
	}
	if err := r.JSON(&out); err != nil {
		return err
	}
	c.Token = out.Token
	return nil
}
