package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/real-estate-os/reos/system"
)

var _ system.MessageService = (*MessageService)(nil)

// MessageService stores threads and messages and schedules sends.
type MessageService struct{ db *DB }

// NewMessageService returns a MessageService on db.
func NewMessageService(db *DB) *MessageService { return &MessageService{db: db} }

// SendPayload is what a send's queue message carries.
type SendPayload struct {
	MessageID string `json:"message_id"`
}

const messageColumns = `m.id, m.thread_id, t.property_id, m.direction, m.channel, m.to_address, m.from_address, m.subject, m.body,
	m.status, m.provider_id, m.error, m.tracking_token, m.links, m.claimed_at, m.created_at, m.updated_at`

func scanMessage(row pgx.Row) (*system.Message, error) {
	var m system.Message
	err := row.Scan(&m.ID, &m.ThreadID, &m.PropertyID, &m.Direction, &m.Channel, &m.To, &m.From, &m.Subject, &m.Body,
		&m.Status, &m.ProviderID, &m.Error, &m.TrackingToken, &m.Links, &m.ClaimedAt, &m.CreatedAt, &m.UpdatedAt)
	if err != nil {
		return nil, err
	}
	m.CreatedAt, m.UpdatedAt = m.CreatedAt.UTC(), m.UpdatedAt.UTC()
	return &m, nil
}

func (s *MessageService) findOne(ctx context.Context, q querier, where string, args ...any) (*system.Message, error) {
	m, err := scanMessage(q.QueryRow(ctx, `SELECT `+messageColumns+` FROM messages m JOIN threads t ON t.id = m.thread_id WHERE `+where, args...))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, system.Errorf(system.ENOTFOUND, "no such message")
	}
	return m, wrap(err, "find message")
}

// thread returns the id of the property's thread with counterpart on
// channel, creating it.
func (s *MessageService) thread(ctx context.Context, tx pgx.Tx, propertyID int64, channel system.Channel, counterpart, subject string) (int64, error) {
	var id int64
	err := tx.QueryRow(ctx, `SELECT id FROM threads WHERE property_id = $1 AND channel = $2 AND counterpart = $3 ORDER BY id LIMIT 1`,
		propertyID, channel, counterpart).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		err = tx.QueryRow(ctx, `INSERT INTO threads (property_id, channel, counterpart, subject, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id`,
			propertyID, channel, counterpart, subject, s.db.now()).Scan(&id)
	}
	return id, wrap(err, "thread")
}

func newToken() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// QueueMessage stores m as queued in its thread and schedules the send.
func (s *MessageService) QueueMessage(ctx context.Context, m *system.Message) error {
	return s.insertOutbound(ctx, m, system.MessageQueued)
}

// RefuseMessage records m as refused by the do-not-contact list; nothing is
// scheduled.
func (s *MessageService) RefuseMessage(ctx context.Context, m *system.Message) error {
	m.Error = "do-not-contact"
	return s.insertOutbound(ctx, m, system.MessageRefused)
}

func (s *MessageService) insertOutbound(ctx context.Context, m *system.Message, status system.MessageStatus) error {
	now := s.db.now()
	m.ID, m.Direction, m.Status, m.CreatedAt, m.UpdatedAt = newUUID(), "outbound", status, now, now
	if m.Channel == system.ChannelEmail {
		m.TrackingToken = newToken()
	}
	if m.Links == nil {
		m.Links = []string{}
	}
	return s.db.inTx(ctx, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM properties WHERE id = $1)`, m.PropertyID).Scan(&exists); err != nil {
			return wrap(err, "queue message")
		}
		if !exists {
			return system.Errorf(system.ENOTFOUND, "property %d does not exist", m.PropertyID)
		}
		tid, err := s.thread(ctx, tx, m.PropertyID, m.Channel, m.To, m.Subject)
		if err != nil {
			return err
		}
		m.ThreadID = tid
		if _, err := tx.Exec(ctx, `INSERT INTO messages (id, thread_id, direction, channel, to_address, from_address, subject, body, status,
			error, tracking_token, links, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)`,
			m.ID, tid, m.Direction, m.Channel, m.To, m.From, m.Subject, m.Body, m.Status, m.Error, m.TrackingToken, m.Links, now); err != nil {
			return wrap(err, "queue message")
		}
		if status == system.MessageQueued {
			if err := s.db.enqueue(ctx, tx, OutboxJobs, string(m.Channel), m.ID, SendPayload{MessageID: m.ID}); err != nil {
				return err
			}
		}
		return s.event(ctx, tx, m, string(status), nil)
	})
}

// event records a message event and the matching domain event.
func (s *MessageService) event(ctx context.Context, tx pgx.Tx, m *system.Message, typ string, data map[string]any) error {
	if data == nil {
		data = map[string]any{}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO message_events (message_id, type, data, created_at) VALUES ($1, $2, $3, $4)`,
		m.ID, typ, data, s.db.now()); err != nil {
		return wrap(err, "message event")
	}
	return s.db.recordEvent(ctx, tx, "message."+typ, "message/"+m.ID, map[string]any{
		"message_id": m.ID, "thread_id": m.ThreadID, "property_id": m.PropertyID, "channel": m.Channel, "status": m.Status, "data": data})
}

// FindMessage returns ENOTFOUND if there is no such message.
func (s *MessageService) FindMessage(ctx context.Context, id string) (m *system.Message, err error) {
	err = s.db.inSnapshot(ctx, func(q querier) error {
		if m, err = s.findOne(ctx, q, "m.id::text = $1", id); err != nil {
			return err
		}
		return loadEvents(ctx, q, []*system.Message{m})
	})
	return m, err
}

// FindMessageByProviderID finds a message by its vendor id.
func (s *MessageService) FindMessageByProviderID(ctx context.Context, channel system.Channel, providerID string) (*system.Message, error) {
	if providerID == "" {
		return nil, system.Errorf(system.ENOTFOUND, "no such message")
	}
	return s.findOne(ctx, s.db.Pool, "m.channel = $1 AND m.provider_id = $2", channel, providerID)
}

// FindMessageByToken finds a message by its tracking token.
func (s *MessageService) FindMessageByToken(ctx context.Context, token string) (*system.Message, error) {
	if token == "" {
		return nil, system.Errorf(system.ENOTFOUND, "no such message")
	}
	return s.findOne(ctx, s.db.Pool, "m.tracking_token = $1", token)
}

func loadEvents(ctx context.Context, q querier, msgs []*system.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	ids := make([]string, len(msgs))
	byID := map[string]*system.Message{}
	for i, m := range msgs {
		ids[i], byID[m.ID] = m.ID, m
		m.Events = []system.MessageEvent{}
	}
	rows, err := q.Query(ctx, `SELECT message_id::text, type, data, created_at FROM message_events WHERE message_id::text = ANY ($1) ORDER BY id`, ids)
	if err != nil {
		return wrap(err, "message events")
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var e system.MessageEvent
		if err := rows.Scan(&id, &e.Type, &e.Data, &e.CreatedAt); err != nil {
			return wrap(err, "message events")
		}
		e.CreatedAt = e.CreatedAt.UTC()
		byID[id].Events = append(byID[id].Events, e)
	}
	return wrap(rows.Err(), "message events")
}

// FindThreads returns the property's threads, oldest first, with their
// messages and events, as of one moment: the reads share a snapshot.
func (s *MessageService) FindThreads(ctx context.Context, propertyID int64) (threads []*system.Thread, err error) {
	err = s.db.inSnapshot(ctx, func(q querier) error {
		threads, err = findThreads(ctx, q, propertyID)
		return err
	})
	return threads, err
}

func findThreads(ctx context.Context, q querier, propertyID int64) ([]*system.Thread, error) {
	rows, err := q.Query(ctx, `SELECT id, property_id, channel, counterpart, subject, created_at FROM threads WHERE property_id = $1 ORDER BY id`, propertyID)
	if err != nil {
		return nil, wrap(err, "threads")
	}
	threads, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*system.Thread, error) {
		var t system.Thread
		err := r.Scan(&t.ID, &t.PropertyID, &t.Channel, &t.Counterpart, &t.Subject, &t.CreatedAt)
		t.CreatedAt = t.CreatedAt.UTC()
		t.Messages = []*system.Message{}
		return &t, err
	})
	if err != nil {
		return nil, wrap(err, "threads")
	}
	mrows, err := q.Query(ctx, `SELECT `+messageColumns+` FROM messages m JOIN threads t ON t.id = m.thread_id
		WHERE t.property_id = $1 ORDER BY m.created_at, m.id`, propertyID)
	if err != nil {
		return nil, wrap(err, "messages")
	}
	msgs, err := pgx.CollectRows(mrows, func(r pgx.CollectableRow) (*system.Message, error) { return scanMessage(r) })
	if err != nil {
		return nil, wrap(err, "messages")
	}
	byThread := map[int64]*system.Thread{}
	for _, t := range threads {
		byThread[t.ID] = t
	}
	for _, m := range msgs {
		t := byThread[m.ThreadID]
		if t == nil { // only a read outside one snapshot can get here
			return nil, fmt.Errorf("postgres: message %s of thread %d, which the read of threads did not see", m.ID, m.ThreadID)
		}
		t.Messages = append(t.Messages, m)
	}
	return threads, loadEvents(ctx, q, msgs)
}

// ClaimMessage moves a queued message to sending.
func (s *MessageService) ClaimMessage(ctx context.Context, id string) (*system.Message, bool, error) {
	var m *system.Message
	claimed := false
	err := s.db.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if m, err = s.findOne(ctx, tx, "m.id::text = $1 FOR UPDATE OF m", id); err != nil {
			return err
		}
		if m.Status != system.MessageQueued {
			return nil
		}
		now := s.db.now()
		if _, err := tx.Exec(ctx, `UPDATE messages SET status = 'sending', claimed_at = $2, updated_at = $2 WHERE id = $1`, m.ID, now); err != nil {
			return wrap(err, "claim message")
		}
		m.Status, m.ClaimedAt, claimed = system.MessageSending, &now, true
		return s.event(ctx, tx, m, "sending", nil)
	})
	return m, claimed, err
}

// SetMessageStatus moves a message forward and records the event. A status
// that would move it back (a late callback) is recorded as an event only.
func (s *MessageService) SetMessageStatus(ctx context.Context, id string, status system.MessageStatus, providerID, errText string) error {
	return s.db.inTx(ctx, func(tx pgx.Tx) error { return s.setStatus(ctx, tx, id, status, providerID, errText) })
}

// setStatus is SetMessageStatus in tx.
func (s *MessageService) setStatus(ctx context.Context, tx pgx.Tx, id string, status system.MessageStatus, providerID, errText string) error {
	m, err := s.findOne(ctx, tx, "m.id::text = $1 FOR UPDATE OF m", id)
	if err != nil {
		return err
	}
	data := map[string]any{"status": status}
	if providerID != "" {
		data["provider_id"] = providerID
	}
	if errText != "" {
		data["error"] = errText
	}
	if status.Rank() < m.Status.Rank() || (status.Rank() == 3 && m.Status.Rank() == 3) {
		// The vendor's events overtook our own record of the send: keep
		// the status, but not without the vendor's id for the message.
		if m.ProviderID == "" && providerID != "" {
			if _, err := tx.Exec(ctx, `UPDATE messages SET provider_id = $2 WHERE id = $1`, m.ID, providerID); err != nil {
				return wrap(err, "set provider id")
			}
		}
		return s.event(ctx, tx, m, "late-status", data)
	}
	if providerID == "" {
		providerID = m.ProviderID
	}
	if errText == "" {
		errText = m.Error
	}
	if _, err := tx.Exec(ctx, `UPDATE messages SET status = $2, provider_id = $3, error = $4, updated_at = $5 WHERE id = $1`,
		m.ID, status, providerID, errText, s.db.now()); err != nil {
		return wrap(err, "set message status")
	}
	m.Status = status
	return s.event(ctx, tx, m, string(status), data)
}

// RequeueMessage puts a message back to queued for a replay.
func (s *MessageService) RequeueMessage(ctx context.Context, id string) error {
	return s.db.inTx(ctx, func(tx pgx.Tx) error {
		m, err := s.findOne(ctx, tx, "m.id::text = $1 FOR UPDATE OF m", id)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE messages SET status = 'queued', error = '', claimed_at = NULL, updated_at = $2 WHERE id = $1`, m.ID, s.db.now()); err != nil {
			return wrap(err, "requeue message")
		}
		m.Status = system.MessageQueued
		return s.event(ctx, tx, m, "requeued", nil)
	})
}

// AddInbound appends an inbound SMS to the thread of the property whose
// owner has the sender's number, the most recently listed first.
func (s *MessageService) AddInbound(ctx context.Context, m *system.Message) error {
	now := s.db.now()
	m.ID, m.Direction, m.Status, m.Channel, m.CreatedAt, m.UpdatedAt = newUUID(), "inbound", system.MessageReceived, system.ChannelSMS, now, now
	return s.db.inTx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `SELECT id FROM properties WHERE owner_phone = $1 ORDER BY id DESC LIMIT 1`, m.From).Scan(&m.PropertyID)
		if errors.Is(err, pgx.ErrNoRows) {
			return system.Errorf(system.ENOTFOUND, "no property owner has the number %s", m.From)
		}
		if err != nil {
			return wrap(err, "inbound")
		}
		tid, err := s.thread(ctx, tx, m.PropertyID, system.ChannelSMS, m.From, "")
		if err != nil {
			return err
		}
		m.ThreadID = tid
		tag, err := tx.Exec(ctx, `INSERT INTO messages (id, thread_id, direction, channel, to_address, from_address, body, status, provider_id,
			created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) ON CONFLICT DO NOTHING`,
			m.ID, tid, m.Direction, m.Channel, m.To, m.From, m.Body, m.Status, m.ProviderID, now)
		if err != nil {
			return wrap(err, "inbound")
		}
		if tag.RowsAffected() == 0 {
			return nil // the vendor sent this message's webhook again
		}
		return s.event(ctx, tx, m, "received", map[string]any{"body": m.Body})
	})
}

// RecordEvent appends an event to a message.
func (s *MessageService) RecordEvent(ctx context.Context, id, typ string, data map[string]any) error {
	return s.db.inTx(ctx, func(tx pgx.Tx) error {
		// Locked, as every write of a message is: one subject's events
		// commit in the order of their outbox rows, which is the order
		// the relay publishes them in.
		m, err := s.findOne(ctx, tx, "m.id::text = $1 FOR UPDATE OF m", id)
		if err != nil {
			return err
		}
		return s.event(ctx, tx, m, typ, data)
	})
}
