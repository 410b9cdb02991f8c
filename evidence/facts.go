package evidence

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// SigningKey is the key EVIDENCE_SIGNING_KEY names (an ed25519 private key
// in PEM), or one made for this run; ephemeral says which.
func SigningKey(env func(string) (string, bool)) (key ed25519.PrivateKey, ephemeral bool, err error) {
	if path, ok := env("EVIDENCE_SIGNING_KEY"); ok && path != "" {
		key, err = LoadKey(path)
		return key, false, err
	}
	return NewKey(), true, nil
}

// Git returns the commit checked out in the working directory and whether
// the tree has changes; outside a git checkout it says so.
func Git() (commit string, dirty bool) {
	out, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		return "unknown (not a git checkout)", false
	}
	status, _ := exec.Command("git", "status", "--porcelain").Output()
	return strings.TrimSpace(string(out)), len(bytes.TrimSpace(status)) > 0
}

// Versions reports the versions of the tools a run uses, as far as this
// machine has them: each asked of its binary, offline (Mailpit's from its
// build information: `mailpit version` would look up GitHub).
func Versions(env func(string) (string, bool)) map[string]string {
	v := map[string]string{"Go": runtime.Version()}
	run := func(name string, args ...string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, name, args...).Output()
		if err != nil {
			return ""
		}
		return strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	}
	if s := run("/usr/lib/chromium/chromium-headless-shell", "--version"); s != "" { // internal/browser.Chromium
		v["Chromium"] = s + " (headless shell)"
	}
	if s := run("redis-server", "--version"); s != "" {
		v["Redis"] = s
	}
	if bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres"); len(bins) > 0 {
		v["PostgreSQL"] = run(bins[len(bins)-1], "--version")
	}
	if dirs, _ := filepath.Glob("/usr/lib/rabbitmq/lib/rabbitmq_server-*"); len(dirs) > 0 {
		v["RabbitMQ"] = strings.TrimPrefix(filepath.Base(dirs[len(dirs)-1]), "rabbitmq_server-")
	}
	mailpit, _ := env("MAILPIT_BIN")
	if mailpit == "" {
		home, _ := os.UserHomeDir()
		mailpit = filepath.Join(home, ".cache", "reos", "bin", "mailpit")
	}
	if out, err := exec.Command("go", "version", "-m", mailpit).Output(); err == nil {
		for _, line := range strings.Split(string(out), "\n") {
			if f := strings.Fields(line); len(f) >= 3 && f[0] == "mod" && f[1] == "github.com/axllent/mailpit" {
				v["Mailpit"] = f[2]
			}
		}
	}
	return v
}

// Provenance is the change a CI run tested, as GitHub Actions names it
// (the chain an auditor samples: change, approval, test result, release):
// repository, commit, ref, pull request, the run and its URL. Outside CI it
// is nil.
func Provenance(env func(string) (string, bool)) map[string]string {
	get := func(k string) string { v, _ := env(k); return v }
	if get("GITHUB_ACTIONS") != "true" {
		return nil
	}
	p := map[string]string{}
	for k, name := range map[string]string{"GITHUB_REPOSITORY": "repository", "GITHUB_SHA": "commit", "GITHUB_REF": "ref",
		"GITHUB_EVENT_NAME": "event", "GITHUB_RUN_ID": "run_id", "GITHUB_RUN_ATTEMPT": "run_attempt", "GITHUB_HEAD_REF": "head_ref",
		"GITHUB_BASE_REF": "base_ref", "GITHUB_ACTOR": "actor", "GITHUB_WORKFLOW": "workflow"} {
		if v := get(k); v != "" {
			p[name] = v
		}
	}
	if server, repo, run := get("GITHUB_SERVER_URL"), get("GITHUB_REPOSITORY"), get("GITHUB_RUN_ID"); server != "" && repo != "" && run != "" {
		p["run_url"] = server + "/" + repo + "/actions/runs/" + run
	}
	if n, ok := strings.CutPrefix(get("GITHUB_REF"), "refs/pull/"); ok {
		if n, _, ok = strings.Cut(n, "/"); ok {
			p["pull_request"] = n
		}
	}
	return p
}
