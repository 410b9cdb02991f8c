package web

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/real-estate-os/reos/system"
	"github.com/real-estate-os/reos/system/provider/pdf"
)

func TestDecodePPM(t *testing.T) {
	img, err := decodePPM([]byte("P6\n# pdftoppm\n2 1\n255\n\x01\x02\x03\xfa\xfb\xfc"))
	if err != nil {
		t.Fatal(err)
	}
	if img.Bounds() != image.Rect(0, 0, 2, 1) || !bytes.Equal(img.Pix, []byte{1, 2, 3, 255, 0xfa, 0xfb, 0xfc, 255}) {
		t.Errorf("decoded %v %v", img.Bounds(), img.Pix)
	}
	for name, bad := range map[string]string{
		"not P6":          "P3\n1 1\n255\n\x00\x00\x00",
		"16-bit samples":  "P6\n1 1\n65535\n\x00\x00\x00\x00\x00\x00",
		"short pixels":    "P6\n2 2\n255\n\x00\x00\x00",
		"extra bytes":     "P6\n1 1\n255\n\x00\x00\x00\x00",
		"no height":       "P6\n1\n",
		"zero width":      "P6\n0 1\n255\n",
		"huge":            "P6\n999999999 999999999\n255\n",
		"no separator":    "P6\n1 1\n255",
		"empty":           "",
		"negative header": "P6\n-1 1\n255\n\x00\x00\x00",
	} {
		if _, err := decodePPM([]byte(bad)); err == nil {
			t.Errorf("%s: decoded, want an error", name)
		}
	}
}

func FuzzDecodePPM(f *testing.F) {
	f.Add([]byte("P6\n2 1\n255\n\x01\x02\x03\xfa\xfb\xfc"))
	f.Add([]byte("P6 1 1 255 \x00\x00\x00"))
	f.Add([]byte("P6\n#c\n1 1\n#d\n255\n\x00\x00\x00"))
	f.Add([]byte("P6\n3 2\n255\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		img, err := decodePPM(b)
		if err != nil {
			return
		}
		if w, h := img.Bounds().Dx(), img.Bounds().Dy(); w*h*3 > len(b) || len(img.Pix) != w*h*4 {
			t.Fatalf("%d×%d image from %d bytes", w, h, len(b))
		}
	})
}

// A preview is exactly the page pdftoppm renders: the same pixels as its
// own PNG output.
func TestPagePreviewIsPdftoppms(t *testing.T) {
	if _, err := exec.LookPath("pdftoppm"); err != nil {
		t.Skip("no pdftoppm (poppler-utils; scripts/setup installs it)")
	}
	doc, err := pdf.Renderer{}.RenderMemo(context.Background(), &system.Memo{
		Property: &system.Property{Address: "1 Preview Way", City: "Austin", State: "TX", Zip: "78701", ListPriceCents: 24_500_000},
		Text:     "A memo to look at.", AsOf: "2026-11-01"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := pdfPagePNG(httptest.NewRequest("GET", "/memos/x/pages/1.png", nil), doc, 1)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "memo.pdf")
	os.WriteFile(in, doc, 0o600)
	if out, err := exec.Command("pdftoppm", "-png", "-r", "110", "-f", "1", "-l", "1", "-singlefile", in, filepath.Join(dir, "want")).CombinedOutput(); err != nil {
		t.Fatalf("pdftoppm -png: %v %s", err, out)
	}
	wantPNG, _ := os.ReadFile(filepath.Join(dir, "want.png"))
	a, err := png.Decode(bytes.NewReader(got))
	if err != nil {
		t.Fatalf("the preview is not a PNG: %v", err)
	}
	b, err := png.Decode(bytes.NewReader(wantPNG))
	if err != nil {
		t.Fatal(err)
	}
	if a.Bounds() != b.Bounds() || a.Bounds().Dx() < 500 {
		t.Fatalf("preview %v, pdftoppm %v", a.Bounds(), b.Bounds())
	}
	for y := b.Bounds().Min.Y; y < b.Bounds().Max.Y; y++ {
		for x := b.Bounds().Min.X; x < b.Bounds().Max.X; x++ {
			r1, g1, b1, _ := a.At(x, y).RGBA()
			r2, g2, b2, _ := b.At(x, y).RGBA()
			if r1 != r2 || g1 != g2 || b1 != b2 {
				t.Fatalf("pixel (%d,%d): preview %v, pdftoppm %v", x, y, a.At(x, y), b.At(x, y))
			}
		}
	}
}
