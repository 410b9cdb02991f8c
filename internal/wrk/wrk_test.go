package wrk_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/real-estate-os/reos/internal/wrk"
)

// A pass reads wrk's figures; answers that are not 2xx or 3xx fail it.
func TestRun(t *testing.T) {
	if !wrk.Available() {
		t.Skip("wrk is not installed (scripts/setup installs it)")
	}
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Test") != "yes" {
			w.WriteHeader(http.StatusBadRequest)
		}
	}))
	defer ok.Close()
	load := wrk.Load{Threads: 1, Connections: 2, Duration: time.Second}
	r, err := load.Run(ok.URL, map[string]string{"X-Test": "yes"}, "")
	if err != nil || r.RPS <= 0 || r.Requests <= 0 || r.P99 <= 0 || r.P50 > r.P99 {
		t.Fatalf("Run = %+v, %v", r, err)
	}
	if _, err := load.Run(ok.URL, nil, ""); err == nil || !strings.Contains(err.Error(), "not 2xx or 3xx") {
		t.Errorf("400s: %v", err)
	}
	if b := wrk.Best([]wrk.Result{{RPS: 1}, {RPS: 3}, {RPS: 2}}); b.RPS != 3 {
		t.Errorf("Best = %+v", b)
	}
}
