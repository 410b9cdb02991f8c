package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/real-estate-os/reos/system/egress"
)

// client calls a running reos API (and, in mock mode, its stand-ins) the
// way any user would: over HTTP with a bearer token.
type client struct {
	base  string
	token string
	http  *http.Client
	// record, when set, sees every exchange (the evidence pack's
	// transcripts).
	record func(req *http.Request, reqBody []byte, res *http.Response, resBody []byte)
}

// newClient returns a client of the stack at base whose connections go
// through the egress guard: loopback and base's own host only.
func newClient(base string) *client {
	g := &egress.Guard{}
	if u, err := url.Parse(base); err == nil && u.Hostname() != "" {
		g.Allow = []string{strings.ToLower(u.Hostname())}
	}
	return &client{base: base, http: g.HTTPClient("reos-cli", 15*time.Second)}
}

// do sends body (JSON, when not nil) to path (or to a full URL) and decodes
// a 2xx answer into out. Any other status is an error quoting the body.
func (c *client) do(method, path string, body, out any, header ...string) error {
	var rd io.Reader
	var reqBody []byte
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd, reqBody = bytes.NewReader(b), b
	}
	u := path
	if len(path) > 0 && path[0] == '/' {
		u = c.base + path
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if c.record != nil {
		c.record(req, reqBody, res, b)
	}
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %d %s", method, path, res.StatusCode, bytes.TrimSpace(b))
	}
	if out == nil || len(b) == 0 {
		return nil
	}
	return json.Unmarshal(b, out)
}

// login signs in and keeps the token.
func (c *client) login(email, password string) error {
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := c.do("POST", "/api/v1/auth/login", map[string]string{"email": email, "password": password}, &out); err != nil {
		return err
	}
	c.token = out.AccessToken
	return nil
}
