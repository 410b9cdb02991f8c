package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/real-estate-os/reos/fixtures"
	"github.com/real-estate-os/reos/suites/client"
	"github.com/real-estate-os/reos/suites/drill"
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
	property := fs.Int64("property", 30, "the property whose owner is texted")
	control := fs.String("twilio-control", def("REOS_TWILIO_CONTROL_URL", ""), "the SMS vendor's fault controls: mock Twilio or the Twilio double (env REOS_TWILIO_CONTROL_URL; mock mode: found from the stack)")
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
	c := &client.Client{Base: strings.TrimRight(*base, "/")}
	c.HTTP = client.Guarded(c.Base, io.Discard)
	var pack *drillPack
	status := map[string]string{}
	if *withEvidence {
		var status0 struct {
			AppMode string `json:"app_mode"`
			Email   string `json:"email"`
			SMS     string `json:"sms"`
			Storage string `json:"storage"`
		}
		r, err := c.Expect(200, "GET", "/api/v1/status/providers", nil)
		if err == nil {
			err = r.JSON(&status0)
		}
		if err != nil {
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
	err = drillAt(ctx, l, c, *email, *password, *control, *property)
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

// drillAt runs the suite's DLQ drill (package drill) against the stack c
// calls: as the admin email (the demo admin in mock mode), texting the
// owner of property, with the SMS vendor's faults at control (in mock mode,
// found from the stack's status).
func drillAt(ctx context.Context, l *drillLog, c *client.Client, email, password, control string, property int64) error {
	l.step("DLQ drill against %s", c.Base)
	var status struct {
		AppMode string `json:"app_mode"`
		Health  map[string]struct {
			Provider string `json:"provider"`
			Endpoint string `json:"endpoint"`
		} `json:"health"`
	}
	r, err := c.Expect(200, "GET", "/api/v1/status/providers?verbose=1", nil)
	if err == nil {
		err = r.JSON(&status)
	}
	if err != nil {
		return err
	}
	if control == "" {
		control = status.Health["sms"].Endpoint
	}
	if control == "" {
		return fmt.Errorf("the stack runs in %s mode with %s for SMS, which has no fault controls: set REOS_TWILIO_CONTROL_URL (--twilio-control) to the Twilio double it talks to", status.AppMode, status.Health["sms"].Provider)
	}
	l.step("mode %s; sms provider %s; faults through %s", status.AppMode, status.Health["sms"].Provider, control)
	if email == "" {
		if status.AppMode != "mock" {
			return errors.New("name an admin: REOS_ADMIN_EMAIL and REOS_ADMIN_PASSWORD (the demo admin exists in mock mode only)")
		}
		email, password = "admin@example.com", fixtures.DemoPassword
	}
	if err := c.Login(email, password); err != nil {
		return fmt.Errorf("admin login: %w", err)
	}
	l.step("logged in as %s", email)
	var p struct {
		OwnerPhone string `json:"owner_phone"`
	}
	r, err = c.Expect(200, "GET", fmt.Sprintf("/api/v1/properties/%d", property), nil)
	if err == nil {
		err = r.JSON(&p)
	}
	if err != nil {
		return err
	}
	d := &drill.DLQ{Sender: c, Admin: c, Vendor: drill.TwilioFaults{URL: strings.TrimRight(control, "/"), HTTP: c}, PropertyID: property,
		OwnerPhone: p.OwnerPhone, Tag: time.Now().UTC().Format("20060102T150405.000Z"), Log: l.step, Wait: 3 * time.Minute}
	return d.Run(ctx)
}
