package sandbox

import (
	"crypto/tls"
	"net"
	"testing"
	"time"
)

// clientHello captures the first bytes a TLS client sends for name.
func clientHello(t testing.TB, name string) []byte {
	a, b := net.Pipe()
	go func() {
		c := tls.Client(a, &tls.Config{ServerName: name, InsecureSkipVerify: true})
		c.SetDeadline(time.Now().Add(time.Second))
		c.Handshake()
		a.Close()
	}()
	buf := make([]byte, 4096)
	b.SetReadDeadline(time.Now().Add(time.Second))
	n, _ := b.Read(buf)
	b.Close()
	return buf[:n]
}

func TestPeekName(t *testing.T) {
	if got := peekName(clientHello(t, "api.twilio.com")); got != "api.twilio.com" {
		t.Errorf("SNI = %q, want api.twilio.com", got)
	}
	if got := peekName([]byte("GET / HTTP/1.1\r\nHost: api.sendgrid.com\r\n\r\n")); got != "api.sendgrid.com" {
		t.Errorf("Host = %q", got)
	}
}

// FuzzPeekName: whatever a connection sends first, the sinkhole's parser
// returns a name or nothing, and never panics.
func FuzzPeekName(f *testing.F) {
	f.Add(clientHello(f, "api.openai.com"))
	f.Add([]byte("POST /v3/mail/send HTTP/1.1\r\nHost: api.sendgrid.com\r\n"))
	f.Add([]byte{0x16, 3, 1, 0, 5, 1, 0, 0, 1})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) { peekName(b) })
}

// FuzzParseQuestion: any packet on port 53 is parsed safely; a parsed
// question ends inside the packet.
func FuzzParseQuestion(f *testing.F) {
	f.Add([]byte("\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03api\x06twilio\x03com\x00\x00\x01\x00\x01"))
	f.Add([]byte("\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\xff"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, q []byte) {
		if _, _, end := parseQuestion(q); end > len(q) {
			t.Errorf("question ends at %d of %d bytes", end, len(q))
		}
	})
}

func TestParseQuestion(t *testing.T) {
	name, typ, end := parseQuestion([]byte("\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03api\x06twilio\x03com\x00\x00\x01\x00\x01"))
	if name != "api.twilio.com" || typ != 1 || end != 32 {
		t.Errorf("parseQuestion = %q %d %d", name, typ, end)
	}
}
