package redis

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/go-redis/redis_rate/v10"
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
	l := NewLimiter(c, "test", slog.New(slog.DiscardHandler))
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

// brokenPipeline fails every call, as go-redis's experimental automatic
// pipeline may (a full queue, no batch permit).
type brokenPipeline struct{ calls atomic.Int64 }

func (b *brokenPipeline) AllowAtMost(context.Context, string, redis_rate.Limit, int) (*redis_rate.Result, error) {
	b.calls.Add(1)
	return nil, goredis.ErrAutoPipelineQueueFull
}

// When the automatic pipeline fails, the limiter asks Redis directly: the
// decision is still exact, nothing cools down, and the failure is logged.
func TestLimiterFallsBackFromTheAutomaticPipeline(t *testing.T) {
	mr := miniredis.RunT(t)
	c := goredis.NewClient(&goredis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { c.Close() })
	var log bytes.Buffer
	l := NewLimiter(c, "test", slog.New(slog.NewTextHandler(&log, nil)))
	if l.direct == nil {
		t.Fatal("the client gave no automatic pipeline")
	}
	broken := &brokenPipeline{}
	l.rl = broken
	for i := range 3 {
		d, err := l.Allow(context.Background(), "login:ip:x", 2, time.Minute)
		if err != nil {
			t.Fatalf("call %d: %v", i+1, err)
		}
		if want := i < 2; d.Allowed != want {
			t.Errorf("call %d allowed = %v, want %v (a budget of 2)", i+1, d.Allowed, want)
		}
	}
	if broken.calls.Load() != 3 {
		t.Errorf("the pipeline was tried %d times, want every call", broken.calls.Load())
	}
	if !strings.Contains(log.String(), "automatic pipeline failed") || !strings.Contains(log.String(), goredis.ErrAutoPipelineQueueFull.Error()) {
		t.Errorf("log = %q, want the pipeline's failure", log.String())
	}
}

// instantPipeline answers every call at once, allowed.
type instantPipeline struct{}

func (instantPipeline) AllowAtMost(context.Context, string, redis_rate.Limit, int) (*redis_rate.Result, error) {
	return &redis_rate.Result{Allowed: 1, Remaining: 1}, nil
}

// An answer is never taken for a timeout: the call's own end must not
// look like Redis going quiet (it did once, under load, and shut logins
// for the cooldown).
func TestLimiterNeverMistakesAnAnswerForATimeout(t *testing.T) {
	l := &Limiter{rl: instantPipeline{}, prefix: "test:", now: time.Now, logger: slog.New(slog.DiscardHandler)}
	var failed atomic.Int64
	var first atomic.Value
	var wg sync.WaitGroup
	for range 16 { // callers contending for the CPUs, as a loaded server's do
		wg.Go(func() {
			for range 5000 {
				if _, err := l.Allow(context.Background(), "user:1", 10, time.Minute); err != nil {
					failed.Add(1)
					first.CompareAndSwap(nil, err.Error())
				}
			}
		})
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Errorf("%d of 80000 answered calls failed, the first with: %v", n, first.Load())
	}
}
