// Package postgrestest gives each test its own PostgreSQL database on the
// server the tests use, and drops it when the test ends.
package postgrestest

import (
	"context"
	"crypto/rand"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// ServerURL is the server tests create their databases on: DATABASE_URL when
// set, else the local default.
func ServerURL() string {
	if u := os.Getenv("DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://reos:reos@127.0.0.1:5432/postgres?sslmode=disable"
}

// NewDatabase creates an empty database named after the test and returns
// its URL. The database is dropped when t ends. A server that does not answer
// fails the test with the command that fixes it.
func NewDatabase(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, ServerURL())
	if err != nil {
		t.Fatalf("postgrestest: cannot reach PostgreSQL at %s: %v\n"+
			"Run scripts/setup (it installs and starts PostgreSQL and creates the role reos), or set DATABASE_URL.", redact(ServerURL()), err)
	}
	defer admin.Close(context.Background())
	name := "reos_test_" + strings.ToLower(rand.Text()[:10])
	if _, err := admin.Exec(ctx, `CREATE DATABASE `+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("postgrestest: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, ServerURL())
		if err != nil {
			t.Errorf("postgrestest: drop %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, `DROP DATABASE IF EXISTS `+pgx.Identifier{name}.Sanitize()+` WITH (FORCE)`); err != nil {
			t.Errorf("postgrestest: drop %s: %v", name, err)
		}
	})
	u, _ := url.Parse(ServerURL())
	u.Path = "/" + name
	return u.String()
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	return u.Redacted()
}
