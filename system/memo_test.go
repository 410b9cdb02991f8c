package system_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/real-estate-os/reos/mocks/fake"
	"github.com/real-estate-os/reos/system"
)

// memoFixture is Memos over fakes: job j-1 for property 7, as of
// 2026-03-01, and a PDF renderer that writes what it is given.
type memoFixture struct {
	memos *system.Memos
	job   *system.Job
	store map[string][]byte
	pdf   *fake.PDFRenderer
}

func newMemos(t *testing.T) *memoFixture {
	f := &memoFixture{job: &system.Job{ID: "j-1", Kind: system.JobMemo, Status: system.JobQueued, PropertyID: 7, AsOf: "2026-03-01"},
		store: map[string][]byte{}}
	f.pdf = &fake.PDFRenderer{RenderMemoFn: func(_ context.Context, m *system.Memo) ([]byte, error) {
		return []byte("%PDF " + m.Property.Address + " " + m.AsOf + " " + m.Text), nil
	}}
	f.memos = &system.Memos{
		Jobs: &fake.JobService{
			StartJobFn: func(_ context.Context, id string) (*system.Job, error) {
				if id != f.job.ID {
					return nil, system.Errorf(system.ENOTFOUND, "no job %s", id)
				}
				if f.job.Status != system.JobDone {
					f.job.Status = system.JobRunning
					f.job.Attempts++
				}
				return f.job, nil
			},
			FinishJobFn: func(_ context.Context, id, sum, key string, n int64) error {
				f.job.Status, f.job.SHA256, f.job.StorageKey, f.job.Bytes = system.JobDone, sum, key, n
				return nil
			},
			FailJobFn: func(_ context.Context, id, reason string, final bool) error {
				f.job.Error = reason
				if final {
					f.job.Status = system.JobFailed
				}
				return nil
			},
		},
		Properties: &fake.PropertyService{FindPropertyByIDFn: func(_ context.Context, id int64) (*system.Property, error) {
			if id != 7 {
				return nil, system.Errorf(system.ENOTFOUND, "no property %d", id)
			}
			return &system.Property{ID: 7, Address: "12 Elm St", Stage: system.StageNew}, nil
		}},
		Rules:  &fake.RuleService{FindRulesFn: func(context.Context) ([]system.Rule, error) { return nil, nil }},
		Writer: &fake.Writer{WriteMemoFn: func(context.Context, *system.Property, []system.Reason) (string, error) { return "A fine deal.", nil }},
		PDF:    f.pdf,
		Store: &fake.ObjectStore{PutFn: func(_ context.Context, key string, data []byte, contentType string) error {
			f.store[key] = data
			return nil
		}},
	}
	return f
}

func TestMemoIsStoredUnderItsOwnHash(t *testing.T) {
	f := newMemos(t)
	if err := f.memos.Render(t.Context(), "j-1", false); err != nil {
		t.Fatal(err)
	}
	want := []byte("%PDF 12 Elm St 2026-03-01 A fine deal.")
	sum := sha256.Sum256(want)
	hexSum := hex.EncodeToString(sum[:])
	key := "memos/" + hexSum[:2] + "/" + hexSum + ".pdf"
	if f.job.Status != system.JobDone || f.job.SHA256 != hexSum || f.job.StorageKey != key || f.job.Bytes != int64(len(want)) {
		t.Errorf("job %+v: want done with the PDF's SHA-256 %s under %s", f.job, hexSum, key)
	}
	if string(f.store[key]) != string(want) {
		t.Errorf("stored %q under %s, want %q", f.store[key], key, want)
	}
	f.pdf.RenderMemoFn = nil // a redelivered job that is done is not rendered again (the fake would panic)
	if err := f.memos.Render(t.Context(), "j-1", false); err != nil {
		t.Fatal(err)
	}
}

func TestMemoFailuresAreFinalOnlyWhenRetryingCannotHelp(t *testing.T) {
	for _, c := range []struct {
		name        string
		err         error
		lastAttempt bool
		status      system.JobStatus
	}{
		{"renderer down, attempts left", system.Errorf(system.EUNAVAILABLE, "gotenberg: 503"), false, system.JobRunning},
		{"renderer down, last attempt", system.Errorf(system.EUNAVAILABLE, "gotenberg: 503"), true, system.JobFailed},
		{"renderer refuses the memo", system.Errorf(system.EINVALID, "gotenberg: 400"), false, system.JobFailed},
	} {
		f := newMemos(t)
		f.pdf.RenderMemoFn = func(context.Context, *system.Memo) ([]byte, error) { return nil, c.err }
		err := f.memos.Render(t.Context(), "j-1", c.lastAttempt)
		if err == nil || f.job.Status != c.status || !strings.Contains(f.job.Error, c.err.Error()) {
			t.Errorf("%s: Render = %v, job %s (%q); want the error back and the job %s", c.name, err, f.job.Status, f.job.Error, c.status)
		}
	}
}

func TestMemoOfAnUnknownJobIsPermanent(t *testing.T) {
	f := newMemos(t)
	if err := f.memos.Render(t.Context(), "j-404", false); !system.Permanent(err) {
		t.Errorf("Render(unknown job) = %v, want a permanent error", err)
	}
}
