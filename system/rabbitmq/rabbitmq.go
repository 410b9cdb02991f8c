// Package rabbitmq is the product's job queue on RabbitMQ: durable
// exchanges and queues, persistent messages, publisher confirms, manual acks
// with a prefetch, retries with growing delays through per-attempt delay
// queues (TTL, then dead-lettered back), and a dead-letter queue after the
// last attempt that keeps RabbitMQ's x-death history. The connection is
// redialled after a broker restart and every consumer resumes.
//
// Topology, for prefix P and job kinds k:
//
//	P.jobs      direct exchange → queue P.k (routing key k)
//	P.retry.n   fanout exchange → queue P.retry.n (x-message-ttl = delay n,
//	            dead-lettered to P.jobs with the original routing key)
//	P.dlx       fanout exchange → queue P.dlq
//	P.events    topic exchange for domain events
package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Config configures a Broker. Zero fields take the defaults noted.
type Config struct {
	URL    string
	Prefix string // "reos"
	// Kinds are the job kinds, one queue each.
	Kinds []string
	// MaxAttempts is how often a job is tried before it is dead-lettered (5).
	MaxAttempts int
	// RetryDelays[i] is the wait before attempt i+2; it needs MaxAttempts-1
	// entries (1 s, 2 s, 4 s, 8 s, …).
	RetryDelays []time.Duration
	Prefetch    int // unacknowledged deliveries per consumer (8)
	Logger      *slog.Logger
}

// Headers the broker sets on job messages.
const (
	HeaderAttempt      = "x-reos-attempt"       // 1 for the first try
	HeaderKind         = "x-reos-kind"          // the job kind
	HeaderLastError    = "x-reos-last-error"    // why the last attempt failed
	HeaderFirstFailure = "x-reos-first-failure" // RFC 3339
	HeaderLastFailure  = "x-reos-last-failure"  // RFC 3339
	HeaderReplayOf     = "x-reos-replay-of"     // the dead letter a replay came from
)

// Message is one delivery of a job.
type Message struct {
	ID          string
	Kind        string
	Body        []byte
	Attempt     int
	Redelivered bool
	Headers     amqp.Table
}

// PermanentError marks a failure that retrying cannot fix: the job goes
// straight to the dead-letter queue.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err as a PermanentError.
func Permanent(err error) error { return &PermanentError{Err: err} }

// Broker publishes and consumes jobs.
type Broker struct {
	cfg    Config
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex // guards conn and pub
	conn  *amqp.Connection
	pub   *amqp.Channel
	pubMu sync.Mutex // serializes publishes on pub
}

// Open connects, declares the topology and returns the broker.
func Open(ctx context.Context, cfg Config) (*Broker, error) {
	if cfg.Prefix == "" {
		cfg.Prefix = "reos"
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = 5
	}
	if cfg.RetryDelays == nil {
		for i := range cfg.MaxAttempts - 1 {
			cfg.RetryDelays = append(cfg.RetryDelays, time.Second<<i)
		}
	}
	if len(cfg.RetryDelays) < cfg.MaxAttempts-1 {
		return nil, fmt.Errorf("rabbitmq: %d attempts need %d retry delays, got %d", cfg.MaxAttempts, cfg.MaxAttempts-1, len(cfg.RetryDelays))
	}
	if cfg.Prefetch == 0 {
		cfg.Prefetch = 8
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	b := &Broker{cfg: cfg}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	if _, err := b.connection(ctx); err != nil {
		b.cancel()
		return nil, err
	}
	return b, nil
}

func (b *Broker) name(parts ...string) string {
	n := b.cfg.Prefix
	for _, p := range parts {
		n += "." + p
	}
	return n
}

// connection returns a live connection, dialling (and declaring the
// topology) when there is none.
func (b *Broker) connection(ctx context.Context) (*amqp.Connection, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.conn != nil && !b.conn.IsClosed() {
		if !b.pub.IsClosed() {
			return b.conn, nil
		}
		pub, err := b.conn.Channel() // a channel error closed it
		if err == nil {
			err = pub.Confirm(false)
		}
		if err != nil {
			return nil, fmt.Errorf("rabbitmq: publisher channel: %w", err)
		}
		b.pub = pub
		return b.conn, nil
	}
	if b.ctx.Err() != nil {
		return nil, errors.New("rabbitmq: broker closed")
	}
	conn, err := amqp.DialConfig(b.cfg.URL, amqp.Config{
		Dial:       amqp.DefaultDial(5 * time.Second),
		Heartbeat:  5 * time.Second,
		Properties: amqp.Table{"connection_name": b.cfg.Prefix},
	})
	if err != nil {
		return nil, fmt.Errorf("rabbitmq: dial: %w", err)
	}
	if err := b.declare(conn); err != nil {
		conn.Close()
		return nil, err
	}
	pub, err := conn.Channel()
	if err == nil {
		err = pub.Confirm(false)
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("rabbitmq: publisher channel: %w", err)
	}
	if b.conn != nil {
		b.cfg.Logger.Info("rabbitmq: reconnected")
	}
	b.conn, b.pub = conn, pub
	return conn, nil
}

func (b *Broker) declare(conn *amqp.Connection) error {
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("rabbitmq: declare: %w", err)
	}
	defer ch.Close()
	jobs := b.name("jobs")
	steps := []func() error{
		func() error { return ch.ExchangeDeclare(jobs, "direct", true, false, false, false, nil) },
		func() error { return ch.ExchangeDeclare(b.name("dlx"), "fanout", true, false, false, false, nil) },
		func() error { return ch.ExchangeDeclare(b.name("events"), "topic", true, false, false, false, nil) },
		func() error { _, err := ch.QueueDeclare(b.name("dlq"), true, false, false, false, nil); return err },
		func() error { return ch.QueueBind(b.name("dlq"), "", b.name("dlx"), false, nil) },
	}
	for _, kind := range b.cfg.Kinds {
		q := b.name(kind)
		steps = append(steps,
			func() error { _, err := ch.QueueDeclare(q, true, false, false, false, nil); return err },
			func() error { return ch.QueueBind(q, kind, jobs, false, nil) })
	}
	for i, d := range b.cfg.RetryDelays[:b.cfg.MaxAttempts-1] {
		name := b.name("retry", fmt.Sprint(i+1))
		args := amqp.Table{"x-message-ttl": d.Milliseconds(), "x-dead-letter-exchange": jobs}
		steps = append(steps,
			func() error { return ch.ExchangeDeclare(name, "fanout", true, false, false, false, nil) },
			func() error { _, err := ch.QueueDeclare(name, true, false, false, false, args); return err },
			func() error { return ch.QueueBind(name, "", name, false, nil) })
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return fmt.Errorf("rabbitmq: declare: %w", err)
		}
	}
	return nil
}

// publish sends one persistent message and waits for the broker's confirm.
func (b *Broker) publish(ctx context.Context, exchange, key string, msg amqp.Publishing) error {
	if _, err := b.connection(ctx); err != nil {
		return err
	}
	msg.DeliveryMode = amqp.Persistent
	if msg.ContentType == "" {
		msg.ContentType = "application/json"
	}
	b.pubMu.Lock()
	b.mu.Lock()
	pub := b.pub
	b.mu.Unlock()
	confirm, err := pub.PublishWithDeferredConfirmWithContext(ctx, exchange, key, true, false, msg)
	b.pubMu.Unlock()
	if err != nil {
		return fmt.Errorf("rabbitmq: publish to %s: %w", exchange, err)
	}
	ok, err := confirm.WaitContext(ctx)
	if err != nil {
		return fmt.Errorf("rabbitmq: confirm from %s: %w", exchange, err)
	}
	if !ok {
		return fmt.Errorf("rabbitmq: the broker refused a message for %s", exchange)
	}
	return nil
}

// Publish enqueues a job of kind with the given id (the AMQP message id,
// which consumers use to recognise a duplicate) and returns once the broker
// has confirmed it is stored.
func (b *Broker) Publish(ctx context.Context, kind, id string, body []byte) error {
	return b.publish(ctx, b.name("jobs"), kind, amqp.Publishing{
		MessageId: id, Type: kind, Body: body, Timestamp: time.Now().UTC(),
		Headers: amqp.Table{HeaderAttempt: int32(1), HeaderKind: kind},
	})
}

// PublishEvent publishes a domain event on the events exchange.
func (b *Broker) PublishEvent(ctx context.Context, routingKey, id string, body []byte) error {
	return b.publish(ctx, b.name("events"), routingKey, amqp.Publishing{MessageId: id, Type: routingKey, Body: body, Timestamp: time.Now().UTC()})
}

// Replay puts a dead letter back on its job queue for a fresh set of
// attempts, keeping its history headers.
func (b *Broker) Replay(ctx context.Context, d *DeadLetter, replayID string) error {
	headers := amqp.Table{}
	for k, v := range d.Headers {
		headers[k] = v
	}
	headers[HeaderAttempt] = int32(1)
	headers[HeaderReplayOf] = replayID
	return b.publish(ctx, b.name("jobs"), d.Kind, amqp.Publishing{MessageId: d.ID, Type: d.Kind, Body: d.Body, Headers: headers, Timestamp: time.Now().UTC()})
}

// Close stops every consumer and closes the connection.
func (b *Broker) Close() error {
	b.cancel()
	b.mu.Lock()
	conn := b.conn
	b.mu.Unlock()
	var err error
	if conn != nil && !conn.IsClosed() {
		err = conn.Close()
	}
	b.wg.Wait()
	return err
}

// Ping opens and closes a channel.
func (b *Broker) Ping(ctx context.Context) error {
	conn, err := b.connection(ctx)
	if err != nil {
		return err
	}
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	return ch.Close()
}

// Teardown deletes every queue and exchange of the broker's topology, with
// their messages: for test runs and throwaway deployments.
func (b *Broker) Teardown() error {
	conn, err := amqp.Dial(b.cfg.URL)
	if err != nil {
		return err
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	var errs []error
	del := func(queue, exchange string) {
		if queue != "" {
			_, err := ch.QueueDelete(queue, false, false, false)
			errs = append(errs, err)
		}
		if exchange != "" {
			errs = append(errs, ch.ExchangeDelete(exchange, false, false))
		}
	}
	for _, k := range b.cfg.Kinds {
		del(b.name(k), "")
	}
	for i := range b.cfg.MaxAttempts - 1 {
		n := b.name("retry", fmt.Sprint(i+1))
		del(n, n)
	}
	del(b.name("dlq"), b.name("dlx"))
	del("", b.name("jobs"))
	del("", b.name("events"))
	return errors.Join(errs...)
}
