package evidence

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"

	intoto "github.com/in-toto/attestation/go/v1"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"google.golang.org/protobuf/encoding/protojson"
)

// Report is what Verify found.
type Report struct {
	Files    int      // files the manifest lists
	Missing  []string // listed, not in the pack
	Added    []string // in the pack, not listed
	Changed  []string // listed with another hash or size
	Problems []string // everything else: unsafe paths, symlinks, signatures
	// KeyFromPack says the signatures were checked with the key inside the
	// pack: that proves the pack is whole, not who signed it.
	KeyFromPack bool
	Ephemeral   bool
}

// OK reports whether the pack verified.
func (r *Report) OK() bool {
	return len(r.Missing)+len(r.Added)+len(r.Changed)+len(r.Problems) == 0
}

// String is the report for a person.
func (r *Report) String() string {
	var b strings.Builder
	for _, f := range r.Missing {
		fmt.Fprintf(&b, "missing: %s\n", f)
	}
	for _, f := range r.Added {
		fmt.Fprintf(&b, "added: %s\n", f)
	}
	for _, f := range r.Changed {
		fmt.Fprintf(&b, "changed: %s\n", f)
	}
	for _, p := range r.Problems {
		fmt.Fprintf(&b, "problem: %s\n", p)
	}
	if r.OK() {
		fmt.Fprintf(&b, "OK: %d files match manifest.json; manifest.sig and both attestations (test result, egress) verify.\n", r.Files)
		if r.KeyFromPack {
			b.WriteString("Note: checked with the key inside the pack (manifest.pub.pem). That proves the pack is whole, not who signed it:\n" +
				"anyone who rewrites a pack can sign it again. Pass --pubkey with a copy of the signer's key you trust to prove that.\n")
		}
		if r.Ephemeral {
			b.WriteString("Note: the pack was signed with a key made for that run (no EVIDENCE_SIGNING_KEY).\n")
		}
	} else {
		fmt.Fprintf(&b, "NOT OK: %d problem(s).\n", len(r.Missing)+len(r.Added)+len(r.Changed)+len(r.Problems))
	}
	return b.String()
}

// Verify recomputes every file's hash against manifest.json, checks that
// nothing was added or removed, refuses paths outside the pack and
// symlinks, reports any file holding what looks like a secret (a JSON Web
// Token, a private key), and checks manifest.sig and the DSSE attestation with trusted
// (or, when nil, with the pack's own manifest.pub.pem).
func Verify(dir string, trusted ed25519.PublicKey) (*Report, error) {
	r := &Report{}
	if fi, err := os.Lstat(dir); err != nil {
		return nil, fmt.Errorf("evidence: %w", err)
	} else if fi.Mode()&fs.ModeSymlink != 0 { // e.g. audit_artifacts/latest: follow it once
		if dir, err = filepath.EvalSymlinks(dir); err != nil {
			return nil, fmt.Errorf("evidence: %w", err)
		}
	}
	manifest, err := readRegular(dir, ManifestFile)
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(manifest, &m); err != nil {
		return nil, fmt.Errorf("evidence: manifest.json: %w", err)
	}
	r.Files, r.Ephemeral = len(m.Files), m.Facts.EphemeralKey
	listed := map[string]bool{}
	egress := map[string][]byte{} // the egress records, read once, for the egress attestation
	for _, e := range m.Files {
		if err := safeRel(filepath.FromSlash(e.Path)); err != nil || sealFiles[e.Path] {
			r.Problems = append(r.Problems, fmt.Sprintf("manifest.json names %q, which is not a file inside the pack", e.Path))
			continue
		}
		listed[e.Path] = true
		path := filepath.Join(dir, filepath.FromSlash(e.Path))
		fi, err := os.Lstat(path)
		if err != nil {
			r.Missing = append(r.Missing, e.Path)
			continue
		}
		if fi.Mode()&fs.ModeSymlink != 0 || !fi.Mode().IsRegular() {
			r.Problems = append(r.Problems, fmt.Sprintf("%s is not a regular file (a symlink?)", e.Path))
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			r.Problems = append(r.Problems, fmt.Sprintf("%s: %v", e.Path, err))
			continue
		}
		sum := sha256.Sum256(b)
		if hex.EncodeToString(sum[:]) != e.SHA256 || int64(len(b)) != e.Size {
			r.Changed = append(r.Changed, e.Path)
		}
		r.Problems = append(r.Problems, shapesIn(e.Path, b)...)
		if isEgressRecord(e.Path) {
			egress[e.Path] = b
		}
	}
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, path)
		rel = filepath.ToSlash(rel)
		if d.Type()&fs.ModeSymlink != 0 {
			r.Problems = append(r.Problems, fmt.Sprintf("%s is a symlink", rel))
		} else if !listed[rel] && !sealFiles[rel] { // at any depth, working files included
			r.Added = append(r.Added, rel)
		}
		return nil
	})
	sort.Strings(r.Added)

	key := trusted
	packKey, err := readRegular(dir, PublicKeyFile)
	if key == nil {
		r.KeyFromPack = true
		if err != nil {
			r.Problems = append(r.Problems, "manifest.pub.pem: "+err.Error())
			return r, nil
		}
		if key, err = ParsePublicKeyPEM(packKey); err != nil {
			r.Problems = append(r.Problems, "manifest.pub.pem: "+err.Error())
			return r, nil
		}
	} else if pk, perr := ParsePublicKeyPEM(packKey); err == nil && perr == nil && !bytes.Equal(pk, trusted) {
		r.Problems = append(r.Problems, "manifest.pub.pem is not the key given with --pubkey")
	}
	sig, err := readRegular(dir, SignatureFile)
	if err != nil || !ed25519.Verify(key, manifest, sig) {
		r.Problems = append(r.Problems, "manifest.sig does not verify manifest.json with the key")
	}
	r.Problems = append(r.Problems, verifyAttestations(dir, key, manifest, m, egress)...)
	return r, nil
}

// secretShapes are what a leaked secret looks like in any file.
var secretShapes = []struct {
	what string
	re   *regexp.Regexp
}{
	{"a JSON Web Token", regexp.MustCompile(`eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{20,}`)},
	{"a private key", regexp.MustCompile(`-----BEGIN (?:[A-Z0-9]+ )?PRIVATE KEY-----`)},
	{"a tracking token", regexp.MustCompile(`/api/v1/t/(?:open|click)/[A-Za-z0-9_~-]{16,}`)},
}

// shapesIn says where b, the file name, holds what looks like a secret;
// in an email, in its decoded bodies too.
func shapesIn(name string, b []byte) []string {
	var out []string
	for _, s := range secretShapes {
		if loc := s.re.FindIndex(b); loc != nil {
			out = append(out, fmt.Sprintf("%s holds what looks like %s at byte %d", name, s.what, loc[0]))
			continue
		}
		if !strings.HasSuffix(name, ".eml") {
			continue
		}
		for i, body := range decodedBodies(b) {
			if s.re.Match(body) {
				out = append(out, fmt.Sprintf("%s holds what looks like %s in its body part %d, decoded", name, s.what, i+1))
				break
			}
		}
	}
	return out
}

// Leaks reports every file under dir that holds one of literals: the
// secrets a run used (passwords, signing secrets), which only the run
// knows. It complements Verify, which looks for the shapes of secrets.
func Leaks(dir string, literals ...string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		for i, l := range literals {
			if at := bytes.Index(b, []byte(l)); l != "" && at >= 0 {
				out = append(out, fmt.Sprintf("%s holds secret %d of the run at byte %d", filepath.ToSlash(rel), i+1, at))
			}
		}
		return nil
	})
	return out, err
}

func readRegular(dir, name string) ([]byte, error) {
	path := filepath.Join(dir, name)
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, fmt.Errorf("evidence: %s is missing", name)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("evidence: %s is not a regular file", name)
	}
	return os.ReadFile(path)
}

// verifyAttestations checks both DSSE envelopes: each one's signature,
// payload type and predicate type, and that its subjects are exactly
// manifest.json and the files it lists; and that the egress predicate
// lists exactly the pack's egress records and the manifest's network.
func verifyAttestations(dir string, key ed25519.PublicKey, manifest []byte, m Manifest, egress map[string][]byte) []string {
	var problems []string
	if _, err := verifyStatement(dir, AttestationFile, TestResultPredicate, key, manifest, m); err != nil {
		problems = append(problems, AttestationFile+": "+err.Error())
	}
	st, err := verifyStatement(dir, EgressAttestationFile, EgressPredicate, key, manifest, m)
	if err == nil {
		var got EgressStatement
		b, _ := protojson.Marshal(st.Predicate)
		if err = json.Unmarshal(b, &got); err == nil {
			want, werr := egressStatement(m, func(rel string) ([]byte, error) {
				if b, ok := egress[rel]; ok {
					return b, nil
				}
				return nil, fmt.Errorf("%s cannot be read", rel)
			})
			got.Attempts, want.Attempts = normalTimes(got.Attempts), normalTimes(want.Attempts)
			if err = werr; err == nil && !reflect.DeepEqual(got, want) {
				err = fmt.Errorf("the predicate does not describe the pack's network (manifest facts.network, %d egress records; it lists %d)",
					len(want.Attempts), len(got.Attempts))
			}
		}
	}
	if err != nil {
		problems = append(problems, EgressAttestationFile+": "+err.Error())
	}
	return problems
}

// normalTimes puts each attempt's time in UTC, as JSON gives it back.
func normalTimes(ls []Leave) []Leave {
	for i := range ls {
		ls[i].Time = ls[i].Time.UTC()
	}
	return ls
}

// verifyStatement checks one DSSE envelope and returns its statement.
func verifyStatement(dir, file, kind string, key ed25519.PublicKey, manifest []byte, m Manifest) (*intoto.Statement, error) {
	b, err := readRegular(dir, file)
	if err != nil {
		return nil, err
	}
	var env dsse.Envelope
	if err := json.Unmarshal(b, &env); err != nil {
		return nil, err
	}
	if env.PayloadType != PayloadType {
		return nil, fmt.Errorf("payload type %q, want %s", env.PayloadType, PayloadType)
	}
	ev, err := dsse.NewEnvelopeVerifier(Verifier{Key: key})
	if err != nil {
		return nil, err
	}
	_, payload, err := ev.VerifyAndDecode(context.Background(), &env)
	if err != nil {
		return nil, fmt.Errorf("signature: %w", err)
	}
	var st intoto.Statement
	if err := protojson.Unmarshal(payload, &st); err != nil {
		return nil, err
	}
	if err := st.Validate(); err != nil {
		return nil, err
	}
	if st.PredicateType != kind {
		return nil, fmt.Errorf("predicate type %q, want %s", st.PredicateType, kind)
	}
	want := map[string]string{}
	sum := sha256.Sum256(manifest)
	want[ManifestFile] = hex.EncodeToString(sum[:])
	for _, e := range m.Files {
		want[e.Path] = e.SHA256
	}
	if len(st.Subject) != len(want) {
		return nil, fmt.Errorf("%d subjects, the manifest has %d files", len(st.Subject), len(want))
	}
	for _, s := range st.Subject {
		if want[s.Name] != s.Digest["sha256"] {
			return nil, fmt.Errorf("subject %s does not match the manifest", s.Name)
		}
	}
	return &st, nil
}
