package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/bcrypt"

	"github.com/real-estate-os/reos/evidence"
	"github.com/real-estate-os/reos/fixtures"
	"github.com/real-estate-os/reos/internal/contracts"
	"github.com/real-estate-os/reos/internal/sandbox"
	"github.com/real-estate-os/reos/system/app"
	"github.com/real-estate-os/reos/system/config"
	"github.com/real-estate-os/reos/system/postgres/postgrestest"
)

func runCLI(args []string, env map[string]string) (int, string, string) {
	var out, errOut strings.Builder
	code := run(context.Background(), args, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestHelpListsEveryVariable(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"up", "--help"}} {
		code, out, _ := runCLI(args, nil)
		if code != 0 {
			t.Errorf("reos %v exited %d", args, code)
		}
		for _, v := range config.Vars {
			if !strings.Contains(out, v.Name) || !strings.Contains(out, "--"+v.Flag()) {
				t.Errorf("reos %v does not list %s / --%s", args, v.Name, v.Flag())
			}
		}
	}
}

func TestProductionWithoutCredentialsRefusesToStart(t *testing.T) {
	code, _, errOut := runCLI([]string{"up"}, map[string]string{"APP_MODE": "production"})
	if code == 0 {
		t.Fatal("reos up in production mode without credentials exited 0")
	}
	for _, name := range []string{"JWT_SECRET", "SENDGRID_API_KEY", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM_NUMBER", "S3_ENDPOINT", "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY"} {
		if !strings.Contains(errOut, name) {
			t.Errorf("error does not name %s:\n%s", name, errOut)
		}
	}
}

func TestFlagWinsOverVariable(t *testing.T) {
	code, _, errOut := runCLI([]string{"up", "--app-mode", "staging"}, map[string]string{"APP_MODE": "mock"})
	if code == 0 || !strings.Contains(errOut, `APP_MODE="staging"`) {
		t.Errorf("--app-mode staging: exit %d, %s", code, errOut)
	}
}

func TestUnknownCommand(t *testing.T) {
	if code, _, errOut := runCLI([]string{"launch"}, nil); code != 2 || !strings.Contains(errOut, `unknown command "launch"`) {
		t.Errorf("reos launch: exit %d, %s", code, errOut)
	}
}

// reos users create: the password from standard input, a weak one refused,
// a second call for the same email changing nothing.
func TestUsersCreate(t *testing.T) {
	db := postgrestest.NewDatabase(t)
	env := map[string]string{"DATABASE_URL": db, "REOS_DATA_DIR": t.TempDir()}
	create := func(password string, args ...string) (int, string, string) {
		t.Helper()
		stdin = strings.NewReader(password + "\n")
		t.Cleanup(func() { stdin = os.Stdin })
		return runCLI(append([]string{"users", "create"}, args...), env)
	}
	if code, _, errOut := create("password12345", "--email", "ops@example.com", "--role", "admin"); code == 0 || !strings.Contains(errOut, "too weak") {
		t.Errorf("a weak password: exit %d, %s", code, errOut)
	}
	if code, _, errOut := create("", "--email", "ops@example.com"); code == 0 || !strings.Contains(errOut, "standard input") {
		t.Errorf("no password: exit %d, %s", code, errOut)
	}
	if code, _, errOut := create("x", "--email", "ops@example.com", "--password", "a-flag-password"); code != 2 || !strings.Contains(errOut, "-password") {
		t.Errorf("--password is not a flag: exit %d, %s", code, errOut)
	}
	const pw = "Correct horse battery 42"
	if code, out, errOut := create(pw, "--email", "Ops@Example.com", "--role", "admin"); code != 0 || !strings.Contains(out, "created user ops@example.com") || !strings.Contains(out, "role admin") {
		t.Fatalf("create: exit %d, %s %s", code, out, errOut)
	}
	if code, out, _ := create("Another secret 77!", "--email", "ops@example.com", "--role", "agent"); code != 0 || !strings.Contains(out, "already exists") {
		t.Errorf("create again: exit %d, %s", code, out)
	}
	conn, err := pgx.Connect(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	var role, hash string
	conn.QueryRow(context.Background(), `SELECT count(*) OVER (), role, password_hash FROM users WHERE email = 'ops@example.com'`).Scan(&n, &role, &hash)
	if n != 1 || role != "admin" || bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw)) != nil {
		t.Errorf("users row: %d, role %s; want one admin with the first password", n, role)
	}
	if strings.Contains(hash, pw) {
		t.Error("the password is stored in clear")
	}
}

// dropDatabase drops the database beside db whose name has suffix: the
// contract stack's.
func dropDatabase(t *testing.T, db, suffix string) {
	u, _ := url.Parse(db)
	name := strings.TrimPrefix(u.Path, "/") + suffix
	conn, err := pgx.Connect(context.Background(), postgrestest.ServerURL())
	if err != nil {
		t.Errorf("drop %s: %v", name, err)
		return
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), `DROP DATABASE IF EXISTS `+pgx.Identifier{name}.Sanitize()+` WITH (FORCE)`); err != nil {
		t.Errorf("drop %s: %v", name, err)
	}
}

func TestDLQDrill(t *testing.T) {
	// A stack of the test's own, with quick retries.
	env := map[string]string{"DATABASE_URL": postgrestest.NewDatabase(t), "REOS_DATA_DIR": t.TempDir(), "REOS_ADDR": "127.0.0.1:0",
		"QUEUE_PREFIX": "drill-" + strings.ToLower(rand.Text()[:6]), "JOB_RETRY_BASE": "50ms", "JOB_MAX_ATTEMPTS": "3"}
	cfg, err := config.Load(config.Lookup(env, func(string) (string, bool) { return "", false }))
	if err != nil {
		t.Fatal(err)
	}
	m := &app.Main{Config: cfg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(); m.Teardown() })

	logPath, packs := t.TempDir()+"/drill.log", t.TempDir()
	code, out, errOut := runCLI([]string{"dlq", "drill", "--log", logPath, "--timeout", "60s", "--evidence", "--evidence-dir", packs}, map[string]string{"REOS_BASE_URL": m.URL()})
	if code != 0 {
		t.Fatalf("reos dlq drill exited %d\n%s\n%s", code, out, errOut)
	}
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	log := string(b)
	for _, want := range []string{"fault on", "dead-lettered: dlq id", "after 3 attempts", "x-death: queue", "fault cleared", "replayed dlq id", "delivered: message", "PASSED"} {
		if !strings.Contains(log, want) {
			t.Errorf("drill log lacks %q:\n%s", want, log)
		}
	}

	// --evidence: a sealed pack that verifies, with the drill log, the
	// exchanges as transcripts and the refused egress drill.
	latest := filepath.Join(packs, "latest")
	if code, vout, verr := runCLI([]string{"evidence", "verify", latest}, nil); code != 0 || !strings.Contains(vout, "OK:") {
		t.Fatalf("reos evidence verify: exit %d\n%s%s", code, vout, verr)
	}
	dir, _ := filepath.EvalSymlinks(latest)
	for _, want := range []string{"dlq/dlq-drill.log", "api_tests/drill-05-post-api-v1-communications-sms.txt", "egress/attempt-01-api.twilio.com.json", "index.html", "manifest.sig"} {
		if _, err := os.Stat(filepath.Join(dir, want)); err != nil {
			t.Errorf("the pack lacks %s", want)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "egress", "attempt-01-api.twilio.com.json")); !strings.Contains(string(b), `"refused": true`) || !strings.Contains(string(b), `"expected": true`) {
		t.Errorf("egress record: %s", b)
	}
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if b, _ := os.ReadFile(path); err == nil && !d.IsDir() && bytes.Contains(b, []byte(fixtures.DemoPassword)) {
			t.Errorf("%s holds the admin's password", path)
		}
		return nil
	})
	// One byte changed anywhere: verify names the file and exits non-zero.
	target := filepath.Join(dir, "dlq", "dlq-drill.log")
	b, _ = os.ReadFile(target)
	b[0] ^= 1
	os.WriteFile(target, b, 0o644)
	if code, vout, _ := runCLI([]string{"evidence", "verify", dir}, nil); code == 0 || !strings.Contains(vout, "changed: dlq/dlq-drill.log") {
		t.Errorf("verify after a flipped byte: exit %d\n%s", code, vout)
	}
}

// TestMain runs the re-executed child of reos isolate when the test binary
// is started as one.
func TestMain(m *testing.M) {
	if dir := os.Getenv(sandbox.ChildEnv); dir != "" {
		os.Exit(sandbox.Child(dir, os.Args[1:]))
	}
	os.Exit(m.Run())
}

// reos isolate: a child's connection to an outside name and to an outside
// address, and its lookup of the name, are all recorded by the sinkhole and
// the DNS stub and reach nothing; the command's failure is the exit status.
func TestIsolate(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("curl is missing: run scripts/setup")
	}
	root := t.TempDir()
	pack, err := evidence.Create(root, "mock", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	egressLog := filepath.Join(t.TempDir(), "egress.jsonl")
	code, out, errOut := runCLI([]string{"isolate", "--evidence", pack.Dir, "--", "curl", "-sS", "-m", "5", "https://api.twilio.com/2010-04-01"},
		map[string]string{"EGRESS_LOG": egressLog})
	if strings.Contains(errOut, "cannot make the namespaces") {
		t.Skipf("namespaces are not permitted here: %s", errOut)
	}
	if code == 0 {
		t.Errorf("curl https://api.twilio.com inside reos isolate exited 0:\n%s%s", out, errOut)
	}
	for _, want := range []string{"dns lookup of api.twilio.com", ":443 (api.twilio.com) by curl"} {
		if !strings.Contains(out, want) {
			t.Errorf("reos isolate did not report %q:\n%s", want, out)
		}
	}
	if b, _ := os.ReadFile(egressLog); !strings.Contains(string(b), `"name":"api.twilio.com"`) {
		t.Errorf("EGRESS_LOG: %s", b)
	}
	if recs, _ := pack.Records(); len(recs) < 2 || recs[0].Kind != "egress" {
		t.Errorf("evidence records: %+v", recs)
	}
	code, out, _ = runCLI([]string{"isolate", "--", "curl", "-sS", "-m", "5", "http://93.184.216.34/"}, nil)
	if code == 0 || !strings.Contains(out, "tcp 93.184.216.34:80") {
		t.Errorf("an outside address: exit %d\n%s", code, out)
	}
	// What the run needs on the host still answers, through the forwarders.
	if code, out, errOut := runCLI([]string{"isolate", "--", "redis-cli", "-h", "127.0.0.1", "ping"}, nil); code != 0 || !strings.Contains(out, "no attempt") {
		t.Errorf("redis through the forwarder: exit %d\n%s%s", code, out, errOut)
	}
}

// A command's --help is printed once, to standard output; a wrong flag
// gets the usage on standard error and exit status 2.
func TestHelpIsPrintedOnce(t *testing.T) {
	code, out, errOut := runCLI([]string{"up", "--help"}, nil)
	if code != 0 || strings.Count(out, "Usage: reos up") != 1 || errOut != "" {
		t.Errorf("reos up --help: exit %d, usage %d times on stdout, stderr %q", code, strings.Count(out, "Usage: reos up"), errOut)
	}
	code, out, errOut = runCLI([]string{"up", "--no-such-flag"}, nil)
	if code != 2 || out != "" || strings.Count(errOut, "Usage: reos up") != 1 {
		t.Errorf("reos up --no-such-flag: exit %d, stdout %q, usage %d times on stderr", code, out, strings.Count(errOut, "Usage: reos up"))
	}
	code, out, _ = runCLI(nil, nil)
	for _, c := range commands {
		if !strings.Contains(out, "  "+c.name) {
			t.Errorf("reos's usage does not list %s", c.name)
		}
	}
}

// reos contract diff names the drift between two packs' ledgers — a field
// a double dropped, a status it changed — and nothing else.
func TestContractDiff(t *testing.T) {
	pack := func(lines ...string) string {
		dir := t.TempDir()
		os.MkdirAll(filepath.Join(dir, "contracts"), 0o755)
		os.WriteFile(filepath.Join(dir, "contracts", "twilio-ledger.jsonl"), []byte(strings.Join(lines, "\n")+"\n"), 0o644)
		return dir
	}
	const create = `{"contract":"twilio","operation":"POST /Messages.json","status":%d,"fields":{"/sid":"string","/status":"string"%s}}`
	vendor := pack(fmt.Sprintf(create, 201, `,"/num_segments":"string"`), fmt.Sprintf(create, 201, `,"/num_segments":"string"`))
	same := pack(fmt.Sprintf(create, 201, `,"/num_segments":"string"`))
	drifted := pack(fmt.Sprintf(create, 200, ""))
	if code, out, errOut := runCLI([]string{"contract", "diff", vendor, same}, nil); code != 0 || !strings.Contains(out, "no difference") {
		t.Errorf("two runs alike: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ := runCLI([]string{"contract", "diff", vendor, drifted}, nil)
	want := "twilio POST /Messages.json: status 200 in B only\ntwilio POST /Messages.json: status 201 in A only\n"
	if code != 1 || !strings.HasPrefix(out, want) {
		t.Errorf("a drifted double: exit %d\n%s\nwant first\n%s", code, out, want)
	}
}

// reos contract upgrade lists the breaking changes of a newer Twilio
// document that touch the operations the ledger shows used, and only
// counts the rest.
func TestContractUpgrade(t *testing.T) {
	var spec map[string]any
	if err := json.Unmarshal(contracts.Read(t, "twilio/twilio_api_v2010.json"), &spec); err != nil {
		t.Fatal(err)
	}
	schemas := spec["components"].(map[string]any)["schemas"].(map[string]any)
	schemas["api.v2010.account.message"].(map[string]any)["properties"].(map[string]any)["body"] = map[string]any{"type": "integer"}
	delete(spec["paths"].(map[string]any), "/2010-04-01/Accounts/{AccountSid}/Calls.json") // unused: counted, not listed
	next := filepath.Join(t.TempDir(), "next.json")
	b, _ := json.Marshal(spec)
	os.WriteFile(next, b, 0o644)
	pack := t.TempDir()
	os.MkdirAll(filepath.Join(pack, "contracts"), 0o755)
	os.WriteFile(filepath.Join(pack, "contracts", "twilio-ledger.jsonl"),
		[]byte(`{"contract":"twilio","operation":"POST /2010-04-01/Accounts/{AccountSid}/Messages.json","status":201}`+"\n"), 0o644)
	code, out, errOut := runCLI([]string{"contract", "upgrade", "--contract", "twilio", "--spec", next, "--pack", pack}, nil)
	if code != 1 || strings.Count(out, "BREAKING") != 1 || !strings.Contains(out, "BREAKING POST /2010-04-01/Accounts/{AccountSid}/Messages.json: the `body` response's property `type` changed") ||
		strings.Contains(out, "Calls.json") {
		t.Errorf("exit %d\n%s%s", code, out, errOut)
	}
}
