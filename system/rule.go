package system

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Rule is a next-best-action rule, kept as data. Every condition that is set
// must hold for the rule to fire; unset conditions match anything.
type Rule struct {
	ID       string  `json:"id"`
	Priority int     `json:"priority"` // 1 is the most urgent
	Stages   []Stage `json:"stages,omitempty"`
	// MinDaysListed fires on properties listed at least this many days ago.
	MinDaysListed *int `json:"min_days_listed,omitempty"`
	// MinDaysSinceContact fires when the last contact is at least this
	// many days old, or when there never was one.
	MinDaysSinceContact *int `json:"min_days_since_contact,omitempty"`
	// NeverContacted fires only on owners nobody has contacted yet.
	NeverContacted *bool `json:"never_contacted,omitempty"`
	// MinEquityBps and MaxEquityBps bound the equity spread (EquityBps).
	MinEquityBps *int64 `json:"min_equity_bps,omitempty"`
	MaxEquityBps *int64 `json:"max_equity_bps,omitempty"`
	// OwnerDNC fires on whether the owner is on the do-not-contact list.
	OwnerDNC *bool `json:"owner_dnc,omitempty"`
	// Reason may use {equity_pct}, {days_listed} and {days_since_contact}.
	Reason string `json:"reason"`
	Action string `json:"action"`
}

// Reason is a fired rule, as the property drawer shows it.
type Reason struct {
	RuleID   string `json:"rule_id"`
	Priority int    `json:"priority"`
	Reason   string `json:"reason"`
	Action   string `json:"action"`
}

// RuleService stores next-best-action rules.
type RuleService interface {
	// FindRules returns every rule, ordered by priority then id.
	FindRules(ctx context.Context) ([]Rule, error)
}

// Reasons evaluates rules against p at time now. The result is ordered by
// priority, then rule id, so the same inputs always give the same list.
func Reasons(rules []Rule, p *Property, now time.Time) []Reason {
	listed, err := time.Parse(time.DateOnly, p.ListedOn)
	daysListed := 0
	if err == nil {
		daysListed = days(now.Sub(listed))
	}
	daysSinceContact := -1 // never contacted
	if p.LastContactedAt != nil {
		daysSinceContact = days(now.Sub(*p.LastContactedAt))
	}
	equity := p.EquityBps()

	fill := strings.NewReplacer(
		"{equity_pct}", strconv.FormatInt(equity/100, 10),
		"{days_listed}", strconv.Itoa(daysListed),
		"{days_since_contact}", strconv.Itoa(max(daysSinceContact, 0)),
	)
	var out []Reason
	for _, r := range rules {
		switch {
		case len(r.Stages) > 0 && !slices.Contains(r.Stages, p.Stage),
			r.MinDaysListed != nil && daysListed < *r.MinDaysListed,
			r.MinDaysSinceContact != nil && daysSinceContact >= 0 && daysSinceContact < *r.MinDaysSinceContact,
			r.NeverContacted != nil && *r.NeverContacted != (daysSinceContact < 0),
			r.MinEquityBps != nil && equity < *r.MinEquityBps,
			r.MaxEquityBps != nil && equity > *r.MaxEquityBps,
			r.OwnerDNC != nil && *r.OwnerDNC != p.OwnerDNC:
			continue
		}
		out = append(out, Reason{RuleID: r.ID, Priority: r.Priority, Reason: fill.Replace(r.Reason), Action: r.Action})
	}
	slices.SortStableFunc(out, func(a, b Reason) int {
		if a.Priority != b.Priority {
			return a.Priority - b.Priority
		}
		return strings.Compare(a.RuleID, b.RuleID)
	})
	return out
}

func days(d time.Duration) int {
	if d < 0 {
		return 0
	}
	return int(d / (24 * time.Hour))
}

// ReasonsFor returns the property id and its next-best-action reasons at
// now, as the published rules give them (never nil).
func ReasonsFor(ctx context.Context, properties PropertyService, rules RuleService, id int64, now time.Time) (*Property, []Reason, error) {
	p, err := properties.FindPropertyByID(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	rs, err := rules.FindRules(ctx)
	if err != nil {
		return nil, nil, err
	}
	reasons := Reasons(rs, p, now)
	if reasons == nil {
		reasons = []Reason{}
	}
	return p, reasons, nil
}
