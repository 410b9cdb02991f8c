package redis

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/real-estate-os/reos/system"
)

// Stream is the live-update buffer: a Redis stream capped at MaxLen entries
// that every instance appends to and reads from, so an event raised on one
// instance reaches clients connected to another, and a client that
// reconnects gets what it missed from the buffer.
type Stream struct {
	c      *goredis.Client
	key    string
	maxLen int64
	logger *slog.Logger

	mu   sync.Mutex
	subs map[*system.Subscription]struct{}
}

// NewStream returns the stream of a deployment (prefix) keeping about
// maxLen events.
func NewStream(c *goredis.Client, prefix string, maxLen int64, logger *slog.Logger) *Stream {
	return &Stream{c: c, key: prefix + ":events", maxLen: maxLen, logger: logger, subs: map[*system.Subscription]struct{}{}}
}

var _ system.EventStream = (*Stream)(nil)

// Add appends an event and returns its stream id; e.ID is not kept.
func (s *Stream) Add(ctx context.Context, e system.Event) (string, error) {
	data := []byte("{}")
	if e.Data != nil {
		var err error
		if data, err = json.Marshal(e.Data); err != nil {
			return "", err
		}
	}
	return s.c.XAdd(ctx, &goredis.XAddArgs{
		Stream: s.key, MaxLen: s.maxLen, // exact, so Redis records what it trimmed
		Values: []any{"type", e.Type, "subject", e.Subject, "time", e.Time.UTC().Format(time.RFC3339Nano), "data", string(data)},
	}).Result()
}

func fromMessage(m goredis.XMessage) system.LiveEvent {
	str := func(k string) string { v, _ := m.Values[k].(string); return v }
	at, _ := time.Parse(time.RFC3339Nano, str("time"))
	e := system.LiveEvent{Event: system.Event{ID: m.ID, Type: str("type"), Subject: str("subject"), Time: at.UTC()}}
	dec := json.NewDecoder(strings.NewReader(str("data")))
	dec.UseNumber() // numbers as written: ids stay exact
	if dec.Decode(&e.Data) != nil || e.Data == nil {
		e.Data = map[string]any{}
	}
	body, _ := json.Marshal(e.Event)
	e.Frame = []byte("id: " + e.ID + "\nevent: " + e.Type + "\ndata: " + string(body) + "\n\n")
	return e
}

// Since returns the buffered events after id, oldest first. reset is true
// when events after id have already left the buffer: the client missed
// more than it can be given.
func (s *Stream) Since(ctx context.Context, id string) (events []system.LiveEvent, reset bool, err error) {
	info, err := s.c.XInfoStream(ctx, s.key).Result()
	if err != nil && err.Error() != "ERR no such key" {
		return nil, false, err
	}
	// The client's last event has left the buffer, and so may others after
	// it: say so. (When only that one left, the reset is unneeded but
	// harmless: the client reloads.)
	if info != nil && info.EntriesAdded > info.Length && info.FirstEntry.ID != "" && streamIDLess(id, info.FirstEntry.ID) {
		reset = true
	}
	msgs, err := s.c.XRange(ctx, s.key, "("+id, "+").Result()
	if err != nil {
		return nil, false, err
	}
	for _, m := range msgs {
		events = append(events, fromMessage(m))
	}
	return events, reset, nil
}

// ValidID reports whether id looks like a stream id ("ms-seq").
func (*Stream) ValidID(id string) bool {
	ms, seq, ok := strings.Cut(id, "-")
	if !ok {
		return false
	}
	_, err1 := strconv.ParseUint(ms, 10, 64)
	_, err2 := strconv.ParseUint(seq, 10, 64)
	return err1 == nil && err2 == nil
}

// streamIDLess compares two stream ids.
func streamIDLess(a, b string) bool {
	am, as, _ := strings.Cut(a, "-")
	bm, bs, _ := strings.Cut(b, "-")
	ams, _ := strconv.ParseUint(am, 10, 64)
	bms, _ := strconv.ParseUint(bm, 10, 64)
	if ams != bms {
		return ams < bms
	}
	asq, _ := strconv.ParseUint(as, 10, 64)
	bsq, _ := strconv.ParseUint(bs, 10, 64)
	return asq < bsq
}

// Less reports whether stream id a comes before b.
func (*Stream) Less(a, b string) bool { return streamIDLess(a, b) }

// Subscribe returns a subscription buffering up to buf events; a
// subscriber that lets more pile up is dropped, so it never slows the
// others.
func (s *Stream) Subscribe(buf int) *system.Subscription {
	sub := system.NewSubscription(buf)
	s.mu.Lock()
	s.subs[sub] = struct{}{}
	s.mu.Unlock()
	return sub
}

// Unsubscribe stops a subscription.
func (s *Stream) Unsubscribe(sub *system.Subscription) {
	s.mu.Lock()
	delete(s.subs, sub)
	s.mu.Unlock()
}

func (s *Stream) dispatch(e system.LiveEvent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for sub := range s.subs {
		if !sub.Offer(e) {
			delete(s.subs, sub)
		}
	}
}

// Run reads the stream from now on and hands every event to the
// subscribers, until ctx ends. It reads after a concrete id, never "$"
// again after a read that timed out: an event added between two blocking
// reads would be skipped.
func (s *Stream) Run(ctx context.Context) {
	last := ""
	for last == "" && ctx.Err() == nil {
		newest, err := s.c.XRevRangeN(ctx, s.key, "+", "-", 1).Result()
		switch {
		case err != nil:
			s.logger.Warn("live updates: reading the event stream", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		case len(newest) == 0:
			last = "0-0"
		default:
			last = newest[0].ID
		}
	}
	// The blocking reads have a connection of their own, closed when ctx
	// ends: a read blocked in Redis returns then, not when its block ends.
	opts := *s.c.Options()
	opts.PoolSize, opts.MinIdleConns, opts.MaxIdleConns = 1, 0, 1
	reader := goredis.NewClient(&opts)
	defer reader.Close()
	defer context.AfterFunc(ctx, func() { reader.Close() })()
	for ctx.Err() == nil {
		res, err := reader.XRead(ctx, &goredis.XReadArgs{Streams: []string{s.key, last}, Block: 250 * time.Millisecond, Count: 256}).Result()
		if errors.Is(err, goredis.Nil) {
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.logger.Warn("live updates: reading the event stream", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			continue
		}
		for _, st := range res {
			for _, m := range st.Messages {
				s.dispatch(fromMessage(m))
				last = m.ID
			}
		}
	}
}
