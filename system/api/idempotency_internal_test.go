package api

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/real-estate-os/reos/mocks/fake"
	"github.com/real-estate-os/reos/system"
)

// memIdempotency is an in-memory IdempotencyService (a fake): claims,
// answers and releases by user and key, as the PostgreSQL one keeps them
// (without its lease, which system/postgres tests).
func memIdempotency() *fake.IdempotencyService {
	var mu sync.Mutex
	recs := map[string]*system.Idempotency{}
	id := func(user int64, key string) string { return fmt.Sprint(user, "/", key) }
	return &fake.IdempotencyService{
		BeginRequestFn: func(_ context.Context, user int64, key, hash string) (*system.Idempotency, bool, error) {
			mu.Lock()
			defer mu.Unlock()
			if rec, ok := recs[id(user, key)]; ok {
				return rec, false, nil
			}
			recs[id(user, key)] = &system.Idempotency{RequestHash: hash}
			return nil, true, nil
		},
		CompleteRequestFn: func(_ context.Context, user int64, key string, rec *system.Idempotency) error {
			mu.Lock()
			defer mu.Unlock()
			recs[id(user, key)] = rec
			return nil
		},
		ReleaseRequestFn: func(_ context.Context, user int64, key string) error {
			mu.Lock()
			defer mu.Unlock()
			delete(recs, id(user, key))
			return nil
		},
	}
}

// idemServer serves next behind the idempotency middleware, over an
// in-memory IdempotencyService, as user 7.
func idemServer(t *testing.T, next handlerFunc) *httptest.Server {
	t.Helper()
	s := &Server{idem: memIdempotency(), logger: slog.New(slog.NewTextHandler(io.Discard, nil)), now: time.Now}
	h := s.idempotent(s.h(next))
	srv := httptest.NewServer(s.recoverPanics(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims := &Claims{}
		claims.Subject = "7"
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), claimsKey{}, claims)))
	})))
	t.Cleanup(srv.Close)
	return srv
}

func post(t *testing.T, ctx context.Context, url, key string) (int, error) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "POST", url, strings.NewReader(`{"n":1}`))
	req.Header.Set(IdempotencyHeader, key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	res.Body.Close()
	return res.StatusCode, nil
}

// A client that goes away mid-request leaves its key free: the handler's
// work failed with the request's context, and the key is released with a
// context that outlives it. A retry runs at once.
func TestIdempotencyKeyReleasedWhenTheClientGoesAway(t *testing.T) {
	started, calls := make(chan struct{}, 1), atomic.Int32{}
	srv := idemServer(t, func(w http.ResponseWriter, r *http.Request) error {
		if calls.Add(1) == 1 {
			started <- struct{}{}
			<-r.Context().Done() // the database call fails as the client leaves
			return r.Context().Err()
		}
		w.WriteHeader(http.StatusCreated)
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-started; cancel() }()
	if _, err := post(t, ctx, srv.URL, "k-cancel"); !errors.Is(err, context.Canceled) {
		t.Fatalf("the cancelled request: %v", err)
	}
	var status int
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if status, _ = post(t, context.Background(), srv.URL, "k-cancel"); status != http.StatusConflict {
			break // 409 only while the server has not yet seen the client go
		}
	}
	if status != http.StatusCreated || calls.Load() != 2 {
		t.Errorf("the retry after a cancelled request: %d after %d calls, want 201 from a second run", status, calls.Load())
	}
}

// A handler that panics releases its key too.
func TestIdempotencyKeyReleasedOnPanic(t *testing.T) {
	calls := atomic.Int32{}
	srv := idemServer(t, func(w http.ResponseWriter, r *http.Request) error {
		if calls.Add(1) == 1 {
			panic("boom")
		}
		w.WriteHeader(http.StatusCreated)
		return nil
	})
	if status, _ := post(t, context.Background(), srv.URL, "k-panic"); status != 500 {
		t.Fatalf("the panicking request: %d, want 500", status)
	}
	if status, _ := post(t, context.Background(), srv.URL, "k-panic"); status != http.StatusCreated {
		t.Errorf("the retry after a panic: %d, want 201", status)
	}
}

// A request sent again under its key is answered from the record, and a
// different request under it is refused.
func TestIdempotencyReplaysAndRefuses(t *testing.T) {
	calls := atomic.Int32{}
	srv := idemServer(t, func(w http.ResponseWriter, r *http.Request) error {
		calls.Add(1)
		w.WriteHeader(http.StatusCreated)
		return nil
	})
	for range 2 {
		if status, _ := post(t, context.Background(), srv.URL, "k-replay"); status != http.StatusCreated {
			t.Fatalf("status %d, want 201", status)
		}
	}
	if calls.Load() != 1 {
		t.Errorf("the handler ran %d times for one key, want once", calls.Load())
	}
	req, _ := http.NewRequest("POST", srv.URL, strings.NewReader(`{"n":2}`))
	req.Header.Set(IdempotencyHeader, "k-replay")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("another body under a used key: %d, want 422", res.StatusCode)
	}
}
