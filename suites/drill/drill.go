// Package drill holds the drills the suite and reos run alike.
package drill

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/real-estate-os/reos/suites/client"
)

// DLQ is the dead-letter drill, one routine for flow 08's spec and for
// `reos dlq drill` against a running stack, in either mode: the SMS vendor
// is broken for one owner's number (and only that number, so parallel
// runs are untouched), a text to that owner is dead-lettered, the message
// shows failed, the vendor is mended, the dead letter is replayed and the
// text is delivered.
type DLQ struct {
	// Sender texts the owner; Admin reads and replays the dead-letter
	// queue (they may be the same admin).
	Sender, Admin *client.Client
	// Vendor breaks and mends the SMS vendor for one number.
	Vendor     Faults
	PropertyID int64
	OwnerPhone string
	// Tag names this run's text: its body and its Idempotency-Key.
	Tag string
	// Log gets each step, one line each.
	Log func(format string, args ...any)
	// Record, when set, gets the exchanges that show a step.
	Record func(name string, r *client.Response)
	// Wait bounds each wait (for the dead letter, for the delivery);
	// 60 s when zero.
	Wait time.Duration
}

// DeadLetter is a dead letter as GET /api/v1/dlq lists it.
type DeadLetter struct {
	ID           int64            `json:"id"`
	MessageID    string           `json:"message_id"`
	Kind         string           `json:"kind"`
	Reason       string           `json:"reason"`
	Attempts     int              `json:"attempts"`
	Deaths       []map[string]any `json:"x_death"`
	FirstFailure string           `json:"first_failure"`
	LastFailure  string           `json:"last_failure"`
	Replays      int              `json:"replays"`
}

// Run runs the drill. The vendor is mended on the way out, whatever
// happened; the error says which step failed.
func (d *DLQ) Run(ctx context.Context) (err error) {
	wait := d.Wait
	if wait == 0 {
		wait = 60 * time.Second
	}
	record := func(name string, r *client.Response) {
		if d.Record != nil && r != nil {
			d.Record(name, r)
		}
	}
	if err := d.Vendor.Break(ctx, d.OwnerPhone); err != nil {
		return fmt.Errorf("breaking the SMS vendor for %s (%s): %w", d.OwnerPhone, d.Vendor.Setting(), err)
	}
	mended := false
	defer func() {
		if !mended {
			if merr := d.Vendor.Mend(context.WithoutCancel(ctx), d.OwnerPhone); merr == nil {
				d.Log("fault cleared for %s (on the way out)", d.OwnerPhone)
			}
		}
	}()
	d.Log("fault on for %s only: the SMS vendor answers every send to it with 500 (Twilio 20500)", d.OwnerPhone)

	r, err := d.Sender.Expect(202, "POST", "/api/v1/communications/sms",
		map[string]any{"property_id": d.PropertyID, "to": d.OwnerPhone, "body": "DLQ drill " + d.Tag}, "Idempotency-Key", "dlq-drill-"+d.Tag)
	if err != nil {
		return fmt.Errorf("queueing the text: %w", err)
	}
	var sent struct {
		MessageID string `json:"message_id"`
	}
	if err := r.JSON(&sent); err != nil {
		return err
	}
	d.Log("sms queued: message %s to the owner of property %d", sent.MessageID, d.PropertyID)

	var dead DeadLetter
	err = poll(ctx, wait, func() (bool, error) {
		list, err := d.Admin.Expect(200, "GET", "/api/v1/dlq", nil)
		if err != nil {
			return false, err
		}
		var items struct {
			Items []DeadLetter `json:"items"`
		}
		if err := list.JSON(&items); err != nil {
			return false, err
		}
		for _, it := range items.Items {
			if it.MessageID == sent.MessageID {
				dead = it
				record("dlq-list", list)
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("the failing send never reached the dead-letter queue: %w", err)
	}
	d.Log("dead-lettered: dlq id %d, kind %s, after %d attempts; first failure %s, last %s; reason: %s",
		dead.ID, dead.Kind, dead.Attempts, dead.FirstFailure, dead.LastFailure, dead.Reason)
	for _, x := range dead.Deaths {
		d.Log("  x-death: queue %v, reason %v, count %v", x["queue"], x["reason"], x["count"])
	}
	if st, err := d.status(sent.MessageID); err != nil || st != "failed" {
		return fmt.Errorf("the message of a listed dead letter, before the replay, is %q (%v), want failed", st, err)
	}
	d.Log("the message shows failed")

	if err := d.Vendor.Mend(ctx, d.OwnerPhone); err != nil {
		return fmt.Errorf("mending the SMS vendor: %w", err)
	}
	mended = true
	d.Log("fault cleared for %s", d.OwnerPhone)
	replay, err := d.Admin.Do("POST", fmt.Sprintf("/api/v1/dlq/%d/replay", dead.ID), nil)
	if err == nil && replay.Status != 200 && replay.Status != 202 {
		err = fmt.Errorf("%s, want 200 or 202", replay)
	}
	if err != nil {
		return fmt.Errorf("replaying dlq id %d: %w", dead.ID, err)
	}
	record("dlq-replay", replay)
	d.Log("replayed dlq id %d", dead.ID)

	last := ""
	err = poll(ctx, wait, func() (bool, error) {
		st, err := d.status(sent.MessageID)
		last = st
		return st == "delivered", err
	})
	if err != nil {
		return fmt.Errorf("the replayed message was not delivered (last seen %q): %w", last, err)
	}
	d.Log("delivered: message %s", sent.MessageID)
	d.Log("PASSED: dead-lettered, replayed and delivered")
	return nil
}

// status is the message's status as its thread shows it.
func (d *DLQ) status(messageID string) (string, error) {
	r, err := d.Sender.Expect(200, "GET", fmt.Sprintf("/api/v1/communications/threads?property_id=%d", d.PropertyID), nil)
	if err != nil {
		return "", err
	}
	var threads struct {
		Items []struct {
			Messages []struct {
				ID     string `json:"id"`
				Status string `json:"status"`
			} `json:"messages"`
		} `json:"items"`
	}
	if err := r.JSON(&threads); err != nil {
		return "", err
	}
	for _, t := range threads.Items {
		for _, m := range t.Messages {
			if m.ID == messageID {
				return m.Status, nil
			}
		}
	}
	return "", fmt.Errorf("message %s is in no thread of property %d", messageID, d.PropertyID)
}

// poll calls fn every quarter second until it says done, fails, or wait
// (or ctx) runs out.
func poll(ctx context.Context, wait time.Duration, fn func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for {
		ok, err := fn()
		if err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("gave up after %v", wait)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// Faults breaks and mends a vendor for one recipient.
type Faults interface {
	Break(ctx context.Context, number string) error
	Mend(ctx context.Context, number string) error
	// Setting names what points at the vendor's controls.
	Setting() string
}

// TwilioFaults are the fault controls of mock Twilio and of the Twilio
// contract double at URL: every send to a broken number answers 500
// (Twilio error 20500).
type TwilioFaults struct {
	URL  string
	HTTP *client.Client
}

// Setting implements Faults.
func (t TwilioFaults) Setting() string { return "REOS_TWILIO_CONTROL_URL" }

// Break implements Faults.
func (t TwilioFaults) Break(_ context.Context, number string) error {
	return ok(t.HTTP.Do("PUT", t.URL+"/mock/faults?to="+url.QueryEscape(number), map[string]any{"error_probability": 1}))
}

// Mend implements Faults.
func (t TwilioFaults) Mend(_ context.Context, number string) error {
	return ok(t.HTTP.Do("DELETE", t.URL+"/mock/faults?to="+url.QueryEscape(number), nil))
}

// ok is err, or an error for an answer that is not 2xx.
func ok(r *client.Response, err error) error {
	if err == nil && r.Status/100 != 2 {
		err = fmt.Errorf("%s", r)
	}
	return err
}
