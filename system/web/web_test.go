package web_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/real-estate-os/reos/mocks/fake"
	"github.com/real-estate-os/reos/system"
	"github.com/real-estate-os/reos/system/api"
	"github.com/real-estate-os/reos/system/web"
)

// The UI over fakes of its services and of the API: no database, no
// browser.

// signedIn is the API's side, with a browser signed in as user 1 when a
// request carries the cookie "s".
type signedIn struct{}

func (signedIn) SignIn(http.ResponseWriter, *http.Request, string, string) error { return nil }
func (signedIn) SignOut(http.ResponseWriter, *http.Request) error                { return nil }
func (signedIn) Session(r *http.Request) *system.Session {
	if _, err := r.Cookie("s"); err != nil {
		return nil
	}
	return &system.Session{UserID: 1, Email: "sam@reos.example", Role: system.RoleAgent, CSRFToken: "t"}
}
func (signedIn) Error(w http.ResponseWriter, r *http.Request, err error) {
	http.Error(w, err.Error(), api.ProblemFor(err, r.URL.Path).Status)
}
func (signedIn) Status(context.Context) api.ProvidersStatus { return api.ProvidersStatus{} }

func newSite(t *testing.T, threads []*system.Thread, job *system.Job) http.Handler {
	t.Helper()
	owner := &system.Property{ID: 7, Address: "12 Elm St", City: "Columbus", OwnerName: "Ann Lee", Stage: system.StageContacted,
		OwnerDNC: true, ARVCents: 300_000_00, ListPriceCents: 200_000_00}
	props := &fake.PropertyService{FindPropertyByIDFn: func(_ context.Context, id int64) (*system.Property, error) {
		if id != 7 {
			return nil, system.Errorf(system.ENOTFOUND, "property %d does not exist", id)
		}
		return owner, nil
	}}
	site, err := web.New(web.Config{API: signedIn{}, SSEHeartbeat: 15 * time.Second, Properties: props,
		Rules:    &fake.RuleService{FindRulesFn: func(context.Context) ([]system.Rule, error) { return nil, nil }},
		Jobs:     &fake.JobService{FindJobByIDFn: func(context.Context, string) (*system.Job, error) { return job, nil }},
		Messages: &fake.MessageService{FindThreadsFn: func(context.Context, int64) ([]*system.Thread, error) { return threads, nil }},
		EventLog: &fake.EventLog{FindPropertyEventsFn: func(context.Context, int64, int) ([]system.Event, error) { return nil, nil }},
		Outreach: &system.Outreach{}, Store: &fake.ObjectStore{}})
	if err != nil {
		t.Fatal(err)
	}
	r := chi.NewRouter()
	site.Routes(r)
	return r
}

func get(t *testing.T, h http.Handler, path string, signedIn bool) (*http.Response, string) {
	t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	if signedIn {
		req.AddCookie(&http.Cookie{Name: "s", Value: "1"})
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	b, _ := io.ReadAll(w.Result().Body)
	return w.Result(), string(b)
}

func TestPagesNeedASession(t *testing.T) {
	h := newSite(t, nil, nil)
	res, _ := get(t, h, "/portfolio?tag=x", false)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login?next=%2Fportfolio%3Ftag%3Dx" {
		t.Errorf("a page without a session: %d to %q, want 303 to the login page and back", res.StatusCode, res.Header.Get("Location"))
	}
	if res, _ := get(t, h, "/ui/properties/7", false); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("a fragment without a session: %d, want 401", res.StatusCode)
	}
}

// The drawer of an owner who texted STOP says so, with texting disabled,
// under the UI's Content-Security-Policy.
func TestDrawerOfAnOwnerWhoOptedOut(t *testing.T) {
	stop := &system.Thread{Channel: system.ChannelSMS, Messages: []*system.Message{
		{Direction: "outbound", Body: "Hello", Status: system.MessageDelivered},
		{Direction: "inbound", Body: "STOP", Status: system.MessageReceived},
	}}
	res, body := get(t, newSite(t, []*system.Thread{stop}, nil), "/ui/properties/7", true)
	if res.StatusCode != 200 || !strings.Contains(res.Header.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Fatalf("drawer: %d, CSP %q", res.StatusCode, res.Header.Get("Content-Security-Policy"))
	}
	for _, want := range []string{`data-testid="sms-owner" disabled`, "Ann Lee opted out by replying STOP"} {
		if !strings.Contains(body, want) {
			t.Errorf("the drawer lacks %s", want)
		}
	}
}

// Another user's memo does not exist for the viewer.
func TestMemoOfAnotherUserIsNotFound(t *testing.T) {
	job := &system.Job{ID: "j-1", UserID: 2, Status: system.JobDone, PropertyID: 7, StorageKey: "memos/x.pdf"}
	if res, body := get(t, newSite(t, nil, job), "/memos/j-1", true); res.StatusCode != http.StatusNotFound {
		t.Errorf("user 1 opening user 2's memo: %d %s, want 404", res.StatusCode, body)
	}
}
