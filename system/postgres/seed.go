package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/real-estate-os/reos/fixtures"
)

// SeedOptions says what Seed writes besides the product's configuration
// (templates, next-best-action rules), which it always writes.
type SeedOptions struct {
	// Demo writes the demo properties and the demo do-not-contact list.
	Demo bool
	// DemoPasswordHash is the hash of fixtures.DemoPassword. When empty (as
	// in production mode) no demo users are created.
	DemoPasswordHash string
}

// SeedReport counts the rows a Seed call inserted or changed.
type SeedReport struct {
	Properties, Templates, Rules, DNC, Users int64
}

// seedLock is the advisory lock key that serializes concurrent seeding.
const seedLock = 0x7265_6f73_5345_4544 // "reosSEED"

// Seed writes the fixtures: always the product's configuration, and the
// demo data when opts asks for it. It is idempotent: rows that exist are left as
// they are (a seeded property an agent has since moved keeps its stage), and
// reference data (templates, rules) is rewritten only when the fixture
// changed. Same fixtures, same rows.
func (db *DB) Seed(ctx context.Context, opts SeedOptions) (SeedReport, error) {
	var rep SeedReport
	props, err := fixtures.Properties()
	if err != nil {
		return rep, err
	}
	templates, err := fixtures.Templates()
	if err != nil {
		return rep, err
	}
	rules, err := fixtures.Rules()
	if err != nil {
		return rep, err
	}
	dnc, err := fixtures.DNC()
	if err != nil {
		return rep, err
	}
	users, err := fixtures.Users()
	if err != nil {
		return rep, err
	}
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(seedLock)); err != nil {
			return err
		}
		exec := func(n *int64, sql string, args ...any) error {
			tag, err := tx.Exec(ctx, sql, args...)
			*n += tag.RowsAffected()
			return err
		}
		if !opts.Demo {
			props, dnc = nil, nil
		}
		for _, f := range props {
			p := f.System()
			if err := exec(&rep.Properties, `INSERT INTO properties (id, address, city, state, zip, owner_name, owner_phone,
				owner_email, stage, list_price_cents, arv_cents, rehab_cents, monthly_rent_cents, cap_rate_bps, tags,
				listed_on, last_contacted_at, created_at, updated_at)
				VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$18) ON CONFLICT (id) DO NOTHING`,
				p.ID, p.Address, p.City, p.State, p.Zip, p.OwnerName, p.OwnerPhone, p.OwnerEmail, p.Stage,
				p.ListPriceCents, p.ARVCents, p.RehabCents, p.MonthlyRentCents, p.CapRateBps, p.Tags, p.ListedOn,
				p.LastContactedAt, p.CreatedAt); err != nil {
				return err
			}
		}
		// Seeded ids are explicit; new properties must number after them.
		if len(props) > 0 {
			if _, err := tx.Exec(ctx, `SELECT setval(pg_get_serial_sequence('properties', 'id'),
				greatest((SELECT max(id) FROM properties), 1))`); err != nil {
				return err
			}
		}
		for _, t := range templates {
			if err := exec(&rep.Templates, `INSERT INTO templates (channel, stage, subject, body) VALUES ($1, $2, $3, $4)
				ON CONFLICT (channel, stage) DO UPDATE SET subject = excluded.subject, body = excluded.body
				WHERE (templates.subject, templates.body) IS DISTINCT FROM (excluded.subject, excluded.body)`,
				t.Channel, t.Stage, t.Subject, t.Body); err != nil {
				return err
			}
		}
		for _, r := range rules {
			if err := exec(&rep.Rules, `INSERT INTO nba_rules (id, priority, rule) VALUES ($1, $2, $3)
				ON CONFLICT (id) DO UPDATE SET priority = excluded.priority, rule = excluded.rule
				WHERE (nba_rules.priority, nba_rules.rule) IS DISTINCT FROM (excluded.priority, excluded.rule)`,
				r.ID, r.Priority, r); err != nil {
				return err
			}
		}
		for _, d := range dnc {
			if err := exec(&rep.DNC, `INSERT INTO dnc_entries (kind, value, reason, added_on) VALUES ($1, $2, $3, $4)
				ON CONFLICT (kind, value) DO NOTHING`, d.Kind, d.Value, d.Reason, d.AddedOn); err != nil {
				return err
			}
		}
		if rep.Properties+rep.Rules+rep.DNC > 0 {
			if err := db.bump(ctx, tx, &moved{}); err != nil {
				return err
			}
		}
		if !opts.Demo || opts.DemoPasswordHash == "" {
			return nil
		}
		for _, u := range users {
			if err := exec(&rep.Users, `INSERT INTO users (email, role, password_hash, created_at) VALUES ($1, $2, $3, $4)
				ON CONFLICT (email) DO NOTHING`, u.Email, u.Role, opts.DemoPasswordHash, seededAt); err != nil {
				return err
			}
		}
		return nil
	})
	return rep, wrap(err, "seed")
}

// seededAt is the creation time of demo users: fixed, so seeding from empty
// writes the same rows every time.
var seededAt = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
