package postgres

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5"

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

// CheckContact applies the do-not-contact rule in one statement.
func (s *DNCService) CheckContact(ctx context.Context, propertyID int64, channel system.Channel, to string) (system.Contactable, error) {
	kind := system.DNCPhone
	if channel == system.ChannelEmail {
		kind = system.DNCEmail
	}
	var c system.Contactable
	var owner *bool // NULL: no such property
	err := s.db.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM dnc_entries WHERE kind = $2 AND value = $3),
		(SELECT x.owner_dnc FROM (SELECT `+propertyColumns+` FROM properties p WHERE p.id = $1) x)`,
		propertyID, kind, normalize(kind, to)).Scan(&c.RecipientListed, &owner)
	if err != nil {
		return c, wrap(err, "dnc")
	}
	if owner == nil {
		return c, system.Errorf(system.ENOTFOUND, "property %d does not exist", propertyID)
	}
	c.OwnerListed = *owner
	return c, nil
}

// AddDNC adds an entry; an existing one is left as it is.
func (s *DNCService) AddDNC(ctx context.Context, e system.DNCEntry, source string) error {
	return s.change(ctx, e.Kind, e.Value, `INSERT INTO dnc_entries (kind, value, reason, added_on, source) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (kind, value) DO NOTHING`, e.Reason, s.db.now().Format("2006-01-02"), source)
}

// RemoveDNC removes the entry only when source added it.
func (s *DNCService) RemoveDNC(ctx context.Context, kind system.DNCKind, value, source string) error {
	return s.change(ctx, kind, value, `DELETE FROM dnc_entries WHERE kind = $1 AND value = $2 AND source = $3`, source)
}

// change runs a write to the list; when it changed a row, the properties
// whose owner it names show another owner_dnc, so their versions (and the
// collection's) move on.
func (s *DNCService) change(ctx context.Context, kind system.DNCKind, value, sql string, args ...any) error {
	value = normalize(kind, value)
	return wrap(s.db.inVersionTx(ctx, func(tx pgx.Tx, m *moved) error {
		tag, err := tx.Exec(ctx, sql, append([]any{kind, value}, args...)...)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		column := "owner_phone"
		if kind == system.DNCEmail {
			column = "lower(owner_email)"
		}
		rows, err := tx.Query(ctx, `UPDATE properties SET version = version + 1 WHERE `+column+` = $1 RETURNING id, version`, value)
		if err != nil {
			return err
		}
		var id, v int64
		if _, err := pgx.ForEachRow(rows, []any{&id, &v}, func() error { m.property(id, v); return nil }); err != nil {
			return err
		}
		return s.db.bump(ctx, tx, m)
	}), "dnc")
}
