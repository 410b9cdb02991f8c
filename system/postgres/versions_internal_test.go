package postgres

import (
	"fmt"
	"testing"
)

// FuzzParseVersionNotice: any payload is parsed or refused, never both,
// and what is accepted says it again in the triggers' own form.
func FuzzParseVersionNotice(f *testing.F) {
	for _, s := range []string{"p30:2", "c:17", "p1:9223372036854775807", "p:1", "c:0", "p30:-1", "x30:2", "p30", "", "p+30:2", "c:1:2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, payload string) {
		m, err := parseVersionNotice(payload)
		if err != nil {
			return
		}
		var again string
		switch {
		case m.collection > 0 && len(m.props) == 0:
			again = fmt.Sprintf("c:%d", m.collection)
		case m.collection == 0 && len(m.props) == 1:
			for id, v := range m.props {
				again = fmt.Sprintf("p%d:%d", id, v)
			}
		default:
			t.Fatalf("%q parsed to %+v", payload, m)
		}
		if m2, err := parseVersionNotice(again); err != nil || fmt.Sprint(m2) != fmt.Sprint(m) {
			t.Errorf("%q → %+v → %q → %+v, %v", payload, m, again, m2, err)
		}
	})
}
