package harness

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/mxschmitt/playwright-go"
	. "github.com/onsi/ginkgo/v2"

	"github.com/real-estate-os/reos/internal/browser"
)

// pageState is the spec's browser context and what its pages reported.
type pageState struct {
	ctx      playwright.BrowserContext
	mu       sync.Mutex
	problems []string
}

var contexts sync.Map // *Spec → *pageState

// NewStranger opens a page in a browser context of its own — no session,
// sending ip as X-Forwarded-For: another visitor of the spec's.
func (s *Spec) NewStranger(ip string) playwright.Page {
	GinkgoHelper()
	b, err := s.Browser()
	Must(err, "the browser")
	ctx, err := b.NewContext(playwright.BrowserNewContextOptions{Viewport: &playwright.Size{Width: 1280, Height: 800},
		ExtraHttpHeaders: map[string]string{"X-Forwarded-For": ip}})
	Must(err, "a browser context")
	DeferCleanup(func() { ctx.Close() })
	p, err := ctx.NewPage()
	Must(err, "open a page")
	p.SetDefaultTimeout(15000)
	return p
}

// NewPage opens a page in the spec's browser context — one context per
// spec, made on first use, that sends the spec's address as
// X-Forwarded-For and records a trace. When the spec fails, a screenshot
// of every page goes into the pack and the trace into REOS_TRACE_DIR.
func (s *Spec) NewPage() playwright.Page {
	GinkgoHelper()
	st := s.context()
	p, err := st.ctx.NewPage()
	Must(err, "open a page")
	p.SetDefaultTimeout(15000)
	p.On("console", func(m playwright.ConsoleMessage) {
		// A refused request is logged by Chromium as an error; the specs
		// provoke 401, 412, 422 and 429 on purpose and check them.
		if m.Type() == "error" && !strings.HasPrefix(m.Text(), "Failed to load resource: the server responded with a status of 4") {
			st.add("console error: " + m.Text())
		}
	})
	p.On("pageerror", func(err error) { st.add("page error: " + err.Error()) })
	// The page's own calls to the API are judged against its contract too.
	// (A handler runs on Playwright's dispatcher: fetching the body there
	// would wait on itself.)
	p.OnRequestFinished(func(req playwright.Request) {
		s.pending.Add(1)
		go func() {
			defer s.pending.Done()
			s.judgeBrowser(req)
		}()
	})
	s.pages = append(s.pages, p)
	return p
}

// ShootFailure puts a screenshot of each open page into the pack when the
// running spec has failed. Page cleanup calls it; an Ordered container's
// AfterEach calls it so that each It's failure shows its own pages.
func (s *Spec) ShootFailure() {
	if !CurrentSpecReport().Failed() || s.shot[s.Name()] {
		return
	}
	if s.shot == nil {
		s.shot = map[string]bool{}
	}
	s.shot[s.Name()] = true
	name := strings.ToLower(strings.Join(strings.Fields(CurrentSpecReport().LeafNodeText), "-"))
	for i, p := range s.pages {
		if p.IsClosed() {
			continue
		}
		if png, err := p.Screenshot(); err == nil {
			s.Pack.Screenshot(s.Name(), fmt.Sprintf("failure-%s-%.40s-page%d", s.Key, name, i+1), png)
		}
	}
}

func (st *pageState) add(problem string) {
	st.mu.Lock()
	st.problems = append(st.problems, problem)
	st.mu.Unlock()
}

func (s *Spec) context() *pageState {
	GinkgoHelper()
	if v, ok := contexts.Load(s); ok {
		return v.(*pageState)
	}
	b, err := s.Browser()
	Must(err, "the browser")
	ctx, err := b.NewContext(playwright.BrowserNewContextOptions{Viewport: &playwright.Size{Width: 1280, Height: 800},
		ExtraHttpHeaders: map[string]string{"X-Forwarded-For": s.IP}})
	Must(err, "a browser context")
	Must(ctx.AddInitScript(playwright.Script{Content: playwright.String(browser.CSPWatch)}), "the CSP watch")
	Must(ctx.Tracing().Start(playwright.TracingStartOptions{Screenshots: playwright.Bool(true), Snapshots: playwright.Bool(true)}), "start a trace")
	st := &pageState{ctx: ctx}
	contexts.Store(s, st)
	DeferCleanup(func() {
		defer contexts.Delete(s)
		if CurrentSpecReport().Failed() {
			s.ShootFailure()
			// The trace holds the spec's password and session cookie: it
			// goes beside the pack, named for it, not into it.
			path := filepath.Join(s.Target.TraceDir, filepath.Base(s.Pack.Dir)+"-"+s.Key+".zip")
			if os.MkdirAll(s.Target.TraceDir, 0o700) == nil && ctx.Tracing().Stop(path) == nil {
				AddReportEntry("trace", "npx playwright show-trace "+path)
			}
		} else {
			ctx.Tracing().Stop()
		}
		ctx.Close()
	})
	return st
}

// PageProblems returns the console errors, page errors and CSP violations
// the spec's pages reported.
func (s *Spec) PageProblems() []string {
	v, ok := contexts.Load(s)
	if !ok {
		return nil
	}
	st := v.(*pageState)
	for _, p := range s.pages {
		if !p.IsClosed() {
			for _, c := range browser.CSPViolations(p) {
				st.add("CSP violation: " + c)
			}
		}
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	return append([]string(nil), st.problems...)
}

// Board is the board of the spec's own properties.
func (s *Spec) Board() string { return s.Target.URL + "/?tag=" + s.Key }

// SignIn signs the spec's user in on p through the login form and waits
// for the board of the spec's properties, live.
func (s *Spec) SignIn(p playwright.Page) {
	GinkgoHelper()
	_, err := p.Goto(s.Target.URL + "/login?next=" + "%2F%3Ftag%3D" + s.Key)
	Must(err, "open the login page")
	Must(p.Locator(TestID("login-email")).Fill(s.Email), "fill the email")
	Must(p.Locator(TestID("login-password")).Fill(s.Password), "fill the password")
	Must(p.Locator(TestID("login-submit")).Click(), "sign in")
	WaitFor(p, `[data-testid="connection"][data-state="live"]`, 15*time.Second, "the board, live")
}

// SignInWithoutPage signs the spec's user in for its browser context by
// posting the login form from the context itself (its cookies, its
// X-Forwarded-For), without rendering the login page and the board: for a
// spec about a page behind the sign-in, not about signing in (flow 01
// signs in through the page).
func (s *Spec) SignInWithoutPage() {
	GinkgoHelper()
	res, err := s.context().ctx.Request().Post(s.Target.URL+"/login", playwright.APIRequestContextPostOptions{
		Form:         map[string]any{"email": s.Email, "password": s.Password, "next": "/"},
		MaxRedirects: playwright.Int(0),
	})
	Must(err, "post the login form")
	defer res.Dispose()
	if res.Status() != http.StatusSeeOther {
		body, _ := res.Text()
		Fail(fmt.Sprintf("POST /login answered %d, not 303 to the board: %.300s", res.Status(), body))
	}
}

// Shot records a screenshot of p into the pack.
func (s *Spec) Shot(p playwright.Page, name string, fullPage bool) {
	GinkgoHelper()
	png, err := p.Screenshot(playwright.PageScreenshotOptions{FullPage: playwright.Bool(fullPage)})
	Must(err, "screenshot "+name)
	_, err = s.Pack.Screenshot(s.Name(), name, png)
	Must(err, "evidence")
}

// TestID is the selector of a data-testid.
func TestID(id string) string { return fmt.Sprintf(`[data-testid=%q]`, id) }

// WaitFor waits for selector on p, failing with what was awaited.
func WaitFor(p playwright.Page, selector string, timeout time.Duration, what string) {
	GinkgoHelper()
	if _, err := p.WaitForSelector(selector, playwright.PageWaitForSelectorOptions{Timeout: playwright.Float(float64(timeout.Milliseconds()))}); err != nil {
		Fail(fmt.Sprintf("waited %v for %s (%s) in %s: %v", timeout, what, selector, p.URL(), err))
	}
}

// Text is the trimmed text of the first element matching selector.
func Text(p playwright.Page, selector string) string {
	GinkgoHelper()
	t, err := p.Locator(selector).First().TextContent()
	Must(err, "the text of "+selector)
	return strings.TrimSpace(t)
}

// Eval polls a JavaScript function on p until it returns true (the
// page's CSP forbids the string evaluation WaitForFunction uses).
func Eval(p playwright.Page, fn string, timeout time.Duration) bool {
	for deadline := time.Now().Add(timeout); ; time.Sleep(50 * time.Millisecond) {
		if v, _ := p.Evaluate(fn); v == true {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// ScrollTo scrolls the first element matching selector into view. A live
// update may render it anew meanwhile (a vendor's late status event
// redraws a thread): a detached element is looked up again, until timeout.
func ScrollTo(p playwright.Page, selector string, timeout time.Duration, what string) {
	GinkgoHelper()
	var err error
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if err = p.Locator(selector).First().ScrollIntoViewIfNeeded(playwright.LocatorScrollIntoViewIfNeededOptions{Timeout: playwright.Float(1000)}); err == nil {
			return
		}
	}
	Fail(fmt.Sprintf("scroll to %s (%s) in %s for %v: %v", what, selector, p.URL(), timeout, err))
}

// Shot2 records the screenshots of two pages side by side, as one PNG.
func (s *Spec) Shot2(a, b playwright.Page, name string) {
	GinkgoHelper()
	var imgs []image.Image
	for _, p := range []playwright.Page{a, b} {
		raw, err := p.Screenshot()
		Must(err, "screenshot "+name)
		img, err := png.Decode(bytes.NewReader(raw))
		Must(err, "decode a screenshot")
		imgs = append(imgs, img)
	}
	const gap = 16
	w := imgs[0].Bounds().Dx() + gap + imgs[1].Bounds().Dx()
	hgt := max(imgs[0].Bounds().Dy(), imgs[1].Bounds().Dy())
	out := image.NewRGBA(image.Rect(0, 0, w, hgt))
	draw.Draw(out, out.Bounds(), image.NewUniform(color.RGBA{0x44, 0x44, 0x44, 0xff}), image.Point{}, draw.Src)
	draw.Draw(out, imgs[0].Bounds(), imgs[0], imgs[0].Bounds().Min, draw.Src)
	right := image.Rect(imgs[0].Bounds().Dx()+gap, 0, w, imgs[1].Bounds().Dy())
	draw.Draw(out, right, imgs[1], imgs[1].Bounds().Min, draw.Src)
	var buf bytes.Buffer
	Must(png.Encode(&buf, out), "encode "+name)
	_, err := s.Pack.Screenshot(s.Name(), name, buf.Bytes())
	Must(err, "evidence")
}

// OtherIP is a client address no spec uses: for a second client of a spec.
func OtherIP() string { return randomIP() }

// Move moves property id to stage with the card's "Move to…" menu and
// waits for p to show it, returning when the move that took was made. The
// board re-renders on every live update, so a click can land on a card
// being replaced (or on the card itself, opening the drawer): the move is
// tried up to three times.
func Move(p playwright.Page, id int64, stage string) time.Time {
	GinkgoHelper()
	card := fmt.Sprintf(`[data-testid="column-%s"] [data-testid="card-%d"]`, stage, id)
	var moved time.Time
	for try := 0; try < 3; try++ {
		if open, _ := p.Locator(TestID("drawer") + "[open]").Count(); open > 0 {
			p.Keyboard().Press("Escape")
		}
		Must(p.Locator(TestID(fmt.Sprintf("move-%d", id))).Click(), "open the move menu")
		Must(p.Locator(fmt.Sprintf(`#moves-%d [data-to=%q]`, id, stage)).Press("Enter"), "choose "+stage)
		moved = time.Now()
		if _, err := p.WaitForSelector(card, playwright.PageWaitForSelectorOptions{Timeout: playwright.Float(3000)}); err == nil {
			return moved
		}
		GinkgoWriter.Printf("the move of property %d to %s did not show within 3 s (try %d); choosing it again\n", id, stage, try+1)
	}
	WaitFor(p, card, time.Second, fmt.Sprintf("property %d moved to %s", id, stage))
	return moved
}
