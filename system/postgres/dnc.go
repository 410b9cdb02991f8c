package postgres

import (
	"context"
	"strings"

	"github.com/real-estate-os/reos/system"
)

var _ system.DNCService = (*DNCService)(nil)

// DNCService keeps the do-not-contact list.
type DNCService struct{ db *DB }

// NewDNCService returns a DNCService on db.
func NewDNCService(db *DB) *DNCService { return &DNCService{db: db} }

func normalize(kind system.DNCKind, value string) string {
	if kind == system.DNCEmail {
		return strings.ToLower(strings.TrimSpace(value))
	}
	return strings.TrimSpace(value)
}

// IsDNC reports whether value is on the list.
func (s *DNCService) IsDNC(ctx context.Context, kind system.DNCKind, value string) (bool, error) {
	var on bool
	err := s.db.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM dnc_entries WHERE kind = $1 AND value = $2)`, kind, normalize(kind, value)).Scan(&on)
	return on, wrap(err, "dnc")
}

// AddDNC adds an entry; an existing one is left as it is.
func (s *DNCService) AddDNC(ctx context.Context, e system.DNCEntry, source string) error {
	_, err := s.db.Pool.Exec(ctx, `INSERT INTO dnc_entries (kind, value, reason, added_on, source) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (kind, value) DO NOTHING`, e.Kind, normalize(e.Kind, e.Value), e.Reason, s.db.now().Format("2006-01-02"), source)
	return wrap(err, "add dnc")
}

// RemoveDNC removes the entry only when source added it.
func (s *DNCService) RemoveDNC(ctx context.Context, kind system.DNCKind, value, source string) error {
	_, err := s.db.Pool.Exec(ctx, `DELETE FROM dnc_entries WHERE kind = $1 AND value = $2 AND source = $3`, kind, normalize(kind, value), source)
	return wrap(err, "remove dnc")
}
