package api

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/real-estate-os/reos/system"
)

type emailThreadRequest struct {
	PropertyID int64  `json:"property_id"`
	Subject    string `json:"subject"`
	ToAddress  string `json:"to_address"`
	Body       string `json:"body"`
}

type smsRequest struct {
	PropertyID int64  `json:"property_id"`
	To         string `json:"to"`
	Body       string `json:"body"`
}

func (s *Server) handleEmailThread(w http.ResponseWriter, r *http.Request) error {
	var req emailThreadRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	m, err := s.outreach.QueueEmail(r.Context(), system.EmailRequest{PropertyID: req.PropertyID, To: req.ToAddress,
		Subject: req.Subject, Body: req.Body, Agent: ClaimsFrom(r.Context()).Email})
	if err != nil {
		return err
	}
	threads, err := s.messages.FindThreads(r.Context(), m.PropertyID)
	if err != nil {
		return err
	}
	var thread *system.Thread
	for _, t := range threads {
		if t.ID == m.ThreadID {
			thread = t
		}
	}
	w.Header().Set("Location", fmt.Sprintf("/api/v1/communications/threads?property_id=%d", m.PropertyID))
	writeJSON(w, http.StatusCreated, map[string]any{"thread": thread, "message": m})
	return nil
}

func (s *Server) handleSMS(w http.ResponseWriter, r *http.Request) error {
	var req smsRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	m, err := s.outreach.QueueSMS(r.Context(), system.SMSRequest{PropertyID: req.PropertyID, To: req.To, Body: req.Body})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"message_id": m.ID, "thread_id": m.ThreadID, "status": m.Status, "message": m})
	return nil
}

func (s *Server) handleThreads(w http.ResponseWriter, r *http.Request) error {
	id, err := strconv.ParseInt(r.URL.Query().Get("property_id"), 10, 64)
	if err != nil || id < 1 {
		return system.Invalid(map[string]string{"property_id": "required: a positive integer"})
	}
	if _, err := s.properties.FindPropertyByID(r.Context(), id); err != nil {
		return err
	}
	threads, err := s.messages.FindThreads(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": threads})
	return nil
}
