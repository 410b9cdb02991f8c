package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Infrastructure is found in this order: the URL from the environment, then
// the service's default port on this machine, then a container (Containers,
// when the command set it and a Docker engine answers). When none answers,
// the error says how to get one.

// Containers starts service (postgres, redis or rabbitmq) in a container
// and returns its URL; nil leaves that tier out. cmd/reos sets it to
// internal/containers.Start, so that the product itself (and the suite's
// binary, which reos green hands containers' URLs: Containerized) does not
// depend on Docker's client.
var Containers func(ctx context.Context, service string) (string, error)

// dependency describes how to find one piece of infrastructure.
type dependency struct {
	name     string // as /readyz names it
	variable string // the environment variable that points at it
	addr     string // the default local address
	localURL string // the URL used when addr answers
	fix      string // how to get one
}

var (
	postgresDep = dependency{name: "postgres", variable: "DATABASE_URL", addr: "127.0.0.1:5432",
		localURL: "postgres://reos:reos@127.0.0.1:5432/reos?sslmode=disable",
		fix:      "run scripts/setup (installs and starts PostgreSQL from Debian's packages), or set DATABASE_URL"}
	redisDep = dependency{name: "redis", variable: "REDIS_URL", addr: "127.0.0.1:6379",
		localURL: "redis://127.0.0.1:6379/0",
		fix:      "run scripts/setup (installs and starts Redis from Debian's packages), or set REDIS_URL"}
	rabbitDep = dependency{name: "rabbitmq", variable: "AMQP_URL", addr: "127.0.0.1:5672",
		localURL: "amqp://guest:guest@127.0.0.1:5672/",
		fix:      "run scripts/setup (installs and starts RabbitMQ from Debian's packages), or set AMQP_URL"}
)

// resolve returns configured when set, else the local URL if something
// listens on the default port.
func (d dependency) resolve(ctx context.Context, configured string) (string, error) {
	if configured != "" {
		return configured, nil
	}
	if d.answers(ctx) {
		return d.localURL, nil
	}
	container := ""
	if Containers != nil {
		u, err := Containers(ctx, d.name)
		if err == nil {
			return u, nil
		}
		container = fmt.Sprintf("; no container either (%v)", err)
	}
	return "", missing{fmt.Sprintf("%s: %s is not set and nothing answers on %s%s: %s", d.name, d.variable, d.addr, container, d.fix)}
}

// ErrMissing is what an error says (errors.Is) when a piece of
// infrastructure was found nowhere.
var ErrMissing = errors.New("infrastructure not found")

type missing struct{ msg string }

func (e missing) Error() string      { return e.msg }
func (missing) Is(target error) bool { return target == ErrMissing }

// Containerized starts, in containers (Containers), the infrastructure that
// neither getenv's URL nor the default local port provides, and returns
// the settings that point at it (DATABASE_URL, REDIS_URL, AMQP_URL): for
// a command that starts the product in another process, which cannot
// start containers itself (reos green for the suite). It returns nothing
// when everything is already there or Containers is nil; an error names
// what could be found nowhere.
func Containerized(ctx context.Context, getenv func(string) string) (map[string]string, error) {
	if Containers == nil {
		return nil, nil
	}
	out := map[string]string{}
	for _, d := range []dependency{postgresDep, redisDep, rabbitDep} {
		if getenv(d.variable) != "" || d.answers(ctx) {
			continue
		}
		u, err := d.resolve(ctx, "")
		if err != nil {
			return nil, err
		}
		out[d.variable] = u
	}
	return out, nil
}

// answers reports whether something listens on the default address.
func (d dependency) answers(ctx context.Context) bool {
	conn, err := (&net.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp", d.addr)
	if err == nil {
		conn.Close()
	}
	return err == nil
}

// EnsureDatabase creates the database dbURL names when it does not exist
// yet, so `reos up` works on a fresh machine with a discovered PostgreSQL.
func EnsureDatabase(ctx context.Context, dbURL string) error {
	conn, name, err := maintenance(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, `CREATE DATABASE `+pgx.Identifier{name}.Sanitize())
	if err != nil && !isDuplicateDatabase(err) {
		return fmt.Errorf("postgres: create database %s: %w", name, err)
	}
	return nil
}

// DatabaseURL is configured when set, else the URL of the PostgreSQL that
// answers on its default local port (the one scripts/setup starts).
func DatabaseURL(ctx context.Context, configured string) (string, error) {
	return postgresDep.resolve(ctx, configured)
}

// DropDatabase drops the database dbURL names, closing its connections:
// for throwaway stacks, once they are closed.
func DropDatabase(ctx context.Context, dbURL string) error {
	conn, name, err := maintenance(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `DROP DATABASE IF EXISTS `+pgx.Identifier{name}.Sanitize()+` WITH (FORCE)`); err != nil {
		return fmt.Errorf("postgres: drop database %s: %w", name, err)
	}
	return nil
}

// maintenance connects to the server dbURL points at, through its
// maintenance database, and returns the name of the database dbURL names.
func maintenance(ctx context.Context, dbURL string) (*pgx.Conn, string, error) {
	u, err := url.Parse(dbURL)
	if err != nil {
		return nil, "", err
	}
	name := strings.TrimPrefix(u.Path, "/")
	if name == "" {
		return nil, "", fmt.Errorf("postgres: %s names no database", u.Redacted())
	}
	u.Path = "/postgres"
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		return nil, "", fmt.Errorf("postgres: connect to %s: %w", u.Redacted(), err)
	}
	return conn, name, nil
}
