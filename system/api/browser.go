package api

import (
	"context"
	"net/http"
	"net/url"

	"github.com/go-chi/chi/v5"

	"github.com/real-estate-os/reos/system"
)

// The web UI (package web) is a separate package over the same services;
// it signs browsers in through the API's sessions and login budgets, and
// reads requests the way the API does. These are the API's side of that.

// UI is a web UI whose routes MountUI adds beside the API's.
type UI interface {
	Routes(r chi.Router)
}

// MountUI serves ui's routes beside the API, behind the same middleware
// (request ids, the access log, panics, refused text, security headers).
// Call it once, before serving.
func (s *Server) MountUI(ui UI) { ui.Routes(s.router) }

// SignIn signs a browser in: the address's login budget, then the
// account's, the password, and a new server-side session with its cookie.
// ERATELIMIT sets Retry-After on w; a wrong email or password is
// EUNAUTHORIZED; an empty one EINVALID.
func (s *Server) SignIn(w http.ResponseWriter, r *http.Request, email, password string) error {
	if err := s.take(w, r, "login:ip:"+s.clientIP(r), loginLimit, false); err != nil {
		return err
	}
	u, err := s.checkLogin(w, r, email, password)
	if err != nil {
		return err
	}
	return s.startSession(w, r, u)
}

// SignOut ends the browser's session on the server and clears its cookie.
// A request with a session must carry its CSRF token (EFORBIDDEN).
func (s *Server) SignOut(w http.ResponseWriter, r *http.Request) error {
	if cookie, err := r.Cookie(SessionCookie); err == nil {
		if _, err := s.sessionClaims(r, cookie.Value); err != nil && system.ErrorCode(err) == system.EFORBIDDEN {
			return err
		}
	}
	return s.endSession(w, r)
}

// Session returns the browser's session, or nil when it has none.
func (s *Server) Session(r *http.Request) *system.Session { return s.currentSession(r) }

// Status is what GET /api/v1/status/providers?verbose=1 answers.
func (s *Server) Status(ctx context.Context) ProvidersStatus {
	return ProvidersStatus{AppMode: s.cfg.Mode, Providers: s.cfg.Providers, Sends: s.cfg.Sends, Features: s.cfg.Features,
		Health: s.providerHealth(ctx)}
}

// WithSession returns r carrying sess as the caller, as the API's handlers
// see one.
func WithSession(r *http.Request, sess *system.Session) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), claimsKey{}, claimsOf(sess)))
}

// ParseQuery decodes a query string or form body, and names the
// parameters that are not storable text (NUL, invalid UTF-8) or cannot be
// decoded.
func ParseQuery(raw string) (url.Values, map[string]string) { return badParams(raw) }

// PropertyFilter reads a property filter (stage, tag, q, page, page_size)
// from a query, naming the bad parameters.
func PropertyFilter(q url.Values) (system.PropertyFilter, map[string]string) {
	return propertyFilter(q)
}

// PathID reads the {id} path parameter: a positive integer, or EINVALID.
func PathID(r *http.Request) (int64, error) { return propertyID(r) }

// Storable reports whether s may be stored: valid UTF-8 without NUL.
func Storable(s string) bool { return storable(s) }
