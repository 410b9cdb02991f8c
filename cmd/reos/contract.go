package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/real-estate-os/reos/contract"
	"github.com/real-estate-os/reos/contract/upgrade"
	"github.com/real-estate-os/reos/internal/contracts"
	"github.com/real-estate-os/reos/system/api"
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

// judgeFor returns the judge of a named contract: a vendor's pinned
// document, the product's own (reos), or the document at spec.
func judgeFor(name, spec string) (*contract.Judge, error) {
	switch {
	case spec != "":
		doc, err := os.ReadFile(spec)
		if err != nil {
			return nil, err
		}
		return contract.NewJudge(name, contract.Spec{File: spec, Source: "--spec"}, doc)
	case name == "reos":
		return contract.NewJudge(name, contract.Spec{File: "system/api/openapi.yaml", Source: "this build of reos"}, api.OpenAPIDocument())
	}
	return contract.ForVendor(name)
}

// runContract is `reos contract proxy|diff`.
func runContract(ctx context.Context, args []string, _ func(string) (string, bool), stdout, stderr io.Writer) int {
	usage := func() {
		fmt.Fprintln(stderr, "Usage:\n  reos contract proxy --contract twilio|sendgrid|openai|reos [--spec FILE] --upstream URL --listen ADDR [--ledger FILE]\n"+
			"  reos contract diff PACK_A PACK_B\n"+
			"  reos contract upgrade --contract twilio|sendgrid|openai --spec NEW [--pack DIR]")
	}
	if len(args) == 0 {
		usage()
		return 2
	}
	switch args[0] {
	case "proxy":
		fs := flag.NewFlagSet("reos contract proxy", flag.ContinueOnError)
		fs.SetOutput(stderr)
		name := fs.String("contract", "", "the contract that judges: twilio, sendgrid, openai or reos")
		spec := fs.String("spec", "", "judge with this OpenAPI document instead of the pinned one")
		upstream := fs.String("upstream", "", "where requests go: a double on loopback, or the vendor")
		listen := fs.String("listen", "127.0.0.1:0", "the proxy's address")
		ledgerPath := fs.String("ledger", "", "the ledger file (JSON lines; default standard output)")
		if err := fs.Parse(args[1:]); err != nil {
			return 2
		}
		u, err := url.Parse(*upstream)
		if err != nil || u.Scheme == "" || u.Host == "" {
			fmt.Fprintf(stderr, "reos contract proxy: --upstream %q: want a URL\n", *upstream)
			return 2
		}
		j, err := judgeFor(*name, *spec)
		if err != nil {
			fmt.Fprintf(stderr, "reos contract proxy: %v\n", err)
			return 1
		}
		var w io.Writer = stdout
		if *ledgerPath != "" {
			f, err := os.OpenFile(*ledgerPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
			if err != nil {
				fmt.Fprintf(stderr, "reos contract proxy: %v\n", err)
				return 1
			}
			defer f.Close()
			w = f
		}
		l, err := net.Listen("tcp", *listen)
		if err != nil {
			fmt.Fprintf(stderr, "reos contract proxy: %v\n", err)
			return 1
		}
		srv := api.HTTPServer(contract.Proxy(j, u, contract.NewLedger(w)), nil)
		fmt.Fprintf(stderr, "reos contract proxy: %s judged by %s, http://%s → %s\n", *name, j.Spec.File, l.Addr(), u)
		go func() { <-ctx.Done(); srv.Close() }()
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(stderr, "reos contract proxy: %v\n", err)
			return 1
		}
		return 0
	case "upgrade":
		return contractUpgrade(args[1:], stdout, stderr)
	case "diff":
		if len(args) != 3 {
			usage()
			return 2
		}
		var ledgers [2][]contract.Entry
		for i, dir := range args[1:] {
			var err error
			if ledgers[i], err = contract.ReadPack(dir); err != nil {
				fmt.Fprintf(stderr, "reos contract diff: %s: %v\n", dir, err)
				return 2
			}
		}
		diffs := contract.Diff(ledgers[0], ledgers[1])
		for _, d := range diffs {
			fmt.Fprintln(stdout, d)
		}
		if one := contract.OneSided(ledgers[0], ledgers[1]); len(one) > 0 {
			fmt.Fprintf(stdout, "(%d operations were exercised by one run only and are not compared)\n", len(one))
		}
		if len(diffs) > 0 {
			fmt.Fprintf(stdout, "%d difference(s): A is %s, B is %s\n", len(diffs), args[1], args[2])
			return 1
		}
		fmt.Fprintln(stdout, "no difference in the operations both exercised: same status codes, same fields and types")
		return 0
	}
	usage()
	return 2
}

// contractUpgrade is `reos contract upgrade`: the breaking changes from a
// vendor's pinned document to a newer one that touch the operations a
// production pack's ledger shows the product uses.
func contractUpgrade(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("reos contract upgrade", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("contract", "", "the vendor: twilio, sendgrid or openai")
	spec := fs.String("spec", "", "the newer document (OpenAPI, JSON or YAML)")
	pack := fs.String("pack", "", "a production pack whose ledger says which operations are used (default: the newest under audit_artifacts)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *name == "" || *spec == "" {
		fmt.Fprintln(stderr, "reos contract upgrade: --contract and --spec are required")
		return 2
	}
	file, ok := contract.VendorDocument(*name)
	if !ok {
		fmt.Fprintf(stderr, "reos contract upgrade: no vendor contract named %q\n", *name)
		return 2
	}
	if *pack == "" {
		packs, _ := filepath.Glob(filepath.Join("audit_artifacts", "*", "production-*"))
		sort.Strings(packs)
		if len(packs) == 0 {
			fmt.Fprintln(stderr, "reos contract upgrade: no production pack under audit_artifacts (run make green, or name one with --pack)")
			return 2
		}
		*pack = packs[len(packs)-1]
	}
	entries, err := contract.ReadFile(filepath.Join(*pack, "contracts", *name+"-ledger.jsonl"))
	if err != nil {
		fmt.Fprintf(stderr, "reos contract upgrade: %v (a production pack holds each vendor's ledger)\n", err)
		return 2
	}
	used := contract.Used(entries, *name)
	pinned, err := contracts.Load(file)
	if err == nil {
		var next []byte
		if next, err = os.ReadFile(*spec); err == nil {
			var touching []string
			var elsewhere int
			if touching, elsewhere, err = upgrade.Breaking(pinned, next, used); err == nil {
				fmt.Fprintf(stdout, "%s: %d operations used (ledger of %s)\n", *name, len(used), *pack)
				for _, c := range touching {
					fmt.Fprintln(stdout, "  BREAKING "+c)
				}
				fmt.Fprintf(stdout, "%d breaking changes touch the operations used; %d elsewhere, which the product does not use\n", len(touching), elsewhere)
				if len(touching) > 0 {
					return 1
				}
				return 0
			}
		}
	}
	fmt.Fprintf(stderr, "reos contract upgrade: %v\n", err)
	return 1
}
