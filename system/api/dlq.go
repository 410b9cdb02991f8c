package api

import (
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/real-estate-os/reos/system"
)

func (s *Server) handleListDLQ(w http.ResponseWriter, r *http.Request) error {
	items, err := s.deadLetters.FindDeadLetters(r.Context())
	if err != nil {
		return err
	}
	if items == nil {
		items = []*system.DeadLetter{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
	return nil
}

func (s *Server) handleReplayDLQ(w http.ResponseWriter, r *http.Request) error {
	id, err := strconv.ParseInt(chi.URLParam(r, "id"), 10, 64)
	if err != nil || id < 1 {
		return system.Invalid(map[string]string{"id": "a positive integer"})
	}
	d, err := s.deadLetters.FindDeadLetter(r.Context(), id)
	if err != nil {
		return err
	}
	if err := s.replay(r.Context(), d); err != nil {
		return err
	}
	if err := s.deadLetters.MarkReplayed(r.Context(), id); err != nil {
		return err
	}
	d, err = s.deadLetters.FindDeadLetter(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, d)
	return nil
}
