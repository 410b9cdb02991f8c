package harness

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
)

func init() { api.DisableConfigDir() } // pdfcpu writes no config under $HOME

// PDF is a document pdfcpu validated, with its pages' text.
type PDF struct {
	Pages int
	// Text is each page's text, as poppler's pdftotext reads it (the
	// memo's fonts are embedded subsets: their text is only readable
	// through their ToUnicode maps, which poppler applies).
	Text []string
}

// ReadPDF validates b with pdfcpu in strict mode, then extracts every
// page's text with poppler's pdftotext (scripts/setup installs
// poppler-utils).
func ReadPDF(b []byte) (*PDF, error) {
	conf := model.NewDefaultConfiguration()
	conf.ValidationMode = model.ValidationStrict
	ctx, err := api.ReadAndValidate(bytes.NewReader(b), conf)
	if err != nil {
		return nil, fmt.Errorf("pdfcpu: not a valid PDF: %w", err)
	}
	doc := &PDF{Pages: ctx.PageCount}
	run, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(run, "pdftotext", "-enc", "UTF-8", "-", "-")
	cmd.Stdin = bytes.NewReader(b)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("pdftotext (poppler-utils; run scripts/setup): %v %s", err, stderr.Bytes())
	}
	doc.Text = strings.Split(strings.TrimSuffix(string(out), "\f"), "\f") // pages end with a form feed
	return doc, nil
}

// All is the text of every page.
func (d *PDF) All() string { return strings.Join(d.Text, "\n") }
