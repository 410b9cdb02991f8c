// Package containers is the third way reos finds PostgreSQL, Redis and
// RabbitMQ: when no URL is set and nothing answers on the service's default
// port, and a Docker engine answers, the service is started in a container
// with testcontainers-go (its postgres and redis modules; RabbitMQ as a
// generic container, because the module's newest release served here,
// v0.40.0, does not build against v0.45.0), on a free port, and removed by testcontainers' reaper when the process ends.
//
// Without a Docker engine, Start returns an error wrapping ErrNoDocker at
// once, and the caller names scripts/setup.
package containers

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/testcontainers/testcontainers-go"
	tcpostgres "github.com/testcontainers/testcontainers-go/modules/postgres"
	tcredis "github.com/testcontainers/testcontainers-go/modules/redis"
	"github.com/testcontainers/testcontainers-go/wait"
)

// ErrNoDocker is what Start says when no Docker engine answers.
var ErrNoDocker = errors.New("no Docker engine answers (testcontainers looked at DOCKER_HOST, ~/.testcontainers.properties and the default socket)")

// Images are the versions reos is built and tested against.
var Images = map[string]string{"postgres": "postgres:15", "redis": "redis:7", "rabbitmq": "rabbitmq:3.10"}

// Available reports whether a Docker engine answers.
func Available(ctx context.Context) (err error) {
	defer func() {
		if r := recover(); r != nil { // testcontainers panics on some broken configurations
			err = fmt.Errorf("%w: %v", ErrNoDocker, r)
		}
	}()
	p, err := testcontainers.ProviderDocker.GetProvider()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNoDocker, err)
	}
	if err := p.Health(ctx); err != nil {
		return fmt.Errorf("%w: %v", ErrNoDocker, err)
	}
	return nil
}

var (
	mu      sync.Mutex
	started = map[string]string{} // service → URL, one container per service and process
)

// Start runs service (postgres, redis or rabbitmq) in a container, once per
// process, and returns its URL in the form reos's configuration takes.
func Start(ctx context.Context, service string) (string, error) {
	mu.Lock()
	defer mu.Unlock()
	if u, ok := started[service]; ok {
		return u, nil
	}
	image, ok := Images[service]
	if !ok {
		return "", fmt.Errorf("containers: no container for %q", service)
	}
	if err := Available(ctx); err != nil {
		return "", err
	}
	var u string
	switch service {
	case "postgres":
		c, err := tcpostgres.Run(ctx, image, tcpostgres.WithDatabase("reos"), tcpostgres.WithUsername("reos"), tcpostgres.WithPassword("reos"),
			tcpostgres.BasicWaitStrategies())
		if err != nil {
			return "", fmt.Errorf("containers: postgres: %w", err)
		}
		if u, err = c.ConnectionString(ctx, "sslmode=disable"); err != nil {
			return "", fmt.Errorf("containers: postgres: %w", err)
		}
	case "redis":
		c, err := tcredis.Run(ctx, image)
		if err != nil {
			return "", fmt.Errorf("containers: redis: %w", err)
		}
		if u, err = c.ConnectionString(ctx); err != nil {
			return "", fmt.Errorf("containers: redis: %w", err)
		}
	case "rabbitmq":
		c, err := testcontainers.Run(ctx, image, testcontainers.WithExposedPorts("5672/tcp"),
			testcontainers.WithEnv(map[string]string{"RABBITMQ_DEFAULT_USER": "guest", "RABBITMQ_DEFAULT_PASS": "guest"}),
			testcontainers.WithWaitStrategy(wait.ForLog("Server startup complete"), wait.ForListeningPort("5672/tcp")))
		if err != nil {
			return "", fmt.Errorf("containers: rabbitmq: %w", err)
		}
		hostPort, err := c.PortEndpoint(ctx, "5672/tcp", "")
		if err != nil {
			return "", fmt.Errorf("containers: rabbitmq: %w", err)
		}
		u = "amqp://guest:guest@" + hostPort + "/"
	}
	started[service] = u
	return u, nil
}
