package api

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/real-estate-os/reos/fixtures"
	"github.com/real-estate-os/reos/system"
)

// A token is verified once and then remembered; what is remembered still
// expires on the injected clock, and a token that differs by one character
// is checked afresh.
func TestVerifyRemembersOnlyValidTokens(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	tokens := &Tokens{Secret: []byte("0123456789abcdef0123456789abcdef"), TTL: time.Hour, Now: func() time.Time { return now }}
	token, err := tokens.Issue(&system.User{ID: 7, Email: "a@example.com", Role: system.RoleAgent})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		c, err := tokens.Verify(token)
		if err != nil || c.UserID() != 7 || c.Email != "a@example.com" {
			t.Fatalf("Verify = %+v, %v", c, err)
		}
		c.Email = "changed by a handler" // must not reach the next caller
	}

	head, sig, _ := strings.Cut(token, ".")
	forged := head + "." + sig[:len(sig)-2] + "xx"
	if _, err := tokens.Verify(forged); system.ErrorCode(err) != system.EUNAUTHORIZED {
		t.Errorf("forged token: err = %v", err)
	}
	if c, _ := tokens.Verify(token); c == nil || c.Email != "a@example.com" {
		t.Errorf("remembered claims were changed: %+v", c)
	}

	now = now.Add(time.Hour)
	if _, err := tokens.Verify(token); system.ErrorCode(err) != system.EUNAUTHORIZED || !strings.Contains(err.Error(), "expired") {
		t.Errorf("remembered token past its expiry: err = %v", err)
	}
}

// Every server the product runs has its timeouts, so a slow client cannot
// hold connections open.
func TestHTTPServerTimeouts(t *testing.T) {
	srv := HTTPServer(http.NotFoundHandler(), nil)
	if srv.ReadHeaderTimeout <= 0 || srv.ReadTimeout <= 0 || srv.WriteTimeout <= 0 || srv.IdleTimeout <= 0 {
		t.Errorf("HTTPServer timeouts: header %v, read %v, write %v, idle %v; want all set", srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout)
	}
}

// The seeded demo users' hash is the demo password's, at the cost every
// other password is hashed with.
func TestDemoPasswordHash(t *testing.T) {
	if err := bcrypt.CompareHashAndPassword([]byte(fixtures.DemoPasswordHash), []byte(fixtures.DemoPassword)); err != nil {
		t.Errorf("fixtures.DemoPasswordHash is not the hash of %q: %v", fixtures.DemoPassword, err)
	}
	mine, _ := HashPassword("x", 0)
	want, _ := bcrypt.Cost([]byte(mine))
	if cost, err := bcrypt.Cost([]byte(fixtures.DemoPasswordHash)); err != nil || cost != want {
		t.Errorf("fixtures.DemoPasswordHash has cost %d (%v), HashPassword uses %d", cost, err, want)
	}
}
