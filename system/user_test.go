package system_test

import (
	"strings"
	"testing"

	"github.com/real-estate-os/reos/system"
)

func TestPasswordPolicy(t *testing.T) {
	for _, c := range []struct {
		email, password, why string
	}{
		{"sam@example.com", "short", "12 to 72 bytes"},
		{"sam@example.com", strings.Repeat("ab", 40), "12 to 72 bytes"},
		{"sam@example.com", "aaaaaabbbbbbcc", "6 different characters"},
		{"samuel@example.com", "Samuel-2026-winter", "email's name"},
		{"sam@example.com", "MyPassword-2026!", "well-known password"},
		{"sam@example.com", "tab\there-and-more", "control characters"},
	} {
		bad := system.CheckNewUser(c.email, system.RoleAgent, c.password)
		if !strings.Contains(bad["password"], c.why) {
			t.Errorf("%q for %s: %q, want it refused: %s", c.password, c.email, bad["password"], c.why)
		}
	}
	if bad := system.CheckNewUser("sam@example.com", system.RoleAgent, "Blue-Harbor-Lantern-93"); len(bad) != 0 {
		t.Errorf("a good password refused: %v", bad)
	}
	if bad := system.CheckNewUser("Sam <sam@example.com>", "owner", "Blue-Harbor-Lantern-93"); bad["email"] == "" || bad["role"] == "" {
		t.Errorf("a display-name address and an unknown role: %v, want both refused", bad)
	}
}
