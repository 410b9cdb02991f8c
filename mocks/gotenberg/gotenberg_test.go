package gotenberg

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzConvertHTML: whatever the page and the fields, the double answers a
// PDF or Gotenberg's plain-text 400, and never panics.
func FuzzConvertHTML(f *testing.F) {
	f.Add("<p>hi</p>", "true", "8.5", "5s")
	f.Add("<html><head><style>p{}</style><title>t</title></head><body><h1>A</h1><table><tr><td>x</td><td>y</td></tr></table></body></html>", "false", "21cm", "0s")
	f.Add("<h1>unclosed <p>é €", "maybe", "wide", "soon")
	f.Add("", "", "", "")
	h := New()
	f.Fuzz(func(t *testing.T, page, landscape, width, wait string) {
		var b bytes.Buffer
		w := multipart.NewWriter(&b)
		for k, v := range map[string]string{"landscape": landscape, "paperWidth": width, "waitDelay": wait} {
			if v != "" {
				w.WriteField(k, v)
			}
		}
		part, _ := w.CreateFormFile("files", "index.html")
		part.Write([]byte(page))
		w.Close()
		req := httptest.NewRequest(http.MethodPost, "/forms/chromium/convert/html", &b)
		req.Header.Set("Content-Type", w.FormDataContentType())
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK:
			if !bytes.HasPrefix(rec.Body.Bytes(), []byte("%PDF-")) {
				t.Errorf("200 without a PDF: %.40q", rec.Body.Bytes())
			}
		case http.StatusBadRequest:
			if !strings.HasPrefix(rec.Body.String(), "Invalid form data: ") {
				t.Errorf("400 body %q", rec.Body.String())
			}
		default:
			t.Errorf("status %d: %s", rec.Code, rec.Body.String())
		}
	})
}

// The same page always prints to the same bytes (fpdf writes its fonts in
// map order unless told to sort them: seen as two memo hashes in the
// production-mode suite).
func TestRenderIsDeterministic(t *testing.T) {
	page := `<html><body><h1>Investment memo</h1><p>Plain text.</p><h2>Numbers</h2><table><tr><td>List</td><td>$1</td></tr></table></body></html>`
	first, err := render(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		again, err := render(strings.NewReader(page))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again, first) {
			t.Fatal("one page printed to different bytes")
		}
	}
}
