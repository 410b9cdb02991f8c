package system

import (
	"context"
	"time"
)

// JobStatus is where a background job stands.
type JobStatus string

// The job statuses.
const (
	JobQueued  JobStatus = "queued"
	JobRunning JobStatus = "running"
	JobDone    JobStatus = "done"
	JobFailed  JobStatus = "failed"
)

// JobMemo is the kind of job that writes and renders an investment memo.
const JobMemo = "memo"

// Job is a unit of background work.
type Job struct {
	ID         string    `json:"job_id"`
	Kind       string    `json:"kind"`
	Status     JobStatus `json:"status"`
	PropertyID int64     `json:"property_id"`
	UserID     int64     `json:"-"`
	Attempts   int       `json:"attempts"`
	// AsOf is the day the memo describes (YYYY-MM-DD): the job's creation
	// day. The same property on the same day gives the same PDF.
	AsOf       string    `json:"as_of"`
	SHA256     string    `json:"sha256,omitempty"`
	Bytes      int64     `json:"bytes,omitempty"`
	StorageKey string    `json:"-"`
	MemoURL    string    `json:"memo_url,omitempty"` // presigned, set when read
	Error      string    `json:"error,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// VisibleTo is who may see a job (and its memo): its owner, and admins.
// To anyone else it does not exist.
func (j *Job) VisibleTo(role Role, userID int64) bool {
	return role == RoleAdmin || j.UserID == userID
}

// JobService stores jobs. Creating one also schedules it: the job and its
// queue message are written in one transaction.
type JobService interface {
	// CreateJob stores j as queued and schedules it. Returns ENOTFOUND for
	// an unknown property.
	CreateJob(ctx context.Context, j *Job) error
	// FindJobByID returns ENOTFOUND if the job does not exist.
	FindJobByID(ctx context.Context, id string) (*Job, error)
	// StartJob marks the job running and counts the attempt. A job that is
	// already done is returned as it is, so a redelivered job is not redone.
	StartJob(ctx context.Context, id string) (*Job, error)
	// FinishJob records the memo and marks the job done.
	FinishJob(ctx context.Context, id, sha256, storageKey string, bytes int64) error
	// FailJob records why an attempt failed; final marks the job failed.
	FailJob(ctx context.Context, id, reason string, final bool) error
	// RequeueJob marks a failed job queued again; the caller republishes it.
	RequeueJob(ctx context.Context, id string) error
}
