package mocktwilio_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/real-estate-os/reos/system"
)

// BenchmarkCreateWithCallbacks measures message creates per second through
// the product's Twilio client while every message's four status callbacks
// flow to a webhook receiver.
func BenchmarkCreateWithCallbacks(b *testing.B) {
	var callbacks atomic.Int64
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		callbacks.Add(1)
	}))
	defer hook.Close()
	m := startMock(b, benchDir(b))
	sms := &system.SMS{To: "+14155550100", Body: "benchmark", StatusCallback: hook.URL + "/status"}
	start := time.Now()
	n := 0
	for b.Loop() {
		if _, err := m.client.SendSMS(context.Background(), sms); err != nil {
			b.Fatal(err)
		}
		n++
	}
	created := time.Since(start)
	for deadline := time.Now().Add(30 * time.Second); callbacks.Load() < int64(4*n) && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	all := time.Since(start)
	b.ReportMetric(float64(n)/created.Seconds(), "creates/s")
	b.ReportMetric(float64(callbacks.Load())/all.Seconds(), "callbacks/s")
}

func benchDir(b *testing.B) string {
	if testing.Short() {
		return ""
	}
	return b.TempDir()
}
