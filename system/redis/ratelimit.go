// Package redis keeps the product's shared, short-lived state in Redis, so
// that every API instance sees the same: rate limits (GCRA through
// go-redis/redis_rate), webhook replay records, and the event stream that
// live updates fan out from.
package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/go-redis/redis_rate/v10"
	goredis "github.com/redis/go-redis/v9"

	"github.com/real-estate-os/reos/system"
)

// Limiter is a rate limiter shared by all instances through Redis. Time
// comes from Redis itself, so instances with skewed clocks agree.
//
// Calls go through the client's automatic pipeline (go-redis's, marked
// experimental), so that requests arriving together share a round trip.
// When the pipeline fails for any reason but a timeout, the call is made
// again directly on the client, and the pipeline's failure is logged: the
// batching engine is an optimisation, never the reason a login is refused.
//
// When Redis does not answer within limiterTimeout, or the direct call
// fails too, Allow fails, and for limiterCooldown after that it fails at
// once without trying: the caller applies its fail-open or fail-closed rule
// immediately instead of every request waiting on a dead server.
type Limiter struct {
	rl, direct allower
	prefix     string
	now        func() time.Time
	logger     *slog.Logger

	mu        sync.Mutex
	downUntil time.Time
	lastErr   error
}

const (
	limiterTimeout  = 5 * time.Second
	limiterCooldown = time.Second
)

var errCoolingDown = errors.New("redis did not answer a moment ago; not asking again for a second")

// errNoAnswer is a call that Redis did not answer in time.
var errNoAnswer = errors.New("rate limiter: redis did not answer in time")

// allower is redis_rate's limiter, on the automatic pipeline or directly.
type allower interface {
	Allow(ctx context.Context, key string, limit redis_rate.Limit) (*redis_rate.Result, error)
}

var _ system.RateLimiter = (*Limiter)(nil)

// NewLimiter returns a limiter on c whose keys start with prefix (one per
// deployment). Its calls go through c's automatic pipeline: requests that
// arrive together share one round trip to Redis, each still getting its own
// exact decision.
func NewLimiter(c *goredis.Client, prefix string, logger *slog.Logger) *Limiter {
	direct := redis_rate.NewLimiter(c)
	l := &Limiter{rl: direct, prefix: prefix + ":", now: time.Now, logger: logger}
	if ap, err := c.AutoPipeline(); err == nil { // only a bad configuration fails; c still works
		l.rl, l.direct = redis_rate.NewLimiter(ap), direct
	}
	return l
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
	res, err := l.allow(ctx, l.rl, key, limit, period)
	if err != nil && ctx.Err() == nil && !errors.Is(err, errNoAnswer) && l.direct != nil {
		l.logger.Warn("rate limiter: the automatic pipeline failed; asking Redis directly", "err", err)
		res, err = l.allow(ctx, l.direct, key, limit, period)
	}
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
func (l *Limiter) allow(ctx context.Context, rl allower, key string, limit int, period time.Duration) (*redis_rate.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, limiterTimeout)
	defer cancel() // after the answer is taken: canceling first would race it
	type answer struct {
		res *redis_rate.Result
		err error
	}
	done := make(chan answer, 1)
	go func() {
		res, err := rl.Allow(ctx, l.prefix+key, redis_rate.Limit{Rate: limit, Burst: limit, Period: period})
		done <- answer{res, err}
	}()
	select {
	case a := <-done:
		return a.res, a.err
	case <-ctx.Done():
		select {
		case a := <-done: // answered just as the time ran out
			return a.res, a.err
		default:
		}
		return nil, fmt.Errorf("%w (%s): %w", errNoAnswer, limiterTimeout, ctx.Err())
	}
}
