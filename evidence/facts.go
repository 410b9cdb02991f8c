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
	if s := run("/usr/bin/chromium", "--version"); s != "" {
		v["Chromium"] = s
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
