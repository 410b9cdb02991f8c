package app_test

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/real-estate-os/reos/fixtures"
)

// behindNginx runs Debian's nginx with the repository's config in front of
// s, the stream's read timeout set to 1 s, and returns a stack that talks
// through it.
func behindNginx(t *testing.T, s *stack) *stack {
	bin, err := exec.LookPath("nginx")
	if err != nil {
		t.Skip("nginx is not installed: install Debian's nginx-light (scripts/setup does) to run this test")
	}
	port := freePort(t)
	tmpl, err := os.ReadFile("../../deploy/nginx/reos.conf.template")
	if err != nil {
		t.Fatal(err)
	}
	server := strings.NewReplacer("${REOS_UPSTREAM}", strings.TrimPrefix(s.url, "http://"), "${REOS_LISTEN}", "127.0.0.1:"+port,
		"${REOS_SSE_READ_TIMEOUT}", "1s").Replace(string(tmpl))
	dir := t.TempDir()
	conf := "pid " + dir + "/nginx.pid;\nerror_log " + dir + "/error.log;\nevents {}\nhttp {\n  access_log off;\n" +
		"  client_body_temp_path " + dir + "/body;\n  proxy_temp_path " + dir + "/proxy;\n" + server + "\n}\n"
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-t", "-p", dir, "-c", filepath.Join(dir, "nginx.conf")).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-g", "daemon off;")
	// nginx forks workers: it runs in a process group of its own, and the
	// whole group is stopped, so no worker outlives the test.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pgid := cmd.Process.Pid
	t.Cleanup(func() { // runs after the stop below
		for deadline := time.Now().Add(5 * time.Second); syscall.Kill(-pgid, 0) == nil; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Errorf("nginx's process group %d still has processes after the test", pgid)
				syscall.Kill(-pgid, syscall.SIGKILL)
				return
			}
		}
	})
	t.Cleanup(func() {
		syscall.Kill(-pgid, syscall.SIGQUIT) // nginx's graceful shutdown
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			syscall.Kill(-pgid, syscall.SIGKILL)
			<-done
		}
	})
	proxied := &stack{t: t, main: s.main, url: "http://127.0.0.1:" + port, clock: s.clock}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if res, err := http.Get(proxied.url + "/healthz"); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return proxied
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("nginx did not answer")
		}
	}
}

// pingsFor counts the pings of c over d; closed reports whether the
// stream ended first.
func pingsFor(c *sseClient, d time.Duration) (pings int, closed bool) {
	deadline := time.After(d)
	for {
		select {
		case e, ok := <-c.events:
			if !ok {
				return pings, true
			}
			if e.event == "ping" {
				pings++
			}
		case <-deadline:
			return pings, false
		}
	}
}

// TestStreamThroughNginx: behind nginx with a 1 s read timeout, pings every
// 300 ms keep a stream open for 3 s and events still arrive; with pings
// every 10 s nginx cuts the stream, which shows the timeout is real.
func TestStreamThroughNginx(t *testing.T) {
	t.Parallel()
	proxied := behindNginx(t, startStack(t, "SSE_HEARTBEAT", "300ms", "TRUSTED_PROXIES", "127.0.0.1"))
	token := proxied.login("agent@example.com", fixtures.DemoPassword)
	c, status := proxied.connect(token, "")
	if status != 200 {
		t.Fatalf("stream through nginx: %d", status)
	}
	if pings, closed := pingsFor(c, 3*time.Second); closed || pings < 5 {
		t.Fatalf("through nginx: %d pings in 3 s, closed %v", pings, closed)
	}
	proxied.do("PATCH", "/api/v1/properties/30", token, map[string]string{"notes": "through nginx"})
	if e := c.next(t, "property.updated"); !strings.Contains(e.data, `"property_id":30`) {
		t.Errorf("event through nginx = %+v", e)
	}

	quiet := behindNginx(t, startStack(t, "SSE_HEARTBEAT", "10s"))
	token = quiet.login("agent@example.com", fixtures.DemoPassword)
	c, _ = quiet.connect(token, "")
	if _, closed := pingsFor(c, 3*time.Second); !closed {
		t.Error("without timely pings nginx kept the stream open past its read timeout: the test would prove nothing")
	}
}
