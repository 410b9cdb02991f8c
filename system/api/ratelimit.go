package api

import (
	"crypto/sha256"
	"encoding/hex"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/real-estate-os/reos/system"
)

// loginLimit is the login budget per minute, per account and per client IP.
const loginLimit = 10

// clientIP is the connection's address, or — when the connection comes from
// a trusted proxy — the nearest X-Forwarded-For entry that is not one, so a
// client cannot pick its own address by sending the header.
func (s *Server) clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil || !s.trusted(addr) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		if !s.trusted(hop) {
			return hop.String()
		}
		host = hop.String()
	}
	return host
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

// take asks the limiter for one request of key. failOpen says what a Redis
// outage means: let the request through, or refuse it. The draft
// RateLimit-* headers go on every answer; 429 adds Retry-After.
func (s *Server) take(w http.ResponseWriter, r *http.Request, key string, limit int, failOpen bool) error {
	if !s.cfg.Features.RateLimit || s.limiter == nil {
		return nil
	}
	d, err := s.limiter.Allow(r.Context(), key, limit, time.Minute)
	if err != nil && r.Context().Err() != nil {
		return r.Context().Err() // the client went away: that says nothing about Redis
	}
	if err != nil {
		s.warnLimiter(err, failOpen)
		if failOpen {
			return nil
		}
		return system.Errorf(system.EUNAVAILABLE, "the rate limiter is unavailable; try again shortly")
	}
	h := w.Header() // canonical names, assigned: this runs on every request
	h["Ratelimit-Limit"] = []string{strconv.Itoa(d.Limit)}
	h["Ratelimit-Remaining"] = []string{strconv.Itoa(d.Remaining)}
	h["Ratelimit-Reset"] = []string{strconv.Itoa(seconds(d.Reset))}
	if !d.Allowed {
		h.Set("Retry-After", strconv.Itoa(max(seconds(d.RetryAfter), 1)))
		return system.Errorf(system.ERATELIMIT, "too many requests; retry in %d s", max(seconds(d.RetryAfter), 1))
	}
	return nil
}

func seconds(d time.Duration) int { return int(math.Ceil(d.Seconds())) }

var limiterWarn struct {
	sync.Mutex
	last time.Time
}

// warnLimiter logs a limiter outage at most every 10 s.
func (s *Server) warnLimiter(err error, failOpen bool) {
	limiterWarn.Lock()
	defer limiterWarn.Unlock()
	if time.Since(limiterWarn.last) < 10*time.Second {
		return
	}
	limiterWarn.last = time.Now()
	direction := "closed: refusing requests"
	if failOpen {
		direction = "open: letting requests through"
	}
	s.logger.Warn("rate limiter unavailable; failing "+direction, "err", err)
}

// limitLoginIP holds login attempts from one client address to loginLimit
// a minute. It fails closed.
func (s *Server) limitLoginIP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.take(w, r, "login:ip:"+s.clientIP(r), loginLimit, false); err != nil {
			s.Error(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// limitLoginAccount holds login attempts for one account to loginLimit a
// minute, whatever address they come from. It fails closed.
func (s *Server) limitLoginAccount(w http.ResponseWriter, r *http.Request, email string) error {
	sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(email))))
	return s.take(w, r, "login:acct:"+hex.EncodeToString(sum[:12]), loginLimit, false)
}

// limitUser holds a signed-in user to RATE_LIMIT_PER_MINUTE.
func (s *Server) limitUser(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := "user:" + strconv.FormatInt(ClaimsFrom(r.Context()).UserID(), 10)
		if err := s.take(w, r, key, s.cfg.RateLimitPerMinute, s.cfg.RateLimitFailOpen); err != nil {
			s.Error(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}
