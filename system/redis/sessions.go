package redis

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/real-estate-os/reos/system"
)

var _ system.SessionStore = (*Sessions)(nil)

// Sessions keeps browser sessions in Redis, shared by every instance. A
// session is stored under the SHA-256 of its id, so the ids themselves are
// never at rest.
type Sessions struct {
	c      *goredis.Client
	prefix string
}

// NewSessions returns a session store on c whose keys start with prefix.
func NewSessions(c *goredis.Client, prefix string) *Sessions {
	return &Sessions{c: c, prefix: prefix + ":session:"}
}

func (s *Sessions) key(id string) string {
	sum := sha256.Sum256([]byte(id))
	return s.prefix + hex.EncodeToString(sum[:])
}

// CreateSession stores sess for ttl under a new random id (256 bits).
func (s *Sessions) CreateSession(ctx context.Context, sess *system.Session, ttl time.Duration) (string, error) {
	b := make([]byte, 32)
	rand.Read(b)
	id := base64.RawURLEncoding.EncodeToString(b)
	v, err := json.Marshal(sess)
	if err != nil {
		return "", err
	}
	if err := s.c.Set(ctx, s.key(id), v, ttl).Err(); err != nil {
		return "", system.Errorf(system.EUNAVAILABLE, "sessions: %v", err)
	}
	return id, nil
}

// FindSession returns the live session id names.
func (s *Sessions) FindSession(ctx context.Context, id string) (*system.Session, error) {
	if id == "" {
		return nil, system.Errorf(system.EUNAUTHORIZED, "no session")
	}
	v, err := s.c.Get(ctx, s.key(id)).Bytes()
	if errors.Is(err, goredis.Nil) {
		return nil, system.Errorf(system.EUNAUTHORIZED, "the session has ended; sign in again")
	}
	if err != nil {
		return nil, system.Errorf(system.EUNAVAILABLE, "sessions: %v", err)
	}
	var sess system.Session
	if err := json.Unmarshal(v, &sess); err != nil {
		return nil, system.Errorf(system.EUNAUTHORIZED, "the session is unreadable; sign in again")
	}
	return &sess, nil
}

// DeleteSession ends the session id names.
func (s *Sessions) DeleteSession(ctx context.Context, id string) error {
	if err := s.c.Del(ctx, s.key(id)).Err(); err != nil {
		return system.Errorf(system.EUNAVAILABLE, "sessions: %v", err)
	}
	return nil
}
