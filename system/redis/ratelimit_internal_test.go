package redis

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	goredis "github.com/redis/go-redis/v9"
)

// After Redis fails to answer, the limiter does not ask it again until the
// cooldown is over; a caller that gives up does not count as a failure.
func TestLimiterCoolsDownAfterAFailure(t *testing.T) {
	mr := miniredis.RunT(t)
	var dials atomic.Int64
	c := goredis.NewClient(&goredis.Options{Addr: mr.Addr(), Dialer: func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}})
	t.Cleanup(func() { c.Close() })
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	l := NewLimiter(c, "test")
	l.now = func() time.Time { return now }
	ctx := context.Background()
	allow := func() error {
		_, err := l.Allow(ctx, "user:1", 100, time.Minute)
		return err
	}
	if err := allow(); err != nil {
		t.Fatal(err)
	}

	mr.Close()
	// A caller that gives up says nothing about Redis: the next call asks.
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	l.Allow(canceled, "user:1", 100, time.Minute)
	if err := allow(); err == nil || errors.Is(err, errCoolingDown) {
		t.Fatalf("after a canceled call, with Redis gone: %v; want Redis's own error", err)
	}
	// That failure starts the cooldown: no call reaches the network.
	before := dials.Load()
	for range 5 {
		if err := allow(); !errors.Is(err, errCoolingDown) {
			t.Fatalf("during the cooldown: %v", err)
		}
	}
	if d := dials.Load() - before; d != 0 {
		t.Errorf("%d dials during the cooldown, want none", d)
	}

	if err := mr.Restart(); err != nil {
		t.Fatal(err)
	}
	now = now.Add(limiterCooldown)
	if err := allow(); err != nil {
		t.Errorf("after the cooldown, with Redis back: %v", err)
	}
}
