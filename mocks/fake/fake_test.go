package fake_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// fake.go is what internal/genfakes makes of package system today: an
// interface added or changed there without go generate fails here.
func TestFakesMatchPackageSystem(t *testing.T) {
	out := filepath.Join(t.TempDir(), "fake.go")
	cmd := exec.Command("go", "run", "../../internal/genfakes", "../../system", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("genfakes: %v\n%s", err, b)
	}
	want, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("fake.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("mocks/fake/fake.go is stale: run go generate ./mocks/fake")
	}
}
