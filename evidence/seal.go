package evidence

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	testresult "github.com/in-toto/attestation/go/predicates/test_result/v0"
	intoto "github.com/in-toto/attestation/go/v1"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// PayloadType is the DSSE payload type of the attestation.
const PayloadType = "application/vnd.in-toto+json"

// TestResultPredicate is the in-toto test-result predicate's type.
const TestResultPredicate = "https://in-toto.io/attestation/test-result/v0.1"

// EgressPredicate is the type of reos's egress predicate: what the run's
// network was (EgressStatement).
const EgressPredicate = "https://github.com/real-estate-os/reos/attestation/egress/v1"

// dateDir is the name of a day's folder under a packs root.
var dateDir = regexp.MustCompile(`^[0-9]{8}$`)

// NotSelected begins the reason of a spec the run's filters left out
// (--focus, --label-filter, another shard's).
const NotSelected = "not selected"

// Flow is one flow of a run, as the index shows it.
type Flow struct {
	Name     string        `json:"name"`
	Outcome  string        `json:"outcome"` // passed, failed, skipped
	Duration time.Duration `json:"duration_ns"`
	Files    []string      `json:"files,omitempty"` // inside the pack
}

// FlowOutcome is the one rule for a flow's outcome, folding in one more
// spec's: a flow fails when any of its specs failed, passes when some
// passed and none failed, and is skipped when every spec was (start from
// "skipped").
func FlowOutcome(flow, spec string) string {
	switch {
	case spec == "failed" || flow == "failed":
		return "failed"
	case spec == "passed":
		return "passed"
	}
	return flow
}

// Facts are what the manifest says about the run.
type Facts struct {
	Commit    string            `json:"commit"`
	Dirty     bool              `json:"dirty"`
	Mode      string            `json:"mode"`
	Providers map[string]string `json:"providers,omitempty"`
	Versions  map[string]string `json:"versions,omitempty"`
	Start     time.Time         `json:"start"`
	End       time.Time         `json:"end"`
	Counts    map[string]int    `json:"counts"` // by outcome
	Config    map[string]string `json:"config,omitempty"`
	Flows     []Flow            `json:"flows,omitempty"`
	// Skipped names each spec that skipped, and why.
	Skipped []Skip `json:"skipped,omitempty"`
	// Contracts say, per contract, which document judged the run's
	// exchanges and what the ledger shows of it.
	Contracts []Contract `json:"contracts,omitempty"`
	// CI is the change the run tested as the CI system names it
	// (Provenance): repository, ref, pull request, run URL.
	CI map[string]string `json:"ci,omitempty"`
	// EphemeralKey is set when the pack was signed with a key made for
	// this run (no EVIDENCE_SIGNING_KEY).
	EphemeralKey bool `json:"ephemeral_key"`
	// Network says how the run was kept on the machine.
	Network Network `json:"network"`
	// Shard is I/N when the run was one of N shards (reos green --shard).
	Shard string `json:"shard,omitempty"`
	// Sources are the packs a merged pack was made of (reos evidence
	// merge), each with its manifest's digest.
	Sources []Source `json:"sources,omitempty"`
}

// Network is how a run was kept on the machine.
type Network struct {
	// Isolated is set when the run's processes had only loopback (a
	// network namespace of reos isolate).
	Isolated bool `json:"isolated"`
	// Isolation says how, or why not.
	Isolation string `json:"isolation"`
}

// Guard is what refuses a connection in every run, isolated or not.
const Guard = "the product's egress guard (and the suite's own clients') refuses every destination but loopback before any DNS lookup, and records each attempt"

// EgressStatement is the egress attestation's predicate: the run's
// network, every attempt to leave the pack records (egress/), and the DNS
// names asked.
type EgressStatement struct {
	Isolated  bool     `json:"isolated"`
	Isolation string   `json:"isolation"`
	Guard     string   `json:"guard"`
	Attempts  []Leave  `json:"attempts"`
	DNSNames  []string `json:"dnsNames"`
}

// Leave is one attempt to leave, as the egress predicate lists it.
type Leave struct {
	EgressAttempt
	Record string `json:"record"` // its file in the pack
}

// isEgressRecord says whether a pack's file is an egress record.
func isEgressRecord(rel string) bool {
	return strings.HasPrefix(rel, Egress+"/") && strings.HasSuffix(rel, ".json")
}

// egressStatement builds the predicate from the pack's egress records, as
// read returns them by their path in the pack.
func egressStatement(m Manifest, read func(rel string) ([]byte, error)) (EgressStatement, error) {
	st := EgressStatement{Isolated: m.Facts.Network.Isolated, Isolation: m.Facts.Network.Isolation, Guard: Guard,
		Attempts: []Leave{}, DNSNames: []string{}}
	names := map[string]bool{}
	for _, e := range m.Files {
		if !isEgressRecord(e.Path) {
			continue
		}
		b, err := read(e.Path)
		if err != nil {
			return st, err
		}
		var a EgressAttempt
		if err := json.Unmarshal(b, &a); err != nil {
			return st, fmt.Errorf("evidence: %s: %w", e.Path, err)
		}
		st.Attempts = append(st.Attempts, Leave{EgressAttempt: a, Record: e.Path})
		if a.Network == "dns" && a.Name != "" && !names[a.Name] {
			names[a.Name] = true
			st.DNSNames = append(st.DNSNames, a.Name)
		}
	}
	sort.Strings(st.DNSNames)
	return st, nil
}

// Contract is one contract's coverage, as the index shows it.
type Contract struct {
	Name        string  `json:"name"`
	File        string  `json:"file"`   // the document that judged
	Source      string  `json:"source"` // where it came from
	Pin         string  `json:"pin,omitempty"`
	Behind      string  `json:"behind"` // what answered: the product, a double (URL), the vendor
	Documented  int     `json:"documented"`
	Exercised   int     `json:"exercised"`
	Validated   int     `json:"validated"`
	Exchanges   int     `json:"exchanges"`
	Violations  int     `json:"violations"`
	Conformance float64 `json:"conformance"`
	Report      string  `json:"report"` // the coverage report in the pack
}

// Skip is a spec that skipped, and the reason it gave.
type Skip struct {
	Spec   string `json:"spec"`
	Reason string `json:"reason"`
}

// Entry is one file of the manifest.
type Entry struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// Manifest is manifest.json.
type Manifest struct {
	Version int     `json:"version"`
	Facts   Facts   `json:"facts"`
	Files   []Entry `json:"files"`
}

// sealFiles are written by Seal and not listed in the manifest.
var sealFiles = map[string]bool{ManifestFile: true, SignatureFile: true, PublicKeyFile: true, AttestationFile: true, EgressAttestationFile: true}

// LoadKey reads an ed25519 private key (PEM, PKCS #8), as
// EVIDENCE_SIGNING_KEY names it.
func LoadKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("evidence: signing key: %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("evidence: signing key %s is not PEM", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("evidence: signing key %s: %w", path, err)
	}
	ed, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("evidence: signing key %s is not ed25519", path)
	}
	return ed, nil
}

// NewKey makes an ed25519 key for one run.
func NewKey() ed25519.PrivateKey {
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	return k
}

// PublicKeyPEM is the public half of k as PEM SubjectPublicKeyInfo.
func PublicKeyPEM(k ed25519.PublicKey) []byte {
	der, _ := x509.MarshalPKIXPublicKey(k)
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// ParsePublicKeyPEM reads an ed25519 public key.
func ParsePublicKeyPEM(b []byte) (ed25519.PublicKey, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("not PEM")
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	ed, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, errors.New("not an ed25519 key")
	}
	return ed, nil
}

// signer signs DSSE envelopes with an ed25519 key.
type signer struct{ k ed25519.PrivateKey }

func (s signer) Sign(_ context.Context, data []byte) ([]byte, error) {
	return ed25519.Sign(s.k, data), nil
}
func (s signer) KeyID() (string, error) { return dsse.SHA256KeyID(s.k.Public()) }

// Verifier checks DSSE signatures with an ed25519 public key.
type Verifier struct{ Key ed25519.PublicKey }

// Verify checks sig over data.
func (v Verifier) Verify(_ context.Context, data, sig []byte) error {
	if !ed25519.Verify(v.Key, data, sig) {
		return errors.New("ed25519: bad signature")
	}
	return nil
}

// KeyID is the key's SHA-256 id.
func (v Verifier) KeyID() (string, error) { return dsse.SHA256KeyID(v.Key) }

// Public is the key.
func (v Verifier) Public() crypto.PublicKey { return v.Key }

// Seal writes the index, then the manifest of every file with the run's
// facts, its signature and public key, and the in-toto attestation. After
// Seal the pack must not change.
func (p *Pack) Seal(f Facts, key ed25519.PrivateKey) error {
	if f.Mode == "" {
		f.Mode = p.Mode
	}
	if f.Start.IsZero() {
		f.Start = p.Started
	}
	if err := p.writeIndex(f); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(p.Dir, workingFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("evidence: %w", err)
	}
	entries, err := listFiles(p.Dir)
	if err != nil {
		return err
	}
	m := Manifest{Version: 1, Facts: f, Files: entries}
	manifest, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	manifest = append(manifest, '\n')
	if err := p.write(ManifestFile, manifest); err != nil {
		return err
	}
	if err := p.write(SignatureFile, ed25519.Sign(key, manifest)); err != nil {
		return err
	}
	if err := p.write(PublicKeyFile, PublicKeyPEM(key.Public().(ed25519.PublicKey))); err != nil {
		return err
	}
	for file, attest := range map[string]func(Manifest) (string, any, error){
		AttestationFile: func(m Manifest) (string, any, error) { return TestResultPredicate, testResult(m, manifest), nil },
		EgressAttestationFile: func(m Manifest) (string, any, error) {
			st, err := egressStatement(m, func(rel string) ([]byte, error) { return os.ReadFile(filepath.Join(p.Dir, filepath.FromSlash(rel))) })
			return EgressPredicate, st, err
		},
	} {
		kind, predicate, err := attest(m)
		if err != nil {
			return err
		}
		envelope, err := statement(m, manifest, kind, predicate, key)
		if err != nil {
			return err
		}
		if err := p.write(file, envelope); err != nil {
			return err
		}
	}
	// The list of every pack beside this one, outside any pack, when the
	// pack is in a day's folder of a packs root (as Create makes them).
	if !dateDir.MatchString(filepath.Base(filepath.Dir(p.Dir))) {
		return nil
	}
	return WriteHistory(filepath.Dir(filepath.Dir(p.Dir)))
}

// listFiles returns every regular file of the pack but the seal's, sorted.
func listFiles(dir string) ([]Entry, error) {
	var out []Entry
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if d.IsDir() || sealFiles[rel] {
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return fmt.Errorf("evidence: %s is a symlink; a pack holds files only", rel)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		out = append(out, Entry{Path: filepath.ToSlash(rel), SHA256: hex.EncodeToString(sum[:]), Size: int64(len(b))})
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, err
}

// testResult is the in-toto test-result predicate of the run.
func testResult(m Manifest, manifest []byte) *testresult.TestResult {
	sum := sha256.Sum256(manifest)
	result := "PASSED"
	switch {
	case m.Facts.Counts["failed"] > 0:
		result = "FAILED"
	case m.Facts.Counts["skipped"] > 0 || m.Facts.Counts["passed"] == 0:
		result = "WARNED"
	}
	tr := &testresult.TestResult{Result: result,
		Configuration: []*intoto.ResourceDescriptor{{Name: ManifestFile, Digest: map[string]string{"sha256": hex.EncodeToString(sum[:])}}}}
	for _, fl := range m.Facts.Flows {
		switch fl.Outcome {
		case "passed":
			tr.PassedTests = append(tr.PassedTests, fl.Name)
		case "failed":
			tr.FailedTests = append(tr.FailedTests, fl.Name)
		default:
			tr.WarnedTests = append(tr.WarnedTests, fl.Name)
		}
	}
	return tr
}

// statement makes a DSSE envelope around an in-toto Statement v1 whose
// subjects are manifest.json and every file it lists, with predicate (a
// protocol buffer message, or a value encoding/json writes) of type kind.
func statement(m Manifest, manifest []byte, kind string, predicate any, key ed25519.PrivateKey) ([]byte, error) {
	sum := sha256.Sum256(manifest)
	subjects := []*intoto.ResourceDescriptor{{Name: ManifestFile, Digest: map[string]string{"sha256": hex.EncodeToString(sum[:])}}}
	for _, e := range m.Files {
		subjects = append(subjects, &intoto.ResourceDescriptor{Name: e.Path, Digest: map[string]string{"sha256": e.SHA256}})
	}
	var raw []byte
	var err error
	if msg, ok := predicate.(proto.Message); ok {
		raw, err = protojson.Marshal(msg)
	} else {
		raw, err = json.Marshal(predicate)
	}
	if err != nil {
		return nil, err
	}
	pred := &structpb.Struct{}
	if err := protojson.Unmarshal(raw, pred); err != nil {
		return nil, err
	}
	st := &intoto.Statement{Type: intoto.StatementTypeUri, Subject: subjects, PredicateType: kind, Predicate: pred}
	if err := st.Validate(); err != nil {
		return nil, fmt.Errorf("evidence: statement: %w", err)
	}
	payload, err := protojson.Marshal(st)
	if err != nil {
		return nil, err
	}
	es, err := dsse.NewEnvelopeSigner(signer{key})
	if err != nil {
		return nil, err
	}
	env, err := es.SignPayload(context.Background(), PayloadType, payload)
	if err != nil {
		return nil, err
	}
	out, err := json.MarshalIndent(env, "", "  ")
	return append(out, '\n'), err
}
