package api

import (
	"context"
	"errors"

	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/real-estate-os/reos/system/postgres"
	"github.com/real-estate-os/reos/system/postgres/postgrestest"
)

// idemServer serves next behind the idempotency middleware, on a real
// PostgreSQL, as user 7; clock moves the database's time.
func idemServer(t *testing.T, next handlerFunc) (*httptest.Server, *atomic.Int64, *postgres.IdempotencyService) {
	t.Helper()
	db, err := postgres.Open(context.Background(), postgrestest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	clock := &atomic.Int64{}
	clock.Store(time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	db.Now = func() time.Time { return time.Unix(0, clock.Load()) }
	idem := postgres.NewIdempotencyService(db)
	s := &Server{idem: idem, logger: slog.New(slog.NewTextHandler(io.Discard, nil)), now: db.Now}
	h := s.idempotent(s.h(next))
	srv := httptest.NewServer(s.recoverPanics(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims := &Claims{}
		claims.Subject = "7"
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), claimsKey{}, claims)))
	})))
	t.Cleanup(srv.Close)
	return srv, clock, idem
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
	srv, _, _ := idemServer(t, func(w http.ResponseWriter, r *http.Request) error {
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
	srv, _, _ := idemServer(t, func(w http.ResponseWriter, r *http.Request) error {
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

// A key whose process never answered (it died mid-request) is held for the
// lease only, then a retry runs; an answered key is kept 24 hours.
func TestIdempotencyLease(t *testing.T) {
	calls := atomic.Int32{}
	srv, clock, idem := idemServer(t, func(w http.ResponseWriter, r *http.Request) error {
		calls.Add(1)
		w.WriteHeader(http.StatusCreated)
		return nil
	})
	// A request in flight forever: claim the key as the middleware does
	// and never settle it.
	if _, claimed, err := idem.BeginRequest(context.Background(), 7, "k-lease", "some-hash"); err != nil || !claimed {
		t.Fatalf("claim: %v %v", claimed, err)
	}
	if status, _ := post(t, context.Background(), srv.URL, "k-lease"); status != http.StatusConflict {
		t.Errorf("within the lease: %d, want 409", status)
	}
	clock.Add(int64(postgres.IdempotencyLease + time.Second))
	if status, _ := post(t, context.Background(), srv.URL, "k-lease"); status != http.StatusCreated {
		t.Errorf("after the lease: %d, want 201", status)
	}
	clock.Add(int64(12 * time.Hour))
	if status, _ := post(t, context.Background(), srv.URL, "k-lease"); status != http.StatusCreated || calls.Load() != 1 {
		t.Errorf("an answered key, 12 h later: %d after %d runs, want its replay (201, one run)", status, calls.Load())
	}
}
