package harness

import (
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
)

// Property is a property as the API answers it.
type Property struct {
	ID               int64      `json:"id"`
	Address          string     `json:"address"`
	City             string     `json:"city"`
	State            string     `json:"state"`
	Zip              string     `json:"zip"`
	OwnerName        string     `json:"owner_name"`
	OwnerPhone       string     `json:"owner_phone"`
	OwnerEmail       string     `json:"owner_email"`
	Stage            string     `json:"stage"`
	ListPriceCents   int64      `json:"list_price_cents"`
	ARVCents         int64      `json:"arv_cents"`
	RehabCents       int64      `json:"rehab_cents"`
	MonthlyRentCents int64      `json:"monthly_rent_cents"`
	CapRateBps       int64      `json:"cap_rate_bps"`
	Tags             []string   `json:"tags"`
	ListedOn         string     `json:"listed_on"`
	LastContactedAt  *time.Time `json:"last_contacted_at"`
	OwnerDNC         bool       `json:"owner_dnc"`
	Version          int64      `json:"version"`
}

// Deal is what the rules look at in p.
func (p *Property) Deal() Deal {
	return Deal{Stage: p.Stage, ListedOn: p.ListedOn, LastContact: p.LastContactedAt, OwnerDNC: p.OwnerDNC,
		PriceCents: p.ListPriceCents, ARVCents: p.ARVCents, Rehab: p.RehabCents}
}

// NewProperty is a property the spec creates; zero fields get the spec's
// own values (its recipients, its tag).
type NewProperty struct {
	Stage                                   string
	PriceDollars, ARVDollars, RehabDollars  int64
	RentDollars                             int64
	ListedDaysAgo                           int
	OwnerName, OwnerPhone, OwnerEmail, Note string
}

// CreateProperty creates a property through the API, tagged with the
// spec's key, and returns it as the API answered.
func (s *Spec) CreateProperty(n int, np NewProperty) *Property {
	GinkgoHelper()
	if np.OwnerPhone == "" {
		np.OwnerPhone = s.PhoneNumber()
	}
	if np.OwnerEmail == "" {
		np.OwnerEmail = s.OwnerEmail(n)
	}
	if np.OwnerName == "" {
		np.OwnerName = fmt.Sprintf("Owner %d of %s", n, s.Key)
	}
	if np.PriceDollars == 0 {
		np.PriceDollars = 200_000 + int64(n)*10_000
	}
	if np.ARVDollars == 0 {
		np.ARVDollars = np.PriceDollars * 13 / 10
	}
	body := map[string]any{"address": fmt.Sprintf("%d Suite Way", 100+n), "city": "Austin", "state": "TX", "zip": "78701",
		"owner_name": np.OwnerName, "owner_phone": np.OwnerPhone, "owner_email": np.OwnerEmail, "stage": np.Stage,
		"list_price_cents": np.PriceDollars * 100, "arv_cents": np.ARVDollars * 100, "rehab_cents": np.RehabDollars * 100,
		"monthly_rent_cents": np.RentDollars * 100, "cap_rate_bps": 600, "tags": []string{s.Key}, "notes": np.Note,
		"listed_on": time.Now().UTC().AddDate(0, 0, -np.ListedDaysAgo).Format(time.DateOnly)}
	if np.Stage == "" {
		delete(body, "stage")
	}
	r, err := s.API.Expect(201, "POST", "/api/v1/properties", body)
	Must(err, "create a property")
	var p Property
	Must(r.JSON(&p), "the created property")
	s.mu.Lock()
	s.marks[p.OwnerPhone], s.marks[p.OwnerEmail] = true, true // what the vendors' exchanges about it mention
	s.marks[fmt.Sprintf("property/%d", p.ID)] = true
	s.mu.Unlock()
	return &p
}

// Property reads a property through the API.
func (s *Spec) Property(id int64) *Property {
	GinkgoHelper()
	r, err := s.API.Expect(200, "GET", fmt.Sprintf("/api/v1/properties/%d", id), nil)
	Must(err, "read a property")
	var p Property
	Must(r.JSON(&p), "the property")
	return &p
}
