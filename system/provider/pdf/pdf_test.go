package pdf_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/real-estate-os/reos/system"
	"github.com/real-estate-os/reos/system/provider/pdf"
	"github.com/real-estate-os/reos/system/provider/templates"
)

func memo() *system.Memo {
	contacted := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	p := &system.Property{ID: 30, Address: "4127 Magnolia Ct", City: "Łódź", State: "TN", Zip: "38101", OwnerName: "Zoë Müller-Nguyễn",
		Stage: system.StageQualified, ListPriceCents: 15_250_000, ARVCents: 24_900_000, RehabCents: 3_100_000, MonthlyRentCents: 165_000,
		CapRateBps: 612, ListedOn: "2026-02-01", LastContactedAt: &contacted, Version: 3}
	reasons := []system.Reason{{RuleID: "high-equity", Priority: 3, Reason: "Equity spread of 26% is above the 25% target.", Action: "Prepare a cash offer."}}
	text, _ := templates.Writer{}.WriteMemo(context.Background(), p, reasons)
	return &system.Memo{Property: p, Reasons: reasons, Text: text}
}

func render(t testing.TB) []byte {
	t.Helper()
	b, err := pdf.Renderer{}.RenderMemo(context.Background(), memo())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func hash(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// When REOS_PDF_CHILD names a file, this test binary only renders the memo
// into it: the parent compares a rendering made by another process.
func TestMain(m *testing.M) {
	if out := os.Getenv("REOS_PDF_CHILD"); out != "" {
		b, err := pdf.Renderer{}.RenderMemo(context.Background(), memo())
		if err != nil {
			os.Exit(2)
		}
		os.WriteFile(out, b, 0o600)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestRenderIsDeterministicAcrossProcesses(t *testing.T) {
	first := render(t)
	if !bytes.HasPrefix(first, []byte("%PDF-")) || len(first) < 1000 {
		t.Fatalf("not a PDF: %d bytes starting %q", len(first), first[:min(8, len(first))])
	}
	if second := render(t); !bytes.Equal(first, second) {
		t.Errorf("two renderings in one process differ: %s vs %s", hash(first), hash(second))
	}
	out := t.TempDir() + "/child.pdf"
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "REOS_PDF_CHILD="+out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child process: %v %s", err, b)
	}
	child, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if hash(child) != hash(first) {
		t.Errorf("SHA-256 in another process = %s, here %s", hash(child), hash(first))
	}
}

func TestDifferentMemoDifferentBytes(t *testing.T) {
	m := memo()
	m.Property.ListPriceCents++
	b, err := pdf.Renderer{}.RenderMemo(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(b, render(t)) {
		t.Error("a different price rendered the same bytes")
	}
}

func BenchmarkRenderMemo(b *testing.B) {
	m := memo()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := (pdf.Renderer{}).RenderMemo(context.Background(), m); err != nil {
			b.Fatal(err)
		}
	}
}

// goldenSHA256 is this memo's SHA-256, pinned: same memo, same bytes, in
// any process, on any day, with this version of the PDF library. It changed
// once, on the move from github.com/go-pdf/fpdf v0.9.0 (877b938c…) to
// codeberg.org/go-pdf/fpdf v0.12.0, which writes a binary-marker comment
// line after the header (6 bytes, shifting the xref offsets); every object
// is byte-identical to before.
const goldenSHA256 = "14872e1cde4be4943476d43afb76207f1cb2a83a84169685698a126ac466ab2e"

func TestRenderMatchesGoldenHash(t *testing.T) {
	if got := hash(render(t)); got != goldenSHA256 {
		t.Errorf("memo SHA-256 = %s, want %s: the memo's bytes changed (a library upgrade, a font, a date or a layout change?)", got, goldenSHA256)
	}
}
