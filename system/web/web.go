// Package web is the product's web UI: server-rendered html/template pages
// and fragments, small vanilla ES modules and one stylesheet, all embedded
// (package ui). Every page is sent with a strict Content-Security-Policy in
// every mode: no inline script or style anywhere. The pages' scripts call
// the JSON API with the session cookie and the session's CSRF token. The
// UI reads the product's services directly; browsers sign in through the
// API's sessions and login budgets (API).
package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"image/png"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/real-estate-os/reos/system"
	"github.com/real-estate-os/reos/system/api"
	"github.com/real-estate-os/reos/system/config"
	"github.com/real-estate-os/reos/system/web/ui"
)

// uiPolicy is the pages' Content-Security-Policy.
const uiPolicy = "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

var stageLabels = map[system.Stage]string{system.StageNew: "New", system.StageContacted: "Contacted", system.StageQualified: "Qualified",
	system.StageOffer: "Offer", system.StageUnderContract: "Under contract", system.StageClosed: "Closed", system.StageDead: "Dead"}

// API is what the UI needs of the JSON API (*api.Server): browsers' sign-in
// and sessions, its problem answers, and the providers' status.
type API interface {
	SignIn(w http.ResponseWriter, r *http.Request, email, password string) error
	SignOut(w http.ResponseWriter, r *http.Request) error
	Session(r *http.Request) *system.Session
	Error(w http.ResponseWriter, r *http.Request, err error)
	Status(ctx context.Context) api.ProvidersStatus
}

// Config is what New needs. Every field but Logger and Now is required.
type Config struct {
	API          API
	Mode         config.Mode
	SSEHeartbeat time.Duration // the event stream's ping interval: the pages' watchdog
	Properties   system.PropertyService
	Rules        system.RuleService
	Jobs         system.JobService
	Messages     system.MessageService
	EventLog     system.EventLog
	Outreach     *system.Outreach
	// Store holds the memos the viewer shows.
	Store  system.ObjectStore
	Logger *slog.Logger
	Now    func() time.Time
}

// Site serves the web UI.
type Site struct {
	Config
	pages pages
}

// New returns the UI; mount it with (*api.Server).MountUI.
func New(c Config) (*Site, error) {
	if c.API == nil || c.Properties == nil || c.Rules == nil || c.Jobs == nil || c.Messages == nil || c.EventLog == nil ||
		c.Outreach == nil || c.Store == nil || c.SSEHeartbeat <= 0 {
		return nil, errors.New("web: New needs every service of Config")
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	s := &Site{Config: c}
	var err error
	if s.pages, err = parsePages(c.Now); err != nil {
		return nil, err
	}
	return s, nil
}

// h turns a handler that returns its error into one that answers it.
func (s *Site) h(fn func(w http.ResponseWriter, r *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			s.API.Error(w, r, err)
		}
	}
}

// pageFuncs are the templates' helpers.
func pageFuncs(now func() time.Time) template.FuncMap {
	return template.FuncMap{
		"dollars":    func(c int64) string { return wholeDollars(c) },
		"percent":    func(bps int64) string { return fmt.Sprintf("%.1f%%", float64(bps)/100) },
		"stageLabel": func(s system.Stage) string { return stageLabels[s] },
		"ago":        func(t time.Time) string { return ago(now(), t) },
		"exact":      func(t time.Time) string { return t.UTC().Format("Mon 2 Jan 2006, 15:04 UTC") },
		"equity":     func(p *system.Property) int64 { return p.EquityCents() },
		"opened": func(m *system.Message) bool {
			for _, e := range m.Events {
				if e.Type == "open" {
					return true
				}
			}
			return false
		},
	}
}

// wholeDollars formats cents as "$119,000" (cents shown only when there are
// any).
func wholeDollars(cents int64) string {
	s := system.Dollars(cents)
	return strings.TrimSuffix(s, ".00")
}

// ago says how long before now t was: "just now", "5 min ago", "3 h ago",
// "12 d ago", or the date for anything older than a year.
func ago(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d.Minutes()))
	case d < 24*time.Hour:
		return fmt.Sprintf("%d h ago", int(d.Hours()))
	case d < 365*24*time.Hour:
		return fmt.Sprintf("%d d ago", int(d.Hours()/24))
	}
	return t.Format("2 Jan 2006")
}

// pages are the parsed templates, one set per page so each may define its
// own "main".
type pages map[string]*template.Template

func parsePages(now func() time.Time) (pages, error) {
	p := pages{}
	for _, name := range []string{"login", "board", "portfolio", "status", "memo"} {
		t, err := template.New("layout.html").Funcs(pageFuncs(now)).ParseFS(ui.FS, "templates/layout.html", "templates/parts.html", "templates/"+name+".html")
		if err != nil {
			return nil, err
		}
		p[name] = t
	}
	t, err := template.New("parts.html").Funcs(pageFuncs(now)).ParseFS(ui.FS, "templates/parts.html")
	if err != nil {
		return nil, err
	}
	p["parts"] = t
	return p, nil
}

// pageData is what every page gets.
type pageData struct {
	Title   string
	Mode    config.Mode
	Session *system.Session
	Active  string // the top bar's current item
	// Heartbeat is the event stream's ping interval in seconds: the
	// page's watchdog reconnects when pings stop.
	Heartbeat int
	Data      any
}

// render writes the page or fragment name with status, under the UI's
// Content-Security-Policy.
func (s *Site) render(w http.ResponseWriter, status int, page, tmpl string, data any) error {
	var buf bytes.Buffer
	if err := s.pages[page].ExecuteTemplate(&buf, tmpl, data); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", uiPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}

func (s *Site) page(w http.ResponseWriter, r *http.Request, sess *system.Session, name, title string, data any) error {
	return s.render(w, http.StatusOK, name, "layout.html", pageData{Title: title, Mode: s.Mode, Session: sess, Active: name,
		Heartbeat: int(s.SSEHeartbeat.Seconds()), Data: data})
}

// Routes mounts the pages (api.UI).
func (s *Site) Routes(r chi.Router) {
	static, _ := fs.Sub(ui.FS, "static")
	files := http.StripPrefix("/static/", http.FileServer(http.FS(static)))
	r.Get("/static/*", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(w, r)
	})
	r.Get("/login", s.h(s.handleLoginPage))
	r.Post("/login", s.h(s.handleLoginForm))
	r.Post("/logout", s.h(s.handleLogout))
	r.Group(func(r chi.Router) {
		r.Use(s.requireSession)
		r.Get("/", s.h(s.handleBoardPage))
		r.Get("/portfolio", s.h(s.handlePortfolioPage))
		r.Get("/status", s.h(s.handleStatusPage))
		r.Get("/memos/{id}", s.h(s.handleMemoPage))
		r.Get("/memos/{id}/pages/{n}", s.h(s.handleMemoPageImage))
		r.Get("/ui/board", s.h(s.handleBoardFragment))
		r.Get("/ui/properties/{id}", s.h(s.handleDrawerFragment))
	})
}

type sessionKey struct{}

// requireSession sends a browser without a session to the login page;
// a script's fetch of a fragment gets 401.
func (s *Site) requireSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess := s.API.Session(r)
		if sess == nil {
			if strings.HasPrefix(r.URL.Path, "/ui/") {
				s.API.Error(w, r, system.Errorf(system.EUNAUTHORIZED, "sign in again"))
				return
			}
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		r = api.WithSession(r, sess)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), sessionKey{}, sess)))
	})
}

func sessionFrom(r *http.Request) *system.Session {
	sess, _ := r.Context().Value(sessionKey{}).(*system.Session)
	return sess
}

type loginPage struct {
	Email, Next, Error string
	RetryAfter         int
}

// safeNext keeps a post-login redirect on this site.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	return next
}

func (s *Site) handleLoginPage(w http.ResponseWriter, r *http.Request) error {
	if s.API.Session(r) != nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return nil
	}
	return s.render(w, http.StatusOK, "login", "layout.html", pageData{Title: "Sign in", Mode: s.Mode,
		Data: loginPage{Next: safeNext(r.URL.Query().Get("next"))}})
}

// handleLoginForm signs a browser in. A cross-site form cannot: its Origin
// is refused, and the session cookie is SameSite=Strict.
func (s *Site) handleLoginForm(w http.ResponseWriter, r *http.Request) error {
	if o := r.Header.Get("Origin"); o != "" && o != "null" && !sameOrigin(o, r) {
		return system.Errorf(system.EFORBIDDEN, "cross-site sign-in refused")
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		return system.Errorf(system.EINVALID, "the form could not be read")
	}
	email, password := strings.TrimSpace(r.PostForm.Get("email")), r.PostForm.Get("password")
	data := loginPage{Email: email, Next: safeNext(r.PostForm.Get("next"))}
	if !api.Storable(email) || !api.Storable(password) {
		data.Error = "The email or password contains characters that cannot be used."
		return s.render(w, http.StatusBadRequest, "login", "layout.html", pageData{Title: "Sign in", Mode: s.Mode, Data: data})
	}
	if err := s.API.SignIn(w, r, email, password); err != nil {
		p := api.ProblemFor(err, r.URL.Path)
		data.Error = p.Detail
		switch system.ErrorCode(err) {
		case system.ERATELIMIT:
			data.RetryAfter, _ = strconv.Atoi(w.Header().Get("Retry-After"))
			data.Error = fmt.Sprintf("Too many sign-in attempts. Wait %d s, then try again.", data.RetryAfter)
		case system.EUNAUTHORIZED:
			data.Error = "Wrong email or password."
		case system.EINVALID:
			data.Error = "Enter your email and password."
		}
		return s.render(w, p.Status, "login", "layout.html", pageData{Title: "Sign in", Mode: s.Mode, Data: data})
	}
	http.Redirect(w, r, data.Next, http.StatusSeeOther)
	return nil
}

func sameOrigin(origin string, r *http.Request) bool {
	u, err := url.Parse(origin)
	return err == nil && u.Host == r.Host
}

// handleLogout ends the session on the server (a form post with the
// session's CSRF token).
func (s *Site) handleLogout(w http.ResponseWriter, r *http.Request) error {
	if err := s.API.SignOut(w, r); err != nil {
		return err
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
	return nil
}

// column is one stage of the board.
type column struct {
	Stage      system.Stage
	Label      string
	Count      int
	TotalCents int64
	Cards      []card
}

type card struct {
	*system.Property
	Moves []system.Stage
}

type boardView struct {
	Stage   system.Stage
	Tag     string
	Query   string
	Stages  []system.Stage
	Columns []column
	Total   int
}

// board reads the filter from the query string and lays the matching
// properties out by stage.
func (s *Site) board(r *http.Request) (*boardView, error) {
	q, bad := api.ParseQuery(r.URL.RawQuery)
	if len(bad) > 0 {
		return nil, system.Invalid(bad)
	}
	f, bad := api.PropertyFilter(q)
	if len(bad) > 0 {
		return nil, system.Invalid(bad)
	}
	items, total, err := s.Properties.FindProperties(r.Context(), f)
	if err != nil {
		return nil, err
	}
	v := &boardView{Stage: f.Stage, Tag: f.Tag, Query: f.Query, Stages: system.Stages, Total: total}
	for _, st := range system.Stages {
		col := column{Stage: st, Label: stageLabels[st]}
		for _, p := range items {
			if p.Stage == st {
				col.Count++
				col.TotalCents += p.ListPriceCents
				col.Cards = append(col.Cards, card{Property: p, Moves: st.Moves()})
			}
		}
		v.Columns = append(v.Columns, col)
	}
	return v, nil
}

func (s *Site) handleBoardPage(w http.ResponseWriter, r *http.Request) error {
	v, err := s.board(r)
	if err != nil {
		return err
	}
	return s.page(w, r, sessionFrom(r), "board", "Pipeline", v)
}

func (s *Site) handleBoardFragment(w http.ResponseWriter, r *http.Request) error {
	v, err := s.board(r)
	if err != nil {
		return err
	}
	return s.render(w, http.StatusOK, "parts", "board", v)
}

// timelineItem is one line of a property's activity.
type timelineItem struct {
	Time time.Time
	Kind string // stage, memo, email, sms
	Text string
}

type drawerView struct {
	P        *system.Property
	Moves    []system.Stage
	Reasons  []system.Reason
	Threads  []*system.Thread
	Timeline []timelineItem
	Memo     *system.Job // the latest finished memo, if any
	SMSBody  string
	Email    struct{ Subject, Body string }
	// OptedOut is set when the owner's latest keyword reply was STOP.
	OptedOut bool
}

func (s *Site) handleDrawerFragment(w http.ResponseWriter, r *http.Request) error {
	id, err := api.PathID(r)
	if err != nil {
		return err
	}
	p, reasons, err := system.ReasonsFor(r.Context(), s.Properties, s.Rules, id, s.Now())
	if err != nil {
		return err
	}
	threads, err := s.Messages.FindThreads(r.Context(), id)
	if err != nil {
		return err
	}
	events, err := s.EventLog.FindPropertyEvents(r.Context(), id, 50)
	if err != nil {
		return err
	}
	v := &drawerView{P: p, Moves: p.Stage.Moves(), Reasons: reasons, Threads: threads}
	for _, e := range events {
		switch {
		case e.Type == "property.created":
			v.Timeline = append(v.Timeline, timelineItem{e.Time, "stage", "Added to the pipeline"})
		case e.Type == "property.updated":
			if st, ok := e.Data["stage"].(string); ok {
				v.Timeline = append(v.Timeline, timelineItem{e.Time, "stage", "Stage: " + stageLabels[system.Stage(st)]})
			}
		case e.Type == "job.done":
			v.Timeline = append(v.Timeline, timelineItem{e.Time, "memo", "Investment memo generated"})
			if v.Memo == nil {
				if jid, ok := e.Data["job_id"].(string); ok {
					v.Memo, _ = s.Jobs.FindJobByID(r.Context(), jid)
				}
			}
		case e.Type == "job.failed":
			v.Timeline = append(v.Timeline, timelineItem{e.Time, "memo", "Memo generation failed"})
		}
	}
	for _, t := range threads {
		v.OptedOut = v.OptedOut || t.OptedOut()
		for _, m := range t.Messages {
			what := "SMS"
			if t.Channel == system.ChannelEmail {
				what = "Email"
			}
			dir := "to"
			if m.Direction == "inbound" {
				dir = "from"
			}
			v.Timeline = append(v.Timeline, timelineItem{m.CreatedAt, string(t.Channel), fmt.Sprintf("%s %s the owner: %s", what, dir, m.Status)})
		}
	}
	sort.SliceStable(v.Timeline, func(i, j int) bool { return v.Timeline[i].Time.After(v.Timeline[j].Time) })
	if !p.OwnerDNC {
		agent := sessionFrom(r).Email
		if subject, body, err := s.Outreach.Draft(r.Context(), p, system.ChannelEmail, agent); err == nil {
			v.Email.Subject, v.Email.Body = subject, body
		}
		if _, body, err := s.Outreach.Draft(r.Context(), p, system.ChannelSMS, agent); err == nil {
			v.SMSBody = body
		}
	}
	return s.render(w, http.StatusOK, "parts", "drawer", v)
}

type portfolioView struct {
	Rows  []system.StageTotal
	Count int64
	Total int64
	Tag   string
}

func (s *Site) handlePortfolioPage(w http.ResponseWriter, r *http.Request) error {
	tag := r.URL.Query().Get("tag")
	if tag != "" && system.ValidateTags([]string{tag}) != nil {
		return system.Invalid(map[string]string{"tag": "1–40 lower-case letters, digits and dashes"})
	}
	rows, err := s.Properties.Pipeline(r.Context(), tag)
	if err != nil {
		return err
	}
	v := portfolioView{Rows: rows, Tag: tag}
	for _, row := range rows {
		v.Count += row.Count
		v.Total += row.ListPriceCents
	}
	return s.page(w, r, sessionFrom(r), "portfolio", "Portfolio", v)
}

type statusView struct {
	api.ProvidersStatus
	Roles []string
}

func (s *Site) handleStatusPage(w http.ResponseWriter, r *http.Request) error {
	v := statusView{ProvidersStatus: s.API.Status(r.Context())}
	for role := range v.Health {
		v.Roles = append(v.Roles, role)
	}
	sort.Strings(v.Roles)
	return s.page(w, r, sessionFrom(r), "status", "Status", v)
}

type memoView struct {
	Job      *system.Job
	Property *system.Property
	Pages    []int
	Preview  string // why page previews are missing, if they are
}

// memoJob returns the finished memo job the request names, if the caller
// may see it (its owner, or an admin).
func (s *Site) memoJob(r *http.Request) (*system.Job, error) {
	j, err := s.Jobs.FindJobByID(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		return nil, err
	}
	if sess := sessionFrom(r); !j.VisibleTo(sess.Role, sess.UserID) {
		return nil, system.Errorf(system.ENOTFOUND, "job %s does not exist", j.ID)
	}
	if j.Status != system.JobDone {
		return nil, system.Errorf(system.ENOTFOUND, "the memo of job %s is not ready (%s)", j.ID, j.Status)
	}
	return j, nil
}

func (s *Site) handleMemoPage(w http.ResponseWriter, r *http.Request) error {
	j, err := s.memoJob(r)
	if err != nil {
		return err
	}
	if j.MemoURL, err = s.Store.PresignGet(r.Context(), j.StorageKey, api.MemoURLExpiry); err != nil {
		return err
	}
	p, err := s.Properties.FindPropertyByID(r.Context(), j.PropertyID)
	if err != nil {
		return err
	}
	v := memoView{Job: j, Property: p}
	pdf, err := s.Store.Get(r.Context(), j.StorageKey)
	if err != nil {
		return err
	}
	n, err := pdfPages(pdf)
	if err != nil {
		v.Preview = err.Error()
	}
	for i := 1; i <= n; i++ {
		v.Pages = append(v.Pages, i)
	}
	return s.page(w, r, sessionFrom(r), "memo", "Memo — "+p.Address, v)
}

// handleMemoPageImage renders one page of the memo as PNG (poppler's
// pdftoppm), so the viewer shows the memo's pages in any browser —
// headless Chromium's built-in PDF viewer paints nothing in a screenshot.
func (s *Site) handleMemoPageImage(w http.ResponseWriter, r *http.Request) error {
	j, err := s.memoJob(r)
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(strings.TrimSuffix(chi.URLParam(r, "n"), ".png"))
	if err != nil || n < 1 || n > 50 {
		return system.Errorf(system.ENOTFOUND, "no such page")
	}
	pdf, err := s.Store.Get(r.Context(), j.StorageKey)
	if err != nil {
		return err
	}
	png, err := pdfPagePNG(r, pdf, n)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "private, max-age=86400, immutable") // a memo's bytes never change
	_, err = w.Write(png)
	return err
}

var errNoPoppler = errors.New("page previews need poppler-utils (pdfinfo, pdftoppm); download the PDF instead")

// pdfPages counts the pages of a PDF with pdfinfo.
func pdfPages(pdf []byte) (int, error) {
	if _, err := exec.LookPath("pdfinfo"); err != nil {
		return 0, errNoPoppler
	}
	cmd := exec.Command("pdfinfo", "-")
	cmd.Stdin = bytes.NewReader(pdf)
	out, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("pdfinfo: %v", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "Pages:"); ok {
			return strconv.Atoi(strings.TrimSpace(v))
		}
	}
	return 0, errors.New("pdfinfo: no page count")
}

func pdfPagePNG(r *http.Request, pdf []byte, page int) ([]byte, error) {
	if _, err := exec.LookPath("pdftoppm"); err != nil {
		return nil, system.Errorf(system.EUNAVAILABLE, "%v", errNoPoppler)
	}
	// pdftoppm's own PNG encoder takes most of its time: it writes the
	// page as a raw image (PPM) to standard output, and Go encodes it.
	p := strconv.Itoa(page)
	cmd := exec.CommandContext(r.Context(), "pdftoppm", "-r", "110", "-f", p, "-l", p, "-singlefile", "-")
	cmd.Stdin = bytes.NewReader(pdf)
	raw, err := cmd.Output()
	if err != nil {
		return nil, system.Errorf(system.ENOTFOUND, "no page %d", page)
	}
	img, err := decodePPM(raw)
	if err != nil {
		return nil, fmt.Errorf("pdftoppm: %w", err)
	}
	var out bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&out, img); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}
