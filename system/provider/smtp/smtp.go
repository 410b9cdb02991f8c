// Package smtp sends email over SMTP: to Mailpit in mock mode
// (`mailpit-smtp`), or to any SMTP relay.
package smtp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"sort"
	"strings"
	"time"

	"github.com/real-estate-os/reos/system"
)

// MessageIDHeader carries the product's message id (system.Email.MessageID).
const MessageIDHeader = "X-Reos-Message-Id"

// Mailer sends through one SMTP server.
type Mailer struct {
	Addr string // host:port
	// Dial opens the connection; it should go through the egress guard.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Hostname is said in HELO and used in Message-IDs.
	Hostname string
	Now      func() time.Time
}

var _ system.Mailer = (*Mailer)(nil)

func (m *Mailer) connect(ctx context.Context) (*smtp.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := m.Dial(ctx, "tcp", m.Addr)
	if err != nil {
		return nil, fmt.Errorf("smtp: %w", err)
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl.Add(20 * time.Second))
	}
	host, _, _ := net.SplitHostPort(m.Addr)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("smtp: %w", err)
	}
	if err := c.Hello(m.hostname()); err != nil {
		c.Close()
		return nil, fmt.Errorf("smtp: hello: %w", err)
	}
	return c, nil
}

func (m *Mailer) hostname() string {
	if m.Hostname == "" {
		return "reos.localhost"
	}
	return m.Hostname
}

// Check opens a session and closes it.
func (m *Mailer) Check(ctx context.Context) error {
	c, err := m.connect(ctx)
	if err != nil {
		return err
	}
	return c.Quit()
}

// SendEmail sends e and returns its Message-ID.
func (m *Mailer) SendEmail(ctx context.Context, e *system.Email) (string, error) {
	from, to, err := e.Addresses()
	if err != nil {
		return "", err
	}
	id := "<" + newID() + "@" + m.hostname() + ">"
	msg, err := m.compose(e, from, to, id)
	if err != nil {
		return "", err
	}
	c, err := m.connect(ctx)
	if err != nil {
		return "", system.Errorf(system.EUNAVAILABLE, "%v", err)
	}
	defer c.Close()
	if err := c.Mail(from.Address); err != nil {
		return "", fmt.Errorf("smtp: MAIL FROM: %w", err)
	}
	if err := c.Rcpt(to.Address); err != nil {
		return "", system.Errorf(system.EINVALID, "the mail server refused %s: %v", to.Address, err)
	}
	w, err := c.Data()
	if err != nil {
		return "", fmt.Errorf("smtp: DATA: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return "", fmt.Errorf("smtp: write: %w", err)
	}
	if err := w.Close(); err != nil {
		return "", fmt.Errorf("smtp: end of data: %w", err)
	}
	return id, c.Quit()
}

// compose builds the RFC 5322 message: UTF-8 headers encoded, bodies
// quoted-printable, text and HTML as multipart/alternative.
func (m *Mailer) compose(e *system.Email, from, to *mail.Address, id string) ([]byte, error) {
	headers := map[string]string{}
	for k, v := range e.Headers {
		headers[k] = v
	}
	if e.MessageID != "" {
		headers[MessageIDHeader] = e.MessageID
	}
	for k, v := range headers {
		if strings.ContainsAny(k+v, "\r\n") || strings.ContainsAny(k, ": ") {
			return nil, system.Invalid(map[string]string{"headers": "a header name or value contains a line break"})
		}
	}
	if strings.ContainsAny(e.Subject, "\r\n") {
		return nil, system.Invalid(map[string]string{"subject": "must be one line"})
	}
	now := time.Now
	if m.Now != nil {
		now = m.Now
	}
	var b strings.Builder
	names := make([]string, 0, len(headers))
	for k := range headers {
		names = append(names, k)
	}
	sort.Strings(names)
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: %s\r\nMIME-Version: 1.0\r\n",
		from.String(), to.String(), mime.QEncoding.Encode("utf-8", e.Subject), now().UTC().Format(time.RFC1123Z), id)
	for _, k := range names {
		fmt.Fprintf(&b, "%s: %s\r\n", k, mime.QEncoding.Encode("utf-8", headers[k]))
	}
	part := func(contentType, body string) {
		fmt.Fprintf(&b, "Content-Type: %s; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n", contentType)
		qp := quotedprintable.NewWriter(&b)
		qp.Write([]byte(strings.ReplaceAll(body, "\n", "\r\n")))
		qp.Close()
		b.WriteString("\r\n")
	}
	if e.HTML == "" {
		part("text/plain", e.Text)
		return []byte(b.String()), nil
	}
	boundary := "reos-" + strings.Trim(id, "<>")
	boundary = boundary[:strings.IndexByte(boundary, '@')]
	fmt.Fprintf(&b, "Content-Type: multipart/alternative; boundary=%q\r\n\r\n", boundary)
	fmt.Fprintf(&b, "--%s\r\n", boundary)
	part("text/plain", e.Text)
	fmt.Fprintf(&b, "--%s\r\n", boundary)
	part("text/html", e.HTML)
	fmt.Fprintf(&b, "--%s--\r\n", boundary)
	return []byte(b.String()), nil
}

func newID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}
