package contracts

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPinsParse(t *testing.T) {
	pins, err := Pins()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, p := range pins {
		if seen[p.Name] {
			t.Errorf("%s is pinned twice", p.Name)
		}
		seen[p.Name] = true
		if strings.HasPrefix(p.Path, "derived:") {
			t.Errorf("pin %s is derived (%s): only files anyone can download from the vendor may be pinned", p.Name, p.Path)
		}
		if len(p.Commit) != 40 || !strings.Contains(p.Repo, "/") {
			t.Errorf("pin %s: repo %q commit %q: want owner/name and a full commit", p.Name, p.Repo, p.Commit)
		}
	}
	if len(pins) < 4 {
		t.Fatalf("%d pins, want every contract the tests read", len(pins))
	}
}

// A copy whose bytes differ from the pin is not a judge: Load refuses it
// and says how to get the pinned file.
func TestLoadRefusesAChangedCopy(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("REOS_CONTRACTS", dir)
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	t.Chdir(t.TempDir()) // no shared/contracts beside a module here
	name := "twilio/twilio_api_v2010.json"
	os.MkdirAll(filepath.Join(dir, "twilio"), 0o755)
	os.WriteFile(filepath.Join(dir, name), []byte(`{"changed": true}`), 0o644)
	_, err := Load(name)
	if err == nil {
		t.Fatal("Load accepted a copy that does not match its pin")
	}
	for _, want := range []string{"scripts/setup", "REOS_CONTRACTS", "pinned"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	if _, err := Load("nope.json"); err == nil || !strings.Contains(err.Error(), "not pinned") {
		t.Errorf("Load(unpinned) = %v, want 'not pinned'", err)
	}
}
