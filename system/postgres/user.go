package postgres

import (
	"context"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/real-estate-os/reos/system"
)

var _ system.UserService = (*UserService)(nil)

// UserService stores users in PostgreSQL. Emails are kept lower-cased.
type UserService struct{ db *DB }

// NewUserService returns a UserService on db.
func NewUserService(db *DB) *UserService { return &UserService{db: db} }

const userColumns = `id, email, role, password_hash, created_at`

func scanUser(row pgx.Row) (*system.User, error) {
	var u system.User
	if err := row.Scan(&u.ID, &u.Email, &u.Role, &u.PasswordHash, &u.CreatedAt); err != nil {
		return nil, err
	}
	u.CreatedAt = u.CreatedAt.UTC()
	return &u, nil
}

func (s *UserService) findUser(ctx context.Context, where string, arg any, what string) (*system.User, error) {
	u, err := scanUser(s.db.Pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE `+where, arg))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, system.Errorf(system.ENOTFOUND, "no user with that %s", what)
	}
	return u, wrap(err, "find user")
}

// FindUserByEmail returns ENOTFOUND if no user has that address.
func (s *UserService) FindUserByEmail(ctx context.Context, email string) (*system.User, error) {
	return s.findUser(ctx, "email = $1", strings.ToLower(email), "email")
}

// FindUserByID returns ENOTFOUND if the user does not exist.
func (s *UserService) FindUserByID(ctx context.Context, id int64) (*system.User, error) {
	return s.findUser(ctx, "id = $1", id, "id")
}

// FindUsers returns every user, ordered by id.
func (s *UserService) FindUsers(ctx context.Context) ([]*system.User, error) {
	rows, err := s.db.Pool.Query(ctx, `SELECT `+userColumns+` FROM users ORDER BY id`)
	if err != nil {
		return nil, wrap(err, "find users")
	}
	users, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*system.User, error) { return scanUser(r) })
	return users, wrap(err, "find users")
}

// CreateUser stores u and sets its ID and creation time. Returns ECONFLICT if
// the email is taken.
func (s *UserService) CreateUser(ctx context.Context, u *system.User) error {
	u.Email = strings.ToLower(u.Email)
	u.CreatedAt = s.db.now()
	err := s.db.Pool.QueryRow(ctx, `INSERT INTO users (email, role, password_hash, created_at) VALUES ($1, $2, $3, $4) RETURNING id`,
		u.Email, u.Role, u.PasswordHash, u.CreatedAt).Scan(&u.ID)
	if system.ErrorCode(wrap(err, "")) == system.ECONFLICT {
		return system.Errorf(system.ECONFLICT, "a user with email %s already exists", u.Email)
	}
	return wrap(err, "create user")
}
