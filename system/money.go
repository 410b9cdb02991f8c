package system

import (
	"fmt"
	"strings"
)

// Amount formats hundredths (cents, or basis points) as a plain decimal
// with exactly two places and no rounding: 123456 → "1234.56". Files that
// machines read (the portfolio CSV) use it; Dollars and Percent dress it
// for people.
func Amount(hundredths int64) string {
	sign := ""
	if hundredths < 0 {
		sign, hundredths = "-", -hundredths
	}
	return fmt.Sprintf("%s%d.%02d", sign, hundredths/100, hundredths%100)
}

// Dollars formats cents as "$1,234,567.89".
func Dollars(cents int64) string {
	a := Amount(cents)
	sign := ""
	if a[0] == '-' {
		sign, a = "-", a[1:]
	}
	whole, frac, _ := strings.Cut(a, ".")
	for i := len(whole) - 3; i > 0; i -= 3 {
		whole = whole[:i] + "," + whole[i:]
	}
	return sign + "$" + whole + "." + frac
}

// Percent formats basis points as "7.25%".
func Percent(bps int64) string { return Amount(bps) + "%" }

// Figures are the numbers a memo shows, label and value, in order.
func (m *Memo) Figures() [][2]string {
	p := m.Property
	return [][2]string{
		{"List price", Dollars(p.ListPriceCents)},
		{"After-repair value (ARV)", Dollars(p.ARVCents)},
		{"Rehab estimate", Dollars(p.RehabCents)},
		{"All-in cost", Dollars(p.ListPriceCents + p.RehabCents)},
		{"Equity spread", fmt.Sprintf("%s (%s of ARV)", Dollars(p.EquityCents()), Percent(p.EquityBps()))},
		{"Monthly rent", Dollars(p.MonthlyRentCents)},
		{"Cap rate", Percent(p.CapRateBps)},
	}
}
