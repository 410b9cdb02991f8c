package system_test

import (
	"testing"

	"github.com/real-estate-os/reos/system"
)

func TestDollarsAndPercent(t *testing.T) {
	for in, want := range map[int64]string{0: "$0.00", 99: "$0.99", 123456789: "$1,234,567.89", -100000: "-$1,000.00"} {
		if got := system.Dollars(in); got != want {
			t.Errorf("Dollars(%d) = %s, want %s", in, got, want)
		}
	}
	if got := system.Percent(-1234); got != "-12.34%" {
		t.Errorf("Percent(-1234) = %s", got)
	}
}

func TestAmount(t *testing.T) {
	for in, want := range map[int64]string{0: "0.00", 5: "0.05", 123456: "1234.56", -250: "-2.50", -5: "-0.05"} {
		if got := system.Amount(in); got != want {
			t.Errorf("Amount(%d) = %q, want %q", in, got, want)
		}
	}
}
