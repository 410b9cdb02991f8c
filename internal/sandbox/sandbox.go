// Package sandbox runs a process tree in new user and network namespaces
// that have only loopback, so that nothing it starts can leave the
// machine, and records every attempt it makes.
package sandbox

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/real-estate-os/reos/evidence"
)

// Run runs a whole process tree in new user and
// network namespaces that have only loopback, so nothing the command
// starts — Mailpit, Chromium, anything — can leave the machine. Inside,
// every address is routed to loopback: a sinkhole accepts each outbound
// connection and records it (destination, TLS SNI or HTTP Host, the
// process), and a DNS stub answers and records every name asked.
// PostgreSQL, Redis and RabbitMQ on the host are reached through
// forwarders over unix sockets, which cross the namespace boundary.

// ChildEnv marks the re-executed reos that runs inside the
// namespaces; its value is the run's shared directory.
const ChildEnv = "REOS_ISOLATE_CHILD"

// AttemptsEnv names, for the command inside, the file where the attempts
// so far are (JSON lines of Attempt); Inside reads it.
const AttemptsEnv = "REOS_ISOLATE_ATTEMPTS"

// OutsideEnv says, for a command run outside the namespaces, why (reos
// green sets it).
const OutsideEnv = "REOS_ISOLATION"

// Isolation says what a command inside had.
const Isolation = "a network namespace with only loopback (reos isolate): every other address routed to a sinkhole that refuses and records each connection (destination, TLS SNI or HTTP Host, process); a DNS stub that records each name asked"

// Inside says whether this process runs inside the namespaces, and the
// attempts to leave recorded so far.
func Inside() (attempts []Attempt, inside bool) {
	path := os.Getenv(AttemptsEnv)
	if path == "" {
		return nil, false
	}
	attempts, _ = readAttempts(path) // none yet: no file
	return attempts, true
}

// Record is the attempt as an evidence pack records it.
func (a Attempt) Record() evidence.EgressAttempt {
	host := a.Name
	if host == "" {
		host = a.Address
	}
	return evidence.EgressAttempt{Time: a.Time, Host: host, Port: strconv.Itoa(a.Port), Network: a.Kind, Name: a.Name,
		Source: a.Process, Refused: true, Detail: "inside reos isolate: " + a.String()}
}

// sinkPorts are the ports the sinkhole listens on inside (a connection to
// any address on another port is refused there, and reaches nothing).
var sinkPorts = []int{21, 22, 25, 80, 443, 465, 587, 993, 3000, 8000, 8080, 8443, 9000}

// Attempt is one try to leave, as the namespace saw it.
type Attempt struct {
	Time    time.Time `json:"time"`
	Kind    string    `json:"kind"` // tcp, dns
	Address string    `json:"address"`
	Port    int       `json:"port,omitempty"`
	Name    string    `json:"name,omitempty"` // SNI, Host, or the name looked up
	Process string    `json:"process,omitempty"`
}

func (a Attempt) String() string {
	what := fmt.Sprintf("%s %s:%d", a.Kind, a.Address, a.Port)
	if a.Kind == "dns" {
		what = "dns lookup of " + a.Name
	} else if a.Name != "" {
		what += " (" + a.Name + ")"
	}
	if a.Process != "" {
		what += " by " + a.Process
	}
	return a.Time.Format("15:04:05.000") + "  blocked " + what
}

// Options say what Run runs.
type Options struct {
	// Forward are host ports reachable inside on 127.0.0.1 (PostgreSQL,
	// Redis, RabbitMQ), through unix sockets that cross the boundary.
	Forward []int
	// Command is run inside, by re-executing this program: its main must
	// call Child first thing when ChildEnv is set.
	Command        []string
	Stdout, Stderr io.Writer
}

// ErrNotPermitted says the machine does not allow the namespaces.
var ErrNotPermitted = errors.New("this machine does not permit unprivileged user namespaces (CLONE_NEWUSER needs " +
	"user.max_user_namespaces > 0 and, on Debian, kernel.unprivileged_userns_clone=1), or CAP_SYS_ADMIN to make a network namespace; nothing ran")

// Run runs o.Command inside the namespaces and returns its exit status and
// every attempt it made to leave. An error means it could not run.
func Run(o Options) (code int, attempts []Attempt, err error) {
	dir, err := os.MkdirTemp("", "reos-isolate-")
	if err != nil {
		return 0, nil, err
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	stop := make(chan struct{})
	defer close(stop)
	var forward []string
	for _, p := range o.Forward {
		if err := forwardOut(filepath.Join(dir, fmt.Sprintf("fwd-%d.sock", p)), fmt.Sprintf("127.0.0.1:%d", p), stop); err != nil {
			return 0, nil, fmt.Errorf("forwarder for port %d: %w", p, err)
		}
		forward = append(forward, strconv.Itoa(p))
	}
	self, err := os.Executable()
	if err != nil {
		return 0, nil, err
	}
	child := exec.Command(self, o.Command...)
	child.Env = append(os.Environ(), ChildEnv+"="+dir, "REOS_ISOLATE_FORWARD="+strings.Join(forward, ","))
	child.Stdin, child.Stdout, child.Stderr = os.Stdin, o.Stdout, o.Stderr
	child.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:                 syscall.CLONE_NEWUSER | syscall.CLONE_NEWNET,
		UidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
		GidMappingsEnableSetgroups: false,
		Pdeathsig:                  syscall.SIGKILL,
	}
	if err := child.Start(); err != nil {
		if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOSPC) {
			return 0, nil, fmt.Errorf("cannot make the namespaces: %v: %w", err, ErrNotPermitted)
		}
		return 0, nil, fmt.Errorf("cannot make the namespaces: %w", err)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		for s := range sigs {
			child.Process.Signal(s)
		}
	}()
	err = child.Wait()
	signal.Stop(sigs)
	close(sigs)
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			return 0, nil, err
		}
		code = max(ee.ExitCode(), 1)
	}
	attempts, _ = readAttempts(filepath.Join(dir, "attempts.jsonl"))
	return code, attempts, nil
}

func readAttempts(path string) ([]Attempt, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []Attempt
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var a Attempt
		if json.Unmarshal(sc.Bytes(), &a) == nil {
			out = append(out, a)
		}
	}
	return out, nil
}

// forwardOut serves a unix socket at path, piping each connection to addr
// on the host.
func forwardOut(path, addr string, stop <-chan struct{}) error {
	l, err := net.Listen("unix", path)
	if err != nil {
		return err
	}
	os.Chmod(path, 0o777)
	go func() { <-stop; l.Close() }()
	go serveForward(l, func() (net.Conn, error) { return net.DialTimeout("tcp", addr, 5*time.Second) })
	return nil
}

// serveForward pipes every connection l accepts to a new one from dial.
func serveForward(l net.Listener, dial func() (net.Conn, error)) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			up, err := dial()
			if err != nil {
				c.Close()
				return
			}
			pipe(c, up)
		}()
	}
}

func pipe(a, b net.Conn) {
	var wg sync.WaitGroup
	wg.Go(func() { io.Copy(a, b); a.Close() })
	wg.Go(func() { io.Copy(b, a); b.Close() })
	wg.Wait()
}

// Child runs inside the namespaces: loopback up, every address
// local, forwarders, the sinkhole and the DNS stub; then the command.
func Child(dir string, args []string) int {
	fail := func(format string, a ...any) int {
		fmt.Fprintf(os.Stderr, "reos isolate (inside): "+format+"\n", a...)
		return 1
	}
	for _, ipArgs := range [][]string{{"link", "set", "lo", "up"}, {"route", "add", "local", "0.0.0.0/0", "dev", "lo"}} {
		if out, err := exec.Command("ip", ipArgs...).CombinedOutput(); err != nil {
			return fail("ip %s: %v %s (iproute2 is needed)", strings.Join(ipArgs, " "), err, bytes.TrimSpace(out))
		}
	}
	rec := &recorder{path: filepath.Join(dir, "attempts.jsonl")}
	for _, p := range strings.Split(os.Getenv("REOS_ISOLATE_FORWARD"), ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+p)
		if err != nil {
			return fail("forwarder on 127.0.0.1:%s: %v", p, err)
		}
		sock := filepath.Join(dir, "fwd-"+p+".sock")
		go serveForward(l, func() (net.Conn, error) { return net.Dial("unix", sock) })
	}
	for _, port := range sinkPorts {
		l, err := net.Listen("tcp", fmt.Sprintf("0.0.0.0:%d", port))
		if err != nil {
			continue // a port the command itself may want; it is refused there anyway
		}
		go sinkhole(l, rec)
	}
	if pc, err := net.ListenPacket("udp", "0.0.0.0:53"); err == nil {
		go dnsStub(pc, rec)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), AttemptsEnv+"="+rec.path)
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return max(ee.ExitCode(), 1)
		}
		return fail("%v", err)
	}
	return 0
}

type recorder struct {
	mu   sync.Mutex
	path string
}

func (r *recorder) add(a Attempt) {
	a.Time = time.Now().UTC()
	line, _ := json.Marshal(a)
	r.mu.Lock()
	defer r.mu.Unlock()
	f, err := os.OpenFile(r.path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return
	}
	f.Write(append(line, '\n'))
	f.Close()
}

// sinkhole accepts connections meant for anywhere, records where they were
// going (the original destination is the local address) and what they
// named, and closes them.
func sinkhole(l net.Listener, rec *recorder) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			local := c.LocalAddr().(*net.TCPAddr)
			remote := c.RemoteAddr().(*net.TCPAddr)
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			buf := make([]byte, 4096)
			n, _ := io.ReadAtLeast(c, buf, 1)
			rec.add(Attempt{Kind: "tcp", Address: local.IP.String(), Port: local.Port, Name: peekName(buf[:n]), Process: processFor(remote.Port)})
		}()
	}
}

// peekName finds the TLS SNI or the HTTP Host header in a connection's
// first bytes.
func peekName(b []byte) string {
	if len(b) > 5 && b[0] == 0x16 { // TLS handshake: ClientHello
		return sniOf(b[5:])
	}
	for _, line := range strings.Split(string(b), "\r\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(strings.TrimSpace(k), "host") {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// sniOf reads server_name from a ClientHello handshake message.
func sniOf(h []byte) string {
	if len(h) < 4 || h[0] != 1 {
		return ""
	}
	p := h[4:]
	skip := func(n int) bool {
		if len(p) < n {
			return false
		}
		p = p[n:]
		return true
	}
	vec := func(lenBytes int) bool {
		if len(p) < lenBytes {
			return false
		}
		n := 0
		for i := range lenBytes {
			n = n<<8 | int(p[i])
		}
		return skip(lenBytes + n)
	}
	if !skip(2+32) || !vec(1) || !vec(2) || !vec(1) || len(p) < 2 {
		return ""
	}
	ext := p[2:]
	for len(ext) >= 4 {
		typ, n := binary.BigEndian.Uint16(ext), int(binary.BigEndian.Uint16(ext[2:]))
		if len(ext) < 4+n {
			return ""
		}
		body := ext[4 : 4+n]
		if typ == 0 && len(body) >= 5 { // server_name: list length, type 0, name length, name
			l := int(binary.BigEndian.Uint16(body[3:]))
			if len(body) >= 5+l {
				return string(body[5 : 5+l])
			}
		}
		ext = ext[4+n:]
	}
	return ""
}

// processFor finds the process that owns the local TCP port (the
// connecting side), by /proc/net/tcp's inode and /proc/*/fd.
func processFor(port int) string {
	inode := ""
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, _ := os.ReadFile(table)
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 10 {
				continue
			}
			_, hexPort, _ := strings.Cut(f[1], ":")
			if p, err := strconv.ParseInt(hexPort, 16, 32); err == nil && int(p) == port {
				inode = f[9]
			}
		}
	}
	if inode == "" {
		return ""
	}
	procs, _ := os.ReadDir("/proc")
	for _, d := range procs {
		if _, err := strconv.Atoi(d.Name()); err != nil {
			continue
		}
		fds, _ := os.ReadDir(filepath.Join("/proc", d.Name(), "fd"))
		for _, fd := range fds {
			if link, _ := os.Readlink(filepath.Join("/proc", d.Name(), "fd", fd.Name())); link == "socket:["+inode+"]" {
				comm, _ := os.ReadFile(filepath.Join("/proc", d.Name(), "comm"))
				return strings.TrimSpace(string(comm)) + " (pid " + d.Name() + ")"
			}
		}
	}
	return ""
}

// dnsStub answers every query (A: 127.0.0.1, others: no data) and records
// the name: a lookup is an attempt to leave too.
func dnsStub(pc net.PacketConn, rec *recorder) {
	buf := make([]byte, 1500)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		q := buf[:n]
		name, qtype, end := parseQuestion(q)
		if end == 0 {
			continue
		}
		rec.add(Attempt{Kind: "dns", Address: from.String(), Port: 53, Name: name})
		resp := append([]byte{}, q[:end]...)
		resp[2] = 0x81 | (q[2] & 0x01) // response, recursion desired copied
		resp[3] = 0x80                 // recursion available, no error
		binary.BigEndian.PutUint16(resp[6:], 0)
		binary.BigEndian.PutUint16(resp[8:], 0)
		binary.BigEndian.PutUint16(resp[10:], 0)
		if qtype == 1 {
			binary.BigEndian.PutUint16(resp[6:], 1)
			resp = append(resp, 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 127, 0, 0, 1)
		}
		pc.WriteTo(resp, from)
	}
}

// parseQuestion reads the first question of a DNS query: its name, type,
// and where the question ends.
func parseQuestion(q []byte) (string, uint16, int) {
	if len(q) < 12 || binary.BigEndian.Uint16(q[4:]) < 1 {
		return "", 0, 0
	}
	var labels []string
	i := 12
	for i < len(q) && q[i] != 0 {
		l := int(q[i])
		if l > 63 || i+1+l > len(q) {
			return "", 0, 0
		}
		labels = append(labels, string(q[i+1:i+1+l]))
		i += 1 + l
	}
	if i+5 > len(q) {
		return "", 0, 0
	}
	return strings.Join(labels, "."), binary.BigEndian.Uint16(q[i+1:]), i + 5
}
