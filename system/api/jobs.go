package api

import (
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/real-estate-os/reos/system"
)

// MemoURLExpiry is how long a job's presigned memo URL stays valid.
const MemoURLExpiry = 15 * time.Minute

type memoRequest struct {
	PropertyID int64 `json:"property_id"`
}

func (s *Server) handleGenerateMemo(w http.ResponseWriter, r *http.Request) error {
	var req memoRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.PropertyID < 1 {
		return system.Invalid(map[string]string{"property_id": "a positive integer"})
	}
	j := &system.Job{Kind: system.JobMemo, PropertyID: req.PropertyID, UserID: ClaimsFrom(r.Context()).UserID()}
	if err := s.jobs.CreateJob(r.Context(), j); err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/jobs/"+j.ID)
	writeJSON(w, http.StatusAccepted, j)
	return nil
}

// findJob returns the job the URL names, when the signed-in user may see
// it: their own, or any to an admin. Another user's job does not exist for
// them (ENOTFOUND), as in the memo viewer and the event stream.
func (s *Server) findJob(r *http.Request) (*system.Job, error) {
	j, err := s.jobs.FindJobByID(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		return nil, err
	}
	if c := ClaimsFrom(r.Context()); !j.VisibleTo(c.Role, c.UserID()) {
		return nil, system.Errorf(system.ENOTFOUND, "job %s does not exist", j.ID)
	}
	return j, nil
}

func (s *Server) handleGetJob(w http.ResponseWriter, r *http.Request) error {
	j, err := s.findJob(r)
	if err != nil {
		return err
	}
	if j.Status == system.JobDone && j.StorageKey != "" {
		if j.MemoURL, err = s.store.PresignGet(r.Context(), j.StorageKey, MemoURLExpiry); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, j)
	return nil
}
