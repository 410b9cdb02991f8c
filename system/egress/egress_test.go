package egress_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/real-estate-os/reos/system/egress"
)

func TestResolve(t *testing.T) {
	g := &egress.Guard{Allow: []string{"postgres", "10.1.2.3"}}
	tests := []struct {
		addr, want string
		blocked    bool
	}{
		{"127.0.0.1:80", "127.0.0.1:80", false},
		{"127.8.9.10:80", "127.8.9.10:80", false},
		{"[::1]:443", "[::1]:443", false},
		{"localhost:25", "127.0.0.1:25", false},
		{"LOCALHOST.:25", "127.0.0.1:25", false},
		{"mailpit.localhost:25", "127.0.0.1:25", false},
		{"postgres:5432", "postgres:5432", false},
		{"10.1.2.3:9000", "10.1.2.3:9000", false},
		{"api.twilio.com:443", "", true},
		{"10.0.0.1:443", "", true},
		{"[::ffff:8.8.8.8]:53", "", true},
		{"192.168.1.1:80", "", true},
		{"localhost.evil.com:80", "", true},
		{"no-port", "", true},
	}
	for _, tt := range tests {
		got, err := g.Resolve("test", "tcp", tt.addr)
		var be *egress.BlockedError
		if tt.blocked != errors.As(err, &be) || got != tt.want {
			t.Errorf("Resolve(%q) = %q, %v; want %q, blocked %v", tt.addr, got, err, tt.want, tt.blocked)
		}
	}
}

// TestRefusedBeforeAnyLookup proves the guard never resolves a refused name:
// the dial function it returns is the only way out, and it fails at once
// with an error naming the host and the provider, and records the attempt.
func TestRefusedBeforeAnyLookup(t *testing.T) {
	var sink bytes.Buffer
	g := &egress.Guard{Sink: &sink}
	// A resolver that fails the test if anything asks it.
	net.DefaultResolver = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
		t.Errorf("a DNS lookup was attempted through %s", address)
		return nil, errors.New("no DNS in this test")
	}}
	t.Cleanup(func() { net.DefaultResolver = &net.Resolver{} })

	_, err := g.HTTPClient("twilio", 0).Get("https://api.twilio.com/2010-04-01/Accounts.json")
	if err == nil || !strings.Contains(err.Error(), "twilio may not connect to api.twilio.com:443") {
		t.Fatalf("Get(api.twilio.com) = %v, want a refusal naming provider and host", err)
	}
	var rec egress.Attempt
	if err := json.Unmarshal(bytes.TrimSpace(sink.Bytes()), &rec); err != nil {
		t.Fatalf("sink = %q: %v", sink.String(), err)
	}
	if rec.Provider != "twilio" || rec.Host != "api.twilio.com" || rec.Allowed || rec.Time.IsZero() {
		t.Errorf("record = %+v", rec)
	}
}

func TestLoopbackGoesThrough(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	defer srv.Close()
	g := &egress.Guard{}
	url := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	res, err := g.HTTPClient("test", 0).Get(url)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	t.Setenv("HTTP_PROXY", "http://proxy.example.com:3128") // must be ignored
	if res, err = g.HTTPClient("test", 0).Get(srv.URL); err != nil {
		t.Fatalf("with HTTP_PROXY set: %v", err)
	}
	res.Body.Close()
}
