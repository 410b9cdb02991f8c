package system

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Memos is the investment-memo workflow: a queued memo job is written,
// rendered, stored and finished here.
type Memos struct {
	Jobs       JobService
	Properties PropertyService
	Rules      RuleService
	Writer     Writer
	PDF        PDFRenderer
	Store      ObjectStore
}

// Render does the memo job id. A job already done is left as it is, so a
// redelivered job is not redone. The PDF depends only on the property and
// the job's as-of day, so it is stored under its own SHA-256: two jobs for
// the same memo write the same object. A failed attempt is recorded on the
// job, which is failed for good when lastAttempt or when the error is
// Permanent; the error is returned either way.
func (s *Memos) Render(ctx context.Context, id string, lastAttempt bool) error {
	job, err := s.Jobs.StartJob(ctx, id)
	if err != nil || job.Status == JobDone {
		return err
	}
	if err := s.render(ctx, job); err != nil {
		if ferr := s.Jobs.FailJob(ctx, job.ID, err.Error(), lastAttempt || Permanent(err)); ferr != nil {
			return ferr
		}
		return err
	}
	return nil
}

func (s *Memos) render(ctx context.Context, job *Job) error {
	asOf, err := time.Parse(time.DateOnly, job.AsOf)
	if err != nil {
		return Errorf(EINVALID, "job %s: as-of day %q: %v", job.ID, job.AsOf, err)
	}
	prop, err := s.Properties.FindPropertyByID(ctx, job.PropertyID)
	if err != nil {
		return err
	}
	rules, err := s.Rules.FindRules(ctx)
	if err != nil {
		return err
	}
	reasons := Reasons(rules, prop, asOf)
	text, err := s.Writer.WriteMemo(ctx, prop, reasons)
	if err != nil {
		return err
	}
	pdf, err := s.PDF.RenderMemo(ctx, &Memo{Property: prop, Reasons: reasons, Text: text, AsOf: job.AsOf})
	if err != nil {
		return err
	}
	sum := sha256.Sum256(pdf)
	hexSum := hex.EncodeToString(sum[:])
	key := "memos/" + hexSum[:2] + "/" + hexSum + ".pdf"
	if err := s.Store.Put(ctx, key, pdf, "application/pdf"); err != nil {
		return err
	}
	return s.Jobs.FinishJob(ctx, job.ID, hexSum, key, int64(len(pdf)))
}
