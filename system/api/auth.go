package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"

	"github.com/real-estate-os/reos/system"
)

// Tokens issues and checks HS256 access tokens.
type Tokens struct {
	Secret []byte
	TTL    time.Duration
	Now    func() time.Time

	// verified remembers tokens whose signature was checked, so a client
	// that sends the same token again costs a map lookup and an expiry check.
	mu       sync.RWMutex
	verified map[string]*Claims
}

// now is Now, or time.Now when it is unset.
func (t *Tokens) now() time.Time {
	if t.Now == nil {
		return time.Now()
	}
	return t.Now()
}

// maxVerifiedTokens bounds Tokens.verified; past it, it starts again empty.
const maxVerifiedTokens = 10_000

const tokenIssuer = "reos"

// Claims are what an access token says about its user. Handlers trust them
// without a database round trip; /auth/me reads the stored user.
type Claims struct {
	jwt.RegisteredClaims
	Email string      `json:"email"`
	Role  system.Role `json:"role"`
	// Scope limits what the token is for: "" is the API, "sse" only the
	// event stream.
	Scope string `json:"scope,omitempty"`
}

// UserID returns the id in the subject claim.
func (c *Claims) UserID() int64 {
	id, _ := strconv.ParseInt(c.Subject, 10, 64)
	return id
}

// Issue returns a signed API token for u.
func (t *Tokens) Issue(u *system.User) (string, error) {
	return t.issue(strconv.FormatInt(u.ID, 10), u.Email, u.Role, "", t.TTL)
}

// IssueScoped returns a token for the same user limited to scope, valid
// for ttl.
func (t *Tokens) IssueScoped(c *Claims, scope string, ttl time.Duration) (string, error) {
	return t.issue(c.Subject, c.Email, c.Role, scope, ttl)
}

func (t *Tokens) issue(subject, email string, role system.Role, scope string, ttl time.Duration) (string, error) {
	now := t.now()
	c := Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    tokenIssuer,
			Subject:   subject,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
		Email: email,
		Role:  role,
		Scope: scope,
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(t.Secret)
}

// Verify returns the claims of a valid token, or EUNAUTHORIZED.
func (t *Tokens) Verify(token string) (*Claims, error) {
	t.mu.RLock()
	known, ok := t.verified[token]
	t.mu.RUnlock()
	if ok {
		if !t.now().Before(known.ExpiresAt.Time) {
			return nil, errTokenExpired()
		}
		c := *known
		return &c, nil
	}
	c, err := t.verify(token)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	if len(t.verified) >= maxVerifiedTokens || t.verified == nil {
		t.verified = make(map[string]*Claims)
	}
	t.verified[token] = c
	t.mu.Unlock()
	out := *c
	return &out, nil
}

func errTokenExpired() error {
	return system.Errorf(system.EUNAUTHORIZED, "the access token has expired; log in again")
}

// verify checks token's signature and claims.
func (t *Tokens) verify(token string) (*Claims, error) {
	var c Claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return t.Secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(tokenIssuer),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(t.now),
	)
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, errTokenExpired()
	case err != nil || c.UserID() <= 0 || !c.Role.Valid():
		return nil, system.Errorf(system.EUNAUTHORIZED, "the access token is invalid")
	}
	return &c, nil
}

// HashPassword returns the bcrypt hash of password at cost
// (PASSWORD_HASH_COST; 0 is bcrypt's default, 10).
func HashPassword(password string, cost int) (string, error) {
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	return string(h), err
}

type claimsKey struct{}

// ClaimsFrom returns the authenticated caller's claims, or nil.
func ClaimsFrom(ctx context.Context) *Claims {
	c, _ := ctx.Value(claimsKey{}).(*Claims)
	return c
}

// authenticate requires a valid bearer token.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			if cookie, err := r.Cookie(SessionCookie); err == nil {
				c, err := s.sessionClaims(r, cookie.Value)
				if err != nil {
					s.Error(w, r, err)
					return
				}
				next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), claimsKey{}, c)))
				return
			}
		}
		scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
			s.Error(w, r, system.Errorf(system.EUNAUTHORIZED, "send Authorization: Bearer <access_token> (POST /api/v1/auth/login)"))
			return
		}
		c, err := s.tokens.Verify(strings.TrimSpace(token))
		if err == nil && c.Scope != "" {
			err = system.Errorf(system.EUNAUTHORIZED, "a %s token cannot call the API", c.Scope)
		}
		if err != nil {
			s.Error(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), claimsKey{}, c)))
	})
}

// requireRole lets only callers with role through.
func requireRole(s *Server, role system.Role) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if c := ClaimsFrom(r.Context()); c == nil || c.Role != role {
				s.Error(w, r, system.Errorf(system.EFORBIDDEN, "only a user with role %s may do this", role))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

type loginResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
}

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) error {
	var req loginRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	u, err := s.checkLogin(w, r, req.Email, req.Password)
	if err != nil {
		return err
	}
	token, err := s.tokens.Issue(u)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, loginResponse{AccessToken: token, TokenType: "Bearer", ExpiresIn: int64(s.tokens.TTL.Seconds())})
	return nil
}

// checkLogin returns the user whose email and password these are, within
// the account's login budget: EINVALID when either is empty, ERATELIMIT
// (Retry-After set on w) over the budget, EUNAUTHORIZED when wrong.
func (s *Server) checkLogin(w http.ResponseWriter, r *http.Request, email, password string) (*system.User, error) {
	if email == "" || password == "" {
		return nil, system.Invalid(map[string]string{"email": "required", "password": "required"})
	}
	if err := s.limitLoginAccount(w, r, email); err != nil {
		return nil, err
	}
	u, err := s.users.FindUserByEmail(r.Context(), email)
	hash := s.dummyHash() // a login for an unknown address takes as long as one with a wrong password
	if err == nil {
		hash = u.PasswordHash
	} else if system.ErrorCode(err) != system.ENOTFOUND {
		return nil, err
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) != nil || u == nil {
		s.logger.InfoContext(r.Context(), "login refused", "email_domain", emailDomain(email))
		return nil, system.Errorf(system.EUNAUTHORIZED, "wrong email or password")
	}
	return u, nil
}

func emailDomain(email string) string {
	_, domain, _ := strings.Cut(email, "@")
	return domain
}

func (s *Server) handleMe(w http.ResponseWriter, r *http.Request) error {
	u, err := s.users.FindUserByID(r.Context(), ClaimsFrom(r.Context()).UserID())
	if system.ErrorCode(err) == system.ENOTFOUND {
		return system.Errorf(system.EUNAUTHORIZED, "the token's user no longer exists")
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, u)
	return nil
}

type createUserRequest struct {
	Email    string      `json:"email"`
	Password string      `json:"password"`
	Role     system.Role `json:"role"`
}

func (s *Server) handleCreateUser(w http.ResponseWriter, r *http.Request) error {
	var req createUserRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if bad := system.CheckNewUser(req.Email, req.Role, req.Password); len(bad) > 0 {
		return system.Invalid(bad)
	}
	hash, err := HashPassword(req.Password, s.cfg.PasswordCost)
	if err != nil {
		return err
	}
	u := &system.User{Email: req.Email, Role: req.Role, PasswordHash: hash}
	if err := s.users.CreateUser(r.Context(), u); err != nil {
		return err
	}
	w.Header().Set("Location", fmt.Sprintf("/api/v1/users/%d", u.ID))
	writeJSON(w, http.StatusCreated, u)
	return nil
}

func (s *Server) handleListUsers(w http.ResponseWriter, r *http.Request) error {
	users, err := s.users.FindUsers(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": users})
	return nil
}
