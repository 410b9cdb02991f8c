package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/real-estate-os/reos/system"
)

var _ system.IdempotencyService = (*IdempotencyService)(nil)

// IdempotencyTTL is how long a key is remembered once its request is
// answered.
const IdempotencyTTL = 24 * time.Hour

// IdempotencyLease is how long a key whose request is in progress stays
// claimed. A request the process never finished (it crashed, or could not
// reach the database to release the key) holds its key no longer: a retry
// after the lease runs. Handlers answer well within it.
const IdempotencyLease = 30 * time.Second

// IdempotencyService keeps Idempotency-Key records.
type IdempotencyService struct{ db *DB }

// NewIdempotencyService returns an IdempotencyService on db.
func NewIdempotencyService(db *DB) *IdempotencyService { return &IdempotencyService{db: db} }

// BeginRequest claims key atomically for IdempotencyLease: of concurrent
// requests with one key, exactly one claims it; the others get the stored
// record. A key whose lease or retention ran out is claimed afresh.
func (s *IdempotencyService) BeginRequest(ctx context.Context, userID int64, key, hash string) (*system.Idempotency, bool, error) {
	now := s.db.now()
	var rec *system.Idempotency
	claimed := false
	err := s.db.inTx(ctx, func(tx pgx.Tx) error {
		// An expired key is forgotten first.
		if _, err := tx.Exec(ctx, `DELETE FROM idempotency_keys WHERE user_id = $1 AND key = $2 AND expires_at <= $3`, userID, key, now); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO idempotency_keys (user_id, key, request_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (user_id, key) DO NOTHING`, userID, key, hash, now, now.Add(IdempotencyLease))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 1 {
			claimed = true
			return nil
		}
		var status *int
		rec = &system.Idempotency{}
		if err := tx.QueryRow(ctx, `SELECT request_hash, status, headers, body FROM idempotency_keys WHERE user_id = $1 AND key = $2`,
			userID, key).Scan(&rec.RequestHash, &status, &rec.Headers, &rec.Body); err != nil {
			return err
		}
		if status != nil {
			rec.Status = *status
		}
		return nil
	})
	return rec, claimed, wrap(err, "idempotency")
}

// CompleteRequest stores the answer, kept IdempotencyTTL from now.
func (s *IdempotencyService) CompleteRequest(ctx context.Context, userID int64, key string, rec *system.Idempotency) error {
	body, headers := rec.Body, rec.Headers
	if body == nil { // an answer without a body (204) is stored as one
		body = []byte{}
	}
	if headers == nil {
		headers = map[string]string{}
	}
	_, err := s.db.Pool.Exec(ctx, `UPDATE idempotency_keys SET status = $3, headers = $4, body = $5, expires_at = $6
		WHERE user_id = $1 AND key = $2 AND request_hash = $7 AND status IS NULL`,
		userID, key, rec.Status, headers, body, s.db.now().Add(IdempotencyTTL), rec.RequestHash)
	return wrap(err, "idempotency")
}

// ReleaseRequest forgets a key whose request failed.
func (s *IdempotencyService) ReleaseRequest(ctx context.Context, userID int64, key string) error {
	_, err := s.db.Pool.Exec(ctx, `DELETE FROM idempotency_keys WHERE user_id = $1 AND key = $2 AND status IS NULL`, userID, key)
	return wrap(err, "idempotency")
}
