package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/real-estate-os/reos/system"
)

// DeadLetterService stores the dead letters the broker hands over.
type DeadLetterService struct{ db *DB }

// NewDeadLetterService returns a DeadLetterService on db.
func NewDeadLetterService(db *DB) *DeadLetterService { return &DeadLetterService{db: db} }

const deadLetterColumns = `id, message_id, kind, payload, reason, attempts, deaths, first_failure, last_failure, created_at, replayed_at, replays`

func scanDeadLetter(row pgx.Row) (*system.DeadLetter, error) {
	var d system.DeadLetter
	err := row.Scan(&d.ID, &d.MessageID, &d.Kind, &d.Payload, &d.Reason, &d.Attempts, &d.Deaths, &d.FirstFailure, &d.LastFailure, &d.CreatedAt, &d.ReplayedAt, &d.Replays)
	if err != nil {
		return nil, err
	}
	d.CreatedAt = d.CreatedAt.UTC()
	return &d, nil
}

// AddDeadLetter stores d, sets its id, and marks what it was for (a memo
// job, or a message) failed, in one transaction: a dead letter is never
// seen, and so never replayed, before that failure is written (a replay
// that came between the two was overwritten by the failure, and the
// message never went out).
func (s *DeadLetterService) AddDeadLetter(ctx context.Context, d *system.DeadLetter) error {
	d.CreatedAt = s.db.now()
	return wrap(s.db.inTx(ctx, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO dead_letters (message_id, kind, payload, reason, attempts, deaths, first_failure, last_failure, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`, d.MessageID, d.Kind, d.Payload, d.Reason, d.Attempts, d.Deaths,
			d.FirstFailure, d.LastFailure, d.CreatedAt).Scan(&d.ID); err != nil {
			return err
		}
		var err error
		switch d.Kind {
		case system.JobMemo:
			_, err = s.db.updateJob(ctx, tx, d.MessageID, `status = $3, error = $4`, system.JobFailed, d.Reason)
		case string(system.ChannelSMS), string(system.ChannelEmail):
			err = (&MessageService{db: s.db}).setStatus(ctx, tx, d.MessageID, system.MessageFailed, "", "dead-lettered: "+d.Reason)
		}
		if err != nil && system.ErrorCode(err) != system.ENOTFOUND { // gone: the letter is kept all the same
			return err
		}
		return s.db.recordEvent(ctx, tx, "dlq.added", "dlq/"+d.MessageID, map[string]any{"id": d.ID, "kind": d.Kind, "message_id": d.MessageID, "reason": d.Reason})
	}), "dead letter")
}

// FindDeadLetters returns the dead letters, newest first.
func (s *DeadLetterService) FindDeadLetters(ctx context.Context) ([]*system.DeadLetter, error) {
	rows, err := s.db.Pool.Query(ctx, `SELECT `+deadLetterColumns+` FROM dead_letters ORDER BY id DESC LIMIT 500`)
	if err != nil {
		return nil, wrap(err, "dead letters")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*system.DeadLetter, error) { return scanDeadLetter(r) })
	return out, wrap(err, "dead letters")
}

// FindDeadLetter returns ENOTFOUND if there is no such dead letter.
func (s *DeadLetterService) FindDeadLetter(ctx context.Context, id int64) (*system.DeadLetter, error) {
	d, err := scanDeadLetter(s.db.Pool.QueryRow(ctx, `SELECT `+deadLetterColumns+` FROM dead_letters WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, system.Errorf(system.ENOTFOUND, "dead letter %d does not exist", id)
	}
	return d, wrap(err, "dead letter")
}

// MarkReplayed records a replay.
func (s *DeadLetterService) MarkReplayed(ctx context.Context, id int64) error {
	_, err := s.db.Pool.Exec(ctx, `UPDATE dead_letters SET replayed_at = $2, replays = replays + 1 WHERE id = $1`, id, s.db.now())
	return wrap(err, "dead letter")
}
