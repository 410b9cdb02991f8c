package evidence_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http/httptest"
	"net/mail"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/real-estate-os/reos/evidence"
)

const token = "0f3c9a1be47d2c58a6e0b9d13f7a2c4e"

// tracked is an email's HTML as the product writes it: a click link and
// the open pixel, both carrying the token. Long lines make
// quoted-printable break the token across soft line breaks.
var tracked = `<!doctype html><html><body><p>Hello, we would like to talk about your property at 12 Long Street, Springfield.` +
	` See <a href="http://127.0.0.1:8000/api/v1/t/click/` + token + `/0">the offer</a>.</p>` +
	`<img src="http://127.0.0.1:8000/api/v1/t/open/` + token + `.gif" width="1" height="1" alt=""></body></html>`

// email builds a multipart/alternative message with each body in encoding.
func email(t *testing.T, encoding string) []byte {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, part := range []struct{ kind, content string }{{"text/plain", "Hello, see http://127.0.0.1:8000/api/v1/t/click/" + token + "/0"}, {"text/html", tracked}} {
		w, err := mw.CreatePart(map[string][]string{"Content-Type": {part.kind + "; charset=utf-8"}, "Content-Transfer-Encoding": {encoding}})
		if err != nil {
			t.Fatal(err)
		}
		switch encoding {
		case "quoted-printable":
			qp := quotedprintable.NewWriter(w)
			qp.Write([]byte(part.content))
			qp.Close()
		case "base64":
			io.WriteString(w, base64.StdEncoding.EncodeToString([]byte(part.content)))
		default:
			io.WriteString(w, part.content)
		}
	}
	mw.Close()
	head := fmt.Sprintf("From: Agent <agent@example.com>\r\nTo: owner@example.com\r\nSubject: About your property\r\nDate: %s\r\n"+
		"MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=%q\r\n\r\n", start.Format(time.RFC1123Z), mw.Boundary())
	return append([]byte(head), body.Bytes()...)
}

// bodies reads the decoded bodies of a multipart message as a mail client does.
func bodies(t *testing.T, eml []byte) []string {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(eml))
	if err != nil {
		t.Fatal(err)
	}
	_, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	r := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := r.NextPart() // decodes quoted-printable itself
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		if p.Header.Get("Content-Transfer-Encoding") == "base64" {
			b, _ = base64.StdEncoding.DecodeString(string(b))
		}
		out = append(out, string(b))
	}
}

// The .eml a pack keeps carries no tracking token however its bodies are
// encoded, reads as the same message otherwise, and Verify catches a token
// an encoding hides.
func TestEmailTokensRedactedInEveryEncoding(t *testing.T) {
	for _, encoding := range []string{"quoted-printable", "base64", "8bit"} {
		t.Run(encoding, func(t *testing.T) {
			eml := email(t, encoding)
			if encoding == "quoted-printable" && bytes.Count(eml, []byte(token)) == 3 {
				t.Fatal("the test's message does not split the token across soft line breaks")
			}
			got := evidence.RedactEML(eml)
			want := bodies(t, eml)
			for i := range want {
				want[i] = strings.ReplaceAll(want[i], token, evidence.Redacted)
			}
			if g := bodies(t, got); fmt.Sprint(g) != fmt.Sprint(want) {
				t.Errorf("redacted bodies\n%q\nwant\n%q", g, want)
			}
			if !bytes.HasPrefix(got, eml[:bytes.Index(eml, []byte("\r\n\r\n"))]) {
				t.Error("the headers changed")
			}

			// A pack that kept the message whole does not verify.
			root := t.TempDir()
			p, err := evidence.Create(root, "mock", start)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.File("email", "emails/whole.eml", eml); err != nil {
				t.Fatal(err)
			}
			if _, err := p.Email("email", "kept", eml, nil); err != nil {
				t.Fatal(err)
			}
			r := sealAndVerify(t, p, evidence.Facts{End: start.Add(time.Minute)})
			if len(r.Problems) != 1 || !strings.Contains(r.Problems[0], "emails/whole.eml holds what looks like a tracking token") {
				t.Errorf("Verify's problems: %q; want one, for emails/whole.eml", r.Problems)
			}
		})
	}
}

// Transcripts and emails follow one policy: the token goes, the rest of
// the path stays.
func TestTrackingTokensInTranscripts(t *testing.T) {
	p, err := evidence.Create(t.TempDir(), "mock", start)
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"/api/v1/t/open/" + token + ".gif", "/api/v1/t/click/" + token + "/0"} {
		req := httptest.NewRequest("GET", "http://127.0.0.1:8000"+target, nil)
		path, err := p.Exchange("email", "open", req, nil, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if b := string(raw); strings.Contains(b, token) || !strings.Contains(b, strings.Replace(target, token, evidence.Redacted, 1)) {
			t.Errorf("transcript of %s:\n%s", target, raw)
		}
	}
}
