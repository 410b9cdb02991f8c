package progress_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/real-estate-os/reos/internal/progress"
)

// A reader sees each whole line once, and a line being written only once
// it is whole.
func TestFollow(t *testing.T) {
	path := filepath.Join(t.TempDir(), "progress.jsonl")
	if err := progress.Append(path, progress.Line{Flow: "03 memo generation", Spec: "renders", Outcome: "passed", Seconds: 2}); err != nil {
		t.Fatal(err)
	}
	r, err := progress.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got, err := r.Next(); err != nil || len(got) != 1 || got[0].Spec != "renders" {
		t.Fatalf("first read = %+v, %v", got, err)
	}
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"pack":"/p`)
	if got, _ := r.Next(); len(got) != 0 {
		t.Errorf("a half-written line was read: %+v", got)
	}
	f.WriteString("\"}\nnot json\n")
	f.Close()
	if got, _ := r.Next(); len(got) != 1 || got[0].Pack != "/p" {
		t.Errorf("after the line was finished: %+v", got)
	}
	if got, _ := r.Next(); len(got) != 0 {
		t.Errorf("a line was read twice: %+v", got)
	}
}
