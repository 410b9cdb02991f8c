package browser_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/real-estate-os/reos/internal/browser"
)

// The shim answers the driver's version from its package.json as Node
// running the CLI would, and hands everything else to Node.
func TestVersionShim(t *testing.T) {
	driver := t.TempDir()
	os.MkdirAll(filepath.Join(driver, "package"), 0o755)
	os.WriteFile(filepath.Join(driver, "package", "package.json"), []byte("{\n  \"name\": \"playwright-core\",\n  \"version\": \"9.8.7\",\n  \"x\": 1\n}\n"), 0o644)
	cli := filepath.Join(driver, "package", "cli.js")
	echo, err := exec.LookPath("echo")
	if err != nil {
		t.Skip("no echo to stand in for node")
	}
	shim, err := browser.VersionShim(driver, echo)
	if err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(shim, args...).Output()
		if err != nil {
			t.Fatalf("%s %v: %v", shim, args, err)
		}
		return strings.TrimSpace(string(out))
	}
	if got := run(cli, "--version"); got != "Version 9.8.7" {
		t.Errorf("cli.js --version = %q, want what the CLI prints: Version 9.8.7", got)
	}
	if got := run(cli, "run-driver"); got != cli+" run-driver" {
		t.Errorf("cli.js run-driver reached node as %q", got)
	}
	// Written once: a second call keeps the file.
	before, _ := os.Stat(shim)
	if _, err := browser.VersionShim(driver, echo); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.Stat(shim); !os.SameFile(before, after) {
		t.Error("the shim was written again")
	}
}

// With the real driver (scripts/setup), the shim says what Node says.
func TestVersionShimAgreesWithNode(t *testing.T) {
	home, _ := os.UserHomeDir()
	driver := filepath.Join(home, ".cache", "reos", "playwright-driver-"+browser.PlaywrightVersion)
	cli := filepath.Join(driver, "package", "cli.js")
	if _, err := os.Stat(cli); err != nil {
		t.Skip("no Playwright driver here: run scripts/setup")
	}
	node, err := exec.Command("/usr/bin/node", cli, "--version").Output()
	if err != nil {
		t.Skip("no node: ", err)
	}
	shim, err := browser.VersionShim(driver, "/usr/bin/node")
	if err != nil {
		t.Fatal(err)
	}
	got, err := exec.Command(shim, cli, "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(node) {
		t.Errorf("the shim says %q, node says %q", got, node)
	}
}
