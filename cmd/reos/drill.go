package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/real-estate-os/reos/fixtures"
)

// drillLog writes each step of the drill with a timestamp.
type drillLog struct {
	w   io.Writer
	out io.Writer
}

func (l *drillLog) step(format string, args ...any) {
	line := time.Now().UTC().Format("2006-01-02T15:04:05.000Z") + "  " + fmt.Sprintf(format, args...)
	fmt.Fprintln(l.w, line)
	fmt.Fprintln(l.out, line)
}

type deadLetter struct {
	ID           int64            `json:"id"`
	MessageID    string           `json:"message_id"`
	Kind         string           `json:"kind"`
	Reason       string           `json:"reason"`
	Attempts     int              `json:"attempts"`
	Deaths       []map[string]any `json:"x_death"`
	FirstFailure string           `json:"first_failure"`
	LastFailure  string           `json:"last_failure"`
	Replays      int              `json:"replays"`
}

// runDrill runs the dead-letter drill against a running stack: a provider
// fault sends an SMS to the DLQ, the fault is cleared, the dead letter is
// replayed and the SMS is delivered. Every step goes to the log file.
func runDrill(ctx context.Context, args []string, env func(string) (string, bool), stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("reos dlq drill", flag.ContinueOnError)
	fs.SetOutput(stderr)
	def := func(name, fallback string) string {
		if v, ok := env(name); ok && v != "" {
			return v
		}
		return fallback
	}
	base := fs.String("base-url", def("REOS_BASE_URL", "http://127.0.0.1:8000"), "the running stack (env REOS_BASE_URL)")
	email := fs.String("email", def("REOS_ADMIN_EMAIL", ""), "an admin's email (env REOS_ADMIN_EMAIL; mock mode: the demo admin)")
	password := fs.String("password", def("REOS_ADMIN_PASSWORD", ""), "the admin's password (env REOS_ADMIN_PASSWORD)")
	property := fs.Int("property", 30, "the property whose owner is texted")
	logPath := fs.String("log", def("REOS_DRILL_LOG", "dlq-drill-"+time.Now().UTC().Format("20060102T150405Z")+".log"), "where the drill log goes (env REOS_DRILL_LOG)")
	timeout := fs.Duration("timeout", 3*time.Minute, "give up after this long")
	withEvidence := fs.Bool("evidence", false, "also write a sealed evidence pack: the drill log, every HTTP exchange as a transcript, and an egress drill (a send to a real vendor host, refused)")
	evidenceDir := fs.String("evidence-dir", def("REOS_EVIDENCE_DIR", "audit_artifacts"), "where evidence packs go (env REOS_EVIDENCE_DIR); signed with EVIDENCE_SIGNING_KEY, or a key made for the run")
	if len(args) == 0 || args[0] != "drill" {
		fmt.Fprintln(stderr, "Usage: reos dlq drill [flags]")
		fs.PrintDefaults()
		return 2
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	f, err := os.Create(*logPath)
	if err != nil {
		fmt.Fprintf(stderr, "reos dlq drill: %v\n", err)
		return 1
	}
	defer f.Close()
	l := &drillLog{w: f, out: stdout}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	started := time.Now().UTC()
	c := newClient(strings.TrimRight(*base, "/"))
	var pack *drillPack
	status := map[string]string{}
	if *withEvidence {
		var status0 struct {
			AppMode string `json:"app_mode"`
			Email   string `json:"email"`
			SMS     string `json:"sms"`
			Storage string `json:"storage"`
		}
		if err := c.do("GET", "/api/v1/status/providers", nil, &status0); err != nil {
			fmt.Fprintf(stderr, "reos dlq drill: %v\n", err)
			return 1
		}
		status = map[string]string{"email": status0.Email, "sms": status0.SMS, "storage": status0.Storage}
		if pack, err = newDrillPack(*evidenceDir, status0.AppMode); err != nil {
			fmt.Fprintf(stderr, "reos dlq drill: %v\n", err)
			return 1
		}
		pack.attach(c)
	}
	err = drill(ctx, l, c, *email, *password, *property)
	if err == nil && pack != nil {
		err = pack.egressDrill(l)
	}
	if err != nil {
		l.step("FAILED: %v", err)
	}
	f.Sync()
	if pack != nil {
		if serr := pack.seal(env, *logPath, status, started, err, stdout); serr != nil && (err == nil || !errors.Is(serr, err)) {
			fmt.Fprintf(stderr, "reos dlq drill: evidence: %v\n", serr)
			return 1
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "reos dlq drill: %v (log: %s)\n", err, *logPath)
		return 1
	}
	fmt.Fprintf(stdout, "drill log: %s\n", *logPath)
	return 0
}

func drill(ctx context.Context, l *drillLog, c *client, email, password string, property int) error {
	l.step("DLQ drill against %s", c.base)
	var status struct {
		AppMode string `json:"app_mode"`
		Health  map[string]struct {
			Provider string `json:"provider"`
			Endpoint string `json:"endpoint"`
		} `json:"health"`
	}
	if err := c.do("GET", "/api/v1/status/providers?verbose=1", nil, &status); err != nil {
		return err
	}
	mock := status.Health["sms"].Endpoint
	if status.AppMode != "mock" || mock == "" {
		return fmt.Errorf("the drill injects a fault through the mock Twilio's controls: the stack must run in mock mode (it runs %q)", status.AppMode)
	}
	l.step("mode %s; sms provider %s at %s", status.AppMode, status.Health["sms"].Provider, mock)
	if email == "" {
		email, password = "admin@example.com", fixtures.DemoPassword
	}
	if err := c.login(email, password); err != nil {
		return fmt.Errorf("admin login as %s: %w", email, err)
	}
	l.step("logged in as %s", email)

	var p struct {
		OwnerPhone string `json:"owner_phone"`
	}
	if err := c.do("GET", fmt.Sprintf("/api/v1/properties/%d", property), nil, &p); err != nil {
		return err
	}
	// The fault is scoped to the owner's number: texts to anyone else,
	// a parallel run's included, go through.
	scope := mock + "/mock/faults?to=" + url.QueryEscape(p.OwnerPhone)
	if err := c.do("PUT", scope, map[string]any{"error_probability": 1}, nil); err != nil {
		return err
	}
	cleared := false
	clear := func() error { return c.do("DELETE", scope, nil, nil) }
	defer func() {
		if !cleared {
			clear()
			l.step("fault cleared (on the way out)")
		}
	}()
	l.step("fault on for %s only: the mock Twilio answers every send to it with 500 (Twilio error 20500)", p.OwnerPhone)

	run := time.Now().UTC().Format("20060102T150405.000Z")
	var sent struct {
		MessageID string `json:"message_id"`
	}
	if err := c.do("POST", "/api/v1/communications/sms", map[string]any{"property_id": property, "to": p.OwnerPhone, "body": "DLQ drill " + run},
		&sent, "Idempotency-Key", "dlq-drill-"+run); err != nil {
		return err
	}
	l.step("sms queued: message %s to the owner of property %d", sent.MessageID, property)

	var dead deadLetter
	if err := poll(ctx, func() (bool, error) {
		var list struct{ Items []deadLetter }
		if err := c.do("GET", "/api/v1/dlq", nil, &list); err != nil {
			return false, err
		}
		for _, d := range list.Items {
			if d.MessageID == sent.MessageID {
				dead = d
				return true, nil
			}
		}
		return false, nil
	}); err != nil {
		return fmt.Errorf("waiting for the dead letter: %w", err)
	}
	l.step("dead-lettered: dlq id %d, kind %s, after %d attempts; first failure %s, last %s; reason: %s",
		dead.ID, dead.Kind, dead.Attempts, dead.FirstFailure, dead.LastFailure, dead.Reason)
	for _, x := range dead.Deaths {
		l.step("  x-death: queue %v, reason %v, count %v", x["queue"], x["reason"], x["count"])
	}
	if err := clear(); err != nil {
		return err
	}
	cleared = true
	l.step("fault cleared")
	if err := c.do("POST", fmt.Sprintf("/api/v1/dlq/%d/replay", dead.ID), nil, nil); err != nil {
		return err
	}
	l.step("replayed dlq id %d", dead.ID)

	var final string
	if err := poll(ctx, func() (bool, error) {
		var threads struct {
			Items []struct {
				Messages []struct {
					ID         string `json:"id"`
					Status     string `json:"status"`
					ProviderID string `json:"provider_id"`
				} `json:"messages"`
			}
		}
		if err := c.do("GET", fmt.Sprintf("/api/v1/communications/threads?property_id=%d", property), nil, &threads); err != nil {
			return false, err
		}
		for _, t := range threads.Items {
			for _, m := range t.Messages {
				if m.ID == sent.MessageID {
					final = m.Status + " (" + m.ProviderID + ")"
					return m.Status == "delivered", nil
				}
			}
		}
		return false, nil
	}); err != nil {
		return fmt.Errorf("waiting for delivery after the replay (last seen %s): %w", final, err)
	}
	l.step("delivered: message %s is %s", sent.MessageID, final)
	l.step("PASSED: dead-lettered, replayed and delivered")
	return nil
}

func poll(ctx context.Context, fn func() (bool, error)) error {
	for {
		ok, err := fn()
		if err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
