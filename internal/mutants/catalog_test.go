package mutants_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/real-estate-os/reos/internal/mutants"
)

// Each planted bug still applies to the code as it is, and the claims
// table names it under its claim: the catalog never goes stale unseen.
func TestCatalogMatchesTheCodeAndTheClaimsTable(t *testing.T) {
	root := filepath.Join("..", "..")
	doc, err := os.ReadFile(filepath.Join(root, "docs", "ACCEPTANCE_MOCK_MODE.md"))
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{}
	for _, line := range strings.Split(string(doc), "\n") {
		if m := regexp.MustCompile(`^\| (C\d\d) \|`).FindStringSubmatch(line); m != nil {
			rows[m[1]] = line
		}
	}
	ids := map[string]bool{}
	for _, m := range mutants.Catalog {
		if ids[m.ID] {
			t.Errorf("two bugs are called %s", m.ID)
		}
		ids[m.ID] = true
		src, err := os.ReadFile(filepath.Join(root, m.File))
		if err != nil {
			t.Errorf("%s: %v", m.ID, err)
			continue
		}
		if _, err := m.Plant(string(src)); err != nil {
			t.Error(err)
		}
		if m.Package == "" || m.Test == "" {
			t.Errorf("%s names no unit check", m.ID)
		}
		row, ok := rows[m.Claim]
		if !ok {
			t.Errorf("%s breaks claim %s, which the claims table does not have", m.ID, m.Claim)
		} else if !strings.Contains(row, m.ID) {
			t.Errorf("the claims table's row %s does not name %s", m.Claim, m.ID)
		}
	}
}
