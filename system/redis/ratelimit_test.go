package redis_test

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	goredis "github.com/redis/go-redis/v9"

	"github.com/real-estate-os/reos/system/redis"
)

// TestLimiterWindow drives the limiter's clock by hand: redis_rate takes
// the time from Redis, and miniredis lets the test set it.
func TestLimiterWindow(t *testing.T) {
	mr := miniredis.RunT(t)
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	mr.SetTime(now)
	l := redis.NewLimiter(goredis.NewClient(&goredis.Options{Addr: mr.Addr()}), "test", slog.New(slog.DiscardHandler))
	ctx := context.Background()
	allow := func() bool {
		d, err := l.Allow(ctx, "login:acct:x", 10, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return d.Allowed
	}
	for i := range 10 {
		if !allow() {
			t.Fatalf("request %d refused within the budget", i+1)
		}
	}
	d, _ := l.Allow(ctx, "login:acct:x", 10, time.Minute)
	if d.Allowed || d.RetryAfter <= 0 || d.RetryAfter > 6*time.Second || d.Remaining != 0 || d.Limit != 10 {
		t.Errorf("11th = %+v, want refused, retry within 6 s", d)
	}
	if d, _ := l.Allow(ctx, "login:acct:other", 10, time.Minute); !d.Allowed {
		t.Error("another key shares the budget")
	}
	mr.SetTime(now.Add(6 * time.Second)) // one request's worth refills
	if !allow() {
		t.Error("refused after 6 s")
	}
	if allow() {
		t.Error("two allowed after 6 s")
	}
	mr.SetTime(now.Add(2 * time.Minute)) // the whole budget is back
	for i := range 10 {
		if !allow() {
			t.Fatalf("request %d refused after the window", i+1)
		}
	}
}

// Two instances spending one key's budget at once, each through its own
// leases: while the budget lasts, far fewer calls reach Redis than
// requests are made; once it is spent, together they have admitted no more
// than the limit (Redis granted every token; time stands still, so
// nothing refills), and all but what lapsed unspent (at most an eighth of
// what remained, per instance).
func TestLeasesKeepTheLimitAcrossInstances(t *testing.T) {
	mr := miniredis.RunT(t)
	mr.SetTime(time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC))
	const limit = 1000
	var instances [2]*redis.Limiter
	for i := range instances {
		instances[i] = redis.NewLimiter(goredis.NewClient(&goredis.Options{Addr: mr.Addr()}), "test", slog.New(slog.DiscardHandler))
	}
	var admitted atomic.Int64
	spend := func(each int) {
		var wg sync.WaitGroup
		for g := range 16 {
			l := instances[g%2]
			wg.Go(func() {
				for range each {
					d, err := l.Allow(context.Background(), "user:7", limit, time.Minute)
					if err != nil {
						t.Error(err)
						return
					}
					if d.Allowed {
						admitted.Add(1)
					}
				}
			})
		}
		wg.Wait()
	}
	before := mr.CommandCount()
	spend(40) // 640 requests, within the budget
	calls := mr.CommandCount() - before
	if admitted.Load() != 640 || calls*4 > 640 {
		t.Errorf("within the budget: %d of 640 admitted with %d Redis commands; want all, with a command per four requests at most",
			admitted.Load(), calls)
	}
	spend(100) // 1,600 more: the budget runs out
	if n := admitted.Load(); n > limit || n < limit-2*limit/8 {
		t.Errorf("%d admitted of a budget of %d: want at most the budget, and at least %d", n, limit, limit-2*limit/8)
	}
}
