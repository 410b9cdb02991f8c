package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/real-estate-os/reos/suites/client"
)

// An attempt to leave that is not the deliberate drill fails the drill's
// pack: the flow is recorded as failed and the command exits non-zero.
func TestUnexpectedEgressFailsTheDrill(t *testing.T) {
	d, err := newDrillPack(t.TempDir(), "mock")
	if err != nil {
		t.Fatal(err)
	}
	d.attach(&client.Client{Base: "http://127.0.0.1:1"})
	d.guard.Resolve("reos-dlq-drill", "tcp", "api.sendgrid.com:443") // refused and logged to the sink
	env := func(string) (string, bool) { return "", false }
	err = d.seal(env, "/nonexistent.log", nil, time.Now(), nil, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "unexpected attempt") {
		t.Fatalf("seal = %v, want the unexpected attempt named", err)
	}
	b, _ := os.ReadFile(filepath.Join(d.pack.Dir, "manifest.json"))
	if !strings.Contains(string(b), `"failed": 1`) {
		t.Errorf("the manifest does not count the drill failed:\n%.400s", b)
	}
}
