package postgres

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// versionsChannel is the channel the triggers of migration 00004 notify
// with every new version: "p<id>:<version>" for a property, "c:<version>"
// for the properties collection.
const versionsChannel = "reos_versions"

// versionCache keeps, in this process, the versions that ETags are made of,
// so that a conditional GET is answered without a database round trip.
//
// It is used only while WatchVersions holds a connection that LISTENs to
// versionsChannel: every committed version change then reaches it, from any
// instance, within the notification's delivery. Versions only grow, so
// entries are only ever raised; a value read from the database is stored
// only if no reset happened since the read began (gen), so a value read
// before the listener connected, or while it was down, is never kept.
type versionCache struct {
	mu         sync.RWMutex
	live       bool
	gen        uint64
	props      map[int64]int64
	collection int64 // 0: not known
}

// maxCachedVersions bounds the cache; past it, it starts again empty.
const maxCachedVersions = 100_000

func newVersionCache() *versionCache { return &versionCache{props: map[int64]int64{}} }

// property returns the cached version of property id, or ok false and the
// generation to pass to observe once the database has answered.
func (c *versionCache) property(id int64) (v int64, gen uint64, ok bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	v, ok = c.props[id]
	return v, c.gen, ok && c.live
}

func (c *versionCache) collectionVersion() (v int64, gen uint64, ok bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.collection, c.gen, c.live && c.collection > 0
}

// generation is what a writer reads before it begins, to observe what it
// committed.
func (c *versionCache) generation() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

// observe raises the versions in m if the cache has not been reset since
// gen was read.
func (c *versionCache) observe(gen uint64, m moved) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen || !c.live {
		return
	}
	c.raise(m)
}

func (c *versionCache) raise(m moved) {
	if len(c.props)+len(m.props) > maxCachedVersions {
		c.resetLocked(c.live)
	}
	for id, v := range m.props {
		if v > c.props[id] {
			c.props[id] = v
		}
	}
	c.collection = max(c.collection, m.collection)
}

// reset empties the cache and says whether it may be used.
func (c *versionCache) reset(live bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.resetLocked(live)
}

func (c *versionCache) resetLocked(live bool) {
	c.gen++
	c.live = live
	clear(c.props)
	c.collection = 0
}

// notified applies one notification's payload.
func (c *versionCache) notified(payload string) error {
	m, err := parseVersionNotice(payload)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.live {
		c.raise(m)
	}
	return nil
}

func parseVersionNotice(payload string) (moved, error) {
	key, value, ok := strings.Cut(payload, ":")
	v, err := strconv.ParseInt(value, 10, 64)
	if !ok || err != nil || v <= 0 {
		return moved{}, errors.New("postgres: malformed version notification " + strconv.Quote(payload))
	}
	if key == "c" {
		return moved{collection: v}, nil
	}
	id, err := strconv.ParseInt(strings.TrimPrefix(key, "p"), 10, 64)
	if !strings.HasPrefix(key, "p") || err != nil || id <= 0 {
		return moved{}, errors.New("postgres: malformed version notification " + strconv.Quote(payload))
	}
	return moved{props: map[int64]int64{id: v}}, nil
}

// moved is what a transaction did to versions: new property versions by
// id, and the collection's new version (0: unchanged).
type moved struct {
	props      map[int64]int64
	collection int64
}

func (m *moved) property(id, v int64) {
	if m.props == nil {
		m.props = map[int64]int64{}
	}
	m.props[id] = v
}

// inVersionTx is inTx for a write that moves versions: once it commits,
// this instance's cache has them, so a client that wrote reads its write
// here without waiting for the notification.
func (db *DB) inVersionTx(ctx context.Context, fn func(tx pgx.Tx, m *moved) error) error {
	gen := db.versions.generation()
	var m moved
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		m = moved{}
		return fn(tx, &m)
	})
	if err == nil {
		db.versions.observe(gen, m)
	}
	return err
}

// WatchVersions keeps this process's version cache current until ctx ends:
// it holds one connection that LISTENs for version changes, and pings it
// when the channel has been quiet for a while. While that connection is
// down the cache is off and versions are read from the database; it
// reconnects with backoff and starts the cache again empty.
func (db *DB) WatchVersions(ctx context.Context, logger *slog.Logger) {
	const quiet, maxBackoff = 10 * time.Second, 5 * time.Second
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		listened, err := db.watchVersions(ctx, quiet)
		db.versions.reset(false)
		if ctx.Err() != nil {
			return
		}
		if listened {
			backoff = 100 * time.Millisecond
		}
		logger.Warn("version cache off: conditional GETs read PostgreSQL until it reconnects", "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// watchVersions runs one listening connection until it fails, and says
// whether it got as far as listening.
func (db *DB) watchVersions(ctx context.Context, quiet time.Duration) (listened bool, err error) {
	conn, err := pgx.ConnectConfig(ctx, db.Pool.Config().ConnConfig.Copy())
	if err != nil {
		return false, err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+versionsChannel); err != nil {
		return false, err
	}
	// Listening from here on: a version read after this reset is either
	// current or followed by a notification that raises it.
	db.versions.reset(true)
	for {
		wait, cancel := context.WithTimeout(ctx, quiet)
		n, err := conn.WaitForNotification(wait)
		cancel()
		switch {
		case err == nil:
			if err := db.versions.notified(n.Payload); err != nil {
				return true, err
			}
		case ctx.Err() != nil:
			return true, ctx.Err()
		case pgconn.Timeout(err):
			ping, cancel := context.WithTimeout(ctx, quiet)
			err = conn.Ping(ping)
			cancel()
			if err != nil {
				return true, err
			}
		default:
			return true, err
		}
	}
}
