package main

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/real-estate-os/reos/evidence"
	"github.com/real-estate-os/reos/internal/sandbox"
	"github.com/real-estate-os/reos/suites/client"
	"github.com/real-estate-os/reos/system/egress"
)

// runEvidence is `reos evidence verify DIR [--pubkey FILE]`.
func runEvidence(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("reos evidence verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	pub := fs.String("pubkey", "", "the signer's ed25519 public key (PEM) you trust; without it the pack's own key is used, which proves integrity only")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: reos evidence verify DIR [--pubkey FILE]\n\nRecomputes every file's SHA-256 against manifest.json, reports every missing, added or changed\nfile, refuses paths outside the pack and symlinks, and checks manifest.sig and both attestations.\n\nAlso: reos evidence diff A B; reos evidence merge OUT PACK...")
		fs.PrintDefaults()
	}
	if len(args) > 0 && args[0] == "diff" {
		return evidenceDiff(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "merge" {
		return evidenceMerge(args[1:], os.LookupEnv, stdout, stderr)
	}
	if len(args) == 0 || args[0] != "verify" {
		fs.Usage()
		return 2
	}
	// The directory may come before or after the flags.
	dirs, err := operands(fs, args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return 2
	}
	if len(dirs) != 1 {
		fs.Usage()
		return 2
	}
	dir := dirs[0]
	trusted, err := trustedKey(*pub)
	if err != nil {
		fmt.Fprintf(stderr, "reos evidence verify: %v\n", err)
		return 2
	}
	r, err := evidence.Verify(dir, trusted)
	if err != nil {
		fmt.Fprintf(stderr, "reos evidence verify: %v\n", err)
		return 1
	}
	fmt.Fprint(stdout, r)
	if !r.OK() {
		return 1
	}
	return 0
}

// drillPack records the drill into a pack: every exchange as a transcript,
// the deliberate egress drill, the drill log; and seals it.
type drillPack struct {
	pack  *evidence.Pack
	base  string
	n     int
	spec  string
	guard *egress.Guard
	sink  bytes.Buffer
	// pending is the last exchange, held back while the same request is
	// repeated (polling): only the last of a run is kept, with its count.
	pending *exchange
}

type exchange struct {
	key     string
	times   int
	req     *http.Request
	reqBody []byte
	res     *http.Response
	resBody []byte
}

func (d *drillPack) flush() {
	e := d.pending
	if e == nil {
		return
	}
	d.pending = nil
	d.n++
	name := fmt.Sprintf("drill-%02d-%s", d.n, e.key)
	if e.times > 1 {
		name += fmt.Sprintf("-last-of-%d-polls", e.times)
	}
	d.pack.Exchange(d.spec, name, e.req, e.reqBody, e.res, e.resBody)
}

func newDrillPack(root, mode string) (*drillPack, error) {
	p, err := evidence.Create(root, mode, time.Now())
	if err != nil {
		return nil, err
	}
	d := &drillPack{pack: p, spec: "reos dlq drill"}
	return d, nil
}

// attach records c's exchanges and makes c dial through an egress guard
// that allows loopback and the stack's own host.
func (d *drillPack) attach(c *client.Client) {
	d.base = c.Base
	d.guard = &egress.Guard{Sink: &d.sink}
	if u, err := url.Parse(c.Base); err == nil {
		d.guard.Allow = append(d.guard.Allow, strings.ToLower(u.Hostname()))
	}
	c.HTTP = d.guard.HTTPClient("reos-dlq-drill", 15*time.Second)
	c.Seen = func(r *client.Response) {
		req, reqBody, res, resBody := r.Request, r.RequestBody, r.Raw, r.Body
		key := strings.ToLower(req.Method) + "-" + strings.Trim(strings.ReplaceAll(req.URL.Path, "/", "-"), "-")
		times := 1
		if d.pending != nil && d.pending.key == key && req.Method == http.MethodGet {
			times = d.pending.times + 1
		} else {
			d.flush()
		}
		d.pending = &exchange{key: key, times: times, req: req, reqBody: reqBody, res: res, resBody: resBody}
	}
}

// egressDrill tries to reach a real vendor host the way a provider would;
// the guard refuses it before any lookup, and the refusal is recorded.
func (d *drillPack) egressDrill(l *drillLog) error {
	c := d.guard.HTTPClient("egress-drill", 5*time.Second)
	req, _ := http.NewRequest("POST", "https://api.twilio.com/2010-04-01/Accounts/ACdrill/Messages.json", strings.NewReader("To=%2B15005550006&Body=drill"))
	res, err := c.Do(req)
	if err == nil {
		res.Body.Close()
		return errors.New("egress drill: a request to api.twilio.com was not refused")
	}
	var blocked *egress.BlockedError
	if !errors.As(err, &blocked) {
		return fmt.Errorf("egress drill: refused, but not by the guard: %v", err)
	}
	l.step("egress drill: a send to api.twilio.com:443 was refused before any DNS lookup (%s)", blocked.Reason)
	return nil
}

// seal writes the guard's attempts and the log, then seals the pack.
// It returns runErr, or the first unexpected egress attempt, once sealed.
func (d *drillPack) seal(env func(string) (string, bool), logPath string, status map[string]string, start time.Time, runErr error, stdout io.Writer) (err error) {
	d.flush()
	unexpected, err := d.pack.GuardLog(d.spec, "attempt", d.sink.Bytes(), func(a egress.Attempt) bool { return a.Provider == "egress-drill" })
	if err != nil {
		return err
	}
	if len(unexpected) > 0 && runErr == nil { // only the deliberate drill may try to leave
		runErr = fmt.Errorf("an unexpected attempt to leave the machine: %s to %s", unexpected[0].Provider, unexpected[0].Address)
	}
	if b, err := os.ReadFile(logPath); err == nil {
		if _, err := d.pack.DrillLog(d.spec, "dlq-drill", b); err != nil {
			return err
		}
	}
	key, ephemeral, err := evidence.SigningKey(env)
	if err != nil {
		return err
	}
	commit, dirty := evidence.Git()
	outcome, counts := "passed", map[string]int{"passed": 1}
	if runErr != nil {
		outcome, counts = "failed", map[string]int{"failed": 1}
	}
	records, _ := d.pack.Records()
	var files []string
	for _, r := range records {
		files = append(files, r.File)
	}
	end := time.Now().UTC()
	keyNote := "a key made for this run"
	if !ephemeral {
		keyNote, _ = env("EVIDENCE_SIGNING_KEY")
	}
	f := evidence.Facts{Commit: commit, Dirty: dirty, Mode: d.pack.Mode, Providers: status, Start: start, End: end, Counts: counts,
		Config:   evidence.RedactConfig(map[string]string{"REOS_BASE_URL": d.base, "EVIDENCE_SIGNING_KEY": keyNote}),
		Versions: evidence.Versions(env), EphemeralKey: ephemeral, Network: drillNetwork(),
		Flows: []evidence.Flow{{Name: "DLQ drill: fault → dead letter → replay → delivered; egress drill", Outcome: outcome, Duration: end.Sub(start), Files: files}}}
	if err := d.pack.Seal(f, key); err != nil {
		return err
	}
	defer func() {
		if runErr != nil && err == nil {
			err = runErr
		}
	}()
	fmt.Fprintf(stdout, "evidence pack: %s\n", d.pack.Dir)
	if ephemeral {
		fmt.Fprintf(stdout, "signed with a key made for this run (set EVIDENCE_SIGNING_KEY to use yours); its public key:\n%s", evidence.PublicKeyPEM(key.Public().(ed25519.PublicKey)))
	}
	r, err := evidence.Verify(d.pack.Dir, key.Public().(ed25519.PublicKey))
	if err != nil {
		return err
	}
	if !r.OK() {
		return fmt.Errorf("the pack just sealed does not verify:\n%s", r)
	}
	fmt.Fprintf(stdout, "verified: %d files; check it yourself with: reos evidence verify %s\n", r.Files, d.pack.Dir)
	return nil
}

// evidenceDiff is `reos evidence diff A B`: what changed between two packs.
// It exits 1 when anything that matters changed: a spec's outcome, a
// stable hash, the files, the contract ledgers.
func evidenceDiff(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("reos evidence diff", flag.ContinueOnError)
	fs.SetOutput(stderr)
	slower := fs.Float64("slower", 2, "list a spec whose time grew by this factor (and by more than a second)")
	dirs, err := operands(fs, args)
	if err != nil {
		return 2
	}
	if len(dirs) != 2 {
		fmt.Fprintln(stderr, "Usage: reos evidence diff PACK_A PACK_B [--slower 2]\n\nWhat changed from A to B: each spec's outcome, the hashes of what does not depend on the run,\nthe files, the contract ledgers (which exit 1), and timings and per-run data (listed only).")
		return 2
	}
	changes, err := evidence.Diff(dirs[0], dirs[1], *slower)
	if err != nil {
		fmt.Fprintf(stderr, "reos evidence diff: %v\n", err)
		return 2
	}
	matters := 0
	for _, c := range changes {
		fmt.Fprintln(stdout, c)
		if c.Matters {
			matters++
		}
	}
	fmt.Fprintf(stdout, "%d change(s) that matter (marked !), %d listed only; A is %s, B is %s\n", matters, len(changes)-matters, dirs[0], dirs[1])
	if matters > 0 {
		return 1
	}
	return 0
}

// evidenceMerge is `reos evidence merge OUT PACK... [--pubkey FILE]`: one
// pack of the packs of a run's shards (reos green --shard), in one mode.
func evidenceMerge(args []string, env func(string) (string, bool), stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("reos evidence merge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	pub := fs.String("pubkey", "", "the shards' signer's ed25519 public key (PEM) you trust; without it each pack is checked with its own key")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: reos evidence merge OUT PACK... [--pubkey FILE]\n\n"+
			"Makes one pack at OUT (a new directory) of the packs of one run's shards in one mode (reos green --shard I/N):\n"+
			"each is verified first; the merged pack holds every file, one junit.xml, the specs' outcomes, flows and contract\n"+
			"coverage of all, and each source's manifest digest; it is signed with EVIDENCE_SIGNING_KEY (or a key made for it)\n"+
			"and verified. Exits 1 when it cannot merge, or when the merged run has a failed spec.")
		fs.PrintDefaults()
	}
	dirs, err := operands(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return 2
	}
	if len(dirs) < 2 {
		fs.Usage()
		return 2
	}
	trusted, err := trustedKey(*pub)
	if err != nil {
		fmt.Fprintf(stderr, "reos evidence merge: %v\n", err)
		return 2
	}
	key, ephemeral, err := evidence.SigningKey(env)
	if err != nil {
		fmt.Fprintf(stderr, "reos evidence merge: %v\n", err)
		return 1
	}
	m, err := evidence.Merge(dirs[0], dirs[1:], key, trusted, evidence.Facts{EphemeralKey: ephemeral, CI: evidence.Provenance(env)})
	if err != nil {
		fmt.Fprintf(stderr, "reos evidence merge: %v\n", err)
		return 1
	}
	f := m.Facts
	fmt.Fprintf(stdout, "reos evidence merge: %d packs (%s mode, commit %.12s) into %s\n", len(f.Sources), f.Mode, f.Commit, m.Dir)
	for _, s := range f.Sources {
		fmt.Fprintf(stdout, "  from %-24s shard %-5s %4d files, manifest sha256 %.16s…\n", s.Pack, s.Shard, s.Files, s.Manifest)
	}
	for _, fl := range f.Flows {
		fmt.Fprintf(stdout, "  %-7s %s\n", strings.ToUpper(fl.Outcome), fl.Name)
	}
	for _, r := range m.Renamed {
		fmt.Fprintf(stdout, "  kept both: %s\n", r)
	}
	fmt.Fprintf(stdout, "%d passed, %d failed, %d skipped; sealed and verified", f.Counts["passed"], f.Counts["failed"], f.Counts["skipped"])
	if ephemeral {
		fmt.Fprintf(stdout, " (signed with a key made for this merge: %s)", filepath.Join(m.Dir, evidence.PublicKeyFile))
	}
	fmt.Fprintln(stdout)
	if f.Counts["failed"] > 0 {
		return 1
	}
	return 0
}

// drillNetwork is how the drill was kept on the machine, for its pack's
// egress attestation.
func drillNetwork() evidence.Network {
	if _, inside := sandbox.Inside(); inside {
		return evidence.Network{Isolated: true, Isolation: sandbox.Isolation}
	}
	return evidence.Network{Isolation: "not isolated: reos dlq drill ran outside reos isolate (reos isolate -- reos dlq drill … isolates it)"}
}

// trustedKey reads the ed25519 public key --pubkey names; none for "".
func trustedKey(path string) (ed25519.PublicKey, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err == nil {
		var k ed25519.PublicKey
		if k, err = evidence.ParsePublicKeyPEM(b); err == nil {
			return k, nil
		}
	}
	return nil, fmt.Errorf("--pubkey %s: %w", path, err)
}

// operands parses fs from args, where operands and flags may come in any
// order, and returns the operands.
func operands(fs *flag.FlagSet, args []string) ([]string, error) {
	var out []string
	for rest := args; len(rest) > 0; {
		if !strings.HasPrefix(rest[0], "-") {
			out, rest = append(out, rest[0]), rest[1:]
			continue
		}
		if err := fs.Parse(rest); err != nil {
			return nil, err
		}
		rest = fs.Args()
	}
	return out, nil
}
