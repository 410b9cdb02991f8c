package app_test

import (
	"crypto/rand"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/real-estate-os/reos/fixtures"
	"github.com/real-estate-os/reos/system/postgres/postgrestest"
)

// BenchmarkGetProperty measures an authenticated GET /api/v1/properties/{id}
// over loopback, through the whole middleware chain and PostgreSQL.
func BenchmarkGetProperty(b *testing.B) {
	s := startStack(b)
	token := s.login("agent@example.com", fixtures.DemoPassword)
	req, _ := http.NewRequest("GET", s.url+"/api/v1/properties/30", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
}

// BenchmarkMemoJobs drives memo jobs end to end — POST, outbox, RabbitMQ,
// worker, PDF, S3, job done — from 8 clients, and reports jobs per second
// and the p50/p99 time from POST to done as a client sees it.
func BenchmarkMemoJobs(b *testing.B) {
	s := startWith(b, map[string]string{"DATABASE_URL": postgrestest.NewDatabase(b), "REOS_ADDR": "127.0.0.1:0", "REOS_DATA_DIR": b.TempDir(),
		"QUEUE_PREFIX": "bench-" + strings.ToLower(rand.Text()[:8]), "LOG_LEVEL": "error"})
	token := s.login("agent@example.com", fixtures.DemoPassword)
	var mu sync.Mutex
	var latencies []time.Duration
	next := atomic.Int64{}
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				t0 := time.Now()
				var j job
				s.do("POST", "/api/v1/jobs/memo/generate", token, map[string]int{"property_id": int(next.Load()%50) + 1}).json(b, &j)
				for j.Status != "done" && j.Status != "failed" {
					time.Sleep(2 * time.Millisecond)
					s.do("GET", "/api/v1/jobs/"+j.ID, token, nil).json(b, &j)
				}
				mu.Lock()
				latencies = append(latencies, time.Since(t0))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(latencies)
	b.ReportMetric(float64(len(latencies))/elapsed.Seconds(), "jobs/s")
	b.ReportMetric(float64(latencies[len(latencies)/2].Milliseconds()), "p50-ms")
	b.ReportMetric(float64(latencies[len(latencies)*99/100].Milliseconds()), "p99-ms")
}
