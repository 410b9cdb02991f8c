package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/real-estate-os/reos/system"
)

// Exchanges the outbox publishes to.
const (
	OutboxJobs   = "jobs"
	OutboxEvents = "events"
)

// enqueue writes an outbox row in tx: it is published after tx commits.
func (db *DB) enqueue(ctx context.Context, tx pgx.Tx, exchange, routingKey, messageID string, payload any) error {
	b, err := json.Marshal(payload)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO outbox (exchange, routing_key, message_id, payload, created_at) VALUES ($1, $2, $3, $4, $5)`,
		exchange, routingKey, messageID, b, db.now())
	return err
}

// recordEvent stores a domain event in tx and queues it for the events
// exchange, so it is published exactly when the change commits.
func (db *DB) recordEvent(ctx context.Context, tx pgx.Tx, typ, subject string, data map[string]any) error {
	e := system.Event{Type: typ, Subject: subject, Data: data, Time: db.now()}
	b, _ := json.Marshal(data)
	var id int64
	if err := tx.QueryRow(ctx, `INSERT INTO events (type, subject, data, created_at) VALUES ($1, $2, $3, $4) RETURNING id`,
		typ, subject, b, e.Time).Scan(&id); err != nil {
		return err
	}
	e.ID = strconv.FormatInt(id, 10)
	return db.enqueue(ctx, tx, OutboxEvents, typ, "event-"+e.ID, e)
}

// PublishFunc publishes one outbox row.
type PublishFunc func(ctx context.Context, exchange, routingKey, messageID string, payload []byte) error

// relayLock is the advisory lock the relays of a deployment's instances
// take in turn.
const relayLock = 7_265_120_018

// RelayOutbox publishes up to batch unpublished rows, oldest first, and
// marks those the broker confirmed. It stops at the first failure; the rest
// wait for the next call. Its own commit does not wake the relay (inTx
// would: the relay would spin).
//
// One relay publishes at a time, across instances: two relays splitting
// the rows between them (SKIP LOCKED) published a subject's later change
// before its earlier one. A subject's changes lock its row before they
// write their outbox row, so id order is their commit order, and one relay
// at a time keeps it.
func (db *DB) RelayOutbox(ctx context.Context, batch int, publish PublishFunc) (int, error) {
	sent := 0
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, relayLock); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT id, exchange, routing_key, message_id, payload FROM outbox
			WHERE published_at IS NULL ORDER BY id LIMIT $1`, batch)
		if err != nil {
			return err
		}
		type row struct {
			id                       int64
			exchange, key, messageID string
			payload                  []byte
		}
		pending, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
			var x row
			err := r.Scan(&x.id, &x.exchange, &x.key, &x.messageID, &x.payload)
			return x, err
		})
		if err != nil {
			return err
		}
		var done []int64
		var pubErr error
		for _, x := range pending {
			if pubErr = publish(ctx, x.exchange, x.key, x.messageID, x.payload); pubErr != nil {
				break
			}
			done = append(done, x.id)
		}
		if len(done) > 0 {
			if _, err := tx.Exec(ctx, `UPDATE outbox SET published_at = $2 WHERE id = ANY ($1)`, done, db.now()); err != nil {
				return err
			}
		}
		sent = len(done)
		if pubErr != nil && sent == 0 {
			return pubErr
		}
		return nil
	})
	return sent, err
}

// EventService records domain events that do not come with a change of
// their own.
type EventService struct{ db *DB }

// NewEventService returns an EventService on db.
func NewEventService(db *DB) *EventService { return &EventService{db: db} }

// RecordEvent stores and queues one event.
func (s *EventService) RecordEvent(ctx context.Context, typ, subject string, data map[string]any) error {
	return wrap(s.db.inTx(ctx, func(tx pgx.Tx) error { return s.db.recordEvent(ctx, tx, typ, subject, data) }), "record event")
}

var _ system.EventLog = (*EventService)(nil)

// FindPropertyEvents returns the latest limit events about a property: its
// creation and changes, and its jobs.
func (s *EventService) FindPropertyEvents(ctx context.Context, propertyID int64, limit int) ([]system.Event, error) {
	rows, err := s.db.Pool.Query(ctx, `SELECT id::text, type, subject, created_at, data FROM events
		WHERE subject = $1 OR (type LIKE 'job.%' AND data->>'property_id' = $2)
		ORDER BY id DESC LIMIT $3`, fmt.Sprintf("property/%d", propertyID), strconv.FormatInt(propertyID, 10), limit)
	if err != nil {
		return nil, wrap(err, "find events")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (system.Event, error) {
		var e system.Event
		err := r.Scan(&e.ID, &e.Type, &e.Subject, &e.Time, &e.Data)
		e.Time = e.Time.UTC()
		return e, err
	})
	return out, wrap(err, "find events")
}
