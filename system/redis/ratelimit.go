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
// A key far from its limit does not cost a round trip per request: the
// instance takes a batch of its budget from Redis at once (a lease) and
// spends it locally for at most leaseTTL. The batch is an eighth of what
// Redis says remains (at most maxBatch), so it shrinks as the budget does
// and, near the limit, every request asks Redis: one request at a time is
// exact. The bounds, for any instances and any interval T:
//   - admitted ≤ what Redis granted over T plus leaseTTL, so at most the
//     limit's burst plus its rate over T + leaseTTL — the lease can only
//     shift a grant by leaseTTL, never add one;
//   - a request is refused while budget remains only in another
//     instance's unspent lease: at most an eighth of the remaining budget
//     per instance, returned to nobody but gone when its lease ends.
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
// immediately instead of every request waiting on a dead server. A caller
// that gives up (its context ends) gets its context's error, which says
// nothing about Redis.
type Limiter struct {
	rl, direct allower
	prefix     string
	now        func() time.Time
	logger     *slog.Logger

	mu        sync.Mutex
	downUntil time.Time
	lastErr   error
	leases    map[string]*lease
	added     int // leases made since the last sweep
}

// lease is a key's budget taken from Redis ahead of use on this instance.
type lease struct {
	mu        sync.Mutex
	tokens    int       // taken, not yet spent
	until     time.Time // when unspent tokens lapse
	remaining int       // what Redis said remained after the take
	reset     time.Duration
	seen      time.Time
}

const (
	limiterTimeout  = 5 * time.Second
	limiterCooldown = time.Second
	// leaseTTL is how long taken tokens may wait on an instance.
	leaseTTL = 250 * time.Millisecond
	// maxBatch is the most tokens one round trip takes.
	maxBatch = 64
	// sweepEvery leases made, the ones idle for a minute go.
	sweepEvery = 1024
)

var errCoolingDown = errors.New("redis did not answer a moment ago; not asking again for a second")

// errNoAnswer is a call that Redis did not answer in time.
var errNoAnswer = errors.New("rate limiter: redis did not answer in time")

// allower is redis_rate's limiter, on the automatic pipeline or directly.
type allower interface {
	AllowAtMost(ctx context.Context, key string, limit redis_rate.Limit, n int) (*redis_rate.Result, error)
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
// of limit, refilled evenly): from this instance's lease of it when one is
// open, else from Redis.
func (l *Limiter) Allow(ctx context.Context, key string, limit int, period time.Duration) (system.RateDecision, error) {
	ls := l.lease(key)
	ls.mu.Lock()
	defer ls.mu.Unlock()
	now := l.now()
	ls.seen = now
	if ls.tokens > 0 && now.Before(ls.until) {
		ls.tokens--
		return system.RateDecision{Allowed: true, Limit: limit, Remaining: ls.remaining + ls.tokens, Reset: ls.reset}, nil
	}
	ls.tokens = 0 // lapsed
	batch := min(max(ls.remaining/8, 1), maxBatch)

	l.mu.Lock()
	down, lastErr := now.Before(l.downUntil), l.lastErr
	l.mu.Unlock()
	if down {
		return system.RateDecision{}, fmt.Errorf("%w (%v)", errCoolingDown, lastErr)
	}
	res, err := l.allow(ctx, l.rl, key, limit, period, batch)
	if err != nil && ctx.Err() == nil && !errors.Is(err, errNoAnswer) && l.direct != nil {
		l.logger.Warn("rate limiter: the automatic pipeline failed; asking Redis directly", "err", err)
		res, err = l.allow(ctx, l.direct, key, limit, period, batch)
	}
	if err != nil && ctx.Err() != nil {
		return system.RateDecision{}, ctx.Err() // the caller gave up: says nothing about Redis
	}
	if err != nil {
		l.mu.Lock()
		l.downUntil, l.lastErr = l.now().Add(limiterCooldown), err
		l.mu.Unlock()
		return system.RateDecision{}, err
	}
	ls.remaining, ls.reset = res.Remaining, max(res.ResetAfter, 0)
	if res.Allowed > 1 {
		ls.tokens, ls.until = res.Allowed-1, l.now().Add(leaseTTL)
	}
	return system.RateDecision{
		Allowed:    res.Allowed > 0,
		Limit:      limit,
		Remaining:  res.Remaining + ls.tokens,
		RetryAfter: max(res.RetryAfter, 0),
		Reset:      max(res.ResetAfter, 0),
	}, nil
}

// lease returns key's lease on this instance, made on first use; every
// sweepEvery new ones, those idle for a minute are dropped.
func (l *Limiter) lease(key string) *lease {
	l.mu.Lock()
	defer l.mu.Unlock()
	if ls, ok := l.leases[key]; ok {
		return ls
	}
	if l.leases == nil {
		l.leases = map[string]*lease{}
	}
	if l.added++; l.added >= sweepEvery {
		l.added = 0
		for k, ls := range l.leases {
			if ls.mu.TryLock() {
				idle := l.now().Sub(ls.seen) > time.Minute
				ls.mu.Unlock()
				if idle {
					delete(l.leases, k)
				}
			}
		}
	}
	ls := &lease{seen: l.now()}
	l.leases[key] = ls
	return ls
}

// allow asks Redis for up to n of key's budget, waiting at most
// limiterTimeout (long enough for a 2-core machine saturated by a parallel
// test run under the race detector, where 2 s was seen to pass; a dead
// Redis is noticed sooner, by its refused connections): the automatic
// pipeline does not give up on a caller's deadline by itself (its retries
// against a dead server take seconds), so the call runs aside and is left
// to finish. When the caller gives up first, its context's error is
// returned.
func (l *Limiter) allow(parent context.Context, rl allower, key string, limit int, period time.Duration, n int) (*redis_rate.Result, error) {
	ctx, cancel := context.WithTimeout(parent, limiterTimeout)
	defer cancel() // after the answer is taken: canceling first would race it
	type answer struct {
		res *redis_rate.Result
		err error
	}
	done := make(chan answer, 1)
	go func() {
		res, err := rl.AllowAtMost(ctx, l.prefix+key, redis_rate.Limit{Rate: limit, Burst: limit, Period: period}, n)
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
		if err := parent.Err(); err != nil {
			return nil, err // the caller left: Redis may be fine
		}
		return nil, fmt.Errorf("%w (%s)", errNoAnswer, limiterTimeout)
	}
}
