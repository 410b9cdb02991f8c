package evidence

import (
	"bytes"
	"embed"
	"encoding/json"
	"html/template"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

//go:embed index/index.html index/index.css index/history.html
var indexFS embed.FS

var indexTemplate = template.Must(template.New("index.html").Funcs(template.FuncMap{
	"duration": func(d time.Duration) string { return d.Round(time.Millisecond).String() },
	"pct":      func(f float64) float64 { return 100 * f },
	// skipsIn are the skipped specs of the flow named flow.
	"skipsIn": func(skipped []Skip, flow string) []Skip {
		var out []Skip
		for _, s := range skipped {
			if strings.HasPrefix(s.Spec, flow+" ") {
				out = append(out, s)
			}
		}
		return out
	},
}).ParseFS(indexFS, "index/index.html"))

type egressRow struct {
	A    EgressAttempt
	File string
}

type group struct {
	Name    string
	Records []Record
}

type indexView struct {
	Facts       Facts
	Guard       string
	Verdict     string
	Took        time.Duration
	Screenshots []Record
	Egress      []egressRow
	Groups      []group
}

// writeIndex writes index.html and index.css: one page an auditor opens
// from file://, with no script and nothing fetched from elsewhere.
func (p *Pack) writeIndex(f Facts) error {
	records, err := p.Records()
	if err != nil {
		return err
	}
	v := indexView{Facts: f, Guard: Guard, Verdict: verdict(f.Counts), Took: f.End.Sub(f.Start).Round(time.Millisecond)}
	if f.Counts == nil {
		v.Facts.Counts = map[string]int{}
	}
	groups := map[string][]Record{}
	for _, r := range records {
		switch r.Kind {
		case "screenshot":
			v.Screenshots = append(v.Screenshots, r)
		case "egress":
			var a EgressAttempt
			if b, err := os.ReadFile(filepath.Join(p.Dir, r.File)); err == nil && json.Unmarshal(b, &a) == nil {
				v.Egress = append(v.Egress, egressRow{A: a, File: r.File})
			}
		default:
			groups[filepath.Dir(r.File)] = append(groups[filepath.Dir(r.File)], r)
		}
	}
	names := make([]string, 0, len(groups))
	for n := range groups {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		v.Groups = append(v.Groups, group{Name: n, Records: groups[n]})
	}
	var b bytes.Buffer
	if err := indexTemplate.Execute(&b, v); err != nil {
		return err
	}
	css, _ := indexFS.ReadFile("index/index.css")
	if err := p.write("index.css", css); err != nil {
		return err
	}
	return p.write(IndexFile, b.Bytes())
}
