package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/real-estate-os/reos/system"
)

var _ system.IdempotencyService = (*IdempotencyService)(nil)

// IdempotencyTTL is how long a key is remembered.
const IdempotencyTTL = 24 * time.Hour

// IdempotencyService keeps Idempotency-Key records.
type IdempotencyService struct{ db *DB }

// NewIdempotencyService returns an IdempotencyService on db.
func NewIdempotencyService(db *DB) *IdempotencyService { return &IdempotencyService{db: db} }

// BeginRequest claims key atomically: of concurrent requests with one key,
// exactly one claims it; the others get the stored record.
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
			ON CONFLICT (user_id, key) DO NOTHING`, userID, key, hash, now, now.Add(IdempotencyTTL))
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

// CompleteRequest stores the answer.
func (s *IdempotencyService) CompleteRequest(ctx context.Context, userID int64, key string, rec *system.Idempotency) error {
	_, err := s.db.Pool.Exec(ctx, `UPDATE idempotency_keys SET status = $3, headers = $4, body = $5 WHERE user_id = $1 AND key = $2`,
		userID, key, rec.Status, rec.Headers, rec.Body)
	return wrap(err, "idempotency")
}

// ReleaseRequest forgets a key whose request failed.
func (s *IdempotencyService) ReleaseRequest(ctx context.Context, userID int64, key string) error {
	_, err := s.db.Pool.Exec(ctx, `DELETE FROM idempotency_keys WHERE user_id = $1 AND key = $2 AND status IS NULL`, userID, key)
	return wrap(err, "idempotency")
}
