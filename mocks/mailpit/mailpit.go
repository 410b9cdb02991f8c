// Package mailpit runs Mailpit, the mail catcher of mock mode, as a child
// process on loopback ports, and reads what it caught through its API
// (contracts/mailpit/swagger.json).
package mailpit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// Version is the Mailpit release scripts/setup installs.
const Version = "v1.33.1"

// Find returns the Mailpit binary: bin when set, else mailpit on PATH, else
// the one scripts/setup installs under ~/.cache/reos/bin.
func Find(bin string) (string, error) {
	if bin != "" {
		return bin, nil
	}
	if p, err := exec.LookPath("mailpit"); err == nil {
		return p, nil
	}
	if home, err := os.UserHomeDir(); err == nil {
		p := filepath.Join(home, ".cache", "reos", "bin", "mailpit")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("mailpit: the binary is not installed; run scripts/setup (it installs Mailpit " + Version + "), or set SMTP_URL to an SMTP server")
}

// Process is a running Mailpit.
type Process struct {
	SMTPAddr string // host:port for SMTP
	APIURL   string // base URL of the web API
	cmd      *exec.Cmd
	exited   chan struct{} // closed once Mailpit has exited; err says how
	err      error
}

// Start runs Mailpit with its database in dataDir. It never looks anything
// up on the network (--disable-version-check, --smtp-disable-rdns) and
// listens on loopback only.
func Start(ctx context.Context, bin, dataDir string) (*Process, error) {
	path, err := Find(bin)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("mailpit: %w", err)
	}
	// The ports are picked free, then bound by Mailpit: another process may
	// take one in between. Mailpit then exits at once; try fresh ports.
	for attempt := 1; ; attempt++ {
		p, err := start(ctx, path, dataDir)
		if err == nil || !errors.Is(err, errExitedAtStart) || attempt == 3 {
			return p, err
		}
	}
}

var errExitedAtStart = errors.New("mailpit exited at start")

func start(ctx context.Context, path, dataDir string) (*Process, error) {
	smtpPort, err := freePort()
	if err != nil {
		return nil, err
	}
	apiPort, err := freePort()
	if err != nil {
		return nil, err
	}
	p := &Process{SMTPAddr: "127.0.0.1:" + smtpPort, APIURL: "http://127.0.0.1:" + apiPort, exited: make(chan struct{})}
	p.cmd = exec.Command(path,
		"--smtp", p.SMTPAddr, "--listen", "127.0.0.1:"+apiPort,
		"--database", filepath.Join(dataDir, "mail.db"),
		"--disable-version-check", "--smtp-disable-rdns", "--quiet")
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("mailpit: start %s: %w", path, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.exited) }()

	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	for {
		res, err := http.Get(p.APIURL + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		select {
		case <-p.exited:
			return nil, fmt.Errorf("%w: %v", errExitedAtStart, p.err)
		case <-ctx.Done():
			p.Close()
			return nil, errors.New("mailpit did not become ready within 15 s")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Close stops Mailpit and waits for it: SIGTERM, which it answers by
// putting its database away and exiting some 300 ms later.
func (p *Process) Close() error {
	if p == nil || p.cmd.Process == nil {
		return nil
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		return p.Kill()
	}
	return nil
}

// Kill stops Mailpit at once and waits for it: for a throwaway data
// directory, whose mail nobody reads again.
func (p *Process) Kill() error {
	if p == nil || p.cmd.Process == nil {
		return nil
	}
	p.cmd.Process.Kill()
	<-p.exited
	return nil
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port), nil
}

// Address is a mailbox in Mailpit's answers.
type Address struct {
	Name    string `json:"Name"`
	Address string `json:"Address"`
}

// Summary is one caught message in a list.
type Summary struct {
	ID        string    `json:"ID"`
	MessageID string    `json:"MessageID"`
	From      Address   `json:"From"`
	To        []Address `json:"To"`
	Subject   string    `json:"Subject"`
	Snippet   string    `json:"Snippet"`
	Created   time.Time `json:"Created"`
}

// Message is one caught message, whole.
type Message struct {
	Summary
	Text string `json:"Text"`
	HTML string `json:"HTML"`
}

// Client reads a Mailpit's API.
type Client struct {
	BaseURL string
	HTTP    *http.Client
}

func (c *Client) get(ctx context.Context, path string, v any) error {
	b, err := c.read(ctx, path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func (c *Client) read(ctx context.Context, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.BaseURL+path, nil)
	if err != nil {
		return nil, err
	}
	httpc := c.HTTP
	if httpc == nil {
		httpc = http.DefaultClient
	}
	res, err := httpc.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 512))
		return nil, fmt.Errorf("mailpit: GET %s: %d %s", path, res.StatusCode, b)
	}
	return io.ReadAll(io.LimitReader(res.Body, 64<<20))
}

// Search returns the messages matching a Mailpit search query, such as
// `to:owner@example.com subject:"Offer"`, newest first.
func (c *Client) Search(ctx context.Context, query string) ([]Summary, error) {
	var out struct {
		Messages []Summary `json:"messages"`
	}
	return out.Messages, c.get(ctx, "/api/v1/search?query="+url.QueryEscape(query), &out)
}

// Message returns one message by Mailpit's ID.
func (c *Client) Message(ctx context.Context, id string) (*Message, error) {
	var m Message
	return &m, c.get(ctx, "/api/v1/message/"+url.PathEscape(id), &m)
}

// Headers returns one message's headers by Mailpit's ID, each with its
// values.
func (c *Client) Headers(ctx context.Context, id string) (map[string][]string, error) {
	var h map[string][]string
	return h, c.get(ctx, "/api/v1/message/"+url.PathEscape(id)+"/headers", &h)
}

// Raw returns one message by Mailpit's ID as it arrived: its RFC 5322
// source, an .eml.
func (c *Client) Raw(ctx context.Context, id string) ([]byte, error) {
	return c.read(ctx, "/api/v1/message/"+url.PathEscape(id)+"/raw")
}
