// Package postgres stores the product's data in PostgreSQL through a pgx
// pool: embedded goose migrations, the stores of package system, and
// idempotent seeding from fixtures.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/real-estate-os/reos/system"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DB is a connection pool with the product's schema.
type DB struct {
	Pool *pgxpool.Pool
	// Now is the clock for timestamps the product sets (not the database's).
	Now func() time.Time
	// Notify, when set, is called after an outbox row is written, so the
	// relay need not wait for its next poll.
	Notify func()

	versions *versionCache
}

// Open connects to url and checks the connection.
func Open(ctx context.Context, url string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse url: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: ping %s:%d: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, err)
	}
	return &DB{Pool: pool, Now: time.Now, versions: newVersionCache()}, nil
}

// Close closes the pool.
func (db *DB) Close() { db.Pool.Close() }

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error { return db.Pool.Ping(ctx) }

// Migrate applies every pending migration. Concurrent callers (several
// instances starting at once) are serialized by an advisory lock.
func (db *DB) Migrate(ctx context.Context) ([]string, error) {
	sqlDB := stdlib.OpenDBFromPool(db.Pool)
	defer sqlDB.Close()
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, err
	}
	p, err := goose.NewProvider(goose.DialectPostgres, sqlDB, sub, goose.WithSessionLocker(locker))
	if err != nil {
		return nil, fmt.Errorf("postgres: migrations: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres: migrate: %w", err)
	}
	var applied []string
	for _, r := range results {
		applied = append(applied, r.Source.Path)
	}
	return applied, nil
}

func (db *DB) now() time.Time { return db.Now().UTC().Truncate(time.Microsecond) }

// inTx runs fn in a transaction that commits only when fn returns nil, so a
// failed request never leaves a partial write. After a commit it wakes the
// outbox relay.
func (db *DB) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	err := pgx.BeginFunc(ctx, db.Pool, fn)
	if err == nil && db.Notify != nil {
		db.Notify()
	}
	return err
}

// querier is what a read needs: the pool, or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// inSnapshot runs fn's reads in one read-only repeatable-read transaction:
// a read made of several statements sees one state of the database, never
// a write that committed between two of them (a message whose new thread
// the first statement did not see).
func (db *DB) inSnapshot(ctx context.Context, fn func(q querier) error) error {
	return pgx.BeginTxFunc(ctx, db.Pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly},
		func(tx pgx.Tx) error { return fn(tx) })
}

// wrap turns database errors a client can cause into system errors; the rest
// stay internal and are never shown to clients.
func wrap(err error, op string) error {
	if err == nil {
		return nil
	}
	var se *system.Error
	if errors.As(err, &se) {
		return err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505": // unique_violation
			return system.Errorf(system.ECONFLICT, "%s: it already exists", op)
		case "23514", "23503", "22001", "22P02": // check, foreign key, too long, bad text
			return system.Errorf(system.EINVALID, "%s: a value is out of range", op)
		}
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}
