package redis

import (
	"context"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Replays remembers what was seen, for as long as it could be replayed.
type Replays struct {
	c      *goredis.Client
	prefix string
}

// NewReplays returns a replay guard on c whose keys start with prefix.
func NewReplays(c *goredis.Client, prefix string) *Replays {
	return &Replays{c: c, prefix: prefix + ":seen:"}
}

// FirstSeen records key for ttl and reports whether it is new. Every
// instance shares the record.
func (r *Replays) FirstSeen(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	return r.c.SetNX(ctx, r.prefix+key, 1, ttl).Result()
}
