package redis_test

import (
	"context"
	"log/slog"
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
