// Package gotenberg renders memos to PDF with Gotenberg: the memo as an
// HTML page, posted to its Chromium route (POST /forms/chromium/convert/html),
// as mocks/gotenberg/ROUTES.md describes it.
package gotenberg

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"

	"github.com/real-estate-os/reos/system"
)

// Client renders memos with the Gotenberg at BaseURL.
type Client struct {
	BaseURL string
	HTTP    *http.Client
}

var _ system.PDFRenderer = (*Client)(nil)

// Error is an answer other than 200: Gotenberg's errors are plain text.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("gotenberg: %d: %s", e.Status, strings.TrimSpace(e.Message))
}

var page = template.Must(template.New("memo").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Investment memo: {{.Property.Address}}</title>
<style>
body { font-family: "DejaVu Sans", sans-serif; font-size: 11pt; color: #000; }
h1 { color: #142850; font-size: 24pt; margin: 0 0 4pt; }
h2 { color: #142850; font-size: 14pt; border-bottom: 1px solid #142850; margin-top: 18pt; }
table { width: 100%; border-collapse: collapse; }
tr:nth-child(odd) { background: #f0f3f8; }
td.value { text-align: right; }
.reason { color: #333; font-size: 10pt; margin: 0 0 6pt; }
</style></head><body>
<h1>Investment Memo</h1>
<p><strong>{{.Property.Address}}</strong><br>{{.Property.City}}, {{.Property.State}} {{.Property.Zip}}<br>
Owner: {{.Property.OwnerName}} · Stage: {{.Property.Stage}}{{if .AsOf}}<br>As of {{.AsOf}}{{end}}</p>
<h2>The numbers</h2>
<table>{{range .Figures}}<tr><td>{{index . 0}}</td><td class="value">{{index . 1}}</td></tr>{{end}}</table>
<h2>Next best actions</h2>
{{range .Reasons}}<p><strong>{{.Priority}}. {{.Action}}</strong></p><p class="reason">{{.Reason}}</p>{{else}}<p>No rule fires for this property today.</p>{{end}}
<h2>Memo</h2>
{{range .Paragraphs}}<p>{{.}}</p>{{end}}
</body></html>
`))

// HTML is the page Gotenberg prints for m.
func HTML(m *system.Memo) ([]byte, error) {
	var b bytes.Buffer
	err := page.Execute(&b, struct {
		*system.Memo
		Figures    [][2]string
		Paragraphs []string
	}{m, m.Figures(), strings.Split(strings.TrimSpace(m.Text), "\n\n")})
	return b.Bytes(), err
}

// RenderMemo posts the memo's page and returns Gotenberg's PDF. Chromium
// stamps its own dates and ids, so unlike the native renderer the bytes
// may differ between renderings. A request Gotenberg refuses (4xx but
// 429) is EINVALID; a full queue, a timeout or a 5xx is returned for a
// retry.
func (c *Client) RenderMemo(ctx context.Context, m *system.Memo) ([]byte, error) {
	html, err := HTML(m)
	if err != nil {
		return nil, err
	}
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="files"; filename="index.html"`)
	h.Set("Content-Type", "text/html; charset=utf-8")
	part, err := w.CreatePart(h)
	if err != nil {
		return nil, err
	}
	part.Write(html)
	meta, _ := json.Marshal(map[string]any{"Title": "Investment memo: " + m.Property.Address, "Creator": "reos", "Author": "Real Estate OS"})
	for _, f := range [][2]string{
		{"paperWidth", "8.5"}, {"paperHeight", "11"},
		{"marginTop", "0.8"}, {"marginBottom", "0.8"}, {"marginLeft", "0.8"}, {"marginRight", "0.8"},
		{"printBackground", "true"}, {"metadata", string(meta)},
	} {
		if err := w.WriteField(f[0], f[1]); err != nil {
			return nil, err
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(c.BaseURL, "/")+"/forms/chromium/convert/html", &body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Gotenberg-Output-Filename", "memo-"+strconv.FormatInt(m.Property.ID, 10))
	res, err := c.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	out, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		ge := &Error{Status: res.StatusCode, Message: string(out[:min(len(out), 2000)])}
		if res.StatusCode/100 == 4 && res.StatusCode != http.StatusTooManyRequests {
			return nil, system.Errorf(system.EINVALID, "%v", ge)
		}
		return nil, ge
	}
	if !bytes.HasPrefix(out, []byte("%PDF-")) {
		return nil, fmt.Errorf("gotenberg: the answer is not a PDF (%s)", res.Header.Get("Content-Type"))
	}
	return out, nil
}

// Check asks Gotenberg's /health whether its modules are up.
func (c *Client) Check(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(c.BaseURL, "/")+"/health", nil)
	if err != nil {
		return err
	}
	res, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	var health struct {
		Status string `json:"status"`
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&health); err != nil || res.StatusCode != http.StatusOK || health.Status != "up" {
		return fmt.Errorf("gotenberg: /health answered %d, status %q", res.StatusCode, health.Status)
	}
	return nil
}
