package upgrade_test

import (
	"os"
	"strings"
	"testing"

	"github.com/real-estate-os/reos/contract/upgrade"
)

// doc is the contract package's test document.
var doc = func() string {
	b, err := os.ReadFile("../testdata/things.yaml")
	if err != nil {
		panic(err)
	}
	return string(b)
}()

// An upgrade's breaking changes are listed where they touch an operation
// the run used, and only counted elsewhere.
func TestBreakingTouchesOnlyUsedOperations(t *testing.T) {
	next := strings.Replace(doc, "name: {type: string}", "name: {type: integer}", 1)                             // GET /things/{id}'s answer changes type
	next = strings.Replace(next, "properties: {name: {type: string}}", "properties: {name: {type: integer}}", 1) // so does POST /things's body
	used := map[string]bool{"GET /things/{id}": true}
	touching, elsewhere, err := upgrade.Breaking([]byte(doc), []byte(next), used)
	if err != nil {
		t.Fatal(err)
	}
	if len(touching) == 0 || elsewhere == 0 {
		t.Fatalf("touching %v, elsewhere %d: want the GET change listed and the POST one counted", touching, elsewhere)
	}
	for _, c := range touching {
		if !strings.HasPrefix(c, "GET /things/{id}: ") || !strings.Contains(c, "name") {
			t.Errorf("a listed change that is not about the used operation's name: %s", c)
		}
	}
	if same, n, err := upgrade.Breaking([]byte(doc), []byte(doc), map[string]bool{"GET /things/{id}": true, "POST /things": true}); err != nil || len(same) != 0 || n != 0 {
		t.Errorf("the same document: %v %d %v", same, n, err)
	}
}
