package evidence_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/real-estate-os/reos/evidence"
)

// pack writes the files of a sealed pack that Diff reads.
func pack(t *testing.T, key, outcome string, seconds float64, seedHash string) string {
	t.Helper()
	dir := t.TempDir()
	write := func(rel, body string) {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(rel)), 0o755)
		os.WriteFile(filepath.Join(dir, rel), []byte(body), 0o644)
	}
	write("junit.xml", fmt.Sprintf(`<testsuites><testsuite name="reos flows">
<testcase name="[SynchronizedBeforeSuite]" status="passed" time="1"></testcase>
<testcase name="[It] 03 memo generation renders the same PDF bytes [memo]" status="%s" time="%g"></testcase>
<testcase name="[It] 06 portfolio export exports the seeded demo portfolio [export]" status="passed" time="0.4"></testcase>
</testsuite></testsuites>`, outcome, seconds))
	write("hashes/portfolio-seed.csv.json", `{"name":"portfolio-seed.csv","sha256":"`+seedHash+`"}`)
	write("hashes/memo-"+key+"-job1.pdf.json", `{"sha256":"`+key+`"}`) // per-run data
	write("api_tests/"+key+"-memo-generate.txt", "…")
	write("screenshots/memo_pdf_viewer.png", "png")
	return dir
}

func TestDiffOfTwoGreenRunsIsOnlyWhatVaries(t *testing.T) {
	a := pack(t, "memo-abc234", "passed", 3, "seed1")
	b := pack(t, "memo-xyz567", "passed", 9, "seed1")
	changes, err := evidence.Diff(a, b, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range changes {
		if c.Matters {
			t.Errorf("two green runs: %s", c)
		}
	}
	if got := fmt.Sprint(changes); !strings.Contains(got, "timing: 03 memo generation renders the same PDF bytes [memo]: 3s in A, 9s in B") ||
		!strings.Contains(got, "per-run data") {
		t.Errorf("the timing and the per-run hash are not listed: %v", changes)
	}
}

func TestDiffNamesAFailedSpecAndAChangedHash(t *testing.T) {
	a := pack(t, "memo-abc234", "passed", 3, "seed1")
	b := pack(t, "memo-xyz567", "failed", 3, "seed2")
	os.Remove(filepath.Join(b, "screenshots", "memo_pdf_viewer.png"))
	changes, err := evidence.Diff(a, b, 2)
	if err != nil {
		t.Fatal(err)
	}
	var matters []string
	for _, c := range changes {
		if c.Matters {
			matters = append(matters, c.String())
		}
	}
	want := []string{
		"! outcome: 03 memo generation renders the same PDF bytes [memo]: passed in A, failed in B",
		"! file: screenshots/memo_pdf_viewer.png in A only",
		"! hash: hashes/portfolio-seed.csv.json: seed1 in A, seed2 in B",
	}
	if strings.Join(matters, "\n") != strings.Join(want, "\n") {
		t.Errorf("changes that matter:\n%s\nwant:\n%s", strings.Join(matters, "\n"), strings.Join(want, "\n"))
	}
}
