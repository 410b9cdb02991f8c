// Package system holds the Real Estate OS domain: plain types, the rules that
// need no infrastructure (stage moves, next-best-action evaluation) and the
// interfaces the product's adapters implement. It imports only the standard
// library.
package system

import (
	"context"
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
	if ownerDNC && !dncAllowed[to] {
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

// EquityBps is the deal's equity spread in basis points of the after-repair
// value: (ARV − price − rehab) / ARV. It is 0 when the ARV is unknown.
func (p *Property) EquityBps() int64 {
	if p.ARVCents <= 0 {
		return 0
	}
	return (p.ARVCents - p.ListPriceCents - p.RehabCents) * 10000 / p.ARVCents
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
	// Pipeline returns a row for every stage, in pipeline order, counting
	// the properties that carry tag (all of them when tag is "").
	Pipeline(ctx context.Context, tag string) ([]StageTotal, error)
}
