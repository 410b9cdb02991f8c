package app

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/real-estate-os/reos/system"
	"github.com/real-estate-os/reos/system/config"
	"github.com/real-estate-os/reos/system/postgres"
	"github.com/real-estate-os/reos/system/rabbitmq"
)

// Job kinds on the queue: memo generation and the two kinds of send.
var jobKinds = []string{system.JobMemo, string(system.ChannelEmail), string(system.ChannelSMS)}

// The workers handle the queue's jobs. No provider is called on a request
// path: requests write a row and an outbox entry, the relay publishes it,
// and a worker hands the job to its workflow (system.Memos,
// system.Outreach). A worker only decodes a delivery, calls the workflow,
// and says whether to retry.

func (m *Main) openBroker(ctx context.Context, amqpURL string) error {
	c := m.Config
	delays := make([]time.Duration, 0, c.JobMaxAttempts)
	for i := range c.JobMaxAttempts - 1 {
		delays = append(delays, min(c.JobRetryBase<<i, 5*time.Minute))
	}
	b, err := rabbitmq.Open(ctx, rabbitmq.Config{URL: amqpURL, Prefix: c.QueuePrefix, Kinds: jobKinds,
		MaxAttempts: c.JobMaxAttempts, RetryDelays: delays, Logger: m.Logger})
	if err != nil {
		return err
	}
	m.Broker = b
	return nil
}

// workflows returns the product's workflows over its services and
// providers, built once (after Run has settled the public URL).
func (m *Main) workflows() (*system.Outreach, *system.Memos) {
	m.workflowsOnce.Do(func() {
		c, pv := m.Config, m.Providers
		m.outreach = &system.Outreach{Properties: postgres.NewPropertyService(m.DB), Templates: postgres.NewTemplateService(m.DB),
			Messages: postgres.NewMessageService(m.DB), DNC: postgres.NewDNCService(m.DB), Mailer: pv.Mailer, SMS: pv.SMS,
			EmailFrom: c.EmailFrom, SMSFrom: pv.SMS.From, PublicURL: c.PublicURL, Sandbox: c.Sends() == config.SendsSandbox, Logger: m.Logger}
		m.memos = &system.Memos{Jobs: postgres.NewJobService(m.DB), Properties: postgres.NewPropertyService(m.DB),
			Rules: postgres.NewRuleService(m.DB), Writer: pv.Writer, PDF: pv.PDF, Store: pv.Store}
	})
	return m.outreach, m.memos
}

// StartWorkers consumes every job kind and the dead-letter queue. Run
// calls it unless REOS_WORKERS=false; call it once at most.
func (m *Main) StartWorkers() {
	outreach, memos := m.workflows()
	dead := postgres.NewDeadLetterService(m.DB)
	m.Broker.Consume(system.JobMemo, func(ctx context.Context, msg *rabbitmq.Message) error {
		p, err := decode[postgres.JobPayload](msg)
		if err != nil {
			return err
		}
		return retryUnlessPermanent(memos.Render(ctx, p.JobID, msg.Attempt >= m.Config.JobMaxAttempts))
	})
	send := func(ctx context.Context, msg *rabbitmq.Message) error {
		p, err := decode[postgres.SendPayload](msg)
		if err != nil {
			return err
		}
		return retryUnlessPermanent(outreach.Deliver(ctx, p.MessageID))
	}
	m.Broker.Consume(string(system.ChannelSMS), send)
	m.Broker.Consume(string(system.ChannelEmail), send)
	m.Broker.ConsumeDead(func(ctx context.Context, d *rabbitmq.DeadLetter) error {
		// Storing a dead letter marks what it was for as failed.
		deaths := d.Deaths
		if deaths == nil {
			deaths = []rabbitmq.Death{}
		}
		return dead.AddDeadLetter(ctx, &system.DeadLetter{MessageID: d.ID, Kind: d.Kind, Payload: d.Body, Reason: d.Reason,
			Attempts: d.Attempts, Deaths: deaths, FirstFailure: d.FirstFailure, LastFailure: d.LastFailure})
	})
}

// retryUnlessPermanent tells the broker not to retry work whose error
// retrying cannot change (system.Permanent).
func retryUnlessPermanent(err error) error {
	if system.Permanent(err) {
		return rabbitmq.Permanent(err)
	}
	return err
}

// relay publishes the outbox whenever a transaction wrote to it, and every
// quarter second for rows other instances or a broker outage left behind.
func (m *Main) relay(ctx context.Context) {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	publish := func(ctx context.Context, exchange, key, id string, payload []byte) error {
		if exchange != postgres.OutboxEvents {
			return m.Broker.Publish(ctx, key, id, payload)
		}
		// Live clients wait on the stream; the broker's confirm takes longer.
		// Either failing leaves the row for the next pass, so an event may
		// reach either twice: at least once, as the outbox promises.
		if _, err := m.Stream.Add(ctx, liveEvent(payload)); err != nil {
			return err
		}
		return m.Broker.PublishEvent(ctx, key, id, payload)
	}
	var lastWarn time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.outboxWake:
		case <-tick.C:
		}
		for ctx.Err() == nil {
			n, err := m.DB.RelayOutbox(ctx, 100, publish)
			if err != nil && ctx.Err() == nil && time.Since(lastWarn) > 10*time.Second {
				m.Logger.Warn("outbox: publishing waits for the broker", "err", err)
				lastWarn = time.Now()
			}
			if err != nil || n < 100 {
				break
			}
		}
	}
}

func decode[T any](msg *rabbitmq.Message) (T, error) {
	var v T
	if err := json.Unmarshal(msg.Body, &v); err != nil {
		return v, rabbitmq.Permanent(fmt.Errorf("malformed %s job: %w", msg.Kind, err))
	}
	return v, nil
}

// replay puts a dead letter back to work: what it was for returns to
// queued, and the message goes back on its queue with a fresh set of
// attempts and its history.
func (m *Main) replay(ctx context.Context, d *system.DeadLetter) error {
	var err error
	switch d.Kind {
	case system.JobMemo:
		err = postgres.NewJobService(m.DB).RequeueJob(ctx, d.MessageID)
	case string(system.ChannelSMS), string(system.ChannelEmail):
		err = postgres.NewMessageService(m.DB).RequeueMessage(ctx, d.MessageID)
	default:
		return system.Errorf(system.EINVALID, "dead letters of kind %q cannot be replayed", d.Kind)
	}
	if err != nil {
		return err
	}
	history, _ := json.Marshal(d.Deaths)
	return m.Broker.Replay(ctx, &rabbitmq.DeadLetter{ID: d.MessageID, Kind: d.Kind, Body: d.Payload,
		Headers: map[string]any{"x-reos-previous-deaths": string(history)}}, fmt.Sprint(d.ID))
}

// liveEvent turns an outbox event into a live update.
func liveEvent(payload []byte) system.Event {
	var e system.Event
	json.Unmarshal(payload, &e)
	return e
}
