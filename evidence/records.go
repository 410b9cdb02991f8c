package evidence

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/real-estate-os/reos/system/egress"
)

// Redacted stands where a secret was.
const Redacted = "REDACTED"

// secretHeaders never reach a pack with their values.
var secretHeaders = map[string]string{
	"Authorization": "Bearer $TOKEN", "Cookie": "reos_session=$SESSION", "Set-Cookie": Redacted,
	"X-Csrf-Token": "$CSRF_TOKEN", "X-Api-Key": Redacted, "Proxy-Authorization": Redacted,
}

// secretParams are query parameters whose values are secrets.
var secretParams = map[string]bool{"token": true, "access_token": true, "x-amz-signature": true, "x-amz-credential": true,
	"x-amz-security-token": true, "signature": true, "sig": true, "api_key": true, "key": true, "password": true}

// secretFields are JSON and form fields whose values are secrets.
var secretFields = regexp.MustCompile(`(?i)^(password|access_token|token|csrf_token|secret|.*_secret|auth_token|api_key|private_key|jwt_secret|stream_url)$`)

// redactURL replaces secret query values and userinfo.
func redactURL(u *url.URL) string {
	c := *u
	if c.User != nil {
		c.User = url.User(Redacted)
	}
	q := c.Query()
	changed := false
	for k := range q {
		if secretParams[strings.ToLower(k)] {
			q.Set(k, Redacted)
			changed = true
		}
	}
	if changed {
		c.RawQuery = q.Encode()
	}
	if p := string(redactTracking([]byte(c.Path))); p != c.Path {
		c.Path, c.RawPath = p, ""
	}
	return c.String()
}

// RedactBody hides secret fields of a JSON or form body (a JSON body comes
// back indented).
func RedactBody(contentType string, body []byte) []byte {
	switch {
	case strings.Contains(contentType, "json"):
		var v any
		if json.Unmarshal(body, &v) != nil {
			return body
		}
		redactJSON(v)
		out, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return body
		}
		return out
	case strings.Contains(contentType, "x-www-form-urlencoded"):
		q, err := url.ParseQuery(string(body))
		if err != nil {
			return body
		}
		for k := range q {
			if secretFields.MatchString(k) {
				q.Set(k, Redacted)
			}
		}
		return []byte(q.Encode())
	}
	return body
}

func redactJSON(v any) {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			if secretFields.MatchString(k) {
				if _, ok := x.(string); ok {
					t[k] = Redacted
				}
				continue
			}
			redactJSON(x)
		}
	case []any:
		for _, x := range t {
			redactJSON(x)
		}
	}
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func headerLines(h http.Header) []string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []string
	for _, k := range keys {
		for _, v := range h[k] {
			if r, ok := secretHeaders[http.CanonicalHeaderKey(k)]; ok {
				v = r
			}
			out = append(out, k+": "+v)
		}
	}
	return out
}

// Exchange records an HTTP exchange as a transcript an auditor can read and
// replay: the equivalent curl command first (secrets replaced by $TOKEN-style
// placeholders), then the request and the response as they went, redacted.
// It returns the file's path.
func (p *Pack) Exchange(spec, name string, req *http.Request, reqBody []byte, res *http.Response, resBody []byte) (string, error) {
	var b bytes.Buffer
	target := redactURL(req.URL)
	fmt.Fprintf(&b, "# %s — recorded by %s at %s\n", name, spec, time.Now().UTC().Format(time.RFC3339))
	b.WriteString("# Replay it against a running stack (set TOKEN, SESSION or CSRF_TOKEN first if the request needs them):\n")
	cmd := []string{"curl", "-sS", "-i", "-X", req.Method, shellQuote(target)}
	for _, h := range headerLines(req.Header) {
		if strings.HasPrefix(h, "Authorization: Bearer $TOKEN") || strings.Contains(h, "$SESSION") || strings.Contains(h, "$CSRF_TOKEN") {
			cmd = append(cmd, "-H", `"`+h+`"`) // double quotes: the shell fills the placeholder
		} else {
			cmd = append(cmd, "-H", shellQuote(h))
		}
	}
	body := RedactBody(req.Header.Get("Content-Type"), reqBody)
	if len(body) > 0 {
		cmd = append(cmd, "--data-binary", shellQuote(string(body)))
	}
	b.WriteString(strings.Join(cmd, " ") + "\n\n")
	fmt.Fprintf(&b, "> %s %s\n", req.Method, target)
	for _, h := range headerLines(req.Header) {
		b.WriteString("> " + h + "\n")
	}
	if len(body) > 0 {
		b.WriteString(">\n" + indent(string(body), "> ") + "\n")
	}
	if res != nil {
		fmt.Fprintf(&b, "\n< %s %s\n", res.Proto, res.Status)
		for _, h := range headerLines(res.Header) {
			b.WriteString("< " + h + "\n")
		}
		if out := RedactBody(res.Header.Get("Content-Type"), resBody); len(out) > 0 {
			if len(out) > 64<<10 {
				out = append(out[:64<<10:64<<10], []byte("\n… (truncated)")...)
			}
			b.WriteString("<\n" + indent(string(out), "< ") + "\n")
		}
	}
	return p.add("http", spec, filepath.Join(APITests, fileName(name)+".txt"), b.Bytes())
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return prefix + strings.Join(lines, "\n"+prefix)
}

// FileHash is a hash record: a file's name, SHA-256 and size.
type FileHash struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
	Size   int    `json:"size"`
}

// Hash records data's SHA-256 under name.
func (p *Pack) Hash(spec, name string, data []byte) (FileHash, error) {
	sum := sha256.Sum256(data)
	h := FileHash{Name: name, SHA256: hex.EncodeToString(sum[:]), Size: len(data)}
	b, _ := json.MarshalIndent(h, "", "  ")
	_, err := p.add("hash", spec, filepath.Join(Hashes, fileName(name)+".json"), append(b, '\n'))
	return h, err
}

// Screenshot records a PNG.
func (p *Pack) Screenshot(spec, name string, png []byte) (string, error) {
	return p.add("screenshot", spec, filepath.Join(Screenshots, fileName(strings.TrimSuffix(name, ".png"))+".png"), png)
}

// Email records a message as its .eml, its tracking tokens redacted
// (RedactEML), and a rendering of it (a PNG, or nil).
func (p *Pack) Email(spec, name string, eml, rendering []byte) (string, error) {
	path, err := p.add("email", spec, filepath.Join(Emails, fileName(name)+".eml"), RedactEML(eml))
	if err == nil && rendering != nil {
		_, err = p.add("email-rendering", spec, filepath.Join(Emails, fileName(name)+".png"), rendering)
	}
	return path, err
}

// SMS records a vendor's message resource as JSON.
func (p *Pack) SMS(spec, name string, resource any) (string, error) {
	b, err := json.MarshalIndent(resource, "", "  ")
	if err != nil {
		return "", err
	}
	return p.add("sms", spec, filepath.Join(SMS, fileName(name)+".json"), append(b, '\n'))
}

// DrillLog records a drill's log.
func (p *Pack) DrillLog(spec, name string, log []byte) (string, error) {
	return p.add("drill", spec, filepath.Join(DLQ, fileName(name)+".log"), log)
}

// EgressAttempt is one attempt to leave the machine.
type EgressAttempt struct {
	Time     time.Time `json:"time"`
	Host     string    `json:"host"`
	Port     string    `json:"port,omitempty"`
	Network  string    `json:"network,omitempty"`
	Name     string    `json:"name,omitempty"`   // the TLS SNI, HTTP Host or DNS name, when seen
	Source   string    `json:"source,omitempty"` // the provider, or the process, that tried
	Refused  bool      `json:"refused"`
	Expected bool      `json:"expected"` // a deliberate drill
	Detail   string    `json:"detail,omitempty"`
}

// Egress records an egress attempt.
func (p *Pack) Egress(spec, name string, a EgressAttempt) (string, error) {
	b, _ := json.MarshalIndent(a, "", "  ")
	return p.add("egress", spec, filepath.Join(Egress, fileName(name)+".json"), append(b, '\n'))
}

// GuardLog records each attempt in the egress guard's log (JSON lines of
// egress.Attempt, as the product's EGRESS_LOG or a guard's Sink holds
// them), named prefix-NN-host. expected says which attempts were a drill's
// (nil: none was). It returns the attempts that were not expected.
func (p *Pack) GuardLog(spec, prefix string, log []byte, expected func(egress.Attempt) bool) ([]egress.Attempt, error) {
	var unexpected []egress.Attempt
	n := 0
	for _, line := range bytes.Split(log, []byte("\n")) {
		var a egress.Attempt
		if len(bytes.TrimSpace(line)) == 0 || json.Unmarshal(line, &a) != nil {
			continue
		}
		n++
		want := expected != nil && expected(a)
		if !want {
			unexpected = append(unexpected, a)
		}
		_, port, _ := strings.Cut(a.Address, ":")
		if _, err := p.Egress(spec, fmt.Sprintf("%s-%02d-%s", prefix, n, a.Host), EgressAttempt{Time: a.Time, Host: a.Host, Port: port,
			Network: a.Network, Source: a.Provider, Refused: !a.Allowed, Expected: want, Detail: a.Reason}); err != nil {
			return unexpected, err
		}
	}
	return unexpected, nil
}

// File records any other file (junit.xml, a log) at rel.
func (p *Pack) File(spec, rel string, data []byte) (string, error) {
	return p.add("file", spec, rel, data)
}

// secretConfig names configuration whose values are secrets.
var secretConfig = regexp.MustCompile(`(?i)(secret|token|password|_key|apikey|api_key|credential|private)`)

// RedactConfig returns cfg with every secret's value replaced, for a
// manifest's facts: names stay, so an auditor sees what was set.
func RedactConfig(cfg map[string]string) map[string]string {
	out := make(map[string]string, len(cfg))
	for k, v := range cfg {
		if v != "" && secretConfig.MatchString(k) {
			v = Redacted
		}
		if u, err := url.Parse(v); err == nil && u.User != nil { // a password in a URL (DATABASE_URL)
			if _, has := u.User.Password(); has {
				u.User = url.UserPassword(u.User.Username(), Redacted)
				v = u.String()
			}
		}
		out[k] = v
	}
	return out
}
