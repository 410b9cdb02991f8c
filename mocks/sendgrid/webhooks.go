package sendgrid

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"time"
)

// maxWebhooks is how many Event Webhooks SendGrid allows an account.
const maxWebhooks = 5

// eventTypes are the Event Webhook's switches, one per event type.
var eventTypes = []string{"processed", "delivered", "deferred", "bounce", "dropped", "open", "click",
	"spam_report", "unsubscribe", "group_unsubscribe", "group_resubscribe"}

// webhook is one Event Webhook setting, as tsg_webhooks_v3.json has it.
type webhook struct {
	ID           string
	Enabled      bool
	URL          string
	Events       map[string]bool
	FriendlyName string
	Signed       bool
	Created      time.Time
	Updated      time.Time
}

// settingsRequest is EventWebhookRequest: every field optional on PATCH
// but url, which a create needs.
type settingsRequest struct {
	Enabled      *bool            `json:"enabled"`
	URL          *string          `json:"url"`
	FriendlyName *string          `json:"friendly_name"`
	Events       map[string]*bool `json:"-"`
}

func (r *settingsRequest) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	type plain settingsRequest
	if err := json.Unmarshal(b, (*plain)(r)); err != nil {
		return err
	}
	r.Events = map[string]*bool{}
	for _, name := range eventTypes {
		if v, ok := raw[name]; ok {
			var on bool
			if err := json.Unmarshal(v, &on); err != nil {
				return err
			}
			r.Events[name] = &on
		}
	}
	return nil
}

// apply changes w as r says; create says whether url is required.
func (r *settingsRequest) apply(w *webhook, create bool) []errorItem {
	if r.URL == nil && create {
		return []errorItem{fieldError("url", "url is required")}
	}
	if r.URL != nil {
		u, err := url.Parse(*r.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return []errorItem{fieldError("url", "invalid url: must be an http or https URL")}
		}
		w.URL = *r.URL
	}
	if r.Enabled != nil {
		w.Enabled = *r.Enabled
	}
	if r.FriendlyName != nil {
		w.FriendlyName = *r.FriendlyName
	}
	for name, on := range r.Events {
		w.Events[name] = *on
	}
	return nil
}

func (w *webhook) json(publicKey string) map[string]any {
	out := map[string]any{"enabled": w.Enabled, "url": w.URL, "id": w.ID, "friendly_name": w.FriendlyName,
		"account_status_change": false, "oauth_client_id": "", "oauth_token_url": "",
		"created_date": w.Created.Format(time.RFC3339), "updated_date": w.Updated.Format(time.RFC3339)}
	for _, name := range eventTypes {
		out[name] = w.Events[name]
	}
	if w.Signed {
		out["public_key"] = publicKey
	}
	return out
}

func (s *Server) newWebhook() *webhook {
	b := make([]byte, 16)
	rand.Read(b)
	id := hex.EncodeToString(b)
	now := s.cfg.Now().UTC()
	w := &webhook{ID: id[:8] + "-" + id[8:12] + "-" + id[12:16] + "-" + id[16:20] + "-" + id[20:], Events: map[string]bool{}, Created: now, Updated: now}
	for _, name := range eventTypes {
		w.Events[name] = true
	}
	return w
}

// publicKey is the signing key's public half as SendGrid shows it: base64
// DER SubjectPublicKeyInfo.
func (s *Server) publicKey() string {
	if s.cfg.SigningKey == nil {
		return ""
	}
	der, _ := x509.MarshalPKIXPublicKey(&s.cfg.SigningKey.PublicKey)
	return base64.StdEncoding.EncodeToString(der)
}

// webhookRoutes mounts the Event Webhook settings API: the account-wide
// form (GET/PATCH /settings, GET/PATCH /settings/signed) that SendGrid's
// SDKs and most clients use, and the per-webhook form tsg_webhooks_v3.json
// publishes (POST /settings, /settings/all, /settings/{id},
// /settings/signed/{id}).
func (s *Server) webhookRoutes() {
	const base = "/v3/user/webhooks/event/settings"
	s.mux.HandleFunc("GET "+base, s.authed(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.defaultWebhook(false).json(s.publicKey()))
	}))
	s.mux.HandleFunc("PATCH "+base, s.authed(func(w http.ResponseWriter, r *http.Request) {
		s.updateWebhook(w, r, func() *webhook { return s.defaultWebhook(true) })
	}))
	s.mux.HandleFunc("POST "+base, s.authed(func(w http.ResponseWriter, r *http.Request) {
		var req settingsRequest
		if !decodeSettings(w, r, &req) {
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if len(s.webhooks) >= maxWebhooks {
			writeErrors(w, http.StatusBadRequest, fieldError("", "you have reached the maximum number of webhooks allowed"))
			return
		}
		hook := s.newWebhook()
		if errs := req.apply(hook, true); len(errs) > 0 {
			writeErrors(w, http.StatusBadRequest, errs...)
			return
		}
		s.webhooks = append(s.webhooks, hook)
		writeJSON(w, http.StatusCreated, hook.json(s.publicKey()))
	}))
	s.mux.HandleFunc("GET "+base+"/all", s.authed(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		all := []map[string]any{}
		for _, hook := range s.webhooks {
			all = append(all, hook.json(s.publicKey()))
		}
		writeJSON(w, http.StatusOK, map[string]any{"max_allowed": maxWebhooks, "webhooks": all})
	}))
	s.mux.HandleFunc("GET "+base+"/{id}", s.authed(func(w http.ResponseWriter, r *http.Request) {
		if hook := s.findWebhook(w, r.PathValue("id")); hook != nil {
			writeJSON(w, http.StatusOK, hook.json(s.publicKey()))
		}
	}))
	s.mux.HandleFunc("PATCH "+base+"/{id}", s.authed(func(w http.ResponseWriter, r *http.Request) {
		s.updateWebhook(w, r, func() *webhook { return s.findWebhook(w, r.PathValue("id")) })
	}))
	s.mux.HandleFunc("DELETE "+base+"/{id}", s.authed(func(w http.ResponseWriter, r *http.Request) {
		if hook := s.findWebhook(w, r.PathValue("id")); hook != nil {
			s.mu.Lock()
			for i, h := range s.webhooks {
				if h == hook {
					s.webhooks = append(s.webhooks[:i], s.webhooks[i+1:]...)
					break
				}
			}
			s.mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	signedGet := func(find func(http.ResponseWriter, *http.Request) *webhook) http.HandlerFunc {
		return s.authed(func(w http.ResponseWriter, r *http.Request) {
			if hook := find(w, r); hook != nil {
				s.writeSigned(w, hook)
			}
		})
	}
	signedPatch := func(find func(http.ResponseWriter, *http.Request) *webhook) http.HandlerFunc {
		return s.authed(func(w http.ResponseWriter, r *http.Request) {
			var req struct {
				Enabled *bool `json:"enabled"`
			}
			if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil || req.Enabled == nil {
				writeErrors(w, http.StatusBadRequest, fieldError("enabled", "enabled is required and must be a boolean"))
				return
			}
			if hook := find(w, r); hook != nil {
				s.mu.Lock()
				hook.Signed, hook.Updated = *req.Enabled, s.cfg.Now().UTC()
				s.mu.Unlock()
				s.writeSigned(w, hook)
			}
		})
	}
	byDefault := func(create bool) func(http.ResponseWriter, *http.Request) *webhook {
		return func(http.ResponseWriter, *http.Request) *webhook { return s.defaultWebhook(create) }
	}
	byID := func(w http.ResponseWriter, r *http.Request) *webhook { return s.findWebhook(w, r.PathValue("id")) }
	s.mux.HandleFunc("GET "+base+"/signed", signedGet(byDefault(false)))
	s.mux.HandleFunc("PATCH "+base+"/signed", signedPatch(byDefault(true)))
	s.mux.HandleFunc("GET "+base+"/signed/{id}", signedGet(byID))
	s.mux.HandleFunc("PATCH "+base+"/signed/{id}", signedPatch(byID))
}

func (s *Server) writeSigned(w http.ResponseWriter, hook *webhook) {
	s.mu.Lock()
	key := ""
	if hook.Signed {
		key = s.publicKey()
	}
	id := hook.ID
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]string{"id": id, "public_key": key})
}

func (s *Server) updateWebhook(w http.ResponseWriter, r *http.Request, find func() *webhook) {
	var req settingsRequest
	if !decodeSettings(w, r, &req) {
		return
	}
	hook := find()
	if hook == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	next := *hook
	next.Events = map[string]bool{}
	for k, v := range hook.Events {
		next.Events[k] = v
	}
	if errs := req.apply(&next, false); len(errs) > 0 {
		writeErrors(w, http.StatusBadRequest, errs...)
		return
	}
	if next.Enabled && next.URL == "" {
		writeErrors(w, http.StatusBadRequest, fieldError("url", "url is required to enable the webhook"))
		return
	}
	next.Updated = s.cfg.Now().UTC()
	*hook = next
	writeJSON(w, http.StatusOK, hook.json(s.publicKey()))
}

func decodeSettings(w http.ResponseWriter, r *http.Request, req *settingsRequest) bool {
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(req); err != nil {
		writeErrors(w, http.StatusBadRequest, fieldError("", "invalid JSON body: "+err.Error()))
		return false
	}
	return true
}

// defaultWebhook is the account's first webhook, the one the account-wide
// settings routes show and change; made on first change.
func (s *Server) defaultWebhook(create bool) *webhook {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.webhooks) == 0 {
		hook := s.newWebhook()
		if !create {
			return hook // shown, not kept: a disabled webhook with no URL
		}
		s.webhooks = append(s.webhooks, hook)
	}
	return s.webhooks[0]
}

func (s *Server) findWebhook(w http.ResponseWriter, id string) *webhook {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, hook := range s.webhooks {
		if hook.ID == id {
			return hook
		}
	}
	writeErrors(w, http.StatusNotFound, errorItem{Message: "Invalid id provided."})
	return nil
}

// eventTargets returns, for each enabled webhook with a URL, where to post
// and whether to sign, oldest webhook first.
func (s *Server) eventTargets() []webhook {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []webhook
	for _, hook := range s.webhooks {
		if hook.Enabled && hook.URL != "" {
			c := *hook
			c.Events = map[string]bool{}
			for k, v := range hook.Events {
				c.Events[k] = v
			}
			out = append(out, c)
		}
	}
	return out
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
