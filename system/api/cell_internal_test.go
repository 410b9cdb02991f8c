package api

import "testing"

// A text cell a spreadsheet would run as a formula (CWE-1236) is written
// with a leading quote; other text is left as it is.
func TestCellNeutralisesFormulas(t *testing.T) {
	for in, want := range map[string]string{
		`=HYPERLINK("http://evil.example","x")`: `'=HYPERLINK("http://evil.example","x")`,
		"+1 555":                                "'+1 555",
		"-2+3":                                  "'-2+3",
		"@SUM(A1)":                              "'@SUM(A1)",
		"\tTab":                                 "'\tTab",
		"12 Main St":                            "12 Main St",
		"":                                      "",
		"Zoë = owner":                           "Zoë = owner",
	} {
		if got := cell(in); got != want {
			t.Errorf("cell(%q) = %q, want %q", in, got, want)
		}
	}
}
