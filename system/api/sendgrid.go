package api

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"

	"github.com/real-estate-os/reos/system"
)

// sendgridStatus maps SendGrid's delivery events onto message statuses.
var sendgridStatus = map[string]system.MessageStatus{
	"processed": system.MessageSent, "delivered": system.MessageDelivered,
	"bounce": system.MessageUndelivered, "dropped": system.MessageFailed,
}

// sendgridOptOut are the events that put the address on the list.
var sendgridOptOut = map[string]bool{"spamreport": true, "unsubscribe": true, "group_unsubscribe": true}

// handleSendGridEvents takes SendGrid's signed event batches. Events name
// the product's message by the reos_message_id custom argument the send
// carries; others are ignored.
func (s *Server) handleSendGridEvents(w http.ResponseWriter, r *http.Request) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil || len(body) > MaxBodyBytes {
		return system.Errorf(system.ETOOLARGE, "the event batch is over %d bytes", MaxBodyBytes)
	}
	if _, err := s.verifyCallback(r, s.verifiers.SendGrid, body); err != nil {
		return err
	}
	var events []map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&events); err != nil {
		return system.Errorf(system.EINVALID, "the body must be a JSON array of events")
	}
	if bad := badStrings(events); len(bad) > 0 {
		return system.Invalid(bad)
	}
	for _, ev := range events {
		id, _ := ev["reos_message_id"].(string)
		kind, _ := ev["event"].(string)
		if id == "" || kind == "" {
			continue
		}
		data := map[string]any{"sg_event_id": ev["sg_event_id"], "email": ev["email"]}
		switch {
		case sendgridStatus[kind] != "":
			errText, _ := ev["reason"].(string)
			err = s.messages.SetMessageStatus(r.Context(), id, sendgridStatus[kind], "", errText)
		case sendgridOptOut[kind]:
			if email, ok := ev["email"].(string); ok && email != "" {
				err = s.dnc.AddDNC(r.Context(), system.DNCEntry{Kind: system.DNCEmail, Value: email, Reason: "SendGrid " + kind}, "email-"+kind)
			}
			if err == nil {
				err = s.messages.RecordEvent(r.Context(), id, kind, data)
			}
		default: // open, click, deferred, …
			if u, ok := ev["url"].(string); ok {
				data["url"] = u
			}
			err = s.messages.RecordEvent(r.Context(), id, kind, data)
		}
		if err != nil && system.ErrorCode(err) != system.ENOTFOUND {
			return err
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
