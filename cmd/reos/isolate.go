package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/real-estate-os/reos/evidence"
	"github.com/real-estate-os/reos/internal/sandbox"
)

// `reos isolate -- COMMAND…` runs a whole process tree in new user and
// network namespaces that have only loopback, so nothing the command
// starts — Mailpit, Chromium, anything — can leave the machine. Inside,
// every address is routed to loopback: a sinkhole accepts each outbound
// connection and records it (destination, TLS SNI or HTTP Host, the
// process), and a DNS stub answers and records every name asked.
// PostgreSQL, Redis and RabbitMQ on the host are reached through
// forwarders over unix sockets, which cross the namespace boundary.

// runIsolate is `reos isolate -- COMMAND…`: the command runs in a sandbox
// (package sandbox) with only loopback; each attempt to leave is printed,
// appended to EGRESS_LOG and recorded in an evidence pack.
func runIsolate(ctx context.Context, args []string, env func(string) (string, bool), stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("reos isolate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	forward := fs.String("forward", "5432,6379,5672", "host ports reachable inside on 127.0.0.1 (PostgreSQL, Redis, RabbitMQ)")
	pack := fs.String("evidence", "", "an evidence pack (directory) that gets an egress/ record per attempt")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: reos isolate [flags] -- COMMAND [ARG…]\n\nRuns COMMAND with only loopback: every attempt to leave is refused and recorded, one line each;\nEGRESS_LOG (when set) gets a JSON line per attempt. Exits with COMMAND's status.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	cmdArgs := fs.Args()
	if len(cmdArgs) > 0 && cmdArgs[0] == "--" {
		cmdArgs = cmdArgs[1:]
	}
	if len(cmdArgs) == 0 {
		fs.Usage()
		return 2
	}
	var ports []int
	for _, p := range strings.Split(*forward, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			fmt.Fprintf(stderr, "reos isolate: --forward %q: want port numbers\n", *forward)
			return 2
		}
		ports = append(ports, n)
	}
	code, attempts, err := sandbox.Run(sandbox.Options{Forward: ports, Command: cmdArgs, Stdout: stdout, Stderr: stderr})
	if err != nil {
		fmt.Fprintf(stderr, "reos isolate: %v\n", err)
		return 1
	}
	if err := reportAttempts(attempts, env, *pack, stdout); err != nil {
		fmt.Fprintf(stderr, "reos isolate: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// reportAttempts prints one line per attempt, appends them to EGRESS_LOG
// and records them in the evidence pack.
func reportAttempts(attempts []sandbox.Attempt, env func(string) (string, bool), packDir string, stdout io.Writer) error {
	if len(attempts) == 0 {
		fmt.Fprintln(stdout, "reos isolate: no attempt to leave the machine")
		return nil
	}
	var errs []error
	var log *os.File
	if path, ok := env("EGRESS_LOG"); ok && path != "" {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		errs = append(errs, err)
		log = f
		defer f.Close()
	}
	var p *evidence.Pack
	if packDir != "" {
		var err error
		p, err = evidence.Open(packDir)
		errs = append(errs, err)
	}
	fmt.Fprintf(stdout, "reos isolate: %d attempt(s) to leave the machine, all refused:\n", len(attempts))
	for i, a := range attempts {
		fmt.Fprintln(stdout, "  "+a.String())
		if log != nil {
			line, _ := json.Marshal(a)
			log.Write(append(line, '\n'))
		}
		if p != nil {
			r := a.Record()
			_, err := p.Egress("reos isolate", fmt.Sprintf("isolate-%02d-%s", i+1, r.Host), r)
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
