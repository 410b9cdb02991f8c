package postgres_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/real-estate-os/reos/system"
	"github.com/real-estate-os/reos/system/postgres"
	"github.com/real-estate-os/reos/system/postgres/postgrestest"
)

// instance is one API instance's view of a shared database: its own pool
// and, when watching, its own version cache.
type instance struct {
	db         *postgres.DB
	properties *postgres.PropertyService
}

// openInstances returns n instances on one seeded database; each watches
// versions until the test ends.
func openInstances(t testing.TB, n int) []instance {
	t.Helper()
	ctx := context.Background()
	url := postgrestest.NewDatabase(t)
	var out []instance
	for i := range n {
		db, err := postgres.Open(ctx, fmt.Sprintf("%s&application_name=instance-%d", url, i))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(db.Close)
		if i == 0 {
			if _, err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Seed(ctx, postgres.SeedOptions{Demo: true}); err != nil {
				t.Fatal(err)
			}
		}
		watch, stop := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Go(func() { db.WatchVersions(watch, slog.New(slog.NewTextHandler(io.Discard, nil))) })
		t.Cleanup(func() { stop(); wg.Wait() })
		out = append(out, instance{db: db, properties: postgres.NewPropertyService(db)})
	}
	waitListening(t, out[0].db, n)
	return out
}

// waitListening waits until n connections LISTEN on the database.
func waitListening(t testing.TB, db *postgres.DB, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var listening int
		if err := db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND query LIKE 'LISTEN%'`).Scan(&listening); err != nil {
			t.Fatal(err)
		}
		if listening == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections listen for versions, want %d", listening, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// eventually polls version until it returns want, for up to 2 s.
func eventually(t testing.TB, what string, want int64, version func() (int64, error)) {
	t.Helper()
	var got int64
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		v, err := version()
		if err != nil {
			t.Fatal(err)
		}
		if got = v; got == want {
			return
		}
	}
	t.Fatalf("%s: version %d, want %d", what, got, want)
}

func TestVersionsReachEveryInstance(t *testing.T) {
	ctx := context.Background()
	in := openInstances(t, 2)
	a, b := in[0].properties, in[1].properties
	ctx30 := func(s *postgres.PropertyService) func() (int64, error) {
		return func() (int64, error) { return s.PropertyVersion(ctx, 30) }
	}

	// Both instances cache property 30 and the collection.
	for _, s := range []*postgres.PropertyService{a, b} {
		if v, err := s.PropertyVersion(ctx, 30); err != nil || v != 1 {
			t.Fatalf("property 30: %d, %v; want version 1", v, err)
		}
		if _, err := s.CollectionVersion(ctx); err != nil {
			t.Fatal(err)
		}
	}
	before, _ := b.CollectionVersion(ctx)

	notes := "written on A"
	p, err := a.UpdateProperty(ctx, 30, system.PropertyUpdate{Notes: &notes})
	if err != nil {
		t.Fatal(err)
	}
	// A reads its own write at once; B as soon as the notification lands.
	if v, _ := a.PropertyVersion(ctx, 30); v != p.Version {
		t.Errorf("the writing instance reads version %d right after writing %d", v, p.Version)
	}
	eventually(t, "B after A's update", p.Version, ctx30(b))
	eventually(t, "B's collection after A's update", before+1, func() (int64, error) { return b.CollectionVersion(ctx) })

	// A do-not-contact change moves the versions of the properties it names.
	dnc := postgres.NewDNCService(in[1].db)
	if err := dnc.AddDNC(ctx, system.DNCEntry{Kind: system.DNCPhone, Value: "+12055550129", Reason: "test"}, "api"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "A after B's do-not-contact change", p.Version+1, ctx30(a))
}

func TestVersionsFallBackWhileTheListenerIsDown(t *testing.T) {
	ctx := context.Background()
	in := openInstances(t, 2)
	a, b := in[0], in[1]
	if v, err := b.properties.PropertyVersion(ctx, 12); err != nil || v != 1 {
		t.Fatalf("property 12: %d, %v", v, err)
	}

	// Cut B's listening connection, then write on A: B misses the
	// notification but must not answer from what it had cached.
	var pid int
	if err := a.db.Pool.QueryRow(ctx, `SELECT pg_terminate_backend(pid), pid FROM pg_stat_activity
		WHERE datname = current_database() AND query LIKE 'LISTEN%' AND application_name = 'instance-1'`).Scan(new(bool), &pid); err != nil {
		t.Fatal(err)
	}
	notes := "written while B was deaf"
	for range 3 {
		if _, err := a.properties.UpdateProperty(ctx, 12, system.PropertyUpdate{Notes: &notes}); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []*postgres.PropertyService{a.properties, b.properties} {
		eventually(t, "after a cut listener", 4, func() (int64, error) { return s.PropertyVersion(ctx, 12) })
	}
	// Both listen again; B's cache holds nothing from before the cut, and
	// follows writes again.
	waitListening(t, a.db, 2)
	time.Sleep(50 * time.Millisecond)
	for range 10 {
		if v, err := b.properties.PropertyVersion(ctx, 12); err != nil || v != 4 {
			t.Fatalf("B after reconnecting: version %d, %v; want 4", v, err)
		}
	}
	if _, err := a.properties.UpdateProperty(ctx, 12, system.PropertyUpdate{Notes: &notes}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "after reconnecting", 5, func() (int64, error) { return b.properties.PropertyVersion(ctx, 12) })
}

func TestVersionOfMissingProperty(t *testing.T) {
	in := openInstances(t, 1)
	if _, err := in[0].properties.PropertyVersion(context.Background(), 9999); system.ErrorCode(err) != system.ENOTFOUND {
		t.Errorf("err = %v, want %s", err, system.ENOTFOUND)
	}
}

// BenchmarkVersionNotification is how long another instance answers with an
// old version after a write commits: from UpdateProperty's return on A to
// the moment B's cache has the new version.
func BenchmarkVersionNotification(b *testing.B) {
	ctx := context.Background()
	in := openInstances(b, 2)
	a, bb := in[0].properties, in[1].properties
	bb.PropertyVersion(ctx, 30)
	var lag []time.Duration
	notes := "bench"
	b.ResetTimer()
	for b.Loop() {
		p, err := a.UpdateProperty(ctx, 30, system.PropertyUpdate{Notes: &notes})
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		for {
			if v, _ := bb.PropertyVersion(ctx, 30); v >= p.Version {
				break
			}
			runtime.Gosched()
		}
		lag = append(lag, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lag)
	b.ReportMetric(float64(lag[len(lag)/2].Nanoseconds())/1000, "p50-lag-µs")
	b.ReportMetric(float64(lag[len(lag)*99/100].Nanoseconds())/1000, "p99-lag-µs")
}
