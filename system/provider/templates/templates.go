// Package templates writes the product's prose without a language model:
// stage-aware text/template sources, so the text is a pure function of its
// inputs (the `deterministic-templates` provider).
package templates

import (
	"bytes"
	"context"
	"strings"
	"text/template"

	"github.com/real-estate-os/reos/system"
)

// Writer is the deterministic Writer.
type Writer struct{}

var _ system.Writer = Writer{}

// Check always succeeds: nothing is reached over the network.
func (Writer) Check(context.Context) error { return nil }

// memoIntro is the opening paragraph for each stage.
var memoIntro = map[system.Stage]string{
	system.StageNew:           "This is a new lead. Nobody has spoken with the owner yet; the figures below come from the listing and our own estimates.",
	system.StageContacted:     "We have contacted the owner and are waiting to learn their condition and timeline.",
	system.StageQualified:     "The owner is motivated and the property fits our buy box. The next step is a walk-through and a written offer.",
	system.StageOffer:         "An offer is out. This memo supports the price we offered and the room we have to negotiate.",
	system.StageUnderContract: "We are under contract. This memo records the numbers the deal closes on.",
	system.StageClosed:        "The deal has closed. This memo is the record of the numbers we bought on.",
	system.StageDead:          "The deal is dead. This memo keeps the numbers in case the owner's situation changes.",
}

var memoTemplate = template.Must(template.New("memo").Funcs(template.FuncMap{"dollars": system.Dollars}).Parse(
	`{{.Intro}}

{{.P.Address}}, {{.P.City}}, {{.P.State}} {{.P.Zip}} is listed at {{dollars .P.ListPriceCents}}. With an estimated rehab of {{dollars .P.RehabCents}}, the all-in cost is {{dollars .AllIn}} against an after-repair value of {{dollars .P.ARVCents}}, an equity spread of {{dollars .Equity}} ({{.EquityPct}} of ARV).

As a rental it would bring {{dollars .P.MonthlyRentCents}} a month, a cap rate of {{.CapRate}} on the all-in cost.
{{if .Reasons}}
What to do next:{{range .Reasons}}
- {{.Action}} ({{.Reason}}){{end}}
{{end}}`))

// WriteMemo returns the memo text for p. The same property and reasons
// always give the same text.
func (Writer) WriteMemo(_ context.Context, p *system.Property, reasons []system.Reason) (string, error) {
	var b bytes.Buffer
	err := memoTemplate.Execute(&b, map[string]any{
		"Intro":     memoIntro[p.Stage],
		"P":         p,
		"AllIn":     p.ListPriceCents + p.RehabCents,
		"Equity":    p.EquityCents(),
		"EquityPct": system.Percent(p.EquityBps()),
		"CapRate":   system.Percent(p.CapRateBps),
		"Reasons":   reasons,
	})
	return strings.TrimSpace(b.String()), err
}
