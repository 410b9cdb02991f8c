package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Handler processes one job. Returning nil acknowledges it; an error
// schedules the next attempt (or dead-letters the job after the last one, or
// at once for a PermanentError).
type Handler func(ctx context.Context, m *Message) error

// Consume runs handler on the jobs of kind until the broker is closed,
// resuming after every reconnect, on up to Prefetch deliveries at once. A delivery is acknowledged only after the
// handler returns (or its retry is safely published), so a worker that dies
// midway leaves the job to be redelivered.
func (b *Broker) Consume(kind string, handler Handler) {
	b.loop(b.name(kind), func(ch *amqp.Channel, d amqp.Delivery) { b.handle(ch, kind, d, handler) })
}

// DeadLetterHandler processes one dead letter; nil acknowledges it.
type DeadLetterHandler func(ctx context.Context, d *DeadLetter) error

// ConsumeDead runs handler on the dead-letter queue.
func (b *Broker) ConsumeDead(handler DeadLetterHandler) {
	b.loop(b.name("dlq"), func(ch *amqp.Channel, d amqp.Delivery) {
		if err := handler(b.ctx, deadLetter(d)); err != nil {
			b.cfg.Logger.Error("rabbitmq: dead letter not stored; it stays queued", "id", d.MessageId, "err", err)
			time.Sleep(time.Second)
			d.Nack(false, true)
			return
		}
		d.Ack(false)
	})
}

// loop consumes queue on its own channel, starting over after a lost
// connection, until the broker closes.
func (b *Broker) loop(queue string, handle func(*amqp.Channel, amqp.Delivery)) {
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		backoff := 100 * time.Millisecond
		for b.ctx.Err() == nil {
			err := b.consumeOnce(queue, handle)
			if b.ctx.Err() != nil {
				return
			}
			b.cfg.Logger.Warn("rabbitmq: consumer stopped; resuming", "queue", queue, "err", err, "in", backoff)
			select {
			case <-b.ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 5*time.Second)
		}
	}()
}

func (b *Broker) consumeOnce(queue string, handle func(*amqp.Channel, amqp.Delivery)) error {
	conn, err := b.connection(b.ctx)
	if err != nil {
		return err
	}
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	defer ch.Close()
	if err := ch.Qos(b.cfg.Prefetch, 0, false); err != nil {
		return err
	}
	// Retries and dead letters are published on this channel, confirmed,
	// before the delivery is acknowledged.
	if err := ch.Confirm(false); err != nil {
		return err
	}
	deliveries, err := ch.Consume(queue, "", false, false, false, false, nil)
	if err != nil {
		return err
	}
	// Up to Prefetch deliveries are handled at once.
	slots := make(chan struct{}, b.cfg.Prefetch)
	var running sync.WaitGroup
	defer running.Wait()
	for {
		select {
		case <-b.ctx.Done():
			return nil
		case d, ok := <-deliveries:
			if !ok {
				return errors.New("delivery channel closed")
			}
			slots <- struct{}{}
			running.Go(func() {
				defer func() { <-slots }()
				handle(ch, d)
			})
		}
	}
}

func (b *Broker) handle(ch *amqp.Channel, kind string, d amqp.Delivery, handler Handler) {
	attempt := int(headerInt(d.Headers, HeaderAttempt, 1))
	m := &Message{ID: d.MessageId, Kind: kind, Body: d.Body, Attempt: attempt, Redelivered: d.Redelivered, Headers: d.Headers}
	err := handler(b.ctx, m)
	if err == nil {
		d.Ack(false)
		return
	}
	if b.ctx.Err() != nil {
		d.Nack(false, true) // shutting down: leave it for the next worker
		return
	}
	now := time.Now().UTC().Format(time.RFC3339Nano)
	headers := amqp.Table{}
	for k, v := range d.Headers {
		headers[k] = v
	}
	headers[HeaderKind] = kind
	headers[HeaderLastError] = truncate(err.Error(), 1000)
	headers[HeaderLastFailure] = now
	if _, ok := headers[HeaderFirstFailure]; !ok {
		headers[HeaderFirstFailure] = now
	}
	var perm *PermanentError
	exchange, key := b.name("dlx"), kind
	if attempt < b.cfg.MaxAttempts && !errors.As(err, &perm) {
		exchange = b.name("retry", fmt.Sprint(attempt))
		headers[HeaderAttempt] = int32(attempt + 1)
	}
	msg := amqp.Publishing{MessageId: d.MessageId, Type: kind, ContentType: d.ContentType, Body: d.Body, Headers: headers,
		DeliveryMode: amqp.Persistent, Timestamp: time.Now().UTC()}
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	confirm, perr := ch.PublishWithDeferredConfirmWithContext(ctx, exchange, key, true, false, msg)
	ok := false
	if perr == nil {
		ok, perr = confirm.WaitContext(ctx)
	}
	if perr != nil || !ok {
		b.cfg.Logger.Error("rabbitmq: could not reschedule a failed job; it will be redelivered", "id", d.MessageId, "err", perr)
		d.Nack(false, true)
		return
	}
	b.cfg.Logger.Warn("rabbitmq: job failed", "kind", kind, "id", d.MessageId, "attempt", attempt, "to", exchange, "err", err)
	d.Ack(false)
}

// DeadLetter is a job that used up its attempts.
type DeadLetter struct {
	ID           string
	Kind         string
	Body         []byte
	Attempts     int
	Reason       string
	FirstFailure string
	LastFailure  string
	// Deaths is RabbitMQ's x-death history: one entry per queue the job
	// was dead-lettered from, with its count.
	Deaths  []Death
	Headers amqp.Table
}

// Death is one x-death entry.
type Death struct {
	Queue  string `json:"queue"`
	Reason string `json:"reason"`
	Count  int64  `json:"count"`
}

func deadLetter(d amqp.Delivery) *DeadLetter {
	dl := &DeadLetter{ID: d.MessageId, Body: d.Body, Headers: d.Headers,
		Kind: headerString(d.Headers, HeaderKind), Attempts: int(headerInt(d.Headers, HeaderAttempt, 1)),
		Reason: headerString(d.Headers, HeaderLastError), FirstFailure: headerString(d.Headers, HeaderFirstFailure),
		LastFailure: headerString(d.Headers, HeaderLastFailure)}
	if deaths, ok := d.Headers["x-death"].([]any); ok {
		for _, x := range deaths {
			if t, ok := x.(amqp.Table); ok {
				dl.Deaths = append(dl.Deaths, Death{Queue: headerString(t, "queue"), Reason: headerString(t, "reason"), Count: headerInt(t, "count", 0)})
			}
		}
	}
	return dl
}

func headerInt(t amqp.Table, key string, def int64) int64 {
	switch v := t[key].(type) {
	case int32:
		return int64(v)
	case int64:
		return v
	case int:
		return int64(v)
	case int16:
		return int64(v)
	case int8:
		return int64(v)
	case uint8:
		return int64(v)
	}
	return def
}

func headerString(t amqp.Table, key string) string {
	s, _ := t[key].(string)
	return s
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
