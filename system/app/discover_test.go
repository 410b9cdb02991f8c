package app

import (
	"context"
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
