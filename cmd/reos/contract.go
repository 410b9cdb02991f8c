package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/real-estate-os/reos/system/app"
)

// upContract is `reos up --contract`: the product in production mode with
// every vendor replaced by its double on loopback (app.StartDoubles), on a
// database of its own beside base's (<name>_contract), until interrupted.
// It prints how to point the suite at it.
func upContract(ctx context.Context, base *app.Main, stdout io.Writer) error {
	if err := base.Open(ctx); err != nil {
		return err
	}
	m, doubles, err := startContract(ctx, base)
	if err != nil {
		return err
	}
	defer doubles.Close()
	defer m.Close()
	u, _ := url.Parse(m.DatabaseURL)
	fmt.Fprintf(stdout, "reos is up in production mode against the contract doubles at %s\n", m.URL())
	for _, k := range []string{"TWILIO_BASE_URL", "SENDGRID_BASE_URL", "S3_ENDPOINT", "GOTENBERG_URL", "OPENAI_BASE_URL"} {
		fmt.Fprintf(stdout, "  %-18s %s\n", k, doubles.Env[k])
	}
	fmt.Fprintf(stdout, "  database: %s (production seeds no users: add an admin with\n", strings.TrimPrefix(u.Path, "/"))
	fmt.Fprintf(stdout, "    APP_MODE=mock DATABASE_URL=<that database> reos users create --role admin --email you@example.com)\n")
	fmt.Fprintf(stdout, "  the flows against it:\n    REOS_SUITE_MODE=production REOS_BASE_URL=%s REOS_TWILIO_CONTROL_URL=%s REOS_SENDGRID_INSPECT_URL=%s \\\n"+
		"    REOS_ADMIN_EMAIL=you@example.com REOS_ADMIN_PASSWORD=… go tool ginkgo -p ./suites\n",
		m.URL(), doubles.Env["TWILIO_BASE_URL"], doubles.Env["SENDGRID_BASE_URL"])
	fmt.Fprintln(stdout, "Press Ctrl-C to stop.")
	select {
	case <-ctx.Done():
		return nil
	case err := <-m.Done():
		return err
	}
}

// startContract starts the doubles and a production stack on them, on a
// database of its own. The stack trusts X-Forwarded-For from loopback, so
// that each of the suite's specs signs in from an address of its own.
func startContract(ctx context.Context, base *app.Main) (*app.Main, *app.Doubles, error) {
	u, err := url.Parse(base.DatabaseURL)
	if err != nil {
		return nil, nil, err
	}
	u.Path += "_contract"
	if err := app.EnsureDatabase(ctx, u.String()); err != nil {
		return nil, nil, fmt.Errorf("the contract stack needs a database of its own, %s (create it, or let the role create databases): %w", strings.TrimPrefix(u.Path, "/"), err)
	}
	dir := filepath.Join(base.Config.DataDir, "contract")
	vars := map[string]string{"DATABASE_URL": u.String(), "REDIS_URL": base.Config.RedisURL, "AMQP_URL": base.Config.AMQPURL,
		"QUEUE_PREFIX": base.Config.QueuePrefix + "-contract", "REOS_DATA_DIR": dir, "REOS_ADDR": base.Config.Addr,
		"REOS_PUBLIC_URL": base.Config.PublicURL, "EMAIL_FROM": base.Config.EmailFrom, "TRUSTED_PROXIES": "127.0.0.1/32,::1/128"}
	if base.Config.PublicURL == "http://"+base.Config.Addr {
		delete(vars, "REOS_PUBLIC_URL") // follows the address
	}
	return app.RunAgainstDoubles(ctx, vars, filepath.Join(dir, "doubles"), base.Logger)
}
