package postgres

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/real-estate-os/reos/system"
)

var _ system.JobService = (*JobService)(nil)

// JobService stores jobs and schedules them through the outbox.
type JobService struct{ db *DB }

// NewJobService returns a JobService on db.
func NewJobService(db *DB) *JobService { return &JobService{db: db} }

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// JobPayload is what a job's queue message carries.
type JobPayload struct {
	JobID string `json:"job_id"`
}

const jobColumns = `id, kind, status, property_id, coalesce(user_id, 0), attempts, as_of, sha256, bytes, storage_key, error, created_at, updated_at`

func scanJob(row pgx.Row) (*system.Job, error) {
	var j system.Job
	var asOf time.Time
	err := row.Scan(&j.ID, &j.Kind, &j.Status, &j.PropertyID, &j.UserID, &j.Attempts, &asOf, &j.SHA256, &j.Bytes, &j.StorageKey, &j.Error, &j.CreatedAt, &j.UpdatedAt)
	if err != nil {
		return nil, err
	}
	j.AsOf = asOf.Format(time.DateOnly)
	j.CreatedAt, j.UpdatedAt = j.CreatedAt.UTC(), j.UpdatedAt.UTC()
	return &j, nil
}

// CreateJob stores j as queued and schedules it, in one transaction.
func (s *JobService) CreateJob(ctx context.Context, j *system.Job) error {
	now := s.db.now()
	j.ID, j.Status, j.CreatedAt, j.UpdatedAt, j.AsOf = newUUID(), system.JobQueued, now, now, now.Format(time.DateOnly)
	return s.db.inTx(ctx, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM properties WHERE id = $1)`, j.PropertyID).Scan(&exists); err != nil {
			return wrap(err, "create job")
		}
		if !exists {
			return system.Errorf(system.ENOTFOUND, "property %d does not exist", j.PropertyID)
		}
		var user any
		if j.UserID > 0 {
			user = j.UserID
		}
		if _, err := tx.Exec(ctx, `INSERT INTO jobs (id, kind, status, property_id, user_id, as_of, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $7)`, j.ID, j.Kind, j.Status, j.PropertyID, user, j.AsOf, now); err != nil {
			return wrap(err, "create job")
		}
		if err := s.db.enqueue(ctx, tx, OutboxJobs, j.Kind, j.ID, JobPayload{JobID: j.ID}); err != nil {
			return err
		}
		return s.db.recordEvent(ctx, tx, "job.queued", "job/"+j.ID, map[string]any{"job_id": j.ID, "kind": j.Kind, "property_id": j.PropertyID, "status": j.Status, "user_id": j.UserID})
	})
}

// FindJobByID returns ENOTFOUND if the job does not exist.
func (s *JobService) FindJobByID(ctx context.Context, id string) (*system.Job, error) {
	j, err := scanJob(s.db.Pool.QueryRow(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id::text = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, system.Errorf(system.ENOTFOUND, "job %s does not exist", id)
	}
	return j, wrap(err, "find job")
}

// update changes a job's status in a transaction and records the event.
func (s *JobService) update(ctx context.Context, id string, set string, args ...any) (j *system.Job, err error) {
	err = s.db.inTx(ctx, func(tx pgx.Tx) error {
		j, err = s.db.updateJob(ctx, tx, id, set, args...)
		return err
	})
	return j, err
}

// updateJob changes a job's status in tx and records the event.
func (db *DB) updateJob(ctx context.Context, tx pgx.Tx, id string, set string, args ...any) (*system.Job, error) {
	j, err := scanJob(tx.QueryRow(ctx, `UPDATE jobs SET `+set+`, updated_at = $2 WHERE id::text = $1 RETURNING `+jobColumns,
		append([]any{id, db.now()}, args...)...))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, system.Errorf(system.ENOTFOUND, "job %s does not exist", id)
	}
	if err != nil {
		return nil, wrap(err, "update job")
	}
	return j, db.recordEvent(ctx, tx, "job."+string(j.Status), "job/"+j.ID,
		map[string]any{"job_id": j.ID, "kind": j.Kind, "property_id": j.PropertyID, "status": j.Status, "attempts": j.Attempts, "user_id": j.UserID})
}

// StartJob marks the job running and counts the attempt; a done job is
// returned untouched.
func (s *JobService) StartJob(ctx context.Context, id string) (*system.Job, error) {
	j, err := s.FindJobByID(ctx, id)
	if err != nil || j.Status == system.JobDone {
		return j, err
	}
	return s.update(ctx, id, `status = 'running', attempts = attempts + 1, error = ''`)
}

// FinishJob records the memo and marks the job done.
func (s *JobService) FinishJob(ctx context.Context, id, sha256, storageKey string, bytes int64) error {
	_, err := s.update(ctx, id, `status = 'done', sha256 = $3, storage_key = $4, bytes = $5, error = ''`, sha256, storageKey, bytes)
	return err
}

// FailJob records a failed attempt; final marks the job failed.
func (s *JobService) FailJob(ctx context.Context, id, reason string, final bool) error {
	status := system.JobQueued // waiting for its next attempt
	if final {
		status = system.JobFailed
	}
	_, err := s.update(ctx, id, `status = $3, error = $4`, status, reason)
	return err
}

// RequeueJob marks the job queued again; the caller republishes it (the
// dead-letter replay does, keeping its history).
func (s *JobService) RequeueJob(ctx context.Context, id string) error {
	_, err := s.update(ctx, id, `status = 'queued', error = ''`)
	return err
}
