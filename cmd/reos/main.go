// Command reos runs the Real Estate OS platform: the API on real PostgreSQL,
// Redis and RabbitMQ, with local stand-ins for every vendor in mock mode.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/real-estate-os/reos/fixtures"
	"github.com/real-estate-os/reos/internal/containers"
	"github.com/real-estate-os/reos/internal/sandbox"
	"github.com/real-estate-os/reos/system/app"
	"github.com/real-estate-os/reos/system/config"
)

// command is one entry of the command table; usage is made from it.
// A product command (run or flags) takes the configuration's flags and
// gets an app.Main; a tool parses its own arguments.
type command struct {
	name    string // one word, or two ("users create")
	summary string
	run     func(ctx context.Context, m *app.Main, stdout io.Writer) error
	// flags adds the command's own flags beside the configuration's and
	// returns its run function, which sees their values.
	flags func(fs *flag.FlagSet) func(ctx context.Context, m *app.Main, stdout io.Writer) error
	// tool runs with the arguments after its name and returns the exit
	// status.
	tool func(ctx context.Context, args []string, env func(string) (string, bool), stdout, stderr io.Writer) int
}

// stdin is where commands read secrets (users create's password).
var stdin io.Reader = os.Stdin

var commands = []command{
	{name: "up", summary: "apply migrations, seed, and serve the API until interrupted", flags: func(fs *flag.FlagSet) func(context.Context, *app.Main, io.Writer) error {
		contract := fs.Bool("contract", false, "serve in production mode with every vendor replaced by its double on loopback (fresh credentials), on a database <name>_contract of its own; prints how to run the flows against it")
		return func(ctx context.Context, m *app.Main, stdout io.Writer) error {
			if *contract {
				return upContract(ctx, m, stdout)
			}
			return up(ctx, m, stdout)
		}
	}},
	{name: "migrate", summary: "apply pending database migrations and exit", run: func(ctx context.Context, m *app.Main, _ io.Writer) error {
		if err := m.Open(ctx); err != nil {
			return err
		}
		return m.Migrate(ctx)
	}},
	{name: "seed", summary: "apply migrations, write the fixtures (idempotent) and exit: templates and rules in every mode, the demo data in mock mode", flags: func(fs *flag.FlagSet) func(context.Context, *app.Main, io.Writer) error {
		demo := fs.Bool("demo", false, "also write the demo properties and do-not-contact list in production mode (demo users stay mock-only)")
		return func(ctx context.Context, m *app.Main, _ io.Writer) error {
			if err := m.Open(ctx); err != nil {
				return err
			}
			if err := m.Migrate(ctx); err != nil {
				return err
			}
			return m.Seed(ctx, *demo)
		}
	}},
	{name: "users create", summary: "create a user, reading the password from the first line of standard input (idempotent on the email)", flags: usersCreate},
	{name: "green", summary: "run the eight flows in mock mode, then in production mode against the contract doubles; seal and verify their evidence",
		tool: func(ctx context.Context, args []string, _ func(string) (string, bool), stdout, stderr io.Writer) int {
			return runGreen(ctx, args, stdout, stderr)
		}},
	{name: "mutants", summary: "plant each bug of the mutation catalog in a scratch copy, run the checks the claims table names, write the kill matrix",
		tool: func(ctx context.Context, args []string, _ func(string) (string, bool), stdout, stderr io.Writer) int {
			return runMutants(ctx, args, stdout, stderr)
		}},
	{name: "mock", summary: "mock twilio|sendgrid|openai|gotenberg|s3: serve one vendor stand-in on its own", tool: runMock},
	{name: "dlq", summary: "dlq drill: fault → dead letter → replay → delivered, against a running stack (REOS_BASE_URL)", tool: runDrill},
	{name: "isolate", summary: "isolate -- COMMAND…: run COMMAND with only loopback; every attempt to leave is refused and recorded", tool: runIsolate},
	{name: "contract", summary: "contract proxy|diff|upgrade: judge exchanges against a contract; compare two runs' ledgers; a newer vendor spec's breaking changes that touch what the product uses", tool: runContract},
	{name: "evidence", summary: "evidence verify DIR [--pubkey FILE]: check an evidence pack's hashes and signatures; evidence diff A B: what changed between two packs; evidence merge OUT PACK...: one pack of a run's shards",
		tool: func(_ context.Context, args []string, _ func(string) (string, bool), stdout, stderr io.Writer) int {
			return runEvidence(args, stdout, stderr)
		}},
	{name: "probe", summary: "probe URL: exit 0 when URL answers 2xx (container health checks)",
		tool: func(ctx context.Context, args []string, _ func(string) (string, bool), _, stderr io.Writer) int {
			if len(args) != 1 {
				fmt.Fprintln(stderr, "Usage: reos probe URL")
				return 2
			}
			if err := probe(ctx, args[0]); err != nil {
				fmt.Fprintf(stderr, "reos probe: %v\n", err)
				return 1
			}
			return 0
		}},
}

func main() {
	if dir := os.Getenv(sandbox.ChildEnv); dir != "" { // re-executed inside reos isolate's namespaces
		os.Exit(sandbox.Child(dir, os.Args[1:]))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	app.Containers = containers.Start // the third tier of discovery, when a Docker engine answers
	os.Exit(run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr))
}

// run is main without the process: it returns the exit status.
func run(ctx context.Context, args []string, env func(string) (string, bool), stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		usage(stdout)
		return 0
	}
	var cmd *command
	for i := range commands {
		if name, _, two := strings.Cut(commands[i].name, " "); commands[i].name == args[0] ||
			two && name == args[0] && len(args) > 1 && commands[i].name == args[0]+" "+args[1] {
			cmd = &commands[i]
		}
	}
	if cmd != nil && strings.Contains(cmd.name, " ") {
		args = append([]string{cmd.name}, args[2:]...)
	}
	if cmd == nil {
		fmt.Fprintf(stderr, "reos: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	if cmd.tool != nil {
		return cmd.tool(ctx, args[1:], env, stdout, stderr)
	}

	fs := flag.NewFlagSet("reos "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	runCmd, own := cmd.run, flag.NewFlagSet(cmd.name, flag.ContinueOnError)
	if cmd.flags != nil {
		runCmd = cmd.flags(own)
		own.VisitAll(func(f *flag.Flag) { fs.Var(f.Value, f.Name, f.Usage) })
	}
	printUsage := func(w io.Writer) {
		fmt.Fprintf(w, "Usage: reos %s [flags]\n\n%s.\n\n", cmd.name, cmd.summary)
		if cmd.flags != nil {
			own.SetOutput(w)
			own.PrintDefaults()
			fmt.Fprintln(w)
		}
		fmt.Fprint(w, "Every configuration flag is also an environment variable; a flag wins over its variable.\n\n")
		config.Help(w)
	}
	fs.Usage = func() {} // printed below, once: to stdout when asked for, to stderr after a mistake
	values := map[string]*string{}
	for _, v := range config.Vars {
		values[v.Name] = fs.String(v.Flag(), "", v.Usage)
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(stdout)
			return 0
		}
		fmt.Fprintln(stderr)
		printUsage(stderr)
		return 2
	}
	overrides := map[string]string{}
	fs.Visit(func(f *flag.Flag) {
		for _, v := range config.Vars {
			if v.Flag() == f.Name {
				overrides[v.Name] = *values[v.Name]
			}
		}
	})
	cfg, err := config.Load(config.Lookup(overrides, env))
	if err != nil {
		fmt.Fprintf(stderr, "reos %s: %v\n", cmd.name, err)
		return 1
	}
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	m := &app.Main{Config: cfg, Logger: logger}
	err = runCmd(ctx, m, stdout)
	if cerr := m.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fmt.Fprintf(stderr, "reos %s: %v\n", cmd.name, err)
		return 1
	}
	return 0
}

func up(ctx context.Context, m *app.Main, stdout io.Writer) error {
	if err := m.Run(ctx); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "reos is up in %s mode at %s\n", m.Config.Mode, m.URL())
	fmt.Fprintf(stdout, "  web UI: %s/ (open it in a browser)\n", m.URL())
	fmt.Fprintf(stdout, "  providers: %s/api/v1/status/providers\n", m.URL())
	if m.Config.Mode == config.ModeMock {
		fmt.Fprintf(stdout, "  demo login: agent@example.com or admin@example.com, password %s\n", fixtures.DemoPassword)
	}
	fmt.Fprintln(stdout, "Press Ctrl-C to stop.")
	select {
	case <-ctx.Done():
		return nil
	case err := <-m.Done():
		return err
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, "reos runs the Real Estate OS platform credential-free and proves it works.\n\nUsage: reos <command> [flags]\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-13s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, "\n`reos <command> --help` shows the command's flags.\n\nEnvironment (each also a flag of every command):\n")
	config.Help(w)
}

// probe exits 0 when url answers 2xx: the container health check, in an
// image without curl.
func probe(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return err
	}
	res, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	res.Body.Close()
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("%s answered %d", url, res.StatusCode)
	}
	return nil
}
