// Package pdf renders investment memos natively with fpdf, byte for byte
// the same for the same memo: fixed metadata dates, a sorted catalog and an
// embedded UTF-8 font (DejaVu Sans, licence in fonts/LICENSE), so names like
// Łódź or Müller print as written.
package pdf

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"time"

	"codeberg.org/go-pdf/fpdf"

	"github.com/real-estate-os/reos/system"
)

var (
	//go:embed fonts/DejaVuSans.ttf
	regular []byte
	//go:embed fonts/DejaVuSans-Bold.ttf
	bold []byte
)

// documentDate is every memo's creation and modification date: the memo's
// content, not the moment it was rendered, decides its bytes.
var documentDate = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Renderer is the native PDF renderer.
type Renderer struct{}

var _ system.PDFRenderer = Renderer{}

// Check always succeeds: rendering needs nothing outside the process.
func (Renderer) Check(context.Context) error { return nil }

// RenderMemo lays out the cover, the numbers, the next-best-action reasons
// and the memo text.
func (Renderer) RenderMemo(_ context.Context, m *system.Memo) ([]byte, error) {
	p := m.Property
	doc := fpdf.New("P", "mm", "Letter", "")
	doc.SetCreationDate(documentDate)
	doc.SetModificationDate(documentDate)
	doc.SetCatalogSort(true)
	doc.SetCompression(true)
	doc.AddUTF8FontFromBytes("DejaVu", "", regular)
	doc.AddUTF8FontFromBytes("DejaVu", "B", bold)
	doc.SetTitle(fmt.Sprintf("Investment memo: %s", p.Address), true)
	doc.SetAuthor("Real Estate OS", true)
	doc.SetCreator("reos", true)
	doc.SetMargins(20, 20, 20)
	doc.SetAutoPageBreak(true, 20)
	doc.AliasNbPages("{nb}")
	doc.SetFooterFunc(func() {
		doc.SetY(-15)
		doc.SetFont("DejaVu", "", 8)
		doc.SetTextColor(120, 120, 120)
		doc.CellFormat(0, 10, fmt.Sprintf("Property %d · version %d · page %d of {nb}", p.ID, p.Version, doc.PageNo()), "", 0, "C", false, 0, "")
	})

	// Cover.
	doc.AddPage()
	doc.SetFont("DejaVu", "B", 24)
	doc.SetTextColor(20, 40, 80)
	doc.MultiCell(0, 12, "Investment Memo", "", "L", false)
	doc.SetFont("DejaVu", "B", 16)
	doc.SetTextColor(0, 0, 0)
	doc.MultiCell(0, 9, p.Address, "", "L", false)
	doc.SetFont("DejaVu", "", 12)
	doc.MultiCell(0, 7, fmt.Sprintf("%s, %s %s", p.City, p.State, p.Zip), "", "L", false)
	doc.MultiCell(0, 7, fmt.Sprintf("Owner: %s · Stage: %s", p.OwnerName, p.Stage), "", "L", false)
	if m.AsOf != "" {
		doc.MultiCell(0, 7, "As of "+m.AsOf, "", "L", false)
	}
	doc.Ln(6)

	// Numbers.
	section(doc, "The numbers")
	doc.SetFont("DejaVu", "", 11)
	for i, r := range m.Figures() {
		fill := i%2 == 0
		doc.SetFillColor(240, 243, 248)
		doc.CellFormat(80, 8, r[0], "", 0, "L", fill, 0, "")
		doc.CellFormat(0, 8, r[1], "", 1, "R", fill, 0, "")
	}
	doc.Ln(6)

	// Reasons.
	section(doc, "Next best actions")
	doc.SetFont("DejaVu", "", 11)
	if len(m.Reasons) == 0 {
		doc.MultiCell(0, 6, "No rule fires for this property today.", "", "L", false)
	}
	for _, r := range m.Reasons {
		doc.SetFont("DejaVu", "B", 11)
		doc.MultiCell(0, 6, fmt.Sprintf("%d. %s", r.Priority, r.Action), "", "L", false)
		doc.SetFont("DejaVu", "", 10)
		doc.MultiCell(0, 5, r.Reason, "", "L", false)
		doc.Ln(2)
	}
	doc.Ln(4)

	// Memo text.
	section(doc, "Memo")
	doc.SetFont("DejaVu", "", 11)
	doc.MultiCell(0, 6, m.Text, "", "L", false)

	var out bytes.Buffer
	if err := doc.Output(&out); err != nil {
		return nil, fmt.Errorf("pdf: %w", err)
	}
	return out.Bytes(), nil
}

func section(doc *fpdf.Fpdf, title string) {
	doc.SetFont("DejaVu", "B", 14)
	doc.SetTextColor(20, 40, 80)
	doc.MultiCell(0, 9, title, "B", "L", false)
	doc.SetTextColor(0, 0, 0)
	doc.Ln(2)
}
