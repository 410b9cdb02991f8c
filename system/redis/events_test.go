package redis_test

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/real-estate-os/reos/system"
	"github.com/real-estate-os/reos/system/redis"
)

func realRedis(t *testing.T) *goredis.Client {
	url := os.Getenv("REDIS_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379/0"
	}
	opts, _ := goredis.ParseURL(url)
	c := goredis.NewClient(opts)
	if err := c.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("Redis at %s: %v (scripts/setup starts it)", url, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestSlowSubscriberIsDroppedOthersKeepUp(t *testing.T) {
	c := realRedis(t)
	prefix := "test-" + strings.ToLower(rand.Text()[:8])
	t.Cleanup(func() { c.Del(context.Background(), prefix+":events") })
	s := redis.NewStream(c, prefix, 1000, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	slow, fast := s.Subscribe(2), s.Subscribe(100)
	time.Sleep(300 * time.Millisecond) // the reader is waiting for new entries
	for i := range 20 {
		if _, err := s.Add(ctx, system.Event{Type: "test", Data: map[string]any{"n": i % 10}}); err != nil {
			t.Fatal(err)
		}
	}
	got := 0
	for got < 20 {
		select {
		case <-fast.C:
			got++
		case <-time.After(5 * time.Second):
			t.Fatalf("the fast subscriber got %d of 20", got)
		}
	}
	select {
	case <-slow.Dropped:
	case <-time.After(time.Second):
		t.Error("the slow subscriber was not dropped")
	}
}
