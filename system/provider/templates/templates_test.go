package templates_test

import (
	"context"
	"strings"
	"testing"

	"github.com/real-estate-os/reos/fixtures"
	"github.com/real-estate-os/reos/system"
	"github.com/real-estate-os/reos/system/provider/templates"
)

func TestWriteMemoIsAPureFunction(t *testing.T) {
	p := &system.Property{Address: "1 Elm St", City: "Columbus", State: "OH", Zip: "43201", Stage: system.StageOffer,
		ListPriceCents: 100_000_00, RehabCents: 20_000_00, ARVCents: 160_000_00, MonthlyRentCents: 1_250_00, CapRateBps: 725}
	reasons := []system.Reason{{Action: "Call the owner.", Reason: "The offer is 9 days old."}}
	a, err := templates.Writer{}.WriteMemo(context.Background(), p, reasons)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := templates.Writer{}.WriteMemo(context.Background(), p, reasons)
	if a != b {
		t.Error("same inputs, different text")
	}
	for _, want := range []string{"An offer is out", "$100,000.00", "$120,000.00", "$160,000.00", "$40,000.00 (25.00% of ARV)", "7.25%", "- Call the owner. (The offer is 9 days old.)"} {
		if !strings.Contains(a, want) {
			t.Errorf("memo text lacks %q:\n%s", want, a)
		}
	}
}

func TestEveryFixtureTemplateRenders(t *testing.T) {
	tpls, err := fixtures.Templates()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, tpl := range tpls {
		subject, body, err := tpl.Render(system.MessageData{OwnerName: "Ann", Address: "1 Elm St", City: "Columbus", AgentName: "Sam"})
		if err != nil {
			t.Errorf("%s/%s: %v", tpl.Channel, tpl.Stage, err)
		}
		if strings.Contains(body, "{{") || !strings.Contains(body, "1 Elm St") || (tpl.Channel == system.ChannelEmail && subject == "") {
			t.Errorf("%s/%s rendered %q / %q", tpl.Channel, tpl.Stage, subject, body)
		}
		seen[string(tpl.Channel)+"/"+string(tpl.Stage)] = true
	}
	for _, st := range system.Stages {
		for _, ch := range []system.Channel{system.ChannelEmail, system.ChannelSMS} {
			if !seen[string(ch)+"/"+string(st)] {
				t.Errorf("no %s template for stage %s", ch, st)
			}
		}
	}
}
