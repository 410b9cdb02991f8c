// Package redis keeps the product's shared, short-lived state in Redis, so
// that every API instance sees the same: rate limits (GCRA through
// go-redis/redis_rate), webhook replay records, and the event stream that
// live updates fan out from.
package redis

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-redis/redis_rate/v10"
	goredis "github.com/redis/go-redis/v9"

	"github.com/real-estate-os/reos/system"
)

// Limiter is a rate limiter shared by all instances through Redis. Time
// comes from Redis itself, so instances with skewed clocks agree.
//
// When Redis does not answer within limiterTimeout, Allow fails, and for
// limiterCooldown after that it fails at once without trying: the caller
// applies its fail-open or fail-closed rule immediately instead of every
// request waiting on a dead server.
type Limiter struct {
	rl     *redis_rate.Limiter
	prefix string
	now    func() time.Time

	mu        sync.Mutex
	downUntil time.Time
	lastErr   error
}

const (
	limiterTimeout  = 5 * time.Second
	limiterCooldown = time.Second
)

var errCoolingDown = errors.New("redis did not answer a moment ago; not asking again for a second")

var _ system.RateLimiter = (*Limiter)(nil)

// NewLimiter returns a limiter on c whose keys start with prefix (one per
// deployment). Its calls go through c's automatic pipeline: requests that
// arrive together share one round trip to Redis, each still getting its own
// exact decision.
func NewLimiter(c *goredis.Client, prefix string) *Limiter {
	rl := redis_rate.NewLimiter(c)
	if ap, err := c.AutoPipeline(); err == nil { // only a bad configuration fails; c still works
		rl = redis_rate.NewLimiter(ap)
	}
	return &Limiter{rl: rl, prefix: prefix + ":", now: time.Now}
}

// Allow takes one request from key's budget of limit per period (a burst
// of limit, refilled evenly).
func (l *Limiter) Allow(ctx context.Context, key string, limit int, period time.Duration) (system.RateDecision, error) {
	l.mu.Lock()
	down, lastErr := l.now().Before(l.downUntil), l.lastErr
	l.mu.Unlock()
	if down {
		return system.RateDecision{}, fmt.Errorf("%w (%v)", errCoolingDown, lastErr)
	}
	res, err := l.allow(ctx, key, limit, period)
	if err != nil && ctx.Err() != nil {
		return system.RateDecision{}, err // the caller gave up: says nothing about Redis
	}
	if err != nil {
		l.mu.Lock()
		l.downUntil, l.lastErr = l.now().Add(limiterCooldown), err
		l.mu.Unlock()
		return system.RateDecision{}, err
	}
	return system.RateDecision{
		Allowed:    res.Allowed > 0,
		Limit:      limit,
		Remaining:  res.Remaining,
		RetryAfter: max(res.RetryAfter, 0),
		Reset:      max(res.ResetAfter, 0),
	}, nil
}

// allow asks Redis, waiting at most limiterTimeout (long enough for a
// 2-core machine saturated by a parallel test run under the race detector,
// where 2 s was seen to pass; a dead Redis is noticed sooner, by its refused
// connections): the automatic pipeline
// does not give up on a caller's deadline by itself (its retries against a
// dead server take seconds), so the call runs aside and is left to finish.
func (l *Limiter) allow(ctx context.Context, key string, limit int, period time.Duration) (*redis_rate.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, limiterTimeout)
	type answer struct {
		res *redis_rate.Result
		err error
	}
	done := make(chan answer, 1)
	go func() {
		defer cancel()
		res, err := l.rl.Allow(ctx, l.prefix+key, redis_rate.Limit{Rate: limit, Burst: limit, Period: period})
		done <- answer{res, err}
	}()
	select {
	case a := <-done:
		return a.res, a.err
	case <-ctx.Done():
		return nil, fmt.Errorf("rate limiter: redis did not answer within %s: %w", limiterTimeout, ctx.Err())
	}
}
