package harness

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
	"golang.org/x/text/encoding/charmap"
)

func init() { api.DisableConfigDir() } // pdfcpu writes no config under $HOME

// PDF is a document pdfcpu validated, with its pages' text.
type PDF struct {
	Pages int
	// Text is each page's text, one line per text-showing operator.
	Text []string
}

// ReadPDF validates b with pdfcpu (strict) and extracts the text of every
// page from its content stream.
func ReadPDF(b []byte) (*PDF, error) {
	conf := model.NewDefaultConfiguration()
	conf.ValidationMode = model.ValidationStrict
	ctx, err := api.ReadAndValidate(bytes.NewReader(b), conf)
	if err != nil {
		return nil, fmt.Errorf("pdfcpu: not a valid PDF: %w", err)
	}
	doc := &PDF{Pages: ctx.PageCount}
	for n := 1; n <= ctx.PageCount; n++ {
		r, err := pdfcpu.ExtractPageContent(ctx, n)
		if err != nil {
			return nil, fmt.Errorf("pdfcpu: page %d: %w", n, err)
		}
		content, _ := io.ReadAll(r)
		doc.Text = append(doc.Text, contentText(content))
	}
	return doc, nil
}

// All is the text of every page.
func (d *PDF) All() string { return strings.Join(d.Text, "\n") }

// contentText returns the literal strings a content stream shows, one per
// line; the bytes are the standard fonts' WinAnsi (Windows-1252).
func contentText(content []byte) string {
	var lines []string
	var cur bytes.Buffer
	depth := 0
	escape := false
	inArray := false
	for i := 0; i < len(content); i++ {
		c := content[i]
		if depth == 0 {
			switch c {
			case '(':
				depth = 1
				if cur.Len() > 0 && !inArray {
					cur.WriteByte(' ')
				}
			case '[':
				inArray = true
			case ']':
				inArray = false
			case '\n', '\r':
				if !inArray && cur.Len() > 0 {
					lines = append(lines, winAnsi(cur.Bytes()))
					cur.Reset()
				}
			}
			continue
		}
		switch {
		case escape:
			escape = false
			switch c {
			case 'n':
				cur.WriteByte('\n')
			case 'r', 't', 'b', 'f':
				cur.WriteByte(' ')
			case '0', '1', '2', '3', '4', '5', '6', '7':
				v, j := 0, i
				for ; j < len(content) && j < i+3 && content[j] >= '0' && content[j] <= '7'; j++ {
					v = v*8 + int(content[j]-'0')
				}
				cur.WriteByte(byte(v))
				i = j - 1
			case '\n', '\r': // a line continuation
			default:
				cur.WriteByte(c)
			}
		case c == '\\':
			escape = true
		case c == '(':
			depth++
			cur.WriteByte(c)
		case c == ')':
			depth--
			if depth > 0 {
				cur.WriteByte(c)
			}
		default:
			cur.WriteByte(c)
		}
	}
	if cur.Len() > 0 {
		lines = append(lines, winAnsi(cur.Bytes()))
	}
	return strings.Join(lines, "\n")
}

func winAnsi(b []byte) string {
	s, err := charmap.Windows1252.NewDecoder().Bytes(b)
	if err != nil {
		return string(b)
	}
	return string(s)
}
