package evidence_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"

	"github.com/real-estate-os/reos/evidence"
)

var start = time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC)

// sealed makes a small real pack: an exchange, a hash, a screenshot, an
// email, an SMS, a drill log, an egress record, junit.xml; sealed.
func sealed(t *testing.T) (string, ed25519.PrivateKey) {
	t.Helper()
	root := t.TempDir()
	p, err := evidence.Create(root, "mock", start)
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("GET", "http://127.0.0.1:8000/api/v1/properties/30", nil)
	req.Header.Set("If-None-Match", `"p30.v1"`)
	res := &http.Response{Proto: "HTTP/1.1", Status: "304 Not Modified", StatusCode: 304, Header: http.Header{"Etag": {`"p30.v1"`}}}
	steps := []error{
		ignore(p.Exchange("ETag 304", "etag-304", req, nil, res, nil)),
		ignore(p.Hash("memo", "memo-30.pdf", []byte("%PDF-1.3 memo"))),
		ignore(p.Screenshot("board", "board.png", []byte("\x89PNG fake"))),
		ignore(p.Email("email", "owner30", []byte("Subject: hi\r\n\r\nbody"), nil)),
		ignore(p.SMS("sms", "SM123", map[string]string{"sid": "SM123", "status": "delivered"})),
		ignore(p.DrillLog("dlq", "drill", []byte("step 1\nstep 2\n"))),
		ignore(p.Egress("egress", "drill-api.twilio.com", evidence.EgressAttempt{Time: start, Host: "api.twilio.com", Port: "443", Refused: true, Expected: true})),
		ignore(p.Egress("reos isolate", "isolate-01-api.openai.com", evidence.EgressAttempt{Time: start, Host: "api.openai.com", Port: "53",
			Network: "dns", Name: "api.openai.com", Refused: true})),
		ignore(p.File("suite", "junit.xml", []byte("<testsuites/>"))),
	}
	for _, err := range steps {
		if err != nil {
			t.Fatal(err)
		}
	}
	key := evidence.NewKey()
	if err := p.Seal(evidence.Facts{Commit: "abc123", Counts: map[string]int{"passed": 2}, End: start.Add(time.Minute),
		Flows:   []evidence.Flow{{Name: "memo", Outcome: "passed", Duration: time.Second}},
		Network: evidence.Network{Isolation: "not isolated: a test"}}, key); err != nil {
		t.Fatal(err)
	}
	return p.Dir, key
}

func ignore[T any](_ T, err error) error { return err }

// sealAndVerify seals p with a key of its own and returns what Verify
// reports of it.
func sealAndVerify(t *testing.T, p *evidence.Pack, f evidence.Facts) *evidence.Report {
	t.Helper()
	if err := p.Seal(f, evidence.NewKey()); err != nil {
		t.Fatal(err)
	}
	r, err := evidence.Verify(p.Dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestSealedPackVerifies(t *testing.T) {
	dir, key := sealed(t)
	r, err := evidence.Verify(dir, nil)
	if err != nil || !r.OK() || !r.KeyFromPack || r.Files < 9 {
		t.Fatalf("Verify = %+v, %v", r, err)
	}
	if !strings.Contains(r.String(), "proves the pack is whole, not who signed it") {
		t.Errorf("a check with the pack's own key does not say what it proves:\n%s", r)
	}
	if r, _ := evidence.Verify(dir, key.Public().(ed25519.PublicKey)); !r.OK() || r.KeyFromPack {
		t.Errorf("Verify with the signer's key = %+v", r)
	}
	other := evidence.NewKey()
	if r, _ := evidence.Verify(dir, other.Public().(ed25519.PublicKey)); r.OK() {
		t.Error("a pack verified with somebody else's key")
	}
	// audit_artifacts/latest points at it.
	if r, err := evidence.Verify(filepath.Join(filepath.Dir(filepath.Dir(dir)), "latest"), nil); err != nil || !r.OK() {
		t.Errorf("Verify(latest) = %+v, %v", r, err)
	}
	var m evidence.Manifest
	b, _ := os.ReadFile(filepath.Join(dir, evidence.ManifestFile))
	if err := json.Unmarshal(b, &m); err != nil || m.Facts.Commit != "abc123" || m.Facts.Mode != "mock" || len(m.Files) != r.Files {
		t.Errorf("manifest round trip: %+v %v", m.Facts, err)
	}
}

// An auditor's own tools: scripts/check-pack (openssl, jq and coreutils,
// reading only manifest.json) accepts a sealed pack; altering, adding or
// renaming any file — dot-files included — makes both it and Verify
// refuse the pack, Verify naming the file.
func TestIndependentCheck(t *testing.T) {
	for _, tool := range []string{"openssl", "jq", "sha256sum"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (scripts/setup installs it)", tool)
		}
	}
	script, _ := filepath.Abs("../scripts/check-pack")
	check := func(dir string) (string, error) {
		out, err := exec.Command(script, dir).CombinedOutput()
		return string(out), err
	}
	dir, _ := sealed(t)
	if out, err := check(dir); err != nil || !strings.Contains(out, "check-pack: OK") ||
		!strings.Contains(out, evidence.EgressPredicate) || !strings.Contains(out, evidence.TestResultPredicate) {
		t.Fatalf("check-pack on a sealed pack: %v\n%s", err, out)
	}
	for _, tt := range []struct {
		name   string
		tamper func(dir string)
		want   string // in Verify's report
	}{
		{"an altered file", func(dir string) { appendTo(t, filepath.Join(dir, "sms", "SM123.json"), " ") }, "changed: sms/SM123.json"},
		{"an altered manifest", func(dir string) { appendTo(t, filepath.Join(dir, evidence.ManifestFile), " ") }, "manifest.sig does not verify"},
		{"an added dot-file, deep", func(dir string) {
			os.WriteFile(filepath.Join(dir, "screenshots", ".thumbs"), []byte("x"), 0o644)
		}, "added: screenshots/.thumbs"},
		{"an added dot-file at the top", func(dir string) {
			os.WriteFile(filepath.Join(dir, ".pack.json"), []byte(`{"mode":"production"}`), 0o644)
		}, "added: .pack.json"},
		{"a renamed file", func(dir string) {
			os.Rename(filepath.Join(dir, "dlq", "drill.log"), filepath.Join(dir, "dlq", "drill.txt"))
		}, "added: dlq/drill.txt"},
		{"an altered egress attestation", func(dir string) {
			appendTo(t, filepath.Join(dir, evidence.EgressAttestationFile), "\n{}")
		}, "attestation.egress.intoto.json"},
	} {
		dir, _ := sealed(t)
		tt.tamper(dir)
		if out, err := check(dir); err == nil {
			t.Errorf("%s: check-pack accepted it:\n%s", tt.name, out)
		}
		r, err := evidence.Verify(dir, nil)
		if err != nil || r.OK() || !strings.Contains(r.String(), tt.want) {
			t.Errorf("%s: Verify = %v\n%s\nwant it to say %q", tt.name, err, r, tt.want)
		}
	}
}

func appendTo(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString(s)
}

// Both DSSE envelopes verify with go-securesystemslib directly: the test
// result, and the run's network with every attempt to leave the pack
// records.
func TestAttestationVerifiesWithSecureSystemsLib(t *testing.T) {
	dir, key := sealed(t)
	statement := func(file string) map[string]any {
		var env dsse.Envelope
		if err := json.Unmarshal(mustRead(t, filepath.Join(dir, file)), &env); err != nil {
			t.Fatal(err)
		}
		ev, _ := dsse.NewEnvelopeVerifier(evidence.Verifier{Key: key.Public().(ed25519.PublicKey)})
		_, payload, err := ev.VerifyAndDecode(context.Background(), &env)
		if err != nil || env.PayloadType != "application/vnd.in-toto+json" {
			t.Fatalf("%s: DSSE: %v (%s)", file, err, env.PayloadType)
		}
		var st map[string]any
		json.Unmarshal(payload, &st)
		if st["_type"] != "https://in-toto.io/Statement/v1" || len(st["subject"].([]any)) != 13 {
			t.Errorf("%s: statement %v", file, st)
		}
		return st
	}
	st := statement(evidence.AttestationFile)
	if pred, _ := st["predicate"].(map[string]any); st["predicateType"] != evidence.TestResultPredicate || pred["result"] != "PASSED" {
		t.Errorf("test result: %v", st)
	}
	st = statement(evidence.EgressAttestationFile)
	b, _ := json.Marshal(st["predicate"])
	var net evidence.EgressStatement
	json.Unmarshal(b, &net)
	if st["predicateType"] != evidence.EgressPredicate || net.Isolated || net.Isolation != "not isolated: a test" || len(net.Attempts) != 2 ||
		net.Attempts[0].Host != "api.twilio.com" || net.Attempts[0].Record != "egress/drill-api.twilio.com.json" ||
		fmt.Sprint(net.DNSNames) != "[api.openai.com]" {
		t.Errorf("egress: %s", b)
	}
}

func mustRead(t *testing.T, path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Verify names every kind of tampering.
func TestVerifyCatchesTampering(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(t *testing.T, dir string)
		want   string
	}{
		{"a changed byte", func(t *testing.T, dir string) {
			path := filepath.Join(dir, "hashes", "memo-30.pdf.json")
			b := mustRead(t, path)
			b[5] ^= 1
			os.WriteFile(path, b, 0o644)
		}, "changed: hashes/memo-30.pdf.json"},
		{"a removed file", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "sms", "SM123.json")) }, "missing: sms/SM123.json"},
		{"an added file", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "dlq", "extra.log"), []byte("x"), 0o644)
		}, "added: dlq/extra.log"},
		{"a working file left or put back", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, ".pack.json"), []byte(`{"mode":"production"}`), 0o644)
		}, "added: .pack.json"},
		{"a file named like the seal's, deeper down", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "screenshots", "manifest.sig"), []byte("x"), 0o644)
		}, "added: screenshots/manifest.sig"},
		{"a symlink", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "junit.xml"))
			os.Symlink("/etc/passwd", filepath.Join(dir, "junit.xml"))
		}, "junit.xml is not a regular file"},
		{"a path outside the pack", func(t *testing.T, dir string) { resign(t, dir, "../../etc/passwd") }, `names "../../etc/passwd"`},
		{"an absolute path", func(t *testing.T, dir string) { resign(t, dir, "/etc/passwd") }, `names "/etc/passwd"`},
		{"a bad manifest signature", func(t *testing.T, dir string) {
			path := filepath.Join(dir, evidence.SignatureFile)
			b := mustRead(t, path)
			b[0] ^= 1
			os.WriteFile(path, b, 0o644)
		}, "manifest.sig does not verify"},
		{"a bad attestation signature", func(t *testing.T, dir string) {
			path := filepath.Join(dir, evidence.AttestationFile)
			var env map[string]any
			json.Unmarshal(mustRead(t, path), &env)
			sigs := env["signatures"].([]any)
			s := sigs[0].(map[string]any)
			raw := []byte(s["sig"].(string))
			raw[3] ^= 2
			s["sig"] = string(raw)
			b, _ := json.Marshal(env)
			os.WriteFile(path, b, 0o644)
		}, "attestation.intoto.json: signature"},
		{"an egress attestation that leaves out an attempt, signed again", func(t *testing.T, dir string) {
			rewriteEgress(t, dir, func(st map[string]any) { st["predicate"].(map[string]any)["attempts"] = []any{} })
		}, "attestation.egress.intoto.json: the predicate does not describe the pack's network"},
		{"an egress attestation that says isolated, signed again", func(t *testing.T, dir string) {
			rewriteEgress(t, dir, func(st map[string]any) { st["predicate"].(map[string]any)["isolated"] = true })
		}, "attestation.egress.intoto.json: the predicate does not describe"},
		{"no egress attestation", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, evidence.EgressAttestationFile)) },
			"attestation.egress.intoto.json: evidence: attestation.egress.intoto.json is missing"},
	}
	for _, tt := range tests {
		dir, _ := sealed(t)
		tt.tamper(t, dir)
		r, err := evidence.Verify(dir, nil)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if r.OK() || !strings.Contains(r.String(), tt.want) {
			t.Errorf("%s: report\n%s\nwant it to say %q", tt.name, r, tt.want)
		}
	}
}

// rewriteEgress changes the egress statement and signs it again with a
// new key that it also puts in the pack (with the manifest signed again),
// as someone rewriting the pack would.
func rewriteEgress(t *testing.T, dir string, change func(map[string]any)) {
	path := filepath.Join(dir, evidence.EgressAttestationFile)
	var env dsse.Envelope
	json.Unmarshal(mustRead(t, path), &env)
	payload, _ := base64.StdEncoding.DecodeString(env.Payload)
	var st map[string]any
	json.Unmarshal(payload, &st)
	change(st)
	payload, _ = json.Marshal(st)
	key := evidence.NewKey()
	signed := ed25519.Sign(key, dsse.PAE(env.PayloadType, payload))
	env.Payload = base64.StdEncoding.EncodeToString(payload)
	env.Signatures = []dsse.Signature{{Sig: base64.StdEncoding.EncodeToString(signed)}}
	b, _ := json.Marshal(env)
	os.WriteFile(path, b, 0o644)
	manifest := mustRead(t, filepath.Join(dir, evidence.ManifestFile))
	os.WriteFile(filepath.Join(dir, evidence.SignatureFile), ed25519.Sign(key, manifest), 0o644)
	os.WriteFile(filepath.Join(dir, evidence.PublicKeyFile), evidence.PublicKeyPEM(key.Public().(ed25519.PublicKey)), 0o644)
	// and the test-result attestation, so that only the egress one is wrong
	var tr dsse.Envelope
	json.Unmarshal(mustRead(t, filepath.Join(dir, evidence.AttestationFile)), &tr)
	trPayload, _ := base64.StdEncoding.DecodeString(tr.Payload)
	tr.Signatures = []dsse.Signature{{Sig: base64.StdEncoding.EncodeToString(ed25519.Sign(key, dsse.PAE(tr.PayloadType, trPayload)))}}
	b, _ = json.Marshal(tr)
	os.WriteFile(filepath.Join(dir, evidence.AttestationFile), b, 0o644)
}

// resign rewrites the manifest to list path and signs it again with a new
// key (as someone rewriting the pack would): Verify must still refuse the path.
func resign(t *testing.T, dir, path string) {
	var m evidence.Manifest
	json.Unmarshal(mustRead(t, filepath.Join(dir, evidence.ManifestFile)), &m)
	m.Files = append(m.Files, evidence.Entry{Path: path, SHA256: strings.Repeat("0", 64), Size: 1})
	b, _ := json.MarshalIndent(m, "", "  ")
	key := evidence.NewKey()
	os.WriteFile(filepath.Join(dir, evidence.ManifestFile), b, 0o644)
	os.WriteFile(filepath.Join(dir, evidence.SignatureFile), ed25519.Sign(key, b), 0o644)
	os.WriteFile(filepath.Join(dir, evidence.PublicKeyFile), evidence.PublicKeyPEM(key.Public().(ed25519.PublicKey)), 0o644)
}

// Several writers — goroutines here, ginkgo -p processes in a run — record
// into one pack; every record and every line of records.jsonl is whole.
func TestConcurrentWriters(t *testing.T) {
	root := t.TempDir()
	p, err := evidence.Create(root, "mock", start)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			q, err := evidence.Open(p.Dir) // as another process would
			if err != nil {
				t.Error(err)
				return
			}
			for i := range 25 {
				if _, err := q.Hash(fmt.Sprintf("spec-%d", w), fmt.Sprintf("w%d-%d", w, i), bytes.Repeat([]byte{byte(i)}, 1000)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	recs, err := p.Records()
	if err != nil || len(recs) != 200 {
		t.Fatalf("%d records, %v; want 200", len(recs), err)
	}
	if err := p.Seal(evidence.Facts{Counts: map[string]int{"passed": 1}}, evidence.NewKey()); err != nil {
		t.Fatal(err)
	}
	if r, _ := evidence.Verify(p.Dir, nil); !r.OK() {
		t.Errorf("the pack written by 8 writers: %s", r)
	}
	filepath.WalkDir(p.Dir, func(path string, d fs.DirEntry, err error) error {
		if strings.HasPrefix(d.Name(), ".tmp-") {
			t.Errorf("a temporary file was left: %s", path)
		}
		return nil
	})
}

// A bearer token, a session cookie, a CSRF token, a password, a token in a
// URL and a signing secret never reach disk; the transcript starts with a
// curl command that replays the request with placeholders.
func TestExchangeRedactsSecrets(t *testing.T) {
	root := t.TempDir()
	p, _ := evidence.Create(root, "mock", start)
	const bearer, cookie, csrf, password, streamToken, secret = "eyJhbGciOiJIUzI1NiJ9.secret-bearer", "s3cr3t-session-id", "csrf-XYZ-123",
		"hunter2-password", "stream-token-abc", "whsec-signing-secret"
	body := fmt.Sprintf(`{"email":"agent@example.com","password":%q,"webhook_secret":%q}`, password, secret)
	req := httptest.NewRequest("POST", "http://127.0.0.1:8000/api/v1/auth/login?token="+streamToken, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+bearer)
	req.Header.Set("Cookie", "reos_session="+cookie)
	req.Header.Set("X-CSRF-Token", csrf)
	req.Header.Set("Content-Type", "application/json")
	res := &http.Response{Proto: "HTTP/1.1", Status: "200 OK", StatusCode: 200,
		Header: http.Header{"Content-Type": {"application/json"}, "Set-Cookie": {"reos_session=" + cookie + "; HttpOnly"}}}
	path, err := p.Exchange("login", "login", req, []byte(body), res, []byte(`{"access_token":"`+bearer+`","token_type":"Bearer"}`))
	if err != nil {
		t.Fatal(err)
	}
	got := string(mustRead(t, path))
	for _, s := range []string{bearer, cookie, csrf, password, streamToken, secret} {
		if strings.Contains(got, s) {
			t.Errorf("the transcript holds the secret %q:\n%s", s, got)
		}
	}
	lines := strings.Split(got, "\n")
	var curl string
	for _, l := range lines {
		if strings.HasPrefix(l, "curl ") {
			curl = l
			break
		}
	}
	if !strings.Contains(curl, `-X POST`) || !strings.Contains(curl, `"Authorization: Bearer $TOKEN"`) || !strings.Contains(curl, "--data-binary") {
		t.Errorf("the curl line %q does not replay the request", curl)
	}
}

func TestRedactConfig(t *testing.T) {
	got := evidence.RedactConfig(map[string]string{"APP_MODE": "mock", "JWT_SECRET": "s3cret", "TWILIO_AUTH_TOKEN": "tok",
		"SENDGRID_API_KEY": "SG.x", "DATABASE_URL": "postgres://reos:hunter2@127.0.0.1:5432/reos", "EVIDENCE_SIGNING_KEY": "/keys/k.pem", "S3_ACCESS_KEY_ID": ""})
	for k, v := range got {
		for _, secret := range []string{"s3cret", "tok", "SG.x", "hunter2", "/keys/k.pem"} {
			if strings.Contains(v, secret) {
				t.Errorf("%s = %q keeps a secret", k, v)
			}
		}
	}
	if got["APP_MODE"] != "mock" || !strings.HasPrefix(got["DATABASE_URL"], "postgres://reos:") || got["S3_ACCESS_KEY_ID"] != "" {
		t.Errorf("RedactConfig = %v", got)
	}
}

// A pack that holds a secret does not verify, even when it was sealed with
// the secret in it: the pack is whole, and still not fit to hand over.
func TestVerifyRefusesLeakedSecrets(t *testing.T) {
	jwt := "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxOSIsInJvbGUiOiJhZ2VudCJ9.7ZA-Cl2oejVV4rDXtZqj3EgeeXu7j1Vt0bsz_RO5HMM"
	for name, leak := range map[string]string{
		"a JSON Web Token": `{"message": "login → 200 {\"access_token\":\"` + jwt + `\"}"}`,
		"a private key":    "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI\n-----END PRIVATE KEY-----\n",
	} {
		root := t.TempDir()
		p, err := evidence.Create(root, "mock", start)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.File("suite", "junit.xml", []byte(leak)); err != nil {
			t.Fatal(err)
		}
		r := sealAndVerify(t, p, evidence.Facts{End: start.Add(time.Minute)})
		if want := "junit.xml holds what looks like " + name; r.OK() || !strings.Contains(r.String(), want) {
			t.Errorf("%s: report\n%s\nwant it to say %q", name, r, want)
		}
	}

	dir, _ := sealed(t)
	if leaks, err := evidence.Leaks(dir, "hunter2-never-written"); err != nil || len(leaks) != 0 {
		t.Errorf("a clean pack: Leaks = %q, %v", leaks, err)
	}
	leaks, err := evidence.Leaks(dir, "unused", "SM123")
	if err != nil || len(leaks) == 0 || !strings.Contains(leaks[0], "holds secret 2 of the run") {
		t.Errorf("a pack holding a run's secret: Leaks = %q, %v", leaks, err)
	}
}

// Sealing removes the working file, so a sealed pack holds nothing its
// manifest does not list, and no process can open it to write more.
func TestSealedPackHoldsOnlyItsManifest(t *testing.T) {
	dir, _ := sealed(t)
	if _, err := os.Stat(filepath.Join(dir, ".pack.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after sealing, .pack.json: %v; want it gone", err)
	}
	if _, err := evidence.Open(dir); err == nil || !strings.Contains(err.Error(), "sealed") {
		t.Errorf("Open(a sealed pack) = %v, want an error saying it is sealed", err)
	}
}

// A CI run names the change it tested; elsewhere nothing is claimed.
func TestProvenance(t *testing.T) {
	env := map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "real-estate-os/reos", "GITHUB_SHA": "abc123",
		"GITHUB_REF": "refs/pull/42/merge", "GITHUB_SERVER_URL": "https://github.com", "GITHUB_RUN_ID": "7", "GITHUB_EVENT_NAME": "pull_request"}
	got := evidence.Provenance(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	for k, want := range map[string]string{"repository": "real-estate-os/reos", "commit": "abc123", "pull_request": "42",
		"run_url": "https://github.com/real-estate-os/reos/actions/runs/7", "event": "pull_request"} {
		if got[k] != want {
			t.Errorf("Provenance()[%q] = %q, want %q", k, got[k], want)
		}
	}
	if p := evidence.Provenance(func(string) (string, bool) { return "", false }); p != nil {
		t.Errorf("outside CI: %v, want nil", p)
	}
}

// The index says which spec skipped and why, not only how many.
func TestIndexNamesSkippedSpecs(t *testing.T) {
	p, err := evidence.Create(t.TempDir(), "production", start)
	if err != nil {
		t.Fatal(err)
	}
	f := evidence.Facts{Counts: map[string]int{"passed": 1, "skipped": 1}, End: start.Add(time.Minute),
		Flows:   []evidence.Flow{{Name: "06 portfolio export", Outcome: "passed"}, {Name: "07 sse realtime", Outcome: "passed"}},
		Skipped: []evidence.Skip{{Spec: "06 portfolio export exports the seeded demo portfolio", Reason: "the stack holds no demo data"}}}
	if err := p.Seal(f, evidence.NewKey()); err != nil {
		t.Fatal(err)
	}
	index := string(mustRead(t, filepath.Join(p.Dir, "index.html")))
	if !strings.Contains(index, "Skipped: 06 portfolio export exports the seeded demo portfolio — the stack holds no demo data") {
		t.Errorf("the index does not name the skipped spec and its reason:\n%s", index)
	}
	// and in its flow's row, not another's
	row := regexp.MustCompile(`(?s)<tr><td>06 portfolio export</td>.*?</tr>`).FindString(index)
	other := regexp.MustCompile(`(?s)<tr><td>07 sse realtime</td>.*?</tr>`).FindString(index)
	if !strings.Contains(row, "skipped: 06 portfolio export exports the seeded demo portfolio — the stack holds no demo data") || strings.Contains(other, "skipped") {
		t.Errorf("the flows' rows:\n%s\n%s", row, other)
	}
}

// Sealing a pack lists it, with every other sealed pack beside it, newest
// first, in the root's index.html.
func TestHistoryListsEveryPack(t *testing.T) {
	root := t.TempDir()
	for i, c := range []map[string]int{{"passed": 3}, {"passed": 2, "failed": 1}} {
		p, err := evidence.Create(root, []string{"mock", "production"}[i], start.Add(time.Duration(i)*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Seal(evidence.Facts{Commit: fmt.Sprintf("commit%d", i), Counts: c, End: start.Add(time.Duration(i)*time.Hour + time.Minute)}, evidence.NewKey()); err != nil {
			t.Fatal(err)
		}
	}
	page := string(mustRead(t, filepath.Join(root, "index.html")))
	newer, older := strings.Index(page, "production-"), strings.Index(page, "mock-")
	if newer < 0 || older < 0 || newer > older {
		t.Fatalf("the history does not list both packs, newest first:\n%s", page)
	}
	for _, want := range []string{"FAILED", "PASSED", "commit1", "/index.html"} {
		if !strings.Contains(page, want) {
			t.Errorf("the history lacks %q", want)
		}
	}
}
