// Package app wires the product together: it reads the configuration, finds
// the infrastructure, picks the implementations the mode calls for, and
// serves the API. Main is what `reos up` and the end-to-end tests run.
package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/redis/go-redis/v9"

	"github.com/real-estate-os/reos/fixtures"
	"github.com/real-estate-os/reos/system"
	"github.com/real-estate-os/reos/system/api"
	"github.com/real-estate-os/reos/system/config"
	"github.com/real-estate-os/reos/system/postgres"
)

// Main is the running product. Set Config (and optionally Logger and Now),
// call Run, and Close when done.
type Main struct {
	Config *config.Config
	Logger *slog.Logger
	Now    func() time.Time

	DB        *postgres.DB
	Redis     *redis.Client
	Providers *Providers
	rabbit    *rabbit

	server   *http.Server
	listener net.Listener
	serveErr chan error
}

// Open finds the infrastructure, connects to it, migrates the database and
// seeds it. It is Run without serving: `reos migrate` and `reos seed` use it.
func (m *Main) Open(ctx context.Context) error {
	if m.Logger == nil {
		m.Logger = slog.Default()
	}
	if m.Now == nil {
		m.Now = time.Now
	}
	c := m.Config
	var errs []error
	dbURL, err := postgresDep.resolve(ctx, c.DatabaseURL)
	errs = append(errs, err)
	redisURL, err := redisDep.resolve(ctx, c.RedisURL)
	errs = append(errs, err)
	amqpURL, err := rabbitDep.resolve(ctx, c.AMQPURL)
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return err
	}

	if c.DatabaseURL == "" {
		if err := ensureDatabase(ctx, dbURL); err != nil {
			return fmt.Errorf("%w (found PostgreSQL on %s; run scripts/setup to create the role reos, or set DATABASE_URL)", err, postgresDep.addr)
		}
	}
	if m.DB, err = postgres.Open(ctx, dbURL); err != nil {
		return err
	}
	m.DB.Now = m.Now

	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	m.Redis = redis.NewClient(opts)
	if err := m.Redis.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis: ping %s: %w", opts.Addr, err)
	}
	if m.rabbit, err = dialRabbit(amqpURL); err != nil {
		return err
	}
	return nil
}

// Migrate applies pending migrations and logs them.
func (m *Main) Migrate(ctx context.Context) error {
	applied, err := m.DB.Migrate(ctx)
	if err != nil {
		return err
	}
	if len(applied) > 0 {
		m.Logger.Info("migrations applied", "migrations", applied)
	}
	return nil
}

// Seed writes the fixtures; demo users only in mock mode.
func (m *Main) Seed(ctx context.Context) error {
	var opts postgres.SeedOptions
	if m.Config.Mode == config.ModeMock {
		hash, err := api.HashPassword(fixtures.DemoPassword)
		if err != nil {
			return err
		}
		opts.DemoPasswordHash = hash
	}
	rep, err := m.DB.Seed(ctx, opts)
	if err != nil {
		return err
	}
	m.Logger.Info("seeded", "properties", rep.Properties, "templates", rep.Templates, "rules", rep.Rules, "dnc", rep.DNC, "users", rep.Users)
	return nil
}

// Run opens everything, migrates, seeds and starts serving the API. It
// returns once the API listens; Close stops it.
func (m *Main) Run(ctx context.Context) error {
	if err := m.Open(ctx); err != nil {
		return err
	}
	if err := m.Migrate(ctx); err != nil {
		return err
	}
	if err := m.Seed(ctx); err != nil {
		return err
	}
	secret, err := m.jwtSecret()
	if err != nil {
		return err
	}
	if m.Providers, err = m.openProviders(ctx); err != nil {
		return err
	}
	srv, err := api.NewServer(api.ServerConfig{
		Config:     m.Config,
		Properties: postgres.NewPropertyService(m.DB),
		Users:      postgres.NewUserService(m.DB),
		Rules:      postgres.NewRuleService(m.DB),
		Tokens:     &api.Tokens{Secret: secret, TTL: m.Config.JWTTTL, Now: m.Now},
		Checks: []system.HealthCheck{
			{Name: "postgres", Check: m.DB.Ping},
			{Name: "redis", Check: func(ctx context.Context) error { return m.Redis.Ping(ctx).Err() }},
			{Name: "rabbitmq", Check: m.rabbit.check},
		},
		Providers: m.Providers.checks,
		Logger:    m.Logger,
		Now:       m.Now,
	})
	if err != nil {
		return err
	}
	m.listener, err = net.Listen("tcp", m.Config.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (set REOS_ADDR to another host:port)", m.Config.Addr, err)
	}
	m.server = &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(m.Logger.Handler(), slog.LevelWarn),
	}
	m.serveErr = make(chan error, 1)
	go func() { m.serveErr <- m.server.Serve(m.listener) }()
	if m.Providers.MockTwilio != nil {
		m.Providers.MockTwilio.SetInboundURL(m.URL() + "/api/v1/webhooks/twilio/inbound")
	}
	m.Logger.Info("serving", "url", m.URL(), "mode", m.Config.Mode)
	return nil
}

// URL is where the API listens, with the port the system picked for :0.
func (m *Main) URL() string {
	if m.listener == nil {
		return m.Config.PublicURL
	}
	return "http://" + m.listener.Addr().String()
}

// Done is closed when the server stops serving by itself.
func (m *Main) Done() <-chan error { return m.serveErr }

// Close shuts the server down gracefully, then closes every connection.
func (m *Main) Close() error {
	var errs []error
	if m.server != nil {
		ctx, cancel := context.WithTimeout(context.Background(), m.Config.ShutdownTimeout)
		defer cancel()
		errs = append(errs, m.server.Shutdown(ctx))
	}
	if m.Providers != nil {
		errs = append(errs, m.Providers.Close())
	}
	if m.rabbit != nil {
		errs = append(errs, m.rabbit.close())
	}
	if m.Redis != nil {
		errs = append(errs, m.Redis.Close())
	}
	if m.DB != nil {
		m.DB.Close()
	}
	return errors.Join(errs...)
}

// jwtSecret returns JWT_SECRET, or in mock mode a secret generated on first
// start and kept in the data directory, so restarts and several instances
// sharing the directory accept each other's tokens.
func (m *Main) jwtSecret() ([]byte, error) {
	if m.Config.JWTSecret != "" {
		return []byte(m.Config.JWTSecret), nil
	}
	if m.Config.Mode != config.ModeMock {
		return nil, errors.New("JWT_SECRET is required in production mode")
	}
	key := make([]byte, 32)
	rand.Read(key)
	b, err := keepOnce(filepath.Join(m.Config.DataDir, "jwt.secret"), []byte(hex.EncodeToString(key)))
	return []byte(strings.TrimSpace(string(b))), err
}

// keepOnce returns the content of path, first writing fresh there if the
// file does not exist. It writes aside and links, so a concurrent starter
// either wins the link or reads the winner's complete file.
func keepOnce(path string, fresh []byte) ([]byte, error) {
	if b, err := os.ReadFile(path); err == nil {
		return b, nil
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".*")
	if err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(fresh)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	return os.ReadFile(path)
}

// rabbit holds the broker connection and redials it when it drops.
type rabbit struct {
	url  string
	mu   sync.Mutex
	conn *amqp.Connection
}

func dialRabbit(url string) (*rabbit, error) {
	r := &rabbit{url: url}
	if err := r.check(context.Background()); err != nil {
		return nil, err
	}
	return r, nil
}

// check opens and closes a channel, redialling a closed connection first.
func (r *rabbit) check(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.conn == nil || r.conn.IsClosed() {
		conn, err := amqp.DialConfig(r.url, amqp.Config{Dial: amqp.DefaultDial(2 * time.Second)})
		if err != nil {
			return fmt.Errorf("rabbitmq: dial: %w", err)
		}
		r.conn = conn
	}
	ch, err := r.conn.Channel()
	if err != nil {
		return fmt.Errorf("rabbitmq: open channel: %w", err)
	}
	return ch.Close()
}

func (r *rabbit) close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.conn == nil || r.conn.IsClosed() {
		return nil
	}
	return r.conn.Close()
}

func isDuplicateDatabase(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "42P04"
}
