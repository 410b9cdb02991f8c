package api

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"strconv"
	"time"

	"github.com/real-estate-os/reos/system"
	"github.com/real-estate-os/reos/system/config"
)

// Browser sessions: the UI's pages call the same JSON API as any client,
// authenticated by a session cookie instead of a bearer token. The session
// lives in the SessionStore (server-side: logging out ends it), the cookie
// holds only its random id (HttpOnly, SameSite=Strict, Secure outside mock
// mode), and every state-changing request made with the cookie must carry
// the session's CSRF token — in the X-CSRF-Token header, or the csrf_token
// field of a form — or it is refused with 403. Bearer requests need none.
const (
	SessionCookie = "reos_session"
	CSRFHeader    = "X-CSRF-Token"
	csrfField     = "csrf_token"
	sessionTTL    = 12 * time.Hour
)

// sessionClaims authenticates a request by its session cookie.
func (s *Server) sessionClaims(r *http.Request, id string) (*Claims, error) {
	sess, err := s.sessions.FindSession(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if changesState(r.Method) && !validCSRF(r, sess.CSRFToken) {
		s.logger.WarnContext(r.Context(), "request refused: CSRF token missing or wrong", "path", logPath(r))
		return nil, system.Errorf(system.EFORBIDDEN, "this request needs the session's CSRF token (the %s header or the %s form field)", CSRFHeader, csrfField)
	}
	return claimsOf(sess), nil
}

// claimsOf are a session's claims, as a token would carry them.
func claimsOf(sess *system.Session) *Claims {
	c := &Claims{Email: sess.Email, Role: sess.Role}
	c.Subject = strconv.FormatInt(sess.UserID, 10)
	return c
}

func changesState(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// validCSRF compares the request's token with want in constant time.
func validCSRF(r *http.Request, want string) bool {
	got := r.Header.Get(CSRFHeader)
	if got == "" && isForm(r) {
		got = r.PostFormValue(csrfField)
	}
	return got != "" && want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

func isForm(r *http.Request) bool {
	ct := r.Header.Get("Content-Type")
	return len(ct) >= 33 && ct[:33] == "application/x-www-form-urlencoded"
}

// startSession signs u in for the browser: a new session and its cookie.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, u *system.User) error {
	b := make([]byte, 32)
	rand.Read(b)
	sess := &system.Session{UserID: u.ID, Email: u.Email, Role: u.Role, CSRFToken: base64.RawURLEncoding.EncodeToString(b),
		ExpiresAt: s.now().Add(sessionTTL)}
	id, err := s.sessions.CreateSession(r.Context(), sess, sessionTTL)
	if err != nil {
		return err
	}
	http.SetCookie(w, s.sessionCookie(id, int(sessionTTL.Seconds())))
	return nil
}

// endSession deletes the request's session server-side and clears the
// cookie.
func (s *Server) endSession(w http.ResponseWriter, r *http.Request) error {
	if cookie, err := r.Cookie(SessionCookie); err == nil {
		if err := s.sessions.DeleteSession(r.Context(), cookie.Value); err != nil {
			return err
		}
	}
	http.SetCookie(w, s.sessionCookie("", -1))
	return nil
}

func (s *Server) sessionCookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: SessionCookie, Value: value, Path: "/", MaxAge: maxAge, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: s.cfg.Mode != config.ModeMock}
}

// currentSession returns the request's session, or nil when it has none.
func (s *Server) currentSession(r *http.Request) *system.Session {
	cookie, err := r.Cookie(SessionCookie)
	if err != nil {
		return nil
	}
	sess, err := s.sessions.FindSession(r.Context(), cookie.Value)
	if err != nil {
		return nil
	}
	return sess
}
