package harness

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mxschmitt/playwright-go"
	. "github.com/onsi/ginkgo/v2"

	"github.com/real-estate-os/reos/contract"
	"github.com/real-estate-os/reos/evidence"
	"github.com/real-estate-os/reos/internal/browser"
)

// Env is what one Ginkgo process holds: the target, the pack, an admin,
// the inboxes, and (launched on first use) one browser.
type Env struct {
	Target *Target
	Pack   *evidence.Pack
	Admin  *Client
	Mail   Mailbox
	Phone  Phone

	// api judges the exchanges with the product API against its contract.
	api *apiJudge
}

// Connect builds a process's Env from the target the first process
// started (its JSON).
func Connect(payload []byte) (*Env, error) {
	var t Target
	if err := json.Unmarshal(payload, &t); err != nil {
		return nil, err
	}
	pack, err := evidence.Open(t.Pack)
	if err != nil {
		return nil, err
	}
	e := &Env{Target: &t, Pack: pack, Mail: NewMailbox(&t), Phone: NewPhone(&t)}
	e.Admin = &Client{Base: t.URL, IP: randomIP()}
	if t.Judge {
		if e.api, err = newAPIJudge(&t); err != nil {
			return nil, err
		}
		e.Admin.Seen = e.api.observe(func(v contract.Entry) {
			e.api.mu.Lock()
			e.api.loose = append(e.api.loose, v)
			e.api.mu.Unlock()
		})
	}
	if err := e.Admin.Login(t.AdminEmail, t.AdminPassword); err != nil {
		return nil, fmt.Errorf("the suite's admin: %w", err)
	}
	return e, nil
}

// The process's Chromium, launched once: by Prewarm as the process
// starts, or on first use.
var (
	launched atomic.Bool
	launch   = sync.OnceValues(func() (*browser.Browser, error) { return browser.Launch(GinkgoWriter) })
)

// Prewarm launches the process's Chromium in the background. The suite
// calls it as each process starts (six of the eight flows open pages), so
// that the launch overlaps the stack's start and the flows' first specs
// instead of delaying the first spec that opens a page. Errors surface
// there.
func Prewarm() {
	launched.Store(true)
	go launch()
}

// Browser is the process's Chromium.
func (e *Env) Browser() (*browser.Browser, error) {
	launched.Store(true)
	return launch()
}

// Close stops the browser, once a launch in flight is done.
func (e *Env) Close() {
	if !launched.Load() {
		return
	}
	if b, _ := launch(); b != nil {
		b.Stop()
	}
}

// Spec is one running spec: its isolation key, its own user, address,
// recipients and properties.
type Spec struct {
	*Env
	// Key is <flow>-<rand6>: the tag of the spec's properties and the
	// stem of its user, recipients and evidence names.
	Key      string
	IP       string
	Email    string
	Password string
	// API is signed in as the spec's user, from the spec's address.
	API *Client

	egress bytes.Buffer
	pages  []playwright.Page
	shot   map[string]bool // specs whose failure screenshots are taken

	mu         sync.Mutex
	violations []string        // exchanges that broke the product's contract, not yet reported
	pending    sync.WaitGroup  // the browser's exchanges still being judged
	marks      map[string]bool // what a vendor's exchange caused by this spec mentions
	vendorSeen int64           // how far the vendors' violations were read
}

// NewSpec sets a spec up for flow: a user made through the admin API and
// signed in. Call it inside a spec (an It, a BeforeEach, or an Ordered
// container's BeforeAll, whose Its then share it).
func (e *Env) NewSpec(flow string) *Spec {
	GinkgoHelper()
	s := &Spec{Env: e, Key: flow + "-" + strings.ToLower(rand.Text()[:6]), IP: randomIP()}
	s.Email, s.Password = s.Key+"@suite.example.com", rand.Text()
	s.marks = map[string]bool{s.Key: true}
	s.API = &Client{Base: e.Target.URL, IP: s.IP, HTTP: Guarded(e.Target.URL, &s.egress)}
	if e.api != nil {
		s.API.Seen = e.api.observe(func(v contract.Entry) {
			s.mu.Lock()
			s.violations = append(s.violations, v.String())
			s.mu.Unlock()
		})
	}
	if _, err := e.Admin.Expect(201, "POST", "/api/v1/users", map[string]string{"email": s.Email, "role": "agent", "password": s.Password}); err != nil {
		Fail("create the spec's user through the admin API: " + err.Error())
	}
	if err := s.API.Login(s.Email, s.Password); err != nil {
		Fail(err.Error())
	}
	DeferCleanup(func() {
		if s.egress.Len() > 0 {
			Fail("the suite's own client tried to leave the machine:\n" + s.egress.String())
		}
	})
	DeferCleanup(s.CheckContract)
	return s
}

// CheckContract fails the running spec when one of its exchanges broke
// the product's contract since the last check. It runs when the spec
// ends; an Ordered container calls it (through EachIt) after each It, so
// that each It answers for its own exchanges.
func (s *Spec) CheckContract() {
	done := make(chan struct{})
	go func() { s.pending.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
	s.mu.Lock()
	v := s.violations
	s.violations = nil
	var vendor []string
	vendor, s.vendorSeen = vendorViolations(s.Target.Violations, s.vendorSeen, s.marks)
	v = append(v, vendor...)
	s.mu.Unlock()
	if len(v) > 0 {
		Fail("the product's answers break its contract (GET /api/v1/openapi.json):\n" + strings.Join(v, "\n"))
	}
}

// EachIt is what an Ordered container sharing s runs after each of its
// Its: the failure screenshots of that It, and its contract check.
func (s *Spec) EachIt() {
	s.ShootFailure()
	s.CheckContract()
}

// Name is the full text of the spec running now, which its evidence
// records carry: in an Ordered container each It's files are its own.
func (s *Spec) Name() string { return CurrentSpecReport().FullText() }

// PhoneNumber returns a recipient number of the spec's own: random, E.164.
func (s *Spec) PhoneNumber() string {
	n, _ := rand.Int(rand.Reader, big.NewInt(8_000_000))
	return fmt.Sprintf("+1205%07d", 2_000_000+n.Int64())
}

// OwnerEmail returns a recipient address of the spec's own.
func (s *Spec) OwnerEmail(n int) string {
	return fmt.Sprintf("owner%d-%s@example.net", n, s.Key)
}

// Record writes r into the pack as a transcript named name.
func (s *Spec) Record(name string, r *Response) {
	GinkgoHelper()
	if _, err := s.Pack.Exchange(s.Name(), s.Key+"-"+name, r.Request, r.RequestBody, r.Raw, r.Body); err != nil {
		Fail("evidence: " + err.Error())
	}
}

// Must fails the spec on err.
func Must(err error, what string) {
	GinkgoHelper()
	if err != nil {
		Fail(what + ": " + err.Error())
	}
}

// randomIP is an address from 198.18.0.0/15 (RFC 2544, never routed):
// sent as X-Forwarded-For only, never dialed.
func randomIP() string {
	n, _ := rand.Int(rand.Reader, big.NewInt(1<<17-2))
	v := n.Int64() + 1
	return fmt.Sprintf("198.%d.%d.%d", 18+v>>16, (v>>8)&0xff, v&0xff)
}

// Vendor fails the spec on err, or skips it when the vendor's side cannot
// be seen (a real vendor), naming the setting that would show it.
func Vendor(err error, setting, what string) {
	GinkgoHelper()
	if errors.Is(err, ErrNoInbox) {
		Skip(fmt.Sprintf("%s needs the vendor's side, which a real vendor does not show: set %s to a stand-in to check it", what, setting))
	}
	Must(err, what)
}
