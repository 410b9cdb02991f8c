// Package egress is the outbound-connection guard. Every provider dials
// through a Guard, which allows loopback and an explicit list of hosts and
// refuses everything else before any name is resolved: a DNS lookup of an
// outside name already sends a packet off the machine.
package egress

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"
)

// Guard decides which connections the product may open.
type Guard struct {
	// Allow lists host names and IP addresses reachable besides loopback:
	// the vendors' hosts in production, compose service names, or nothing
	// (mock mode on one machine).
	Allow []string
	// Sink receives one JSON line per refused attempt. Nil discards them.
	Sink io.Writer
	// Now is the clock for the records; time.Now when nil.
	Now func() time.Time

	mu sync.Mutex
}

// Attempt is the record of a refused connection.
type Attempt struct {
	Time     time.Time `json:"time"`
	Provider string    `json:"provider"`
	Network  string    `json:"network"`
	Address  string    `json:"address"`
	Host     string    `json:"host"`
	Allowed  bool      `json:"allowed"`
	Reason   string    `json:"reason"`
}

// BlockedError is returned for a refused connection.
type BlockedError struct {
	Provider string
	Address  string
	Reason   string
}

func (e *BlockedError) Error() string {
	return fmt.Sprintf("egress: %s may not connect to %s: %s", e.Provider, e.Address, e.Reason)
}

// Resolve decides whether provider may connect to addr (host:port) and
// returns the address to dial: a loopback name becomes its address, so that
// not even "localhost" goes to a resolver. It never resolves anything.
func (g *Guard) Resolve(provider, network, addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", g.refuse(provider, network, addr, addr, "not a host:port address")
	}
	name := strings.TrimSuffix(strings.ToLower(host), ".")
	if name == "localhost" || strings.HasSuffix(name, ".localhost") {
		return net.JoinHostPort("127.0.0.1", port), nil
	}
	if ip, err := netip.ParseAddr(name); err == nil {
		if ip.Unmap().IsLoopback() || slices.Contains(g.Allow, ip.Unmap().String()) {
			return addr, nil
		}
		return "", g.refuse(provider, network, addr, name, "only loopback and EGRESS_ALLOW_HOSTS may be reached")
	}
	if slices.Contains(g.Allow, name) {
		return addr, nil
	}
	return "", g.refuse(provider, network, addr, name, "the host is not loopback and not in EGRESS_ALLOW_HOSTS; it was not looked up")
}

func (g *Guard) refuse(provider, network, addr, host, reason string) error {
	now := time.Now
	if g.Now != nil {
		now = g.Now
	}
	if g.Sink != nil {
		line, _ := json.Marshal(Attempt{Time: now().UTC(), Provider: provider, Network: network, Address: addr, Host: host, Reason: reason})
		g.mu.Lock()
		g.Sink.Write(append(line, '\n'))
		g.mu.Unlock()
	}
	return &BlockedError{Provider: provider, Address: addr, Reason: reason}
}

// DialContext returns a dial function for provider that goes through the
// guard.
func (g *Guard) DialContext(provider string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		target, err := g.Resolve(provider, network, addr)
		if err != nil {
			return nil, err
		}
		return d.DialContext(ctx, network, target)
	}
}

// HTTPClient returns a client for provider whose every connection goes
// through the guard. It ignores HTTP_PROXY and friends: a proxy is one more
// way off the machine.
func (g *Guard) HTTPClient(provider string, timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         g.DialContext(provider),
			ForceAttemptHTTP2:   true,
			MaxIdleConnsPerHost: 32,
			IdleConnTimeout:     90 * time.Second,
			TLSHandshakeTimeout: 10 * time.Second,
		},
	}
}
