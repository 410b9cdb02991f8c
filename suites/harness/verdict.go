package harness

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/real-estate-os/reos/evidence"
)

// Verdict is the pack's folder for the results of checks other than the
// flows: make test's JUnit, the mutation campaign's kill matrix, the flake
// table of earlier runs, data-race reports.
const Verdict = "verdict"

// AttachVerdict copies into pack, under verdict/, the files REOS_ATTACH
// names (name=path, separated by the OS's list separator; reos green sets
// it) and the data-race reports in REOS_RACE_DIR. It returns how many race
// reports it found: each one fails the run.
func AttachVerdict(pack *evidence.Pack, getenv func(string) string) (races int, err error) {
	for _, item := range filepath.SplitList(getenv("REOS_ATTACH")) {
		name, path, ok := strings.Cut(item, "=")
		if !ok || name == "" {
			return 0, fmt.Errorf("REOS_ATTACH: %q is not name=path", item)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return 0, fmt.Errorf("REOS_ATTACH: %w", err)
		}
		if _, err := pack.File("reos green", filepath.Join(Verdict, name), b); err != nil {
			return 0, err
		}
	}
	dir := getenv("REOS_RACE_DIR")
	if dir == "" {
		return 0, nil
	}
	reports, _ := filepath.Glob(filepath.Join(dir, "report.*"))
	for _, r := range reports {
		b, err := os.ReadFile(r)
		if err != nil {
			return 0, err
		}
		if _, err := pack.File("the race detector", filepath.Join(Verdict, "race", filepath.Base(r)+".txt"), b); err != nil {
			return 0, err
		}
	}
	return len(reports), nil
}
