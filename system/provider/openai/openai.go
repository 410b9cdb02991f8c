// Package openai writes memo text with OpenAI's Chat Completions API
// (POST /chat/completions), the way the published OpenAPI document
// describes it, for FEATURE_USE_LLM=true.
package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/real-estate-os/reos/system"
)

// Client is a memo Writer backed by a chat model.
type Client struct {
	// BaseURL is https://api.openai.com/v1 or a contract double's address.
	BaseURL string
	APIKey  string
	Model   string
	HTTP    *http.Client
}

var _ system.Writer = (*Client)(nil)

// Message is one chat message.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Request is the chat completion request the writer sends.
type Request struct {
	Model       string    `json:"model"`
	Messages    []Message `json:"messages"`
	Temperature float64   `json:"temperature"`
	// Seed asks for the same answer to the same request, as far as the
	// service can give it.
	Seed int64 `json:"seed"`
}

// Response is the part of a chat completion the writer reads.
type Response struct {
	ID      string `json:"id"`
	Model   string `json:"model"`
	Choices []struct {
		Message struct {
			Content *string `json:"content"`
			Refusal *string `json:"refusal"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
}

// ErrorBody is OpenAI's error response.
type ErrorBody struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	} `json:"error"`
}

// Error is a refused request.
type Error struct {
	Status int
	ErrorBody
}

func (e *Error) Error() string {
	msg := e.ErrorBody.Error.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	return fmt.Sprintf("openai: %d: %s", e.Status, msg)
}

// systemPrompt tells the model what a memo is.
const systemPrompt = "You write short investment memos for a real-estate deal pipeline. " +
	"Write two or three plain-text paragraphs for the investor: the deal, its numbers, and the next step. " +
	"Use only the facts given. No headings, no lists, no markdown."

// Prompt is the user message for a property and its reasons: the facts the
// memo may use, in a fixed order, so the same property gives the same prompt.
func Prompt(p *system.Property, reasons []system.Reason) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Property %d: %s, %s, %s %s.\n", p.ID, p.Address, p.City, p.State, p.Zip)
	fmt.Fprintf(&b, "Stage: %s. Listed on %s.\n", p.Stage, p.ListedOn)
	fmt.Fprintf(&b, "List price %s; after-repair value %s; rehab %s; monthly rent %s; cap rate %s.\n",
		system.Dollars(p.ListPriceCents), system.Dollars(p.ARVCents), system.Dollars(p.RehabCents), system.Dollars(p.MonthlyRentCents), system.Percent(p.CapRateBps))
	if len(reasons) > 0 {
		b.WriteString("Next best actions, most urgent first:\n")
		for _, r := range reasons {
			fmt.Fprintf(&b, "- %s: %s\n", r.Reason, r.Action)
		}
	}
	return b.String()
}

// WriteMemo asks the model for the memo text. A request the service
// refuses as malformed (400, 404 model) is EINVALID; anything else (401,
// 429, 5xx, no answer) may pass and is returned for a retry.
func (c *Client) WriteMemo(ctx context.Context, p *system.Property, reasons []system.Reason) (string, error) {
	req := Request{Model: c.Model, Temperature: 0, Seed: 1,
		Messages: []Message{{Role: "system", Content: systemPrompt}, {Role: "user", Content: Prompt(p, reasons)}}}
	var res Response
	err := c.do(ctx, http.MethodPost, "/chat/completions", req, &res)
	var oe *Error
	if errors.As(err, &oe) && (oe.Status == http.StatusBadRequest || oe.Status == http.StatusNotFound) {
		return "", system.Errorf(system.EINVALID, "%v", err)
	}
	if err != nil {
		return "", err
	}
	if len(res.Choices) == 0 {
		return "", fmt.Errorf("openai: completion %s has no choices", res.ID)
	}
	msg := res.Choices[0].Message
	switch {
	case msg.Refusal != nil && *msg.Refusal != "":
		return "", system.Errorf(system.EINVALID, "openai: the model refused: %s", *msg.Refusal)
	case msg.Content == nil || strings.TrimSpace(*msg.Content) == "":
		return "", fmt.Errorf("openai: completion %s is empty (finish reason %s)", res.ID, res.Choices[0].FinishReason)
	}
	return strings.TrimSpace(*msg.Content), nil
}

// Check retrieves the configured model: the key works and the model exists.
func (c *Client) Check(ctx context.Context) error {
	var m struct {
		ID string `json:"id"`
	}
	return c.do(ctx, http.MethodGet, "/models/"+url.PathEscape(c.Model), nil, &m)
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	base := strings.TrimRight(c.BaseURL, "/")
	if base == "" {
		base = "https://api.openai.com/v1"
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.APIKey)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 4<<20))
	if err != nil {
		return err
	}
	if res.StatusCode != http.StatusOK {
		oe := &Error{Status: res.StatusCode}
		_ = json.Unmarshal(b, &oe.ErrorBody)
		return oe
	}
	return json.Unmarshal(b, out)
}
