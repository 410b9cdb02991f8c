package api

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/real-estate-os/reos/system"
)

// twilioForm reads and verifies a Twilio webhook: a missing signature is
// 401, a wrong one 403. The signed URL is the public URL the product gave
// Twilio. Signatures are only skipped with FEATURE_WEBHOOK_SIGNATURES=false,
// which config refuses outside mock mode.
func (s *Server) twilioForm(r *http.Request) (url.Values, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil || len(body) > MaxBodyBytes {
		return nil, system.Errorf(system.EINVALID, "the webhook body could not be read")
	}
	if _, err := s.verifyCallback(r, s.verifiers.Twilio, body); err != nil {
		return nil, err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	form, bad := badParams(string(body))
	if bad["query"] != "" {
		return nil, system.Errorf(system.EINVALID, "the webhook body is not a form")
	}
	if len(bad) > 0 {
		return nil, system.Invalid(bad)
	}
	return form, nil
}

// vendorStatus maps Twilio's message statuses onto the product's.
var vendorStatus = map[string]system.MessageStatus{
	"queued": system.MessageQueued, "accepted": system.MessageQueued, "sending": system.MessageSending, "sent": system.MessageSent,
	"delivered": system.MessageDelivered, "undelivered": system.MessageUndelivered, "failed": system.MessageFailed, "read": system.MessageDelivered,
}

func (s *Server) handleTwilioStatus(w http.ResponseWriter, r *http.Request) error {
	form, err := s.twilioForm(r)
	if err != nil {
		return err
	}
	sid, status := form.Get("MessageSid"), vendorStatus[form.Get("MessageStatus")]
	if sid == "" || status == "" {
		return system.Invalid(map[string]string{"MessageSid": "required", "MessageStatus": "a Twilio message status"})
	}
	m, err := s.messages.FindMessageByProviderID(r.Context(), system.ChannelSMS, sid)
	if id := r.URL.Query().Get("message_id"); system.ErrorCode(err) == system.ENOTFOUND && id != "" {
		// Twilio can call back before the worker has recorded the SID the
		// create answered with; the callback URL names the message (and is
		// covered by the signature).
		if m, err = s.messages.FindMessage(r.Context(), id); err == nil && (m.Channel != system.ChannelSMS || m.ProviderID != "" && m.ProviderID != sid) {
			err = system.Errorf(system.ENOTFOUND, "message %s is not SMS %s", id, sid)
		}
	}
	if system.ErrorCode(err) == system.ENOTFOUND {
		// Not ours: acknowledge so Twilio stops.
		s.logger.InfoContext(r.Context(), "status callback for an unknown message", "sid", sid)
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	if err != nil {
		return err
	}
	errText := ""
	if code := form.Get("ErrorCode"); code != "" {
		errText = "twilio error " + code
	}
	if err := s.messages.SetMessageStatus(r.Context(), m.ID, status, sid, errText); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleTwilioInbound(w http.ResponseWriter, r *http.Request) error {
	form, err := s.twilioForm(r)
	if err != nil {
		return err
	}
	m := &system.Message{From: form.Get("From"), To: form.Get("To"), Body: form.Get("Body"), ProviderID: form.Get("MessageSid")}
	if err := s.outreach.Receive(r.Context(), m); err != nil {
		return err
	}
	// An empty TwiML answer: no automatic reply.
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Response></Response>`)
	return nil
}

// pixel is a transparent 1×1 GIF.
var pixel = []byte("GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")

func (s *Server) handleOpen(w http.ResponseWriter, r *http.Request) error {
	token := strings.TrimSuffix(chi.URLParam(r, "token"), ".gif")
	m, err := s.messages.FindMessageByToken(r.Context(), token)
	if err != nil {
		return err
	}
	if err := s.messages.RecordEvent(r.Context(), m.ID, "open", map[string]any{"user_agent": r.UserAgent()}); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "image/gif")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(pixel)
	return nil
}

func (s *Server) handleClick(w http.ResponseWriter, r *http.Request) error {
	m, err := s.messages.FindMessageByToken(r.Context(), chi.URLParam(r, "token"))
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(chi.URLParam(r, "n"))
	if err != nil || n < 0 || n >= len(m.Links) {
		return system.Errorf(system.ENOTFOUND, "no such link")
	}
	if err := s.messages.RecordEvent(r.Context(), m.ID, "click", map[string]any{"url": m.Links[n]}); err != nil {
		return err
	}
	// Only links the message itself carried are redirected to: no open redirect.
	http.Redirect(w, r, m.Links[n], http.StatusFound)
	return nil
}
