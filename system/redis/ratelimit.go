// Package redis keeps the product's shared, short-lived state in Redis, so
// that every API instance sees the same: rate limits (GCRA through
// go-redis/redis_rate), webhook replay records, and the event stream that
// live updates fan out from.
package redis

import (
	"context"
	"time"

	"github.com/go-redis/redis_rate/v10"
	goredis "github.com/redis/go-redis/v9"

	"github.com/real-estate-os/reos/system"
)

// Limiter is a rate limiter shared by all instances through Redis. Time
// comes from Redis itself, so instances with skewed clocks agree.
type Limiter struct {
	rl     *redis_rate.Limiter
	prefix string
}

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
	return &Limiter{rl: rl, prefix: prefix + ":"}
}

// Allow takes one request from key's budget of limit per period (a burst
// of limit, refilled evenly).
func (l *Limiter) Allow(ctx context.Context, key string, limit int, period time.Duration) (system.RateDecision, error) {
	res, err := l.rl.Allow(ctx, l.prefix+key, redis_rate.Limit{Rate: limit, Burst: limit, Period: period})
	if err != nil {
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
