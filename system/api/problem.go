package api

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/real-estate-os/reos/system"
)

// ProblemTypeBase prefixes every problem type URI; the code follows it
// (…/problems/dnc). docs/problems.md describes each one.
const ProblemTypeBase = "https://reos.dev/problems/"

// Problem is an RFC 9457 problem-details body.
type Problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
	// Errors names each invalid request field and what is wrong with it.
	Errors map[string]string `json:"errors,omitempty"`
	// Checks reports each dependency's state on /readyz.
	Checks map[string]string `json:"checks,omitempty"`
}

// problemKinds is the one place an error code becomes an HTTP status.
var problemKinds = map[string]struct {
	status int
	title  string
}{
	system.EINVALID:              {http.StatusBadRequest, "Invalid request"},
	system.EUNAUTHORIZED:         {http.StatusUnauthorized, "Unauthorized"},
	system.EFORBIDDEN:            {http.StatusForbidden, "Forbidden"},
	system.ENOTFOUND:             {http.StatusNotFound, "Not found"},
	system.EMETHOD:               {http.StatusMethodNotAllowed, "Method not allowed"},
	system.ENOTACCEPTABLE:        {http.StatusNotAcceptable, "Not acceptable"},
	system.ECONFLICT:             {http.StatusConflict, "Conflict"},
	system.EPRECONDITION:         {http.StatusPreconditionFailed, "Precondition failed"},
	system.EPRECONDITIONREQUIRED: {http.StatusPreconditionRequired, "Precondition required"},
	system.ETOOLARGE:             {http.StatusRequestEntityTooLarge, "Request body too large"},
	system.EUNSUPPORTED:          {http.StatusUnsupportedMediaType, "Unsupported media type"},
	system.ETRANSITION:           {http.StatusUnprocessableEntity, "Illegal stage transition"},
	system.EDNC:                  {http.StatusUnprocessableEntity, "Contact is on the do-not-contact list"},
	system.EIDEMPOTENCY:          {http.StatusUnprocessableEntity, "Idempotency-Key reused with a different request"},
	system.ERATELIMIT:            {http.StatusTooManyRequests, "Too many requests"},
	system.EINTERNAL:             {http.StatusInternalServerError, "Internal server error"},
	system.EUNAVAILABLE:          {http.StatusServiceUnavailable, "Service unavailable"},
}

// ProblemFor returns the problem body and status for err. Internal errors
// keep their text out of the body: it may hold SQL or addresses.
func ProblemFor(err error, instance string) Problem {
	code := system.ErrorCode(err)
	kind, ok := problemKinds[code]
	if !ok {
		code, kind = system.EINTERNAL, problemKinds[system.EINTERNAL]
	}
	p := Problem{Type: ProblemTypeBase + code, Title: kind.title, Status: kind.status, Detail: system.ErrorMessage(err), Instance: instance}
	var se *system.Error
	if errors.As(err, &se) {
		p.Errors = se.Fields
	}
	return p
}

// writeProblem renders p as application/problem+json.
func writeProblem(w http.ResponseWriter, p Problem) {
	if p.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="reos"`)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// Error renders err as a problem and logs what a client is not shown.
func (s *Server) Error(w http.ResponseWriter, r *http.Request, err error) {
	p := ProblemFor(err, r.URL.Path)
	switch {
	case r.Context().Err() != nil && errors.Is(err, r.Context().Err()):
		// The client went away: nothing failed. The answer still says the
		// work did not happen (the idempotency record is released), though
		// nobody reads it.
		s.logger.DebugContext(r.Context(), "client went away", "method", r.Method, "path", logPath(r))
	case p.Status >= 500:
		s.logger.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", logPath(r), "err", err)
	default:
		s.logger.DebugContext(r.Context(), "request refused", "method", r.Method, "path", logPath(r), "status", p.Status, "detail", p.Detail)
	}
	writeProblem(w, p)
}
