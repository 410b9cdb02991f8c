package app

import (
	"io"
	"net/http"
	"testing"
	"time"
)

// A stand-in behind a front (FrontDouble) is reached through the front,
// and stopping it stops both.
func TestStandInBehindAFront(t *testing.T) {
	fronted := make(chan string, 1)
	FrontDouble = func(vendor, upstream string) (http.Handler, error) {
		fronted <- vendor + " " + upstream
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "front") }), nil
	}
	defer func() { FrontDouble = nil }()
	use, direct, stop, err := serveStandIn("twilio", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "stand-in") }))
	if err != nil {
		t.Fatal(err)
	}
	if got := <-fronted; got != "twilio "+direct || use == direct {
		t.Errorf("fronted %q; use %s, direct %s", got, use, direct)
	}
	res, err := http.Get(use)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(b) != "front" {
		t.Errorf("through %s: %q, want the front", use, b)
	}
	done := make(chan struct{})
	go func() { stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("stopping a fronted stand-in did not return")
	}
	if _, err := http.Get(direct); err == nil {
		t.Error("the stand-in still answers after stop")
	}
}
