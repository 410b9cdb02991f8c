// Package gotenberg is a double of Gotenberg's HTML route for runs without a
// Gotenberg container: POST /forms/chromium/convert/html takes the same
// multipart form, checks it the way ROUTES.md describes
// (index.html required, booleans and numbers parsed, 400/413/415 in plain
// text) and answers with a real PDF of the page's text — laid out simply,
// not by a browser — plus GET /health and GET /version.
package gotenberg

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"codeberg.org/go-pdf/fpdf"
	"golang.org/x/net/html"
)

// Version is what GET /version answers.
const Version = "8.36.0-reos-double"

// MaxBodyBytes bounds a conversion request, as --api-body-limit does.
const MaxBodyBytes = 32 << 20

// New returns the double.
func New() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /forms/chromium/convert/html", convertHTML)
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		now := time.Now().UTC().Format(time.RFC3339)
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		json.NewEncoder(w).Encode(map[string]any{"status": "up", "details": map[string]any{
			"chromium": map[string]string{"status": "up", "timestamp": now}}})
	})
	mux.HandleFunc("GET /version", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, Version)
	})
	return mux
}

func plainError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
	w.WriteHeader(status)
	io.WriteString(w, msg)
}

// boolFields and floatFields are the Chromium route's page fields the
// double checks; the rest are accepted as they come.
var (
	boolFields  = []string{"singlePage", "preferCssPageSize", "generateDocumentOutline", "generateTaggedPdf", "printBackground", "omitBackground", "landscape"}
	floatFields = []string{"scale"}
	sizeFields  = []string{"paperWidth", "paperHeight", "marginTop", "marginBottom", "marginLeft", "marginRight"}
)

func convertHTML(w http.ResponseWriter, r *http.Request) {
	trace := r.Header.Get("Gotenberg-Trace")
	if trace == "" {
		trace = newID()
	}
	w.Header().Set("Gotenberg-Trace", trace)
	mediaType, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/form-data" || params["boundary"] == "" {
		plainError(w, http.StatusUnsupportedMediaType, "Unsupported Media Type")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	if err := r.ParseMultipartForm(MaxBodyBytes); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			plainError(w, http.StatusRequestEntityTooLarge, "Request Entity Too Large")
			return
		}
		plainError(w, http.StatusBadRequest, "Invalid form data: "+err.Error())
		return
	}
	var bad []string
	field := func(name string) (string, bool) {
		v := r.MultipartForm.Value[name]
		if len(v) == 0 {
			return "", false
		}
		return v[0], true
	}
	for _, name := range boolFields {
		if v, ok := field(name); ok {
			if _, err := strconv.ParseBool(v); err != nil {
				bad = append(bad, fmt.Sprintf("form field '%s' is invalid (got '%s', resulting to %v)", name, v, err))
			}
		}
	}
	for _, name := range floatFields {
		if v, ok := field(name); ok {
			if _, err := strconv.ParseFloat(v, 64); err != nil {
				bad = append(bad, fmt.Sprintf("form field '%s' is invalid (got '%s', resulting to %v)", name, v, err))
			}
		}
	}
	for _, name := range sizeFields {
		if v, ok := field(name); ok {
			if _, err := strconv.ParseFloat(strings.TrimRight(v, "incmptx"), 64); err != nil {
				bad = append(bad, fmt.Sprintf("form field '%s' is invalid (got '%s', resulting to %v)", name, v, err))
			}
		}
	}
	if v, ok := field("waitDelay"); ok {
		if _, err := time.ParseDuration(v); err != nil {
			bad = append(bad, fmt.Sprintf("form field 'waitDelay' is invalid (got '%s', resulting to %v)", v, err))
		}
	}
	var index *multipart.FileHeader
	for _, files := range r.MultipartForm.File {
		for _, f := range files {
			if path.Base(f.Filename) == "index.html" {
				index = f
			}
		}
	}
	if index == nil {
		bad = append(bad, "form file 'index.html' is required")
	}
	if len(bad) > 0 {
		plainError(w, http.StatusBadRequest, "Invalid form data: "+strings.Join(bad, "\n"))
		return
	}
	f, err := index.Open()
	if err != nil {
		plainError(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	defer f.Close()
	pdf, err := render(f)
	if err != nil {
		plainError(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	name := path.Base(r.Header.Get("Gotenberg-Output-Filename"))
	if name == "" || name == "." || name == "/" {
		name = newID()
	}
	w.Header().Set("Content-Type", "application/pdf")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s.pdf"`, name))
	w.Write(pdf)
}

// render prints the page's text, one paragraph per block, headings bold.
func render(page io.Reader) ([]byte, error) {
	doc := fpdf.New("P", "mm", "Letter", "")
	doc.SetCompression(false) // the text stays greppable in the bytes
	doc.SetCatalogSort(true)  // fonts in name order, not map order: the same page gives the same bytes
	date := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	doc.SetCreationDate(date)
	doc.SetModificationDate(date)
	doc.SetCreator("Gotenberg double (reos)", false)
	doc.SetMargins(20, 20, 20)
	doc.AddPage()
	tr := doc.UnicodeTranslatorFromDescriptor("cp1252")
	var text strings.Builder
	style := ""
	flush := func() {
		if t := strings.Join(strings.Fields(text.String()), " "); t != "" {
			size := 11.0
			if style == "B" {
				size = 14
			}
			doc.SetFont("Helvetica", style, size)
			doc.MultiCell(0, size*0.5, tr(t), "", "L", false)
			doc.Ln(1)
		}
		text.Reset()
	}
	z := html.NewTokenizer(page)
	skip := 0
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			flush()
			if errors.Is(z.Err(), io.EOF) {
				var out bytes.Buffer
				err := doc.Output(&out)
				return out.Bytes(), err
			}
			return nil, z.Err()
		case html.StartTagToken, html.EndTagToken:
			name, _ := z.TagName()
			switch tag := string(name); tag {
			case "style", "script", "title", "head":
				if tt == html.StartTagToken {
					skip++
				} else if skip > 0 {
					skip--
				}
			case "h1", "h2", "h3", "p", "tr", "br", "li", "div", "table":
				flush()
				style = ""
				if strings.HasPrefix(tag, "h") && tt == html.StartTagToken {
					style = "B"
				}
			case "td":
				text.WriteString(" ")
			}
		case html.TextToken:
			if skip == 0 {
				text.Write(z.Text())
			}
		}
	}
}

func newID() string {
	b := make([]byte, 16)
	rand.Read(b)
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
