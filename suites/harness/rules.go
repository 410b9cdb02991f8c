package harness

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/real-estate-os/reos/internal/repo"
)

// Rule is a next-best-action rule as fixtures/rules.json publishes it. The
// suite reads the rules as data and evaluates them itself, so a drawer that
// shows the wrong reasons cannot agree with it by sharing its code.
type Rule struct {
	ID                  string   `json:"id"`
	Priority            int      `json:"priority"`
	Stages              []string `json:"stages"`
	MinDaysListed       *int     `json:"min_days_listed"`
	MinDaysSinceContact *int     `json:"min_days_since_contact"`
	NeverContacted      *bool    `json:"never_contacted"`
	MinEquityBps        *int64   `json:"min_equity_bps"`
	MaxEquityBps        *int64   `json:"max_equity_bps"`
	OwnerDNC            *bool    `json:"owner_dnc"`
	Reason              string   `json:"reason"`
	Action              string   `json:"action"`
}

// Deal is what the rules look at.
type Deal struct {
	Stage                       string
	ListedOn                    string // YYYY-MM-DD
	LastContact                 *time.Time
	OwnerDNC                    bool
	PriceCents, ARVCents, Rehab int64
}

// Expected is a reason the rules give: its rule, text and action.
type Expected struct {
	RuleID, Reason, Action string
}

// Fixture reads a file of the repository's fixtures/ as published: the
// specs compute what to expect from these, not from the product's answers.
func Fixture(name string) ([]byte, error) {
	root, err := repo.Root()
	if err != nil {
		return nil, err
	}
	return os.ReadFile(filepath.Join(root, "fixtures", name))
}

// PublishedRules reads fixtures/rules.json.
func PublishedRules() ([]Rule, error) {
	b, err := Fixture("rules.json")
	if err != nil {
		return nil, err
	}
	var rules []Rule
	if err := json.Unmarshal(b, &rules); err != nil {
		return nil, fmt.Errorf("fixtures/rules.json: %w", err)
	}
	return rules, nil
}

// Evaluate returns the reasons rules give d at now, most urgent first (by
// priority, then rule id). Days are whole days; the equity spread is
// (ARV − price − rehab) / ARV in basis points, its percent truncated.
func Evaluate(rules []Rule, d Deal, now time.Time) []Expected {
	wholeDays := func(from time.Time) int {
		if now.Before(from) {
			return 0
		}
		return int(now.Sub(from).Hours()) / 24
	}
	listed, _ := time.Parse(time.DateOnly, d.ListedOn)
	daysListed := wholeDays(listed)
	contacted := d.LastContact != nil
	sinceContact := 0
	if contacted {
		sinceContact = wholeDays(*d.LastContact)
	}
	var equity int64
	if d.ARVCents > 0 {
		equity = (d.ARVCents - d.PriceCents - d.Rehab) * 10000 / d.ARVCents
	}
	type fired struct {
		Expected
		priority int
	}
	var out []fired
	for _, r := range rules {
		if len(r.Stages) > 0 && !slices.Contains(r.Stages, d.Stage) {
			continue
		}
		if r.MinDaysListed != nil && daysListed < *r.MinDaysListed {
			continue
		}
		if r.MinDaysSinceContact != nil && contacted && sinceContact < *r.MinDaysSinceContact {
			continue
		}
		if r.NeverContacted != nil && *r.NeverContacted == contacted {
			continue
		}
		if r.MinEquityBps != nil && equity < *r.MinEquityBps {
			continue
		}
		if r.MaxEquityBps != nil && equity > *r.MaxEquityBps {
			continue
		}
		if r.OwnerDNC != nil && *r.OwnerDNC != d.OwnerDNC {
			continue
		}
		text := strings.NewReplacer("{equity_pct}", strconv.FormatInt(equity/100, 10), "{days_listed}", strconv.Itoa(daysListed),
			"{days_since_contact}", strconv.Itoa(sinceContact)).Replace(r.Reason)
		out = append(out, fired{Expected{r.ID, text, r.Action}, r.Priority})
	}
	slices.SortStableFunc(out, func(a, b fired) int {
		if a.priority != b.priority {
			return a.priority - b.priority
		}
		return strings.Compare(a.RuleID, b.RuleID)
	})
	res := make([]Expected, len(out))
	for i, f := range out {
		res[i] = f.Expected
	}
	return res
}
