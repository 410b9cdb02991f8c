// Package evidence writes and verifies evidence packs: what a run proved,
// in files an auditor can read and check with their own tools.
//
// A pack is a folder audit_artifacts/YYYYMMDD/<mode>-<HHMMSS>Z/ with
// screenshots/ hashes/ api_tests/ emails/ sms/ dlq/ egress/, junit.xml and
// records.jsonl (one line per record: its kind, the spec that made it, its
// file). Seal adds index.html, manifest.json (every file's SHA-256 and
// size, and the run's facts), manifest.sig (a detached ed25519 signature of
// manifest.json that openssl verifies), manifest.pub.pem, and
// attestation.intoto.json (a DSSE envelope over an in-toto Statement v1
// with the test-result predicate). Verify checks all of it.
//
// Writes are atomic (a temporary file, then a rename) and records are
// appended with single writes, so several processes (ginkgo -p) may record
// into one pack. The package knows no product internals.
package evidence

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/real-estate-os/reos/internal/atomicfile"
)

// The pack's folders.
const (
	Screenshots = "screenshots"
	Hashes      = "hashes"
	APITests    = "api_tests"
	Emails      = "emails"
	SMS         = "sms"
	DLQ         = "dlq"
	Egress      = "egress"
)

var folders = []string{Screenshots, Hashes, APITests, Emails, SMS, DLQ, Egress}

// The files Seal writes besides the records.
const (
	ManifestFile    = "manifest.json"
	SignatureFile   = "manifest.sig"
	PublicKeyFile   = "manifest.pub.pem"
	AttestationFile = "attestation.intoto.json"
	// EgressAttestationFile is the second attestation: the run's network.
	EgressAttestationFile = "attestation.egress.intoto.json"
	IndexFile             = "index.html"
	RecordsFile           = "records.jsonl"
)

// workingFile says, while a pack is being written, what it is for, so that
// other processes may Open it; Seal removes it: a sealed pack holds only
// what its manifest lists, and the manifest's facts say the mode.
const workingFile = ".pack.json"

// Pack is an evidence pack being written.
type Pack struct {
	Dir     string
	Mode    string
	Started time.Time
}

// Create makes a new pack under root for mode, named for now, and points
// root/latest at it.
func Create(root, mode string, now time.Time) (*Pack, error) {
	if !regexp.MustCompile(`^[a-z][a-z0-9-]{0,30}$`).MatchString(mode) {
		return nil, fmt.Errorf("evidence: mode %q: lower-case letters, digits and dashes", mode)
	}
	now = now.UTC()
	rel := filepath.Join(now.Format("20060102"), mode+"-"+now.Format("150405")+"Z")
	dir := filepath.Join(root, rel)
	for i := 2; ; i++ { // two runs in one second get two packs
		if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
			break
		}
		dir = filepath.Join(root, fmt.Sprintf("%s-%d", rel, i))
	}
	for _, f := range folders {
		if err := os.MkdirAll(filepath.Join(dir, f), 0o755); err != nil {
			return nil, fmt.Errorf("evidence: %w", err)
		}
	}
	if err := pointLatest(root, dir); err != nil {
		return nil, err
	}
	p := &Pack{Dir: dir, Mode: mode, Started: now}
	b, _ := json.Marshal(map[string]any{"mode": mode, "started": now})
	return p, p.write(workingFile, b)
}

// Open opens a pack another process created.
func Open(dir string) (*Pack, error) {
	b, err := os.ReadFile(filepath.Join(dir, workingFile))
	if errors.Is(err, os.ErrNotExist) {
		if _, serr := os.Stat(filepath.Join(dir, ManifestFile)); serr == nil {
			return nil, fmt.Errorf("evidence: %s is sealed: a sealed pack does not change", dir)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("evidence: %s is not a pack being written: %w", dir, err)
	}
	var meta struct {
		Mode    string    `json:"mode"`
		Started time.Time `json:"started"`
	}
	if err := json.Unmarshal(b, &meta); err != nil {
		return nil, fmt.Errorf("evidence: %s: %w", dir, err)
	}
	return &Pack{Dir: dir, Mode: meta.Mode, Started: meta.Started}, nil
}

// pointLatest makes root/latest a relative symlink to dir, atomically.
func pointLatest(root, dir string) error {
	target, err := filepath.Rel(root, dir)
	if err != nil {
		return err
	}
	tmp := filepath.Join(root, ".latest-"+randomSuffix())
	if err := os.Symlink(target, tmp); err != nil {
		return fmt.Errorf("evidence: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(root, "latest")); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("evidence: %w", err)
	}
	return nil
}

func randomSuffix() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// write stores data at rel inside the pack, atomically.
func (p *Pack) write(rel string, data []byte) error {
	if err := safeRel(rel); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(p.Dir, rel), data); err != nil {
		return fmt.Errorf("evidence: write %s: %w", rel, err)
	}
	return nil
}

// writeFile stores data at path atomically, making its directory.
func writeFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.Write(path, data, 0o644)
}

// safeRel refuses a path that is absolute or leaves the pack.
func safeRel(rel string) error {
	if rel == "" || filepath.IsAbs(rel) || strings.HasPrefix(rel, "/") || filepath.Clean(rel) != rel ||
		rel == ".." || strings.HasPrefix(rel, "../") || strings.Contains(rel, "/../") || strings.Contains(rel, "\\") {
		return fmt.Errorf("evidence: path %q is not inside the pack", rel)
	}
	return nil
}

// Record is one line of records.jsonl.
type Record struct {
	Kind string    `json:"kind"`
	Spec string    `json:"spec"`
	File string    `json:"file"`
	Time time.Time `json:"time"`
}

// add stores data as a record of kind made by spec.
func (p *Pack) add(kind, spec, rel string, data []byte) (string, error) {
	if err := p.write(rel, data); err != nil {
		return "", err
	}
	line, _ := json.Marshal(Record{Kind: kind, Spec: spec, File: rel, Time: time.Now().UTC()})
	f, err := os.OpenFile(filepath.Join(p.Dir, RecordsFile), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return "", fmt.Errorf("evidence: %w", err)
	}
	defer f.Close()
	if _, err := f.Write(append(line, '\n')); err != nil { // one write: appends from several processes do not interleave
		return "", fmt.Errorf("evidence: %w", err)
	}
	return filepath.Join(p.Dir, rel), nil
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// fileName makes name safe as one file name.
func fileName(name string) string {
	n := strings.Trim(unsafeName.ReplaceAllString(name, "-"), "-.")
	if n == "" {
		n = "record"
	}
	return n
}

// Records returns what was recorded, in order.
func (p *Pack) Records() ([]Record, error) {
	b, err := os.ReadFile(filepath.Join(p.Dir, RecordsFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Record
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var r Record
		if line != "" && json.Unmarshal([]byte(line), &r) == nil {
			out = append(out, r)
		}
	}
	return out, nil
}
