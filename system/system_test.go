package system_test

import (
	"testing"
	"time"

	"github.com/real-estate-os/reos/system"
)

func TestCheckTransition(t *testing.T) {
	tests := []struct {
		name     string
		from, to system.Stage
		dnc      bool
		want     string
	}{
		{"one step forward", system.StageNew, system.StageContacted, false, ""},
		{"one step back", system.StageOffer, system.StageQualified, false, ""},
		{"skip a stage", system.StageNew, system.StageOffer, false, system.ETRANSITION},
		{"die from anywhere open", system.StageUnderContract, system.StageDead, false, ""},
		{"revive", system.StageDead, system.StageNew, false, ""},
		{"closed is final", system.StageClosed, system.StageDead, false, system.ETRANSITION},
		{"unchanged", system.StageOffer, system.StageOffer, false, ""},
		{"unknown stage", system.StageNew, "sold", false, system.EINVALID},
		{"DNC owner may be contacted", system.StageNew, system.StageContacted, true, ""},
		{"DNC owner past contacted", system.StageContacted, system.StageQualified, true, system.EDNC},
	}
	for _, tt := range tests {
		if got := system.ErrorCode(system.CheckTransition(tt.from, tt.to, tt.dnc)); got != tt.want {
			t.Errorf("%s: CheckTransition(%s, %s, %v) = %q, want %q", tt.name, tt.from, tt.to, tt.dnc, got, tt.want)
		}
	}
}

func ptr[T any](v T) *T { return &v }

func TestReasons(t *testing.T) {
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	contacted := now.AddDate(0, 0, -20)
	p := &system.Property{ID: 1, Stage: system.StageContacted, ListedOn: "2026-06-01", LastContactedAt: &contacted,
		ListPriceCents: 60_000_00, RehabCents: 10_000_00, ARVCents: 100_000_00}
	rules := []system.Rule{
		{ID: "z-late", Priority: 2, MinDaysSinceContact: ptr(14), Reason: "No contact for {days_since_contact} days."},
		{ID: "a-equity", Priority: 2, MinEquityBps: ptr(int64(2500)), Reason: "Equity {equity_pct}%."},
		{ID: "listed", Priority: 1, MinDaysListed: ptr(90), Reason: "Listed {days_listed} days."},
		{ID: "wrong-stage", Priority: 0, Stages: []system.Stage{system.StageOffer}, Reason: "never"},
		{ID: "never-contacted", Priority: 0, NeverContacted: ptr(true), Reason: "never"},
		{ID: "dnc", Priority: 0, OwnerDNC: ptr(true), Reason: "never"},
		{ID: "thin", Priority: 0, MaxEquityBps: ptr(int64(1000)), Reason: "never"},
		{ID: "rich", Priority: 0, MinEquityBps: ptr(int64(4000)), Reason: "never"}, // 30 % is below its floor
	}
	got := system.Reasons(rules, p, now)
	want := []system.Reason{
		{RuleID: "listed", Priority: 1, Reason: "Listed 153 days."},
		{RuleID: "a-equity", Priority: 2, Reason: "Equity 30%."},
		{RuleID: "z-late", Priority: 2, Reason: "No contact for 20 days."},
	}
	if len(got) != len(want) {
		t.Fatalf("Reasons = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Reasons[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestValidate(t *testing.T) {
	p := &system.Property{Address: "1 A St", City: "Columbus", State: "OH", Zip: "43201", OwnerName: "A", Stage: system.StageNew,
		ListedOn: "2026-01-01", OwnerEmail: "a@example.com", OwnerPhone: "+16145550100"}
	if err := p.Validate(); err != nil {
		t.Fatalf("Validate(valid) = %v", err)
	}
	bad := &system.Property{State: "ohio", Zip: "4320", Stage: "sold", ListedOn: "yesterday", OwnerEmail: "Name <a@example.com>",
		OwnerPhone: "6145550100", CapRateBps: 10001, ListPriceCents: -1, Tags: []string{"x", "x"}}
	err := bad.Validate()
	fields := err.(*system.Error).Fields
	for _, f := range []string{"address", "city", "owner_name", "state", "zip", "stage", "listed_on", "owner_email", "owner_phone", "cap_rate_bps", "list_price_cents", "tags"} {
		if fields[f] == "" {
			t.Errorf("Validate does not name %s: %v", f, fields)
		}
	}
}

func BenchmarkReasons(b *testing.B) {
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	p := &system.Property{Stage: system.StageContacted, ListedOn: "2026-06-01", ListPriceCents: 60_000_00, ARVCents: 100_000_00}
	rules := []system.Rule{
		{ID: "a", Priority: 2, MinDaysSinceContact: ptr(14), Reason: "No contact for {days_since_contact} days."},
		{ID: "b", Priority: 2, MinEquityBps: ptr(int64(2500)), Reason: "Equity {equity_pct}%."},
		{ID: "c", Priority: 1, MinDaysListed: ptr(90), Reason: "Listed {days_listed} days."},
	}
	b.ReportAllocs()
	for b.Loop() {
		system.Reasons(rules, p, now)
	}
}
