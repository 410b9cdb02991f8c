package evidence

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/textproto"
	"regexp"
	"strings"
)

// trackingPath is a tracking link's path in any text: the token after
// /api/v1/t/open/ or /api/v1/t/click/ is a bearer credential (whoever
// holds it can mark the message opened or clicked), so no pack keeps it.
var trackingPath = regexp.MustCompile(`(/api/v1/t/(?:open|click)/)[A-Za-z0-9_~-]+`)

// redactTracking replaces each tracking token in s.
func redactTracking(s []byte) []byte {
	return trackingPath.ReplaceAll(s, []byte("${1}"+Redacted))
}

// RedactEML applies the pack's redaction policy to an email's source: the
// tracking tokens in its bodies are replaced however the bodies are
// encoded (quoted-printable may split a token across soft line breaks;
// base64 hides it), and a body that changed is encoded again the way it
// was. Headers and every other byte stay as they were.
func RedactEML(eml []byte) []byte {
	head, body, sep := splitEntity(eml)
	if sep == "" {
		return redactTracking(eml)
	}
	return append(append(redactTracking(head), sep...), eachLeaf(headerOf(head), body, redactTracking)...)
}

// decodedBodies returns the decoded body of every leaf of an email, for
// Verify to look for secrets an encoding hides.
func decodedBodies(eml []byte) [][]byte {
	head, body, sep := splitEntity(eml)
	var out [][]byte
	if sep != "" {
		eachLeaf(headerOf(head), body, func(b []byte) []byte { out = append(out, b); return b })
	}
	return out
}

// splitEntity splits a MIME entity into its header, the blank line and
// its body.
func splitEntity(b []byte) (head, body []byte, sep string) {
	for _, s := range []string{"\r\n\r\n", "\n\n"} {
		if i := bytes.Index(b, []byte(s)); i >= 0 {
			return b[:i], b[i+len(s):], s
		}
	}
	return b, nil, ""
}

func headerOf(head []byte) textproto.MIMEHeader {
	h, _ := textproto.NewReader(bufio.NewReader(io.MultiReader(bytes.NewReader(head), strings.NewReader("\r\n\r\n")))).ReadMIMEHeader()
	return h
}

// eachLeaf calls f with the decoded body of each leaf of the entity (h,
// body): each part of a multipart body in turn, at any depth. Where f
// returns other bytes, that leaf is encoded again the way it was; every
// other byte stays. It returns the entity's body.
func eachLeaf(h textproto.MIMEHeader, body []byte, f func([]byte) []byte) []byte {
	kind, params, _ := mime.ParseMediaType(h.Get("Content-Type"))
	if boundary := params["boundary"]; strings.HasPrefix(kind, "multipart/") && boundary != "" {
		delim := []byte("--" + boundary)
		segments := bytes.Split(body, delim)
		for i := 1; i < len(segments); i++ {
			seg := segments[i]
			if bytes.HasPrefix(seg, []byte("--")) { // the close delimiter and the epilogue
				break
			}
			// seg is the rest of the delimiter line, the part, and the
			// line break before the next delimiter.
			nl := bytes.IndexByte(seg, '\n')
			if nl < 0 {
				continue
			}
			part := seg[nl+1:]
			end := len(part) - len(lineEnd(part))
			ph, pb, psep := splitEntity(part[:end])
			if psep == "" {
				continue
			}
			out := append([]byte{}, seg[:nl+1]...)
			out = append(append(append(out, ph...), psep...), eachLeaf(headerOf(ph), pb, f)...)
			segments[i] = append(out, part[end:]...)
		}
		return bytes.Join(segments, delim)
	}
	switch strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding"))) {
	case "quoted-printable":
		decoded, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(body)))
		if err != nil {
			break
		}
		changed := f(decoded)
		if bytes.Equal(changed, decoded) {
			return body
		}
		var b bytes.Buffer
		w := quotedprintable.NewWriter(&b)
		w.Write(changed)
		w.Close()
		return append(b.Bytes(), lineEnd(body)...)
	case "base64":
		decoded, err := base64.StdEncoding.DecodeString(string(bytes.Join(bytes.Fields(body), nil)))
		if err != nil {
			break
		}
		changed := f(decoded)
		if bytes.Equal(changed, decoded) {
			return body
		}
		enc := base64.StdEncoding.EncodeToString(changed)
		var b strings.Builder
		for len(enc) > 76 {
			b.WriteString(enc[:76] + "\r\n")
			enc = enc[76:]
		}
		b.WriteString(enc)
		return append([]byte(b.String()), lineEnd(body)...)
	}
	return f(body) // 7bit, 8bit, binary, or an encoding that did not decode
}

// lineEnd is the line break b ends with, if any.
func lineEnd(b []byte) string {
	switch {
	case bytes.HasSuffix(b, []byte("\r\n")):
		return "\r\n"
	case bytes.HasSuffix(b, []byte("\n")):
		return "\n"
	}
	return ""
}
