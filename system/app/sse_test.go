package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/real-estate-os/reos/fixtures"
)

type sseEvent struct {
	id, event, data string
	at              time.Time // when the reader parsed it
}

type sseClient struct {
	events chan sseEvent
	res    *http.Response
	cancel context.CancelFunc
}

// connect opens the event stream as the user with token; lastID resumes.
func (s *stack) connect(token, lastID string) (*sseClient, int) {
	s.t.Helper()
	var tok struct {
		Token string `json:"token"`
	}
	s.do("GET", "/api/v1/sse-events/token", token, nil).json(s.t, &tok)
	return s.connectWith(tok.Token, lastID)
}

func (s *stack) connectWith(streamToken, lastID string) (*sseClient, int) {
	s.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", s.url+"/api/v1/sse-events/stream?token="+streamToken, nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	c := &sseClient{events: make(chan sseEvent, 1000), res: res, cancel: cancel}
	s.t.Cleanup(c.close)
	if res.StatusCode != 200 {
		return c, res.StatusCode
	}
	go func() {
		defer close(c.events)
		sc := bufio.NewScanner(res.Body)
		var e sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if e.event != "" || e.data != "" {
					e.at = time.Now()
					c.events <- e
				}
				e = sseEvent{}
			case strings.HasPrefix(line, "id: "):
				e.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				e.event = line[7:]
			case strings.HasPrefix(line, "data: "):
				e.data = line[6:]
			}
		}
	}()
	return c, 200
}

func (c *sseClient) close() { c.cancel(); c.res.Body.Close() }

// next returns the next event other than ping whose type has prefix.
func (c *sseClient) next(t testing.TB, prefix string) sseEvent {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case e, ok := <-c.events:
			if !ok {
				t.Fatalf("the stream ended while waiting for %s", prefix)
			}
			if strings.HasPrefix(e.event, prefix) {
				return e
			}
		case <-timeout:
			t.Fatalf("no %s event", prefix)
		}
	}
}

func TestSSETokens(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	token := s.login("agent@example.com", fixtures.DemoPassword)
	c, status := s.connect(token, "")
	if status != 200 || c.res.Header.Get("Content-Type") != "text/event-stream" || c.res.Header.Get("X-Accel-Buffering") != "no" {
		t.Fatalf("stream: %d %v", status, c.res.Header)
	}
	if _, status := s.connectWith(token, ""); status != 401 {
		t.Errorf("an API token on the stream: %d, want 401", status)
	}
	if _, status := s.connectWith("forged.token.value", ""); status != 401 {
		t.Errorf("a forged token: %d, want 401", status)
	}
	var tok struct{ Token string }
	s.do("GET", "/api/v1/sse-events/token", token, nil).json(t, &tok)
	if r := s.do("GET", "/api/v1/properties", tok.Token, nil); r.status != 401 {
		t.Errorf("a stream token on the API: %d, want 401", r.status)
	}
	s.clock.Add(int64(2 * time.Minute))
	if _, status := s.connectWith(tok.Token, ""); status != 401 {
		t.Errorf("an expired stream token: %d, want 401", status)
	}
}

func TestSSELiveReplayAndReset(t *testing.T) {
	t.Parallel()
	s := startStack(t, "SSE_HEARTBEAT", "100ms", "SSE_BUFFER", "10")
	token := s.login("agent@example.com", fixtures.DemoPassword)
	c, _ := s.connect(token, "")
	c.next(t, "ping")
	s.do("PATCH", "/api/v1/properties/30", token, map[string]string{"notes": "one"})
	first := c.next(t, "property.updated")
	var body struct {
		ID, Type, Subject string
		Time              time.Time
		Data              map[string]any
	}
	if err := json.Unmarshal([]byte(first.data), &body); err != nil {
		t.Fatalf("event data %s: %v", first.data, err)
	}
	if first.id == "" || body.ID != first.id || body.Type != "property.updated" || body.Subject != "property/30" ||
		!body.Time.Equal(start) || body.Data["property_id"] != 30.0 || body.Data["version"] != 2.0 {
		t.Fatalf("event %q: %s", first.id, first.data)
	}
	c.close()

	// Missed while away: both arrive on reconnect, in order, none twice.
	s.do("PATCH", "/api/v1/properties/31", token, map[string]string{"notes": "two"})
	s.do("PATCH", "/api/v1/properties/32", token, map[string]string{"notes": "three"})
	time.Sleep(300 * time.Millisecond) // let the relay publish
	c2, _ := s.connect(token, first.id)
	a, b := c2.next(t, "property.updated"), c2.next(t, "property.updated")
	if !strings.Contains(a.data, `"property_id":31`) || !strings.Contains(b.data, `"property_id":32`) || !(a.id > first.id && b.id > a.id) {
		t.Errorf("replay = %+v, %+v after %s", a, b, first.id)
	}
	c2.close()

	// More than the buffer holds went by: the client is told to reset.
	for i := range 40 {
		s.do("PATCH", "/api/v1/properties/33", token, map[string]any{"notes": strings.Repeat("x", i+1)})
	}
	// Wait for the relay to have put all 43 events into the stream.
	key := s.main.Config.QueuePrefix + ":events"
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		info, err := s.main.Redis.XInfoStream(context.Background(), key).Result()
		if err == nil && info.EntriesAdded >= 43 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stream holds %+v, %v; want 43 events added", info, err)
		}
	}
	c3, _ := s.connect(token, first.id)
	if e := c3.next(t, ""); e.event != "reset" {
		t.Errorf("after the buffer moved on, first event = %+v, want reset", e)
	}
}

func TestSSEFanOutAcrossInstances(t *testing.T) {
	t.Parallel()
	a := startStack(t)
	b := startStack(t, "DATABASE_URL", a.main.Config.DatabaseURL, "QUEUE_PREFIX", a.main.Config.QueuePrefix, "REOS_DATA_DIR", a.main.Config.DataDir)
	token := b.login("agent@example.com", fixtures.DemoPassword)
	c, _ := b.connect(token, "")
	a.do("PATCH", "/api/v1/properties/30", token, map[string]string{"notes": "made on A"})
	if e := c.next(t, "property.updated"); !strings.Contains(e.data, `"property_id":30`) {
		t.Errorf("B's client got %+v", e)
	}
}

func TestSSEVisibility(t *testing.T) {
	t.Parallel()
	s := startStack(t, "JOB_MAX_ATTEMPTS", "1")
	agent := s.login("agent@example.com", fixtures.DemoPassword)
	admin := s.login("admin@example.com", fixtures.DemoPassword)
	ca, _ := s.connect(agent, "")
	cb, _ := s.connect(admin, "")
	// The admin's job: the admin sees it, the agent does not.
	s.do("POST", "/api/v1/jobs/memo/generate", admin, map[string]int{"property_id": 30})
	cb.next(t, "job.")
	s.do("PATCH", "/api/v1/properties/30", agent, map[string]string{"notes": "marker"})
	for {
		e := ca.next(t, "")
		if strings.HasPrefix(e.event, "job.") {
			t.Fatalf("the agent saw the admin's job: %+v", e)
		}
		if e.event == "property.updated" {
			break
		}
	}
}

func TestSSEStreamsEndOnShutdown(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	token := s.login("agent@example.com", fixtures.DemoPassword)
	c, _ := s.connect(token, "")
	start := time.Now()
	if err := s.main.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("shutdown with an open stream took %v", d)
	}
	select {
	case _, ok := <-c.events:
		for ok {
			_, ok = <-c.events
		}
	case <-time.After(5 * time.Second):
		t.Error("the stream did not end on shutdown")
	}
}
