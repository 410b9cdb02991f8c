package harness

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Event is one server-sent event.
type Event struct {
	ID, Type, Data string
	At             time.Time
}

// Stream is a live-updates connection read in the background.
type Stream struct {
	mu     sync.Mutex
	events []Event
	raw    strings.Builder
	cancel context.CancelFunc
	done   chan struct{}
}

// OpenStream connects to the live updates as c's user, resuming after
// lastID when it is set (Last-Event-ID).
func OpenStream(c *Client, lastID string) (*Stream, error) {
	r, err := c.Expect(200, "GET", "/api/v1/sse-events/token", nil)
	if err != nil {
		return nil, err
	}
	var tok struct {
		URL string `json:"stream_url"`
	}
	if err := r.JSON(&tok); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", c.Base+tok.URL, nil)
	req.Header.Set("Accept", "text/event-stream")
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	transport := http.DefaultTransport
	if c.HTTP != nil && c.HTTP.Transport != nil {
		transport = c.HTTP.Transport
	}
	res, err := (&http.Client{Transport: transport}).Do(req) // no overall timeout: a stream lasts
	if err != nil {
		cancel()
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		res.Body.Close()
		cancel()
		return nil, fmt.Errorf("the stream answered %d", res.StatusCode)
	}
	s := &Stream{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		var e Event
		for sc.Scan() {
			line := sc.Text()
			s.mu.Lock()
			s.raw.WriteString(line + "\n")
			switch {
			case line == "":
				if e.Type != "" || e.Data != "" || e.ID != "" {
					e.At = time.Now()
					s.events = append(s.events, e)
				}
				e = Event{}
			case strings.HasPrefix(line, "id:"):
				e.ID = strings.TrimSpace(line[3:])
			case strings.HasPrefix(line, "event:"):
				e.Type = strings.TrimSpace(line[6:])
			case strings.HasPrefix(line, "data:"):
				e.Data += strings.TrimSpace(line[5:])
			}
			s.mu.Unlock()
		}
	}()
	return s, nil
}

// Events returns what arrived so far.
func (s *Stream) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Event(nil), s.events...)
}

// Transcript is the stream's text as it arrived.
func (s *Stream) Transcript() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.raw.String()
}

// Cut drops the connection, as a network failure would.
func (s *Stream) Cut() {
	s.cancel()
	<-s.done
}
