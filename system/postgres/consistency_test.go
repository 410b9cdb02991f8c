package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/real-estate-os/reos/system"
	"github.com/real-estate-os/reos/system/postgres"
)

// The drawer's threads are read while messages open new threads: every
// read sees each message with its thread (the drawer answered 500 when a
// thread committed between the read of threads and the read of messages).
func TestFindThreadsUnderConcurrentWrites(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db := openDB(t, true)
	s := postgres.NewMessageService(db)
	const writers, perWriter = 3, 60
	var written atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				// A new counterpart every time: a new thread with its first message.
				m := &system.Message{PropertyID: 30, Channel: system.ChannelEmail, To: fmt.Sprintf("w%d-%d@example.com", w, i),
					From: "deals@reos.example.com", Subject: "s", Body: "b"}
				if err := s.QueueMessage(ctx, m); err != nil {
					t.Errorf("QueueMessage: %v", err)
					return
				}
				written.Add(1)
			}
		})
	}
	go func() { wg.Wait(); close(stop) }()
	reads := 0
	for done := false; !done; reads++ {
		select {
		case <-stop:
			done = true // one last read after every write
		default:
		}
		threads, err := findThreads(s, 30)
		if err != nil {
			t.Fatalf("FindThreads during concurrent writes (read %d): %v", reads, err)
		}
		for _, th := range threads {
			if len(th.Messages) == 0 {
				t.Fatalf("read %d: thread %d (%s) has no message, though each is created with its first", reads, th.ID, th.Counterpart)
			}
		}
	}
	threads, _ := findThreads(s, 30)
	if got := int64(len(threads)); got != written.Load() {
		t.Errorf("after the writes: %d threads, want %d", got, written.Load())
	}
	t.Logf("%d reads during %d concurrent writes", reads, written.Load())
}

// findThreads calls FindThreads, turning a panic (a message whose thread
// the read did not see) into an error.
func findThreads(s *postgres.MessageService, id int64) (threads []*system.Thread, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return s.FindThreads(context.Background(), id)
}

// The stream's promise: the events about one subject are published in the
// order their changes committed, whatever the number of writers and of
// relays (instances) publishing the outbox at once.
func TestRelayKeepsEachSubjectsCommitOrder(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db := openDB(t, true)
	props := postgres.NewPropertyService(db)
	ids := []int64{10, 11, 12, 13}
	const changes = 40

	var mu sync.Mutex
	var published []system.Event
	publish := func(_ context.Context, exchange, _, _ string, payload []byte) error {
		if exchange != postgres.OutboxEvents {
			return nil
		}
		var e system.Event
		if err := json.Unmarshal(payload, &e); err != nil {
			return err
		}
		time.Sleep(200 * time.Microsecond) // a broker's confirm: relays overlap
		mu.Lock()
		published = append(published, e)
		mu.Unlock()
		return nil
	}
	var writers, relays sync.WaitGroup
	stop := make(chan struct{})
	// Two writers per property: their updates race for the row.
	for _, id := range ids {
		for w := range 2 {
			writers.Go(func() {
				for i := range changes / 2 {
					notes := fmt.Sprintf("writer %d change %d", w, i)
					if _, err := props.UpdateProperty(ctx, id, system.PropertyUpdate{Notes: &notes}); err != nil {
						t.Errorf("UpdateProperty(%d): %v", id, err)
						return
					}
				}
			})
		}
	}
	// Three relays, as three instances of the product would run.
	for range 3 {
		relays.Go(func() {
			for {
				if _, err := db.RelayOutbox(ctx, 7, publish); err != nil && ctx.Err() == nil {
					t.Errorf("RelayOutbox: %v", err)
				}
				select {
				case <-stop:
					return
				default:
				}
			}
		})
	}
	writers.Wait()
	close(stop)
	relays.Wait()
	for { // what the relays left when they stopped
		n, err := db.RelayOutbox(ctx, 100, publish)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}

	last := map[string]float64{}
	seen := map[string]int{}
	for i, e := range published {
		if e.Type != "property.updated" {
			continue
		}
		v, _ := e.Data["version"].(float64)
		if v == 0 {
			t.Fatalf("event %s (%s) carries no version: %v", e.ID, e.Subject, e.Data)
		}
		if v <= last[e.Subject] {
			t.Fatalf("published event %d of %d: %s at version %v after version %v — a subject's events out of commit order",
				i+1, len(published), e.Subject, v, last[e.Subject])
		}
		last[e.Subject] = v
		seen[e.Subject]++
	}
	for _, id := range ids {
		if got := seen[fmt.Sprintf("property/%d", id)]; got != changes {
			t.Errorf("property/%d: %d updates published, want %d (every change, once)", id, got, changes)
		}
	}
}

// A dead letter is seen only with what it was for already failed, so a
// replay that follows it at once is never overwritten by that failure (the
// DLQ drill once replayed between the two writes, and the message stayed
// failed).
func TestDeadLetterIsSeenWithItsFailure(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, true)
	messages, jobs, dead := postgres.NewMessageService(db), postgres.NewJobService(db), postgres.NewDeadLetterService(db)
	m := &system.Message{PropertyID: 30, Channel: system.ChannelSMS, To: "+16145550100", From: "+15005550006", Body: "hi"}
	if err := messages.QueueMessage(ctx, m); err != nil {
		t.Fatal(err)
	}
	if _, _, err := messages.ClaimMessage(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	j := &system.Job{Kind: system.JobMemo, PropertyID: 30, UserID: 1}
	if err := jobs.CreateJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	for _, d := range []*system.DeadLetter{
		{MessageID: m.ID, Kind: string(system.ChannelSMS), Reason: "twilio 500", Attempts: 5, Deaths: []any{}, Payload: []byte(`{}`)},
		{MessageID: j.ID, Kind: system.JobMemo, Reason: "render failed", Attempts: 5, Deaths: []any{}, Payload: []byte(`{}`)},
		{MessageID: "5b1c3f54-0000-4000-8000-000000000000", Kind: string(system.ChannelEmail), Reason: "gone", Deaths: []any{}, Payload: []byte(`{}`)},
	} {
		if err := dead.AddDeadLetter(ctx, d); err != nil {
			t.Fatalf("AddDeadLetter(%s): %v", d.Kind, err)
		}
	}
	got, err := messages.FindMessage(ctx, m.ID)
	if err != nil || got.Status != system.MessageFailed || got.Error != "dead-lettered: twilio 500" {
		t.Errorf("the dead-lettered message: %+v, %v; want failed, with the reason", got, err)
	}
	gotJob, err := jobs.FindJobByID(ctx, j.ID)
	if err != nil || gotJob.Status != system.JobFailed {
		t.Errorf("the dead-lettered job: %+v, %v; want failed", gotJob, err)
	}
	// The operator replays at once: the message is queued, and stays so.
	if err := messages.RequeueMessage(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := messages.FindMessage(ctx, m.ID); got.Status != system.MessageQueued {
		t.Errorf("after the replay: %s, want queued", got.Status)
	}
	letters, err := dead.FindDeadLetters(ctx)
	if err != nil || len(letters) != 3 {
		t.Errorf("dead letters: %d, %v; want all three (one whose message is gone)", len(letters), err)
	}
}
