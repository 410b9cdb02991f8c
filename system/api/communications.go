package api

import (
	"fmt"
	"net/http"
	"net/mail"
	"regexp"
	"strconv"
	"strings"

	"github.com/real-estate-os/reos/system"
	"github.com/real-estate-os/reos/system/provider/templates"
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

// Limits on what a client may send.
const (
	maxSubject  = 200
	maxEmail    = 100_000
	maxSMSChars = 1600 // Twilio's limit on a concatenated message
)

var linkPattern = regexp.MustCompile(`https?://[^\s<>"']+`)

// renderTemplate renders the stage's template of channel for a property,
// signed by the caller.
func (s *Server) renderTemplate(r *http.Request, ch system.Channel, p *system.Property) (subject, body string, err error) {
	t, err := s.templates.FindTemplate(r.Context(), ch, p.Stage)
	if err != nil {
		return "", "", err
	}
	first, _, _ := strings.Cut(p.OwnerName, " ")
	agent, _, _ := strings.Cut(ClaimsFrom(r.Context()).Email, "@")
	return templates.Render(t, templates.MessageData{OwnerName: first, Address: p.Address, City: p.City, AgentName: agent})
}

// fill renders the stage's email template for a property when the client
// left the subject or body empty.
func (s *Server) fill(r *http.Request, p *system.Property, subject, body *string) error {
	if *body != "" && *subject != "" {
		return nil
	}
	subj, text, err := s.renderTemplate(r, system.ChannelEmail, p)
	if err != nil {
		return err
	}
	if *subject == "" {
		*subject = subj
	}
	if *body == "" {
		*body = text
	}
	return nil
}

// refuse records a send the do-not-contact list stopped, and returns the
// problem for it.
func (s *Server) refuse(r *http.Request, m *system.Message, value string) error {
	if err := s.messages.RefuseMessage(r.Context(), m); err != nil {
		return err
	}
	s.logger.InfoContext(r.Context(), "send refused: do-not-contact", "channel", m.Channel, "property_id", m.PropertyID, "message_id", m.ID)
	return system.Errorf(system.EDNC, "%s is on the do-not-contact list; nothing was sent (recorded as message %s)", value, m.ID)
}

func (s *Server) handleEmailThread(w http.ResponseWriter, r *http.Request) error {
	var req emailThreadRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	bad := map[string]string{}
	if req.PropertyID < 1 {
		bad["property_id"] = "a positive integer"
	}
	if a, err := mail.ParseAddress(req.ToAddress); err != nil || a.Address != req.ToAddress {
		bad["to_address"] = "a plain address, e.g. owner@example.com"
	}
	if len(req.Subject) > maxSubject || strings.ContainsAny(req.Subject, "\r\n") {
		bad["subject"] = fmt.Sprintf("one line of at most %d bytes", maxSubject)
	}
	if len(req.Body) > maxEmail {
		bad["body"] = fmt.Sprintf("at most %d bytes", maxEmail)
	}
	if len(bad) > 0 {
		return system.Invalid(bad)
	}
	p, err := s.properties.FindPropertyByID(r.Context(), req.PropertyID)
	if err != nil {
		return err
	}
	if err := s.fill(r, p, &req.Subject, &req.Body); err != nil {
		return err
	}
	m := &system.Message{PropertyID: p.ID, Channel: system.ChannelEmail, To: strings.ToLower(req.ToAddress), From: s.cfg.EmailFrom,
		Subject: req.Subject, Body: req.Body, Links: linkPattern.FindAllString(req.Body, 20)}
	if c, err := s.dnc.CheckContact(r.Context(), p.ID, m.Channel, m.To); err != nil {
		return err
	} else if c.Blocked() {
		return s.refuse(r, m, c.Whom(p.ID, m.To))
	}
	if err := s.messages.QueueMessage(r.Context(), m); err != nil {
		return err
	}
	threads, err := s.messages.FindThreads(r.Context(), p.ID)
	if err != nil {
		return err
	}
	var thread *system.Thread
	for _, t := range threads {
		if t.ID == m.ThreadID {
			thread = t
		}
	}
	w.Header().Set("Location", fmt.Sprintf("/api/v1/communications/threads?property_id=%d", p.ID))
	writeJSON(w, http.StatusCreated, map[string]any{"thread": thread, "message": m})
	return nil
}

func (s *Server) handleSMS(w http.ResponseWriter, r *http.Request) error {
	var req smsRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	bad := map[string]string{}
	if req.PropertyID < 1 {
		bad["property_id"] = "a positive integer"
	}
	if !system.E164.MatchString(req.To) {
		bad["to"] = "E.164, e.g. +16145550100"
	}
	switch {
	case strings.TrimSpace(req.Body) == "":
		bad["body"] = "required: the text to send (Twilio refuses an empty body, 21602)"
	case len([]rune(req.Body)) > maxSMSChars:
		bad["body"] = fmt.Sprintf("at most %d characters", maxSMSChars)
	}
	if len(bad) > 0 {
		return system.Invalid(bad)
	}
	p, err := s.properties.FindPropertyByID(r.Context(), req.PropertyID)
	if err != nil {
		return err
	}
	m := &system.Message{PropertyID: p.ID, Channel: system.ChannelSMS, To: req.To, From: s.smsFrom, Body: req.Body}
	if c, err := s.dnc.CheckContact(r.Context(), p.ID, m.Channel, m.To); err != nil {
		return err
	} else if c.Blocked() {
		return s.refuse(r, m, c.Whom(p.ID, m.To))
	}
	if err := s.messages.QueueMessage(r.Context(), m); err != nil {
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
