package system

import (
	"context"
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Role is what a user may do.
type Role string

// The roles. Admins may also manage users and the dead-letter queue.
const (
	RoleAgent Role = "agent"
	RoleAdmin Role = "admin"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == RoleAgent || r == RoleAdmin }

// User is a person who signs in to the product.
type User struct {
	ID           int64     `json:"id"`
	Email        string    `json:"email"`
	Role         Role      `json:"role"`
	PasswordHash string    `json:"-"`
	CreatedAt    time.Time `json:"created_at"`
}

// UserService stores users.
type UserService interface {
	// FindUserByEmail returns ENOTFOUND if no user has that address.
	FindUserByEmail(ctx context.Context, email string) (*User, error)
	// FindUserByID returns ENOTFOUND if the user does not exist.
	FindUserByID(ctx context.Context, id int64) (*User, error)
	// FindUsers returns every user, ordered by id.
	FindUsers(ctx context.Context) ([]*User, error)
	// CreateUser stores u and sets its ID. Returns ECONFLICT if the email
	// is taken.
	CreateUser(ctx context.Context, u *User) error
}

// HealthCheck is one dependency that /readyz pings.
type HealthCheck struct {
	Name  string
	Check func(ctx context.Context) error
}

// RateDecision is a rate limiter's answer for one request.
type RateDecision struct {
	Allowed    bool
	Limit      int           // the budget per period
	Remaining  int           // what is left of it
	RetryAfter time.Duration // when refused: how long until one more is allowed
	Reset      time.Duration // how long until the budget is whole again
}

// RateLimiter counts requests per key across every instance.
type RateLimiter interface {
	// Allow takes one request from key's budget of limit per period.
	Allow(ctx context.Context, key string, limit int, period time.Duration) (RateDecision, error)
}

// ReplayGuard remembers signatures so a webhook is accepted once.
type ReplayGuard interface {
	// FirstSeen records key for ttl and reports whether it was new.
	FirstSeen(ctx context.Context, key string, ttl time.Duration) (bool, error)
}

// Session is a signed-in browser: who it is for, and the token its
// state-changing requests must carry against cross-site request forgery.
type Session struct {
	UserID    int64     `json:"user_id"`
	Email     string    `json:"email"`
	Role      Role      `json:"role"`
	CSRFToken string    `json:"csrf_token"`
	ExpiresAt time.Time `json:"expires_at"`
}

// SessionStore keeps browser sessions server-side, so that logging out
// ends a session everywhere at once.
type SessionStore interface {
	// CreateSession stores s for ttl and returns its new, secret id.
	CreateSession(ctx context.Context, s *Session, ttl time.Duration) (id string, err error)
	// FindSession returns EUNAUTHORIZED if id names no live session.
	FindSession(ctx context.Context, id string) (*Session, error)
	// DeleteSession ends the session; an unknown id is not an error.
	DeleteSession(ctx context.Context, id string) error
}

// Password length bounds; bcrypt reads at most 72 bytes.
const minPassword, maxPassword = 12, 72

// commonPasswords are refused whatever their length: the first ones any
// guesser tries, and this product's public demo password.
var commonPasswords = []string{"password", "123456", "qwerty", "letmein", "welcome", "iloveyou", "reos-demo", "changeme"}

// CheckNewUser returns what is wrong with a new user's email, role and
// password, by field; empty when they will do. A password must be 12 to 72
// bytes (bcrypt's limit) of valid UTF-8 without control characters, use at
// least 6 different characters, and contain neither the email's name nor a
// well-known password.
func CheckNewUser(email string, role Role, password string) map[string]string {
	bad := map[string]string{}
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email {
		bad["email"] = "a plain address, e.g. agent@example.com"
	}
	if !role.Valid() {
		bad["role"] = "agent or admin"
	}
	lower := strings.ToLower(password)
	local, _, _ := strings.Cut(strings.ToLower(email), "@")
	distinct := map[rune]bool{}
	for _, r := range password {
		distinct[r] = true
	}
	switch {
	case len(password) < minPassword || len(password) > maxPassword:
		bad["password"] = fmt.Sprintf("%d to %d bytes", minPassword, maxPassword)
	case !utf8.ValidString(password) || strings.IndexFunc(password, unicode.IsControl) >= 0:
		bad["password"] = "valid UTF-8 without control characters"
	case len(distinct) < 6:
		bad["password"] = "too weak: use at least 6 different characters"
	case len(local) >= 3 && strings.Contains(lower, local):
		bad["password"] = "too weak: contains the email's name"
	default:
		for _, c := range commonPasswords {
			if strings.Contains(lower, c) {
				bad["password"] = "too weak: contains a well-known password"
			}
		}
	}
	return bad
}
