// Package contracts finds the vendors' published contracts — OpenAPI specs,
// signature schemes and their test vectors — in the shared/contracts folder
// beside the repository (or where REOS_CONTRACTS points), for the tests that
// hold the mocks and clients to them. A test that needs a contract and cannot
// find it fails, naming the folder; it never passes silently.
package contracts

import (
	"os"
	"path/filepath"
	"testing"
)

// Dir returns the contracts folder: $REOS_CONTRACTS, or shared/contracts
// beside the directory holding go.mod.
func Dir() string {
	if d := os.Getenv("REOS_CONTRACTS"); d != "" {
		return d
	}
	dir, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(filepath.Dir(dir), "shared", "contracts")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return filepath.Join("..", "shared", "contracts")
		}
		dir = parent
	}
}

// Read returns the contract file name (e.g. "twilio/signature_vectors.json"),
// failing t when it is missing.
func Read(t testing.TB, name string) []byte {
	t.Helper()
	path := filepath.Join(Dir(), name)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("contract %s is missing: these tests read the vendors' contracts from %s (the shared/contracts folder beside the repository, or $REOS_CONTRACTS): %v", name, Dir(), err)
	}
	return b
}
