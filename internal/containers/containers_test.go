package containers_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/redis/go-redis/v9"

	"github.com/real-estate-os/reos/internal/containers"
)

// Where a Docker engine answers (GitHub's runners), each service starts in a
// container and answers its client. Here, with none, the test says so and
// skips.
func TestServicesInContainers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := containers.Available(ctx); err != nil {
		t.Skipf("Docker: %v — the testcontainers tier is tested where a Docker engine answers", err)
	}
	u, err := containers.Start(ctx, "postgres")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatalf("postgres at %s: %v", u, err)
	}
	conn.Close(ctx)
	if again, _ := containers.Start(ctx, "postgres"); again != u {
		t.Errorf("a second Start made another container: %s, then %s", u, again)
	}

	u, err = containers.Start(ctx, "redis")
	if err != nil {
		t.Fatal(err)
	}
	opts, err := redis.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opts)
	defer c.Close()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("redis at %s: %v", u, err)
	}

	u, err = containers.Start(ctx, "rabbitmq")
	if err != nil {
		t.Fatal(err)
	}
	a, err := amqp.Dial(u)
	if err != nil {
		t.Fatalf("rabbitmq at %s: %v", u, err)
	}
	a.Close()
}

// Without a Docker engine, Start fails at once with ErrNoDocker.
func TestStartWithoutDocker(t *testing.T) {
	ctx := context.Background()
	if containers.Available(ctx) == nil {
		t.Skip("a Docker engine answers here")
	}
	if _, err := containers.Start(ctx, "redis"); !errors.Is(err, containers.ErrNoDocker) {
		t.Fatalf("Start without Docker = %v, want ErrNoDocker", err)
	}
}
