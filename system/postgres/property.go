package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/real-estate-os/reos/system"
)

var _ system.PropertyService = (*PropertyService)(nil)

// PropertyService stores properties in PostgreSQL.
type PropertyService struct{ db *DB }

// NewPropertyService returns a PropertyService on db.
func NewPropertyService(db *DB) *PropertyService { return &PropertyService{db: db} }

// propertyColumns are read by scanProperty, in this order. owner_dnc is
// derived from the do-not-contact list, so it is never stale.
const propertyColumns = `p.id, p.address, p.city, p.state, p.zip, p.owner_name, p.owner_phone, p.owner_email,
	p.stage, p.list_price_cents, p.arv_cents, p.rehab_cents, p.monthly_rent_cents, p.cap_rate_bps,
	p.tags, p.notes, p.listed_on, p.last_contacted_at, p.version, p.created_at, p.updated_at,
	EXISTS (SELECT 1 FROM dnc_entries d
	        WHERE (d.kind = 'phone' AND d.value = p.owner_phone AND p.owner_phone <> '')
	           OR (d.kind = 'email' AND d.value = lower(p.owner_email) AND p.owner_email <> '')) AS owner_dnc`

// filterWhere selects by stage ($1), tag ($2) and text query ($3); each is
// ignored when empty.
const filterWhere = `($1 = '' OR p.stage = $1)
	AND ($2 = '' OR $2 = ANY (p.tags))
	AND ($3 = '' OR p.address ILIKE $3 ESCAPE '\' OR p.city ILIKE $3 ESCAPE '\' OR p.owner_name ILIKE $3 ESCAPE '\')`

func scanProperty(row pgx.Row) (*system.Property, error) {
	var p system.Property
	var listed time.Time
	err := row.Scan(&p.ID, &p.Address, &p.City, &p.State, &p.Zip, &p.OwnerName, &p.OwnerPhone, &p.OwnerEmail,
		&p.Stage, &p.ListPriceCents, &p.ARVCents, &p.RehabCents, &p.MonthlyRentCents, &p.CapRateBps,
		&p.Tags, &p.Notes, &listed, &p.LastContactedAt, &p.Version, &p.CreatedAt, &p.UpdatedAt, &p.OwnerDNC)
	if err != nil {
		return nil, err
	}
	p.ListedOn = listed.Format(time.DateOnly)
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	if p.LastContactedAt != nil {
		t := p.LastContactedAt.UTC()
		p.LastContactedAt = &t
	}
	if p.Tags == nil {
		p.Tags = []string{}
	}
	return &p, nil
}

func likePattern(q string) string {
	if q == "" {
		return ""
	}
	return "%" + strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(q) + "%"
}

// FindProperties returns the properties matching f, ordered by id, and how
// many match in all.
func (s *PropertyService) FindProperties(ctx context.Context, f system.PropertyFilter) (items []*system.Property, total int, err error) {
	args := []any{string(f.Stage), f.Tag, likePattern(f.Query)}
	limit := any(nil) // LIMIT NULL is no limit
	if f.Limit > 0 {
		limit = f.Limit
	}
	// The count and the page are read in one snapshot, so they agree.
	err = s.db.inSnapshot(ctx, func(q querier) error {
		if err := q.QueryRow(ctx, `SELECT count(*) FROM properties p WHERE `+filterWhere, args...).Scan(&total); err != nil {
			return wrap(err, "count properties")
		}
		rows, err := q.Query(ctx, `SELECT `+propertyColumns+` FROM properties p WHERE `+filterWhere+
			` ORDER BY p.id LIMIT $4 OFFSET $5`, append(args, limit, f.Offset)...)
		if err != nil {
			return wrap(err, "find properties")
		}
		items, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (*system.Property, error) { return scanProperty(r) })
		return wrap(err, "find properties")
	})
	if err != nil {
		return nil, 0, err
	}
	return items, total, nil
}

// FindPropertyByID returns ENOTFOUND if the property does not exist.
func (s *PropertyService) FindPropertyByID(ctx context.Context, id int64) (*system.Property, error) {
	return findProperty(ctx, s.db.Pool, id, "")
}

func findProperty(ctx context.Context, q querier, id int64, suffix string) (*system.Property, error) {
	p, err := scanProperty(q.QueryRow(ctx, `SELECT `+propertyColumns+` FROM properties p WHERE p.id = $1`+suffix, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, system.Errorf(system.ENOTFOUND, "property %d does not exist", id)
	}
	return p, wrap(err, "find property")
}

// CreateProperty stores p and sets its ID, Version, timestamps and OwnerDNC.
func (s *PropertyService) CreateProperty(ctx context.Context, p *system.Property) error {
	if p.ListedOn == "" {
		p.ListedOn = s.db.now().Format(time.DateOnly)
	}
	if p.Tags == nil {
		p.Tags = []string{}
	}
	if err := p.Validate(); err != nil {
		return err
	}
	return s.db.inVersionTx(ctx, func(tx pgx.Tx, m *moved) error {
		var dnc bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM dnc_entries
			WHERE (kind = 'phone' AND value = $1 AND $1 <> '') OR (kind = 'email' AND value = lower($2) AND $2 <> ''))`,
			p.OwnerPhone, p.OwnerEmail).Scan(&dnc); err != nil {
			return wrap(err, "create property")
		}
		if err := system.CheckOwnerStage(p.Stage, dnc); err != nil {
			return err
		}
		now := s.db.now()
		var id int64
		err := tx.QueryRow(ctx, `INSERT INTO properties (address, city, state, zip, owner_name, owner_phone, owner_email,
			stage, list_price_cents, arv_cents, rehab_cents, monthly_rent_cents, cap_rate_bps, tags, notes, listed_on,
			last_contacted_at, created_at, updated_at)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$18) RETURNING id`,
			p.Address, p.City, p.State, p.Zip, p.OwnerName, p.OwnerPhone, p.OwnerEmail, p.Stage,
			p.ListPriceCents, p.ARVCents, p.RehabCents, p.MonthlyRentCents, p.CapRateBps, p.Tags, p.Notes, p.ListedOn,
			p.LastContactedAt, now).Scan(&id)
		if err != nil {
			return wrap(err, "create property")
		}
		created, err := findProperty(ctx, tx, id, "")
		if err != nil {
			return err
		}
		*p = *created
		m.property(p.ID, p.Version)
		if err := s.db.bump(ctx, tx, m); err != nil {
			return err
		}
		return s.db.recordEvent(ctx, tx, "property.created", fmt.Sprintf("property/%d", id),
			map[string]any{"property_id": id, "version": p.Version, "stage": p.Stage})
	})
}

// UpdateProperty applies upd and increments the version. Nothing is written
// when any part of upd is refused.
func (s *PropertyService) UpdateProperty(ctx context.Context, id int64, upd system.PropertyUpdate) (*system.Property, error) {
	var out *system.Property
	err := s.db.inVersionTx(ctx, func(tx pgx.Tx, m *moved) error {
		p, err := findProperty(ctx, tx, id, " FOR UPDATE")
		if err != nil {
			return err
		}
		if upd.IfVersion != nil && *upd.IfVersion != p.Version {
			return system.Errorf(system.EPRECONDITION, "property %d is at version %d, not %d: fetch it again", id, p.Version, *upd.IfVersion)
		}
		if upd.Stage != nil {
			if err := system.CheckTransition(p.Stage, *upd.Stage, p.OwnerDNC); err != nil {
				return err
			}
			if *upd.Stage == system.StageContacted && p.Stage != system.StageContacted {
				now := s.db.now()
				p.LastContactedAt = &now
			}
			p.Stage = *upd.Stage
		}
		if upd.Notes != nil {
			if err := system.ValidateNotes(*upd.Notes); err != nil {
				return err
			}
			p.Notes = *upd.Notes
		}
		if upd.Tags != nil {
			if err := system.ValidateTags(*upd.Tags); err != nil {
				return err
			}
			p.Tags = *upd.Tags
		}
		if _, err := tx.Exec(ctx, `UPDATE properties SET stage = $2, notes = $3, tags = $4, last_contacted_at = $5,
			version = version + 1, updated_at = $6 WHERE id = $1`,
			id, p.Stage, p.Notes, p.Tags, p.LastContactedAt, s.db.now()); err != nil {
			return wrap(err, "update property")
		}
		if out, err = findProperty(ctx, tx, id, ""); err != nil {
			return err
		}
		m.property(id, out.Version)
		if err := s.db.bump(ctx, tx, m); err != nil {
			return err
		}
		return s.db.recordEvent(ctx, tx, "property.updated", fmt.Sprintf("property/%d", id),
			map[string]any{"property_id": id, "version": out.Version, "stage": out.Stage})
	})
	return out, err
}

// Pipeline returns a row for every stage, in pipeline order.
func (s *PropertyService) Pipeline(ctx context.Context, tag string) ([]system.StageTotal, error) {
	rows, err := s.db.Pool.Query(ctx, `SELECT s.name, count(p.id), coalesce(sum(p.list_price_cents), 0)::bigint
		FROM stages s LEFT JOIN properties p ON p.stage = s.name AND ($1 = '' OR $1 = ANY (p.tags))
		GROUP BY s.name, s.position ORDER BY s.position`, tag)
	if err != nil {
		return nil, wrap(err, "pipeline")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (system.StageTotal, error) {
		var t system.StageTotal
		err := r.Scan(&t.Stage, &t.Count, &t.ListPriceCents)
		return t, err
	})
	return out, wrap(err, "pipeline")
}

// CollectionVersion changes with every write to any property, the
// do-not-contact list or the rules.
// It is answered from this instance's cache while that is on.
func (s *PropertyService) CollectionVersion(ctx context.Context) (int64, error) {
	v, gen, ok := s.db.versions.collectionVersion()
	if ok {
		return v, nil
	}
	if err := s.db.Pool.QueryRow(ctx, `SELECT version FROM versions WHERE name = 'properties'`).Scan(&v); err != nil {
		return 0, wrap(err, "collection version")
	}
	s.db.versions.observe(gen, moved{collection: v})
	return v, nil
}

// PropertyVersion returns a property's version, or ENOTFOUND. It is
// answered from this instance's cache while that is on.
func (s *PropertyService) PropertyVersion(ctx context.Context, id int64) (int64, error) {
	v, gen, ok := s.db.versions.property(id)
	if ok {
		return v, nil
	}
	err := s.db.Pool.QueryRow(ctx, `SELECT version FROM properties WHERE id = $1`, id).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, system.Errorf(system.ENOTFOUND, "property %d does not exist", id)
	}
	if err != nil {
		return 0, wrap(err, "property version")
	}
	s.db.versions.observe(gen, moved{props: map[int64]int64{id: v}})
	return v, nil
}

// bump moves the properties collection to its next version, in tx, and
// notes it in m.
func (db *DB) bump(ctx context.Context, tx pgx.Tx, m *moved) error {
	err := tx.QueryRow(ctx, `UPDATE versions SET version = version + 1 WHERE name = 'properties' RETURNING version`).Scan(&m.collection)
	return wrap(err, "bump version")
}
