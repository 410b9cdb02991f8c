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
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/redis/go-redis/v9"

	"github.com/real-estate-os/reos/fixtures"
	"github.com/real-estate-os/reos/system"
	"github.com/real-estate-os/reos/system/api"
	"github.com/real-estate-os/reos/system/config"
	"github.com/real-estate-os/reos/system/postgres"
	"github.com/real-estate-os/reos/system/provider/sendgrid"
	"github.com/real-estate-os/reos/system/provider/twilio"
	"github.com/real-estate-os/reos/system/rabbitmq"
	reosredis "github.com/real-estate-os/reos/system/redis"
	"github.com/real-estate-os/reos/system/web"
	"github.com/real-estate-os/reos/system/webhook"
)

// Main is the running product. Set Config (and optionally Logger and Now),
// call Run, and Close when done.
type Main struct {
	Config *config.Config
	Logger *slog.Logger
	Now    func() time.Time

	// DatabaseURL is the database in use, as Open found it.
	DatabaseURL string
	DB          *postgres.DB
	Redis       *redis.Client
	Broker      *rabbitmq.Broker
	Providers   *Providers

	Stream *reosredis.Stream

	workflowsOnce sync.Once
	outreach      *system.Outreach
	memos         *system.Memos

	outboxWake  chan struct{}
	closing     chan struct{}
	closeOnce   sync.Once
	relayCtx    context.Context
	relayCancel context.CancelFunc
	relayWG     sync.WaitGroup

	server   *api.GracefulServer
	listener net.Listener
	serveErr chan error
}

// Open finds PostgreSQL and connects to it: what `reos migrate` and
// `reos seed` need. Run opens the rest.
func (m *Main) Open(ctx context.Context) error {
	m.defaults()
	dbURL, err := postgresDep.resolve(ctx, m.Config.DatabaseURL)
	if err != nil {
		return err
	}
	if m.Config.DatabaseURL == "" {
		if err := EnsureDatabase(ctx, dbURL); err != nil {
			return fmt.Errorf("%w (found PostgreSQL on %s; run scripts/setup to create the role reos, or set DATABASE_URL)", err, postgresDep.addr)
		}
	}
	if m.DB, err = postgres.Open(ctx, dbURL); err != nil {
		return err
	}
	m.DatabaseURL = dbURL
	m.DB.Now = m.Now
	m.outboxWake = make(chan struct{}, 1)
	m.DB.Notify = func() {
		select {
		case m.outboxWake <- struct{}{}:
		default:
		}
	}
	return nil
}

func (m *Main) defaults() {
	if m.Logger == nil {
		m.Logger = slog.Default()
	}
	if m.Now == nil {
		m.Now = time.Now
	}
}

// openQueues finds Redis and RabbitMQ and connects to them.
func (m *Main) openQueues(ctx context.Context) error {
	redisURL, rerr := redisDep.resolve(ctx, m.Config.RedisURL)
	amqpURL, aerr := rabbitDep.resolve(ctx, m.Config.AMQPURL)
	if err := errors.Join(rerr, aerr); err != nil {
		return err
	}
	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	m.Redis = redis.NewClient(opts)
	if err := m.Redis.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis: ping %s: %w", opts.Addr, err)
	}
	m.Stream = reosredis.NewStream(m.Redis, m.Config.QueuePrefix, m.Config.SSEBuffer, m.Logger)
	return m.openBroker(ctx, amqpURL)
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

// Seed writes the product's configuration (templates, rules) in every
// mode, and the demo data — properties, do-not-contact list, users — in
// mock mode. demo adds the demo properties and do-not-contact list in
// production too; demo users, whose password is public, never go there.
func (m *Main) Seed(ctx context.Context, demo bool) error {
	opts := postgres.SeedOptions{Demo: demo || m.Config.Mode == config.ModeMock}
	if m.Config.Mode == config.ModeMock {
		opts.DemoPasswordHash = fixtures.DemoPasswordHash
	}
	rep, err := m.DB.Seed(ctx, opts)
	if err != nil {
		return err
	}
	m.Logger.Info("seeded", "properties", rep.Properties, "templates", rep.Templates, "rules", rep.Rules, "dnc", rep.DNC, "users", rep.Users)
	return nil
}

// CreateUser makes a user with the password given, once: a user that
// already has the email is returned as it is, with created false. A weak
// password or a bad email or role is EINVALID.
func (m *Main) CreateUser(ctx context.Context, email string, role system.Role, password string) (u *system.User, created bool, err error) {
	bad := system.CheckNewUser(email, role, password)
	if len(bad) > 0 {
		return nil, false, system.Invalid(bad)
	}
	users := postgres.NewUserService(m.DB)
	if u, err := users.FindUserByEmail(ctx, email); err == nil {
		return u, false, nil
	} else if system.ErrorCode(err) != system.ENOTFOUND {
		return nil, false, err
	}
	hash, err := api.HashPassword(password, m.Config.PasswordCost)
	if err != nil {
		return nil, false, err
	}
	u = &system.User{Email: email, Role: role, PasswordHash: hash}
	if err := users.CreateUser(ctx, u); system.ErrorCode(err) == system.ECONFLICT {
		u, err = users.FindUserByEmail(ctx, email) // created meanwhile by another call
		return u, false, err
	} else if err != nil {
		return nil, false, err
	}
	return u, true, nil
}

// Run opens everything, migrates, seeds and starts serving the API. It
// returns once the API listens; Close stops it.
func (m *Main) Run(ctx context.Context) error {
	// PostgreSQL (found, opened, migrated and seeded), Redis and RabbitMQ,
	// and the providers (with the local stand-ins) start side by side: none
	// needs another. Each sets fields of its own; all are done before Run
	// goes on, or returns, so Close finds whatever did open.
	m.defaults()
	type opened struct {
		p   *Providers
		err error
	}
	providers, queues := make(chan opened, 1), make(chan error, 1)
	go func() {
		p, err := m.openProviders(ctx)
		providers <- opened{p, err}
	}()
	go func() { queues <- m.openQueues(ctx) }()
	schema := m.Open(ctx)
	if schema == nil {
		schema = m.Migrate(ctx)
	}
	if schema == nil {
		schema = m.Seed(ctx, false)
	}
	qerr, o := <-queues, <-providers
	m.Providers = o.p
	if err := errors.Join(schema, qerr, o.err); err != nil {
		return err
	}
	secret, err := m.jwtSecret()
	if err != nil {
		return err
	}
	m.closing = make(chan struct{})
	// Listen first: with port 0 the public URL, which vendors call back,
	// is only known now.
	m.listener, err = net.Listen("tcp", m.Config.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (set REOS_ADDR to another host:port)", m.Config.Addr, err)
	}
	if m.Config.PublicURL == "http://"+m.Config.Addr {
		m.Config.PublicURL = m.URL()
	}
	outreach, _ := m.workflows()
	srv, err := api.NewServer(api.ServerConfig{
		Settings:    api.SettingsFrom(m.Config),
		Properties:  postgres.NewPropertyService(m.DB),
		Users:       postgres.NewUserService(m.DB),
		Rules:       postgres.NewRuleService(m.DB),
		Tokens:      &api.Tokens{Secret: secret, TTL: m.Config.JWTTTL, Now: m.Now},
		Jobs:        postgres.NewJobService(m.DB),
		Messages:    postgres.NewMessageService(m.DB),
		DNC:         postgres.NewDNCService(m.DB),
		Idempotency: postgres.NewIdempotencyService(m.DB),
		DeadLetters: postgres.NewDeadLetterService(m.DB),
		Outreach:    outreach,
		Store:       m.Providers.Store,
		Replay:      m.replay,
		Verifiers: api.Verifiers{
			Twilio:   twilio.Verifier{AuthToken: m.Providers.SMS.AuthToken},
			SendGrid: sendgrid.Verifier{Key: m.Providers.SendGridKey, Now: m.Now},
			Partner:  webhook.Verifier{Secrets: m.Config.WebhookSecrets, Now: m.Now},
		},
		Limiter:  reosredis.NewLimiter(m.Redis, m.Config.QueuePrefix, m.Logger),
		Replays:  reosredis.NewReplays(m.Redis, m.Config.QueuePrefix),
		Sessions: reosredis.NewSessions(m.Redis, m.Config.QueuePrefix),
		EventLog: postgres.NewEventService(m.DB),
		Events:   postgres.NewEventService(m.DB),
		Stream:   m.Stream,
		Closing:  m.closing,
		Checks: []system.HealthCheck{
			{Name: "postgres", Check: m.DB.Ping},
			{Name: "redis", Check: func(ctx context.Context) error { return m.Redis.Ping(ctx).Err() }},
			{Name: "rabbitmq", Check: m.Broker.Ping},
		},
		Providers: m.Providers.checks,
		Logger:    m.Logger,
		Now:       m.Now,
	})
	if err != nil {
		return err
	}
	site, err := web.New(web.Config{API: srv, Mode: m.Config.Mode, SSEHeartbeat: m.Config.SSEHeartbeat,
		Properties: postgres.NewPropertyService(m.DB), Rules: postgres.NewRuleService(m.DB), Jobs: postgres.NewJobService(m.DB),
		Messages: postgres.NewMessageService(m.DB), EventLog: postgres.NewEventService(m.DB), Outreach: outreach,
		Store: m.Providers.Store, Logger: m.Logger, Now: m.Now})
	if err != nil {
		return err
	}
	srv.MountUI(site)
	m.server = api.HTTPServer(srv, slog.NewLogLogger(m.Logger.Handler(), slog.LevelWarn))
	m.serveErr = make(chan error, 1)
	go func() { m.serveErr <- m.server.Serve(m.listener) }()
	if m.Providers.MockTwilio != nil {
		m.Providers.MockTwilio.SetInboundURL(m.URL() + "/api/v1/webhooks/twilio/inbound")
	}
	m.relayCtx, m.relayCancel = context.WithCancel(context.Background())
	m.relayWG.Go(func() { m.relay(m.relayCtx) })
	m.relayWG.Go(func() { m.Stream.Run(m.relayCtx) })
	m.relayWG.Go(func() { m.DB.WatchVersions(m.relayCtx, m.Logger) })
	if m.Config.Workers {
		m.StartWorkers()
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
	if m.closing != nil {
		m.closeOnce.Do(func() { close(m.closing) }) // open event streams end
	}
	if m.server != nil {
		ctx, cancel := context.WithTimeout(context.Background(), m.Config.ShutdownTimeout)
		defer cancel()
		errs = append(errs, m.server.Shutdown(ctx))
	}
	if m.relayCancel != nil {
		m.relayCancel()
		m.relayWG.Wait()
	}
	if m.Broker != nil {
		errs = append(errs, m.Broker.Close())
	}
	if m.Providers != nil {
		errs = append(errs, m.Providers.Close())
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

func isDuplicateDatabase(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "42P04"
}

// Discard stops a throwaway stack (a test run's) and deletes what its
// namespace holds (Teardown). Unlike Close, it does not wait for the local
// stand-ins to put away what they hold: Mailpit is killed, not asked to
// stop, as its mail goes with the data directory.
func (m *Main) Discard() error {
	if m.Providers != nil {
		m.Providers.discard = true
	}
	return errors.Join(m.Close(), m.Teardown())
}

// Teardown deletes what the deployment's namespace (QUEUE_PREFIX) holds in
// RabbitMQ and Redis: for test runs and throwaway stacks, after Close.
func (m *Main) Teardown() error {
	var errs []error
	if m.Broker != nil {
		errs = append(errs, m.Broker.Teardown())
	}
	if m.Redis != nil {
		opts := *m.Redis.Options()
		c := redis.NewClient(&opts) // Close closed the stack's own client
		defer c.Close()
		ctx := context.Background()
		keys, err := c.Keys(ctx, m.Config.QueuePrefix+":*").Result()
		errs = append(errs, err)
		if len(keys) > 0 {
			errs = append(errs, c.Del(ctx, keys...).Err())
		}
	}
	return errors.Join(errs...)
}
