package evidence

import (
	"bytes"
	"encoding/json"
	"html/template"
	"os"
	"path/filepath"
	"sort"
	"time"
)

var historyTemplate = template.Must(template.New("history.html").ParseFS(indexFS, "index/history.html"))

// historyRow is one sealed pack, as the history page lists it.
type historyRow struct {
	Path    string // relative to the root, e.g. 20261206/mock-041232Z
	Facts   Facts
	Verdict string
	Files   int
}

// verdict is what a run's counts say: FAILED on any failure, WARNED when
// something skipped or nothing passed, else PASSED.
func verdict(counts map[string]int) string {
	switch {
	case counts["failed"] > 0:
		return "FAILED"
	case counts["skipped"] > 0 || counts["passed"] == 0:
		return "WARNED"
	}
	return "PASSED"
}

// WriteHistory writes root/index.html: every sealed pack under root
// (root/YYYYMMDD/<name>/manifest.json), newest first, with its mode,
// verdict, counts, commit and CI run, as its manifest says. It reads
// manifests only; `reos evidence verify` checks a pack.
func WriteHistory(root string) error {
	manifests, err := filepath.Glob(filepath.Join(root, "*", "*", ManifestFile))
	if err != nil {
		return err
	}
	var rows []historyRow
	for _, path := range manifests {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		var m Manifest
		if json.Unmarshal(b, &m) != nil {
			continue
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		rows = append(rows, historyRow{Path: filepath.ToSlash(rel), Facts: m.Facts, Verdict: verdict(m.Facts.Counts), Files: len(m.Files)})
	}
	sort.Slice(rows, func(i, j int) bool {
		if !rows[i].Facts.Start.Equal(rows[j].Facts.Start) {
			return rows[i].Facts.Start.After(rows[j].Facts.Start)
		}
		return rows[i].Path > rows[j].Path
	})
	var page bytes.Buffer
	if err := historyTemplate.Execute(&page, map[string]any{"Rows": rows, "Written": time.Now().UTC()}); err != nil {
		return err
	}
	css, _ := indexFS.ReadFile("index/index.css")
	if err := writeFile(filepath.Join(root, "index.css"), css); err != nil {
		return err
	}
	return writeFile(filepath.Join(root, IndexFile), page.Bytes())
}
