// Package system holds the Real Estate OS domain: plain types, the rules that
// need no infrastructure (stage moves, next-best-action evaluation) and the
// interfaces the product's adapters implement. It imports only the standard
// library.
package system

import (
	"context"
	"fmt"
	"net/mail"
	"regexp"
	"strings"
	"time"
)

// Stage is a step of the deal pipeline.
type Stage string

// The pipeline's stages, in order.
const (
	StageNew           Stage = "new"
	StageContacted     Stage = "contacted"
	StageQualified     Stage = "qualified"
	StageOffer         Stage = "offer"
	StageUnderContract Stage = "under_contract"
	StageClosed        Stage = "closed"
	StageDead          Stage = "dead"
)

// Stages lists every stage in pipeline order.
var Stages = []Stage{StageNew, StageContacted, StageQualified, StageOffer, StageUnderContract, StageClosed, StageDead}

// Valid reports whether s is one of Stages.
func (s Stage) Valid() bool {
	for _, v := range Stages {
		if s == v {
			return true
		}
	}
	return false
}

// transitions lists where each stage may move. A deal moves one step forward
// or back, may die from any open stage, and a dead deal may be revived to new.
// A closed deal is final.
var transitions = map[Stage][]Stage{
	StageNew:           {StageContacted, StageDead},
	StageContacted:     {StageNew, StageQualified, StageDead},
	StageQualified:     {StageContacted, StageOffer, StageDead},
	StageOffer:         {StageQualified, StageUnderContract, StageDead},
	StageUnderContract: {StageOffer, StageClosed, StageDead},
	StageClosed:        {},
	StageDead:          {StageNew},
}

// dncAllowed are the only stages a property whose owner is on the
// do-not-contact list may be in: without contact there is no deal to qualify.
var dncAllowed = map[Stage]bool{StageNew: true, StageContacted: true, StageDead: true}

// CheckTransition returns ETRANSITION if a property may not move from one
// stage to another, and EDNC if the owner is on the do-not-contact list and
// the move goes past contacted.
func CheckTransition(from, to Stage, ownerDNC bool) error {
	if !to.Valid() {
		return Invalid(map[string]string{"stage": "must be one of new, contacted, qualified, offer, under_contract, closed, dead"})
	}
	if from == to {
		return nil
	}
	allowed := false
	for _, s := range transitions[from] {
		allowed = allowed || s == to
	}
	if !allowed {
		return Errorf(ETRANSITION, "a property cannot move from %s to %s", from, to)
	}
	return CheckOwnerStage(to, ownerDNC)
}

// CheckOwnerStage returns EDNC if a property whose owner is on the
// do-not-contact list (ownerDNC) may not be at stage.
func CheckOwnerStage(stage Stage, ownerDNC bool) error {
	if ownerDNC && !dncAllowed[stage] {
		return Errorf(EDNC, "the owner is on the do-not-contact list: the property cannot move past contacted")
	}
	return nil
}

// Property is a real-estate deal in the pipeline. Money is in integer cents;
// the cap rate is in basis points (725 = 7.25 %).
type Property struct {
	ID               int64      `json:"id"`
	Address          string     `json:"address"`
	City             string     `json:"city"`
	State            string     `json:"state"`
	Zip              string     `json:"zip"`
	OwnerName        string     `json:"owner_name"`
	OwnerPhone       string     `json:"owner_phone"`
	OwnerEmail       string     `json:"owner_email"`
	Stage            Stage      `json:"stage"`
	ListPriceCents   int64      `json:"list_price_cents"`
	ARVCents         int64      `json:"arv_cents"`
	RehabCents       int64      `json:"rehab_cents"`
	MonthlyRentCents int64      `json:"monthly_rent_cents"`
	CapRateBps       int64      `json:"cap_rate_bps"`
	Tags             []string   `json:"tags"`
	Notes            string     `json:"notes"`
	ListedOn         string     `json:"listed_on"` // YYYY-MM-DD
	LastContactedAt  *time.Time `json:"last_contacted_at"`
	OwnerDNC         bool       `json:"owner_dnc"`
	Version          int64      `json:"version"`
	CreatedAt        time.Time  `json:"created_at"`
	UpdatedAt        time.Time  `json:"updated_at"`
}

// EquityCents is the deal's equity spread: ARV − price − rehab.
func (p *Property) EquityCents() int64 { return p.ARVCents - p.ListPriceCents - p.RehabCents }

// EquityBps is the equity spread in basis points of the after-repair
// value. It is 0 when the ARV is unknown.
func (p *Property) EquityBps() int64 {
	if p.ARVCents <= 0 {
		return 0
	}
	return p.EquityCents() * 10000 / p.ARVCents
}

// PropertyFilter selects properties. Empty fields select everything.
type PropertyFilter struct {
	Stage  Stage
	Tag    string
	Query  string // matched against address, city and owner name
	Offset int
	Limit  int // 0 means no limit
}

// PropertyUpdate is a partial update: nil fields are left as they are.
type PropertyUpdate struct {
	Stage *Stage    `json:"stage"`
	Notes *string   `json:"notes"`
	Tags  *[]string `json:"tags"`
	// IfVersion, when set, refuses the update (EPRECONDITION) unless the
	// property is at that version.
	IfVersion *int64 `json:"-"`
}

// StageTotal is one row of the pipeline summary.
type StageTotal struct {
	Stage          Stage `json:"stage"`
	Count          int64 `json:"count"`
	ListPriceCents int64 `json:"total_list_price_cents"`
}

// PropertyService stores properties.
type PropertyService interface {
	// FindProperties returns the properties matching f, ordered by id, and
	// how many match in all.
	FindProperties(ctx context.Context, f PropertyFilter) ([]*Property, int, error)
	// FindPropertyByID returns ENOTFOUND if the property does not exist.
	FindPropertyByID(ctx context.Context, id int64) (*Property, error)
	// CreateProperty stores p and sets its ID, Version and timestamps.
	// Returns EDNC if p starts past contacted with a do-not-contact owner.
	CreateProperty(ctx context.Context, p *Property) error
	// UpdateProperty applies upd and increments the version. Returns
	// ENOTFOUND, EINVALID, ETRANSITION or EDNC; nothing is written then.
	UpdateProperty(ctx context.Context, id int64, upd PropertyUpdate) (*Property, error)
	// CollectionVersion changes with every write that changes what a list,
	// the pipeline or the export shows.
	CollectionVersion(ctx context.Context) (int64, error)
	// PropertyVersion returns a property's version; ENOTFOUND if none.
	PropertyVersion(ctx context.Context, id int64) (int64, error)
	// Pipeline returns a row for every stage, in pipeline order, counting
	// the properties that carry tag (all of them when tag is "").
	Pipeline(ctx context.Context, tag string) ([]StageTotal, error)
}

var (
	tagPattern   = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,39}$`)
	statePattern = regexp.MustCompile(`^[A-Z]{2}$`)
	zipPattern   = regexp.MustCompile(`^[0-9]{5}$`)
	// E164 matches a phone number in E.164 form.
	E164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
)

// Limits on what a property may hold.
const (
	MaxTags        = 20
	MaxNotes       = 10000
	maxText        = 200
	maxMoneyCents  = 100_000_000_000 // one billion dollars
	maxCapRateBps  = 10000
	dateOnlyLayout = time.DateOnly
)

// ValidateTags returns EINVALID unless tags are at most MaxTags distinct
// lower-case words of letters, digits and dashes.
func ValidateTags(tags []string) error {
	if len(tags) > MaxTags {
		return Invalid(map[string]string{"tags": fmt.Sprintf("at most %d tags", MaxTags)})
	}
	seen := map[string]bool{}
	for _, t := range tags {
		if !tagPattern.MatchString(t) {
			return Invalid(map[string]string{"tags": fmt.Sprintf("%q: a tag is 1–40 lower-case letters, digits and dashes", t)})
		}
		if seen[t] {
			return Invalid(map[string]string{"tags": fmt.Sprintf("%q appears twice", t)})
		}
		seen[t] = true
	}
	return nil
}

// ValidateNotes returns EINVALID if notes are longer than MaxNotes bytes.
func ValidateNotes(notes string) error {
	if len(notes) > MaxNotes {
		return Invalid(map[string]string{"notes": fmt.Sprintf("at most %d bytes", MaxNotes)})
	}
	return nil
}

// Validate returns EINVALID naming every field of a new property that is
// missing or malformed.
func (p *Property) Validate() error {
	bad := map[string]string{}
	text := func(field, v string, required bool) {
		switch {
		case required && strings.TrimSpace(v) == "":
			bad[field] = "required"
		case len(v) > maxText:
			bad[field] = fmt.Sprintf("at most %d bytes", maxText)
		}
	}
	text("address", p.Address, true)
	text("city", p.City, true)
	text("owner_name", p.OwnerName, true)
	if !statePattern.MatchString(p.State) {
		bad["state"] = "two upper-case letters, e.g. OH"
	}
	if !zipPattern.MatchString(p.Zip) {
		bad["zip"] = "five digits"
	}
	if p.OwnerPhone != "" && !E164.MatchString(p.OwnerPhone) {
		bad["owner_phone"] = "E.164, e.g. +16145550100"
	}
	if p.OwnerEmail != "" {
		if a, err := mail.ParseAddress(p.OwnerEmail); err != nil || a.Address != p.OwnerEmail {
			bad["owner_email"] = "a plain address, e.g. owner@example.com"
		}
	}
	if !p.Stage.Valid() {
		bad["stage"] = "one of new, contacted, qualified, offer, under_contract, closed, dead"
	}
	for field, v := range map[string]int64{"list_price_cents": p.ListPriceCents, "arv_cents": p.ARVCents, "rehab_cents": p.RehabCents, "monthly_rent_cents": p.MonthlyRentCents} {
		if v < 0 || v > maxMoneyCents {
			bad[field] = "between 0 and 100000000000 cents"
		}
	}
	if p.CapRateBps < 0 || p.CapRateBps > maxCapRateBps {
		bad["cap_rate_bps"] = "between 0 and 10000 basis points"
	}
	if _, err := time.Parse(dateOnlyLayout, p.ListedOn); err != nil {
		bad["listed_on"] = "a date, YYYY-MM-DD"
	}
	if err := ValidateTags(p.Tags); err != nil {
		bad["tags"] = err.(*Error).Fields["tags"]
	}
	if err := ValidateNotes(p.Notes); err != nil {
		bad["notes"] = err.(*Error).Fields["notes"]
	}
	if len(bad) > 0 {
		return Invalid(bad)
	}
	return nil
}

// Moves returns the stages a property at s may move to, in pipeline order.
func (s Stage) Moves() []Stage {
	var out []Stage
	for _, to := range Stages {
		for _, t := range transitions[s] {
			if t == to {
				out = append(out, to)
			}
		}
	}
	return out
}
