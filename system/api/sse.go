package api

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/real-estate-os/reos/system"
)

// Live updates over Server-Sent Events. EventSource cannot send headers, so
// a signed-in client first asks for a short-lived stream token.

const (
	sseScope    = "sse"
	sseTokenTTL = time.Minute
	sseRetryMS  = 3000
	// sseBuffer is how many events may wait for a slow client before it is
	// dropped (it reconnects with Last-Event-ID and catches up).
	sseBuffer = 256
)

func (s *Server) handleSSEToken(w http.ResponseWriter, r *http.Request) error {
	token, err := s.tokens.IssueScoped(ClaimsFrom(r.Context()), sseScope, sseTokenTTL)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{"token": token, "expires_in": int(sseTokenTTL.Seconds()),
		"stream_url": "/api/v1/sse-events/stream?token=" + token})
	return nil
}

func (s *Server) handleSSEStream(w http.ResponseWriter, r *http.Request) error {
	c, err := s.tokens.Verify(r.URL.Query().Get("token"))
	if err == nil && c.Scope != sseScope {
		err = system.Errorf(system.EUNAUTHORIZED, "use a token from GET /api/v1/sse-events/token")
	}
	if err != nil {
		return err
	}
	last := r.Header.Get("Last-Event-ID")
	if last == "" {
		last = r.URL.Query().Get("last_event_id")
	}
	if last != "" && !s.stream.ValidID(last) {
		return system.Invalid(map[string]string{"Last-Event-ID": "an event id this stream sent"})
	}
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Time{}) // the stream outlives ReadTimeout
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)

	// Subscribe before replaying, so nothing falls between the two.
	sub := s.stream.Subscribe(sseBuffer)
	defer s.stream.Unsubscribe(sub)

	write := func(format string, args ...any) bool {
		rc.SetWriteDeadline(time.Now().Add(10 * time.Second)) // a stuck client is let go
		if _, err := fmt.Fprintf(w, format, args...); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	send := func(e system.LiveEvent) bool {
		if !e.VisibleTo(c.Role, c.UserID()) {
			return true
		}
		rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := w.Write(e.Frame); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !write("retry: %d\n\n", sseRetryMS) {
		return nil
	}
	if last != "" {
		missed, reset, err := s.stream.Since(r.Context(), last)
		if err != nil {
			s.logger.WarnContext(r.Context(), "live updates: replay", "err", err)
			reset = true
		}
		if reset {
			if !write("event: reset\ndata: {\"reason\":\"events after %s are no longer buffered; reload\"}\n\n", last) {
				return nil
			}
		}
		for _, e := range missed {
			if !send(e) {
				return nil
			}
			last = e.ID
		}
	}
	ping := time.NewTicker(s.cfg.SSEHeartbeat)
	defer ping.Stop()
	for {
		select {
		case e := <-sub.C:
			if last != "" && !s.stream.Less(last, e.ID) {
				continue // already sent by the replay
			}
			if !send(e) {
				return nil
			}
			last = e.ID
		case <-ping.C:
			if !write("event: ping\ndata: {\"time\":%s}\n\n", strconv.FormatInt(s.now().Unix(), 10)) {
				return nil
			}
		case <-sub.Dropped:
			s.logger.InfoContext(r.Context(), "live updates: a slow client was dropped", "user_id", c.UserID())
			return nil
		case <-r.Context().Done():
			return nil
		case <-s.closing:
			return nil
		}
	}
}
