package api

import (
	"io"
	"net/http"
	"regexp"

	"github.com/real-estate-os/reos/system"
	"github.com/real-estate-os/reos/system/webhook"
)

var eventTypePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

type partnerEvent struct {
	Type string         `json:"type"`
	Data map[string]any `json:"data"`
}

// handlePartnerWebhook takes a partner's signed event (the product's own
// scheme, package webhook) and records it as the domain event
// partner.<type>. Each signature is accepted once: a replay within the skew
// window is 409.
func (s *Server) handlePartnerWebhook(w http.ResponseWriter, r *http.Request) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil || len(body) > MaxBodyBytes {
		return system.Errorf(system.ETOOLARGE, "the webhook body is over %d bytes", MaxBodyBytes)
	}
	sig, err := s.verifyCallback(r, s.verifiers.Partner, body)
	if err != nil {
		return err
	}
	if sig != "" {
		first, err := s.replays.FirstSeen(r.Context(), "webhook:"+sig, 2*webhook.Skew)
		if err != nil {
			return system.Errorf(system.EUNAVAILABLE, "the replay guard is unavailable; retry later")
		}
		if !first {
			s.logger.WarnContext(r.Context(), "webhook refused", "path", logPath(r), "why", "replayed signature")
			return system.Errorf(system.ECONFLICT, "this webhook was already received")
		}
	}
	var ev partnerEvent
	if err := DecodeJSONBody(body, &ev); err != nil {
		return err
	}
	if !eventTypePattern.MatchString(ev.Type) {
		return system.Invalid(map[string]string{"type": "1–64 lower-case letters, digits, dots, dashes and underscores"})
	}
	if err := s.events.RecordEvent(r.Context(), "partner."+ev.Type, "partner", ev.Data); err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"received": ev.Type})
	return nil
}
