package gotenberg_test

import (
	"bytes"
	"context"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	mockgotenberg "github.com/real-estate-os/reos/mocks/gotenberg"
	"github.com/real-estate-os/reos/system"
	"github.com/real-estate-os/reos/system/provider/gotenberg"
)

var memo = &system.Memo{
	Property: &system.Property{ID: 30, Address: "4127 Magnolia Ct", City: "Birmingham", State: "AL", Zip: "35203", OwnerName: "Ann <Owner>",
		Stage: system.StageContacted, ListPriceCents: 185_000_00, ARVCents: 260_000_00, RehabCents: 35_000_00, CapRateBps: 725},
	Reasons: []system.Reason{{RuleID: "r1", Priority: 1, Reason: "Contacted 10 days ago", Action: "Call the owner"}},
	Text:    "First paragraph.\n\nSecond paragraph.",
	AsOf:    "2026-11-01",
}

func TestRenderMemo(t *testing.T) {
	srv := httptest.NewServer(mockgotenberg.New())
	defer srv.Close()
	c := &gotenberg.Client{BaseURL: srv.URL, HTTP: srv.Client()}
	if err := c.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	pdf, err := c.RenderMemo(context.Background(), memo)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"%PDF-", "Investment Memo", "4127 Magnolia Ct", "Ann <Owner>", "$185,000.00", "7.25%", "1. Call the owner", "Second paragraph."} {
		if !bytes.Contains(pdf, []byte(want)) {
			t.Errorf("the PDF lacks %q", want)
		}
	}
}

func TestHTMLEscapes(t *testing.T) {
	page, err := gotenberg.HTML(memo)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(page, []byte("Ann &lt;Owner&gt;")) || bytes.Contains(page, []byte("Ann <Owner>")) {
		t.Errorf("an owner's name is not escaped:\n%s", page)
	}
}

// The double refuses what Gotenberg refuses, in plain text.
func TestDoubleRefusals(t *testing.T) {
	srv := httptest.NewServer(mockgotenberg.New())
	defer srv.Close()
	post := func(contentType string, body []byte) (int, string) {
		res, err := http.Post(srv.URL+"/forms/chromium/convert/html", contentType, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if ct := res.Header.Get("Content-Type"); res.StatusCode != 200 && !strings.HasPrefix(ct, "text/plain") {
			t.Errorf("%d answered as %s", res.StatusCode, ct)
		}
		return res.StatusCode, string(b)
	}
	form := func(fields map[string]string, file string) (string, []byte) {
		var b bytes.Buffer
		w := multipart.NewWriter(&b)
		for k, v := range fields {
			w.WriteField(k, v)
		}
		if file != "" {
			f, _ := w.CreateFormFile("files", file)
			f.Write([]byte("<p>hi</p>"))
		}
		w.Close()
		return w.FormDataContentType(), b.Bytes()
	}
	if status, _ := post("application/json", []byte("{}")); status != 415 {
		t.Errorf("JSON body: %d, want 415", status)
	}
	if status, body := post(form(nil, "page.html")); status != 400 || !strings.Contains(body, "form file 'index.html' is required") {
		t.Errorf("no index.html: %d %s", status, body)
	}
	if status, body := post(form(map[string]string{"landscape": "sideways", "waitDelay": "soon"}, "index.html")); status != 400 ||
		!strings.HasPrefix(body, "Invalid form data: ") || !strings.Contains(body, "'landscape'") || !strings.Contains(body, "'waitDelay'") {
		t.Errorf("bad fields: %d %s", status, body)
	}
	if status, body := post(form(map[string]string{"landscape": "true"}, "index.html")); status != 200 || !strings.HasPrefix(body, "%PDF-") {
		t.Errorf("a good form: %d %.40s", status, body)
	}
}
