// Package contracts gives the tests the vendors' published contracts —
// their OpenAPI specs — that hold the
// mocks and clients to their vendors. The files are not in the repository:
// pins.txt names each one with its vendor repository, commit, path and
// SHA-256, and scripts/setup puts them in a cache outside the clone. A test
// that needs a contract and cannot find the pinned bytes fails, naming
// scripts/setup and REOS_CONTRACTS; it never passes silently.
package contracts

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

//go:embed pins.txt
var pinsFile []byte

// Pin is one contract file as pins.txt names it.
type Pin struct {
	Name   string // path inside the contracts folder, e.g. "twilio/twilio_api_v2010.json"
	SHA256 string
	Repo   string // the vendor's GitHub repository
	Commit string
	Path   string // the file's path in Repo
}

// Pins returns every pinned contract file, in the file's order.
func Pins() ([]Pin, error) {
	var pins []Pin
	sc := bufio.NewScanner(bytes.NewReader(pinsFile))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 5 || len(f[1]) != 64 {
			return nil, fmt.Errorf("contracts: pins.txt line %d: want name, sha256, repo, commit, path", n)
		}
		pins = append(pins, Pin{Name: f[0], SHA256: f[1], Repo: f[2], Commit: f[3], Path: f[4]})
	}
	return pins, sc.Err()
}

// CacheDir is where scripts/setup keeps the pinned set: a folder named for
// the SHA-256 of pins.txt, so a change of pins never reads stale files.
func CacheDir() string {
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		home, _ := os.UserHomeDir()
		base = filepath.Join(home, ".cache")
	}
	sum := sha256.Sum256(pinsFile)
	return filepath.Join(base, "reos", "contracts", hex.EncodeToString(sum[:]))
}

// Dirs are the folders searched, in order: $REOS_CONTRACTS, the cache, and
// shared/contracts beside the repository.
func Dirs() []string {
	var dirs []string
	if d := os.Getenv("REOS_CONTRACTS"); d != "" {
		dirs = append(dirs, d)
	}
	dirs = append(dirs, CacheDir())
	if root := moduleRoot(); root != "" {
		dirs = append(dirs, filepath.Join(filepath.Dir(root), "shared", "contracts"))
	}
	return dirs
}

func moduleRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// Load returns the pinned bytes of the contract file name. A copy whose
// hash differs from its pin is refused, and the next folder is tried.
func Load(name string) ([]byte, error) {
	pins, err := Pins()
	if err != nil {
		return nil, err
	}
	var pin *Pin
	for i := range pins {
		if pins[i].Name == name {
			pin = &pins[i]
		}
	}
	if pin == nil {
		return nil, fmt.Errorf("contracts: %s is not pinned in internal/contracts/pins.txt", name)
	}
	var tried []string
	for _, dir := range Dirs() {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			tried = append(tried, dir+" (missing)")
			continue
		}
		sum := sha256.Sum256(b)
		if got := hex.EncodeToString(sum[:]); got != pin.SHA256 {
			tried = append(tried, fmt.Sprintf("%s (sha256 %s…, pinned %s…)", dir, got[:12], pin.SHA256[:12]))
			continue
		}
		return b, nil
	}
	return nil, fmt.Errorf("contract %s (%s@%s %s) not found with its pinned SHA-256 in: %s. "+
		"Run scripts/setup with REOS_CONTRACTS set to a folder holding the contracts (or with ../shared/contracts beside the clone), "+
		"or with REOS_CONTRACTS_URL set to a mirror of the vendors' raw files (BASE/OWNER/REPO/COMMIT/PATH)",
		name, pin.Repo, pin.Commit[:12], pin.Path, strings.Join(tried, "; "))
}

// Read returns the contract file name, failing t when it cannot be had.
func Read(t testing.TB, name string) []byte {
	t.Helper()
	b, err := Load(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// PinOf returns the pin of the contract file name.
func PinOf(name string) (Pin, error) {
	pins, err := Pins()
	if err != nil {
		return Pin{}, err
	}
	for _, p := range pins {
		if p.Name == name {
			return p, nil
		}
	}
	return Pin{}, fmt.Errorf("contracts: %s is not pinned in internal/contracts/pins.txt", name)
}
