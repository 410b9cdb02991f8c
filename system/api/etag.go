package api

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/real-estate-os/reos/system"
)

// ETags are strong validators built from versions the database keeps, never
// from a re-rendered body: a GET answered 304 reads one version number.

func propertyETag(id, version int64) string {
	b := make([]byte, 0, 24)
	b = append(b, `"p`...)
	b = strconv.AppendInt(b, id, 10)
	b = append(b, ".v"...)
	b = strconv.AppendInt(b, version, 10)
	return string(append(b, '"'))
}

// privateNoCache is conditional's Cache-Control, shared: never written to.
var privateNoCache = []string{"private, no-cache"}

var propertyETagPattern = regexp.MustCompile(`^"p(\d+)\.v(\d+)"$`)

// conditional sets the ETag and reports, after writing 304, whether the
// client's If-None-Match already has it. With FEATURE_CACHE_RESPONSES=false
// it does nothing.
func (s *Server) conditional(w http.ResponseWriter, r *http.Request, etag string) bool {
	if !s.cfg.Features.CacheResponses {
		return false
	}
	h := w.Header() // canonical names, assigned: this runs on every read
	h["Etag"] = []string{etag}
	h["Cache-Control"] = privateNoCache
	if noneMatch(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return true
	}
	return false
}

// noneMatch reports whether an If-None-Match header names etag (weak
// comparison, as RFC 9110 has it for If-None-Match).
func noneMatch(header, etag string) bool {
	if header == "" {
		return false
	}
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}

// ifMatchVersion reads If-Match for a PATCH of property id: the version the
// client last saw, or nil when it sent none. A tag for another property or
// in another form can never match: EPRECONDITION. When the config requires
// If-Match, a missing one is EPRECONDITIONREQUIRED.
func (s *Server) ifMatchVersion(r *http.Request, id int64) (*int64, error) {
	if !s.cfg.Features.CacheResponses {
		return nil, nil
	}
	h := strings.TrimSpace(r.Header.Get("If-Match"))
	if h == "" {
		if s.cfg.RequireIfMatch {
			return nil, system.Errorf(system.EPRECONDITIONREQUIRED, "send If-Match with the property's ETag")
		}
		return nil, nil
	}
	if h == "*" {
		return nil, nil
	}
	m := propertyETagPattern.FindStringSubmatch(h)
	if m == nil || m[1] != strconv.FormatInt(id, 10) {
		return nil, system.Errorf(system.EPRECONDITION, "If-Match %s is not an ETag of property %d", h, id)
	}
	v, err := strconv.ParseInt(m[2], 10, 64)
	if err != nil {
		return nil, system.Errorf(system.EPRECONDITION, "If-Match %s is not an ETag of property %d", h, id)
	}
	return &v, nil
}
