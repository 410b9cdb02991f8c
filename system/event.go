package system

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Event is a domain event: something that happened to a subject. It is
// stored in the transaction of the change that caused it, published after
// that commits, and carried to live clients.
type Event struct {
	// ID names the event where it was read from: the event log's row id,
	// or the live stream's id (increasing, shared by every instance).
	ID      string         `json:"id,omitempty"`
	Type    string         `json:"type"`    // e.g. property.updated
	Subject string         `json:"subject"` // e.g. property/30
	Time    time.Time      `json:"time"`
	Data    map[string]any `json:"data"`
}

// UserID is the user the event is private to (data.user_id: a memo job's
// owner), or 0.
func (e *Event) UserID() int64 {
	switch v := e.Data["user_id"].(type) {
	case int64:
		return v
	case int:
		return int64(v)
	case float64:
		return int64(v)
	case json.Number:
		n, _ := v.Int64()
		return n
	case string:
		n, _ := strconv.ParseInt(v, 10, 64)
		return n
	}
	return 0
}

// VisibleTo is who may see an event: admins see everything; other users
// do not see the dead-letter queue (dlq.*) or another user's jobs.
func (e *Event) VisibleTo(role Role, userID int64) bool {
	if role == RoleAdmin {
		return true
	}
	if strings.HasPrefix(e.Type, "dlq.") {
		return false
	}
	uid := e.UserID()
	return uid == 0 || uid == userID
}

// EventRecorder records domain events that come from outside, such as a
// partner's webhook.
type EventRecorder interface {
	RecordEvent(ctx context.Context, typ, subject string, data map[string]any) error
}

// EventLog reads the domain events back.
type EventLog interface {
	// FindPropertyEvents returns the latest limit events about a property
	// (its changes and its memo jobs), newest first.
	FindPropertyEvents(ctx context.Context, propertyID int64, limit int) ([]Event, error)
}

// LiveEvent is an event as the live stream delivers it, with its
// Server-Sent Events frame rendered once for every subscriber.
type LiveEvent struct {
	Event
	Frame []byte
}

// EventStream carries domain events to live clients: every instance
// appends to it and reads from it, so an event raised on one instance
// reaches clients connected to another, and a client that reconnects gets
// what it missed from a bounded buffer.
type EventStream interface {
	// Subscribe returns a subscription to the events read from now on,
	// buffering up to buf; a subscriber that lets more pile up is dropped.
	Subscribe(buf int) *Subscription
	// Unsubscribe stops a subscription.
	Unsubscribe(sub *Subscription)
	// Since returns the buffered events after id, oldest first; reset is
	// true when some events after id are no longer buffered.
	Since(ctx context.Context, id string) (events []LiveEvent, reset bool, err error)
	// ValidID reports whether id is one the stream could have given.
	ValidID(id string) bool
	// Less reports whether the event with id a came before the one with b.
	Less(a, b string) bool
}

// Subscription receives live events.
type Subscription struct {
	C <-chan LiveEvent
	c chan LiveEvent
	// Dropped is closed when the subscriber fell too far behind.
	Dropped chan struct{}
	drop    sync.Once
}

// NewSubscription returns a subscription buffering up to buf events.
func NewSubscription(buf int) *Subscription {
	c := make(chan LiveEvent, buf)
	return &Subscription{C: c, c: c, Dropped: make(chan struct{})}
}

// Offer hands e to the subscriber without waiting; it reports false, and
// drops the subscriber, when the buffer is full.
func (s *Subscription) Offer(e LiveEvent) bool {
	select {
	case s.c <- e:
		return true
	default:
		s.drop.Do(func() { close(s.Dropped) })
		return false
	}
}
