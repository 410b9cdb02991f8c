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
	"sync/atomic"
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
// spends it locally for at most leaseTTL, taking the next batch in the
// background when a quarter of the last is left. The batch is an eighth of
// what Redis says remains (at most maxBatch), so it shrinks as the budget
// does and, near the limit, every request asks Redis: one request at a time
// is exact. The bounds, for any instances and any interval T:
//   - admitted ≤ what Redis granted over T plus leaseTTL, so at most the
//     limit's burst plus its rate over T + leaseTTL — the lease can only
//     shift a grant by leaseTTL (and the quarter batch carried into the
//     next lease), never add one;
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

	leases sync.Map     // key → *lease
	added  atomic.Int64 // leases made since the last sweep
}

// lease is a key's budget taken from Redis ahead of use on this instance.
// Spending it is lock-free; taking more holds mu.
type lease struct {
	tokens    atomic.Int64 // taken, not yet spent
	until     atomic.Int64 // when unspent tokens lapse, in Unix nanoseconds
	remaining atomic.Int64 // what Redis said remained after the last take
	batch     atomic.Int64 // the last take's size
	reset     atomic.Int64 // Redis's reset, as a time.Duration
	refilling atomic.Bool  // a take runs in the background
	mu        sync.Mutex
}

// spend takes one token if the lease holds one that has not lapsed.
func (ls *lease) spend(now int64) (left int64, ok bool) {
	if now >= ls.until.Load() {
		return 0, false
	}
	for {
		t := ls.tokens.Load()
		if t <= 0 {
			return 0, false
		}
		if ls.tokens.CompareAndSwap(t, t-1) {
			return t - 1, true
		}
	}
}

// nextBatch is the size of the next take: an eighth of what remained.
func (ls *lease) nextBatch() int {
	return int(min(max(ls.remaining.Load()/8, 1), maxBatch))
}

const (
	limiterTimeout  = 5 * time.Second
	limiterCooldown = time.Second
	// leaseTTL is how long taken tokens may wait on an instance.
	leaseTTL = 250 * time.Millisecond
	// maxBatch is the most tokens one round trip takes.
	maxBatch = 512
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
	if d, ok := l.spend(key, ls, limit, period); ok {
		return d, nil
	}
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if d, ok := l.spend(key, ls, limit, period); ok { // another request took a batch meanwhile
		return d, nil
	}
	batch := ls.nextBatch()
	l.mu.Lock()
	down, lastErr := l.now().Before(l.downUntil), l.lastErr
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
	left := l.took(ls, res, batch, 1)
	return system.RateDecision{
		Allowed:    res.Allowed > 0,
		Limit:      limit,
		Remaining:  res.Remaining + int(left),
		RetryAfter: max(res.RetryAfter, 0),
		Reset:      max(res.ResetAfter, 0),
	}, nil
}

// spend answers from ls when it holds a token, and starts taking the next
// batch in the background when a quarter of the last is left, so that no
// request waits for Redis while the budget lasts.
func (l *Limiter) spend(key string, ls *lease, limit int, period time.Duration) (system.RateDecision, bool) {
	left, ok := ls.spend(l.now().UnixNano())
	if !ok {
		return system.RateDecision{}, false
	}
	if left <= ls.batch.Load()/4 && ls.refilling.CompareAndSwap(false, true) {
		go l.refill(key, ls, limit, period)
	}
	return system.RateDecision{Allowed: true, Limit: limit, Remaining: int(ls.remaining.Load() + left),
		Reset: time.Duration(ls.reset.Load())}, true
}

// took records a take from Redis in ls (held): what remains, and the
// tokens granted beyond the used ones, which lapse after leaseTTL. It
// returns the tokens the lease holds.
func (l *Limiter) took(ls *lease, res *redis_rate.Result, batch, used int) int64 {
	ls.remaining.Store(int64(res.Remaining))
	ls.reset.Store(int64(max(res.ResetAfter, 0)))
	ls.batch.Store(int64(batch))
	now := l.now().UnixNano()
	if extra := res.Allowed - used; extra > 0 {
		if now >= ls.until.Load() {
			ls.tokens.Store(0) // what was left lapsed
		}
		ls.until.Store(now + int64(leaseTTL))
		return ls.tokens.Add(int64(extra))
	}
	return max(ls.tokens.Load(), 0)
}

// refill takes key's next batch for ls in the background. On any failure
// it leaves the lease as it is: the request that finds it empty asks Redis
// itself, and meets the failure there.
func (l *Limiter) refill(key string, ls *lease, limit int, period time.Duration) {
	defer ls.refilling.Store(false)
	ls.mu.Lock()
	defer ls.mu.Unlock()
	batch := ls.nextBatch()
	l.mu.Lock()
	down := l.now().Before(l.downUntil)
	l.mu.Unlock()
	if down || batch <= 1 {
		return
	}
	res, err := l.allow(context.Background(), l.rl, key, limit, period, batch)
	if err == nil {
		l.took(ls, res, batch, 0)
	}
}

// lease returns key's lease on this instance, made on first use; every
// sweepEvery new ones, those idle for a minute are dropped.
func (l *Limiter) lease(key string) *lease {
	if ls, ok := l.leases.Load(key); ok {
		return ls.(*lease)
	}
	ls, loaded := l.leases.LoadOrStore(key, &lease{})
	if !loaded && l.added.Add(1)%sweepEvery == 0 {
		idle := l.now().Add(-time.Minute).UnixNano()
		l.leases.Range(func(k, v any) bool {
			if v.(*lease).until.Load() < idle {
				l.leases.CompareAndDelete(k, v)
			}
			return true
		})
	}
	return ls.(*lease)
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
