package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/real-estate-os/reos/system"
)

// IdempotencyHeader names the request's idempotency key (IETF httpapi
// Idempotency-Key draft).
const IdempotencyHeader = "Idempotency-Key"

// idempotent makes a POST safe to retry: the first request with a key runs;
// a retry with the same key and body gets the first answer again (with
// Idempotent-Replayed: true) and causes nothing; the same key with another
// body is refused (422); a retry while the first is still running gets 409
// (whatever its body: the first answer is not known yet). A request that
// fails (5xx), panics or is abandoned by its client releases its key; one
// whose process died holds it for the lease (postgres.IdempotencyLease).
// Keys are per user and kept 24 hours. A request without a key runs as is.
func (s *Server) idempotent(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := strings.Trim(strings.TrimSpace(r.Header.Get(IdempotencyHeader)), `"`)
		if r.Header.Get(IdempotencyHeader) == "" {
			next.ServeHTTP(w, r)
			return
		}
		if !validKey(key) {
			s.Error(w, r, system.Invalid(map[string]string{IdempotencyHeader: "1 to 255 visible ASCII characters"}))
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
		if err != nil {
			s.Error(w, r, system.Errorf(system.EINVALID, "the request body could not be read"))
			return
		}
		if len(body) > MaxBodyBytes {
			s.Error(w, r, system.Errorf(system.ETOOLARGE, "the request body is over %d bytes", MaxBodyBytes))
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		sum := sha256.Sum256([]byte(r.Method + " " + r.URL.Path + "\n" + string(body)))
		hash := hex.EncodeToString(sum[:])
		user := ClaimsFrom(r.Context()).UserID()

		rec, claimed, err := s.idem.BeginRequest(r.Context(), user, key, hash)
		if err != nil {
			s.Error(w, r, err)
			return
		}
		if !claimed {
			switch {
			case rec.Status == 0:
				w.Header().Set("Retry-After", "1")
				s.Error(w, r, system.Errorf(system.ECONFLICT, "a request with this Idempotency-Key is still being processed; retry later"))
			case rec.RequestHash != hash:
				s.Error(w, r, system.Errorf(system.EIDEMPOTENCY, "this Idempotency-Key was used for a different request; use a new key"))
			default:
				for k, v := range rec.Headers {
					w.Header().Set(k, v)
				}
				w.Header().Set("Idempotent-Replayed", "true")
				w.WriteHeader(rec.Status)
				w.Write(rec.Body)
			}
			return
		}
		// The key is settled whatever happens to the request: with a context
		// that outlives a client that went away, and on a panic too.
		settle, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), settleTimeout)
		defer cancel()
		rw := &recorder{ResponseWriter: w, status: http.StatusOK}
		completed := false
		defer func() {
			if !completed {
				// Nothing was done for sure: let the client try again.
				if err := s.idem.ReleaseRequest(settle, user, key); err != nil {
					s.logger.ErrorContext(r.Context(), "idempotency: release", "err", err)
				}
			}
		}()
		next.ServeHTTP(rw, r)
		if rw.status >= 500 {
			return
		}
		completed = true
		headers := map[string]string{}
		for _, h := range []string{"Content-Type", "Location"} {
			if v := rw.Header().Get(h); v != "" {
				headers[h] = v
			}
		}
		if err := s.idem.CompleteRequest(settle, user, key, &system.Idempotency{RequestHash: hash, Status: rw.status, Headers: headers, Body: rw.body.Bytes()}); err != nil {
			s.logger.ErrorContext(r.Context(), "idempotency: complete", "err", err)
		}
	})
}

// settleTimeout bounds completing or releasing a key after the request.
const settleTimeout = 5 * time.Second

func validKey(k string) bool {
	if k == "" || len(k) > 255 {
		return false
	}
	for _, c := range k {
		if c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

// recorder passes a response through and keeps a copy.
type recorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (r *recorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.body.Write(b)
	return r.ResponseWriter.Write(b)
}
