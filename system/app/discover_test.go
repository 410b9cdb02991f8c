package app

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
)

func TestDiscoveryErrorNamesTheFix(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close() // nothing answers there now
	d := dependency{name: "postgres", variable: "DATABASE_URL", addr: closed, localURL: "postgres://x", fix: postgresDep.fix}
	_, err = d.resolve(context.Background(), "")
	for _, want := range []string{"DATABASE_URL is not set", "nothing answers on " + closed, "scripts/setup"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("resolve with nothing listening = %v, want it to say %q", err, want)
		}
	}
	if got, err := d.resolve(context.Background(), "postgres://configured"); err != nil || got != "postgres://configured" {
		t.Errorf("a configured URL = %q, %v; want it used as is", got, err)
	}
}

// The third tier: with nothing on the default port, a container is asked
// for; when that fails too, the error says why and still names the fix.
// Not parallel: it sets the package's Containers.
func TestDiscoveryFallsBackToAContainer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	d := dependency{name: "redis", variable: "REDIS_URL", addr: closed, localURL: "redis://local", fix: redisDep.fix}
	t.Cleanup(func() { Containers = nil })
	var asked []string
	Containers = func(_ context.Context, service string) (string, error) {
		asked = append(asked, service)
		return "redis://127.0.0.1:32768", nil
	}
	if got, err := d.resolve(context.Background(), ""); err != nil || got != "redis://127.0.0.1:32768" || strings.Join(asked, ",") != "redis" {
		t.Errorf("with a container: %q, %v (asked for %v)", got, err, asked)
	}
	if got, _ := d.resolve(context.Background(), "redis://configured"); got != "redis://configured" || len(asked) != 1 {
		t.Errorf("a configured URL asked for a container: %q, %v", got, asked)
	}
	Containers = func(context.Context, string) (string, error) { return "", errors.New("no Docker engine answers") }
	_, err = d.resolve(context.Background(), "")
	for _, want := range []string{"nothing answers on " + closed, "no container either (no Docker engine answers)", "scripts/setup"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("no container: %v, want it to say %q", err, want)
		}
	}
}

// For a suite in another process, what is missing is started in a
// container and handed over as settings; what is configured or answers on
// its default port is left as it is. Not parallel: it sets the package's
// Containers and default addresses.
func TestContainerizedStartsOnlyWhatIsMissing(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close() // something answers here
	gone, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := gone.Addr().String()
	gone.Close() // nothing answers here
	saved := [3]dependency{postgresDep, redisDep, rabbitDep}
	t.Cleanup(func() { postgresDep, redisDep, rabbitDep = saved[0], saved[1], saved[2]; Containers = nil })
	postgresDep.addr, redisDep.addr, rabbitDep.addr = closed, l.Addr().String(), closed

	if got, err := Containerized(context.Background(), func(string) string { return "" }); err != nil || got != nil {
		t.Errorf("without a container tier: %v, %v; want nothing", got, err)
	}
	var asked []string
	Containers = func(_ context.Context, service string) (string, error) {
		asked = append(asked, service)
		return service + "://127.0.0.1:4000" + string(rune('0'+len(asked))), nil
	}
	env := map[string]string{"AMQP_URL": "amqp://configured"}
	got, err := Containerized(context.Background(), func(k string) string { return env[k] })
	if err != nil || len(got) != 1 || got["DATABASE_URL"] != "postgres://127.0.0.1:40001" || strings.Join(asked, ",") != "postgres" {
		t.Errorf("Containerized = %v, %v (asked for %v); want PostgreSQL alone in a container", got, err, asked)
	}
	Containers = func(context.Context, string) (string, error) { return "", errors.New("no Docker engine answers") }
	if _, err := Containerized(context.Background(), func(string) string { return "" }); !errors.Is(err, ErrMissing) || !strings.Contains(err.Error(), "scripts/setup") {
		t.Errorf("nothing anywhere: %v, want ErrMissing naming the fix", err)
	}
}
