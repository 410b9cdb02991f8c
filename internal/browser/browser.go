// Package browser launches Debian's Chromium through playwright-go, offline,
// the way RECIPES.md does: the Playwright driver and axe-core that
// scripts/setup puts in ~/.cache/reos, Chromium from /usr/bin, and the
// flags that keep it from reaching anything but loopback.
package browser

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/mxschmitt/playwright-go"

	"github.com/real-estate-os/reos/internal/atomicfile"
)

// PlaywrightVersion is the playwright-core the driver comes from; it must
// match what playwright-go expects.
const PlaywrightVersion = "1.64.1"

// Chromium is the browser scripts/setup installs: Debian's headless build
// of Chromium (package chromium-headless-shell), which is what Playwright
// itself launches for a headless browser. On this kind of machine it starts
// in half the time of the full browser and opens its first page in less
// than half (85 against 200 ms, and 100 against 250 ms).
const Chromium = "/usr/lib/chromium/chromium-headless-shell"

// Args keep Chromium off the network: no background requests, no
// component updates, and every host name but loopback unresolvable.
var Args = []string{"--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
	"--disable-component-update", "--disable-sync", "--disable-default-apps", "--disable-domain-reliability",
	"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1"}

// Browser is a running Chromium and the Playwright driver behind it.
type Browser struct {
	playwright.Browser
	pw *playwright.Playwright
}

func cache(name string) string {
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "reos", name)
}

// Launch starts the driver and a headless Chromium. The driver's own
// output goes to stderr.
func Launch(stderr io.Writer) (*Browser, error) {
	driver := os.Getenv("PLAYWRIGHT_DRIVER_PATH")
	if driver == "" {
		driver = cache("playwright-driver-" + PlaywrightVersion)
		os.Setenv("PLAYWRIGHT_DRIVER_PATH", driver)
	}
	if os.Getenv("PLAYWRIGHT_NODEJS_PATH") == "" {
		node := "/usr/bin/node"
		if shim, err := VersionShim(driver, node); err == nil {
			node = shim
		}
		os.Setenv("PLAYWRIGHT_NODEJS_PATH", node)
	}
	if _, err := os.Stat(filepath.Join(driver, "package", "cli.js")); err != nil {
		return nil, fmt.Errorf("the Playwright driver is missing at %s: run scripts/setup", driver)
	}
	if _, err := os.Stat(Chromium); err != nil {
		return nil, fmt.Errorf("Chromium is missing at %s: run scripts/setup (Debian package chromium-headless-shell)", Chromium)
	}
	pw, err := playwright.Run(&playwright.RunOptions{SkipInstallBrowsers: true, DriverDirectory: driver, Stderr: stderr})
	if err != nil {
		return nil, fmt.Errorf("playwright: %w (scripts/setup installs the driver)", err)
	}
	b, err := pw.Chromium.Launch(playwright.BrowserTypeLaunchOptions{ExecutablePath: playwright.String(Chromium),
		Headless: playwright.Bool(true), Args: Args})
	if err != nil {
		pw.Stop()
		return nil, fmt.Errorf("chromium: %w", err)
	}
	return &Browser{Browser: b, pw: pw}, nil
}

// VersionShim writes, once, a Node stand-in into the driver's directory
// and returns its path: playwright-go checks the driver's version at every
// launch with "node cli.js --version", which loads the whole CLI (a third
// of a second, in each suite process); the shim answers that question from
// the driver's package.json, and runs node for everything else.
func VersionShim(driver, node string) (string, error) {
	path := filepath.Join(driver, "node-version-shim")
	script := fmt.Sprintf(shim, node)
	if b, err := os.ReadFile(path); err == nil && string(b) == script {
		return path, nil
	}
	return path, atomicfile.Write(path, []byte(script), 0o755) // whole, whoever writes it last
}

const shim = `#!/bin/sh
# Written by reos (internal/browser.VersionShim): answers "cli.js --version"
# from the driver's package.json, and runs Node for everything else.
if [ "$#" -eq 2 ] && [ "$2" = "--version" ]; then
	v=$(sed -n 's/^  "version": "\([^"]*\)",$/\1/p' "${1%%/cli.js}/package.json")
	if [ -n "$v" ]; then
		echo "Version $v"
		exit 0
	fi
fi
exec '%s' "$@"
`

// Stop closes the browser and stops the driver.
func (b *Browser) Stop() error {
	return errors.Join(b.Browser.Close(), b.pw.Stop())
}

// CSPWatch is an init script that collects the page's CSP violations in
// window.__csp (read it with CSPViolations).
const CSPWatch = `window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => window.__csp.push(e.violatedDirective + " " + e.blockedURI));`

// CSPViolations returns what CSPWatch collected on p.
func CSPViolations(p playwright.Page) []string {
	v, _ := p.Evaluate(`window.__csp || []`)
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		out = append(out, fmt.Sprint(x))
	}
	return out
}

// Axe runs axe-core in p (evaluated by the browser, outside the page's
// CSP) and returns its violations of serious or critical impact.
func Axe(p playwright.Page) ([]string, error) {
	path := filepath.Join(cache("axe-core"), "package", "axe.min.js")
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("axe-core is missing at %s: run scripts/setup", path)
	}
	if _, err := p.Evaluate(string(src)); err != nil {
		return nil, fmt.Errorf("load axe-core: %w", err)
	}
	v, err := p.Evaluate(`axe.run(document, {resultTypes: ["violations"]}).then((r) => r.violations
		.filter((v) => v.impact === "serious" || v.impact === "critical")
		.map((v) => v.impact + " " + v.id + ": " + v.help + " — " + v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", ")))`)
	if err != nil {
		return nil, fmt.Errorf("axe.run: %w", err)
	}
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		out = append(out, fmt.Sprint(x))
	}
	return out, nil
}
