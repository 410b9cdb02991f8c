package system

import "fmt"

// Dollars formats cents as "$1,234,567.89".
func Dollars(cents int64) string {
	sign := ""
	if cents < 0 {
		sign, cents = "-", -cents
	}
	whole := fmt.Sprint(cents / 100)
	for i := len(whole) - 3; i > 0; i -= 3 {
		whole = whole[:i] + "," + whole[i:]
	}
	return fmt.Sprintf("%s$%s.%02d", sign, whole, cents%100)
}

// Percent formats basis points as "7.25%".
func Percent(bps int64) string {
	sign := ""
	if bps < 0 {
		sign, bps = "-", -bps
	}
	return fmt.Sprintf("%s%d.%02d%%", sign, bps/100, bps%100)
}

// Figures are the numbers a memo shows, label and value, in order.
func (m *Memo) Figures() [][2]string {
	p := m.Property
	return [][2]string{
		{"List price", Dollars(p.ListPriceCents)},
		{"After-repair value (ARV)", Dollars(p.ARVCents)},
		{"Rehab estimate", Dollars(p.RehabCents)},
		{"All-in cost", Dollars(p.ListPriceCents + p.RehabCents)},
		{"Equity spread", fmt.Sprintf("%s (%s of ARV)", Dollars(p.ARVCents-p.ListPriceCents-p.RehabCents), Percent(p.EquityBps()))},
		{"Monthly rent", Dollars(p.MonthlyRentCents)},
		{"Cap rate", Percent(p.CapRateBps)},
	}
}
