package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/real-estate-os/reos/fixtures"
	"github.com/real-estate-os/reos/system"
	"github.com/real-estate-os/reos/system/postgres"
	"github.com/real-estate-os/reos/system/postgres/postgrestest"
)

var fixedNow = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

// openDB returns a migrated database of the test's own; seeded when seed is set.
func openDB(t *testing.T, seed bool) *postgres.DB {
	t.Helper()
	ctx := context.Background()
	db, err := postgres.Open(ctx, postgrestest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	db.Now = func() time.Time { return fixedNow }
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if seed {
		if _, err := db.Seed(ctx, postgres.SeedOptions{Demo: true, DemoPasswordHash: "hash"}); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

// checksum hashes every row of every table, in a fixed order.
func checksum(t *testing.T, db *postgres.DB) string {
	t.Helper()
	var sum string
	err := db.Pool.QueryRow(context.Background(), `SELECT md5(string_agg(r, E'\n' ORDER BY r)) FROM (
		SELECT 'p' || row(p.*)::text AS r FROM properties p
		UNION ALL SELECT 't' || row(t.*)::text FROM templates t
		UNION ALL SELECT 'n' || row(n.*)::text FROM nba_rules n
		UNION ALL SELECT 'd' || row(d.*)::text FROM dnc_entries d
		UNION ALL SELECT 'u' || row(u.*)::text FROM users u
		UNION ALL SELECT 's' || row(s.*)::text FROM stages s) rows`).Scan(&sum)
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

func TestMigrateFromEmptyIsIdempotent(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, false)
	applied, err := db.Migrate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) != 0 {
		t.Errorf("second Migrate applied %v, want nothing", applied)
	}
	var stages int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM stages`).Scan(&stages); err != nil {
		t.Fatal(err)
	}
	if stages != len(system.Stages) {
		t.Errorf("stages = %d, want %d", stages, len(system.Stages))
	}
}

func TestSeedIsIdempotentAndDeterministic(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, false)
	first, err := db.Seed(ctx, postgres.SeedOptions{Demo: true, DemoPasswordHash: "hash"})
	if err != nil {
		t.Fatal(err)
	}
	want := postgres.SeedReport{Properties: 50, Templates: 14, Rules: 9, DNC: 7, Users: 2}
	if first != want {
		t.Errorf("first Seed = %+v, want %+v", first, want)
	}
	sum := checksum(t, db)

	second, err := db.Seed(ctx, postgres.SeedOptions{Demo: true, DemoPasswordHash: "hash"})
	if err != nil {
		t.Fatal(err)
	}
	if second != (postgres.SeedReport{}) {
		t.Errorf("second Seed changed rows: %+v", second)
	}
	if got := checksum(t, db); got != sum {
		t.Errorf("checksum after second Seed = %s, want %s", got, sum)
	}

	// A second database seeded from the same fixtures holds the same rows.
	if other := checksum(t, openDB(t, true)); other != sum {
		t.Errorf("checksum of another seeded database = %s, want %s", other, sum)
	}
}

func TestSeedWithoutDemoUsers(t *testing.T) {
	db := openDB(t, false)
	rep, err := db.Seed(context.Background(), postgres.SeedOptions{Demo: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Users != 0 || rep.Properties != 50 {
		t.Errorf("Seed with demo data but no demo password: %+v, want 50 properties and no users", rep)
	}
}

// Production's seed: the product's configuration, no demo data at all.
func TestSeedWithoutDemoData(t *testing.T) {
	db := openDB(t, false)
	rep, err := db.Seed(context.Background(), postgres.SeedOptions{DemoPasswordHash: "hash"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Properties != 0 || rep.DNC != 0 || rep.Users != 0 || rep.Templates == 0 || rep.Rules == 0 {
		t.Errorf("Seed without Demo: %+v, want templates and rules only", rep)
	}
	var rows int
	db.Pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM properties) + (SELECT count(*) FROM dnc_entries) + (SELECT count(*) FROM users)`).Scan(&rows)
	if rows != 0 {
		t.Errorf("%d demo rows written without Demo", rows)
	}
}

func TestSeededProperties(t *testing.T) {
	ctx := context.Background()
	s := postgres.NewPropertyService(openDB(t, true))
	items, total, err := s.FindProperties(ctx, system.PropertyFilter{Tag: "seed"})
	if err != nil {
		t.Fatal(err)
	}
	if total != 50 || len(items) != 50 {
		t.Fatalf("seeded properties: total %d, %d items; want 50", total, len(items))
	}
	want, _ := fixtures.Properties()
	for i, p := range items {
		w := want[i].System()
		if p.ID != w.ID || p.Address != w.Address || p.ListPriceCents != w.ListPriceCents || p.Stage != w.Stage || p.ListedOn != w.ListedOn {
			t.Errorf("property %d = %+v, want the fixture %+v", i+1, p, w)
		}
	}
	dnc := map[int64]bool{}
	for _, p := range items {
		if p.OwnerDNC {
			dnc[p.ID] = true
		}
	}
	if len(dnc) != 5 || !dnc[7] || !dnc[13] || !dnc[19] || !dnc[27] || !dnc[42] {
		t.Errorf("owners on the DNC list = %v, want properties 7, 13, 19, 27 and 42", dnc)
	}
}

func TestFindPropertiesFilters(t *testing.T) {
	ctx := context.Background()
	s := postgres.NewPropertyService(openDB(t, true))
	tests := []struct {
		name      string
		filter    system.PropertyFilter
		wantTotal int
		wantLen   int
	}{
		{"page", system.PropertyFilter{Offset: 10, Limit: 5}, 50, 5},
		{"past the end", system.PropertyFilter{Offset: 100, Limit: 5}, 50, 0},
		{"stage", system.PropertyFilter{Stage: system.StageClosed}, 3, 3},
		{"unknown tag", system.PropertyFilter{Tag: "nope"}, 0, 0},
		{"query city, any case", system.PropertyFilter{Query: "mEmPhIs"}, 0, 0},
		{"query wildcard is literal", system.PropertyFilter{Query: "%"}, 0, 0},
		{"query owner", system.PropertyFilter{Query: "Dmitri Nguyen"}, 1, 1},
	}
	for _, tt := range tests {
		items, total, err := s.FindProperties(ctx, tt.filter)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if tt.name == "query city, any case" {
			// Count Memphis in the fixtures rather than hard-coding it.
			fx, _ := fixtures.Properties()
			for _, p := range fx {
				if p.City == "Memphis" {
					tt.wantTotal++
				}
			}
			tt.wantLen = tt.wantTotal
		}
		if total != tt.wantTotal || len(items) != tt.wantLen {
			t.Errorf("%s: total %d, %d items; want %d, %d", tt.name, total, len(items), tt.wantTotal, tt.wantLen)
		}
	}
}

func TestCreateAndUpdateProperty(t *testing.T) {
	ctx := context.Background()
	s := postgres.NewPropertyService(openDB(t, true))
	p := &system.Property{Address: "1 Test St", City: "Columbus", State: "OH", Zip: "43201", OwnerName: "Ann Test",
		OwnerPhone: "+16145550999", Stage: system.StageNew, ListPriceCents: 100_00, ARVCents: 200_00, Tags: []string{"t1"}}
	if err := s.CreateProperty(ctx, p); err != nil {
		t.Fatal(err)
	}
	if p.ID <= 50 || p.Version != 1 || p.ListedOn != "2026-11-01" {
		t.Errorf("created %+v: want id > 50, version 1, listed today", p)
	}

	contacted := system.StageContacted
	got, err := s.UpdateProperty(ctx, p.ID, system.PropertyUpdate{Stage: &contacted})
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != 2 || got.Stage != contacted || got.LastContactedAt == nil || !got.LastContactedAt.Equal(fixedNow) {
		t.Errorf("after moving to contacted: %+v", got)
	}

	closed := system.StageClosed
	notes := "should not be written"
	_, err = s.UpdateProperty(ctx, p.ID, system.PropertyUpdate{Stage: &closed, Notes: &notes})
	if system.ErrorCode(err) != system.ETRANSITION {
		t.Errorf("contacted → closed: err = %v, want %s", err, system.ETRANSITION)
	}
	after, _ := s.FindPropertyByID(ctx, p.ID)
	if after.Version != 2 || after.Notes != "" {
		t.Errorf("a refused update wrote: %+v", after)
	}

	badTags := []string{"Not A Tag"}
	if _, err := s.UpdateProperty(ctx, p.ID, system.PropertyUpdate{Tags: &badTags}); system.ErrorCode(err) != system.EINVALID {
		t.Errorf("bad tags: err = %v, want %s", err, system.EINVALID)
	}
	if _, err := s.UpdateProperty(ctx, 999999, system.PropertyUpdate{Notes: &notes}); system.ErrorCode(err) != system.ENOTFOUND {
		t.Errorf("unknown id: err = %v, want %s", err, system.ENOTFOUND)
	}
}

func TestDNCOwnerCannotMovePastContacted(t *testing.T) {
	ctx := context.Background()
	s := postgres.NewPropertyService(openDB(t, true))
	qualified := system.StageQualified
	// Property 13's owner unsubscribed by email; it sits at contacted.
	if _, err := s.UpdateProperty(ctx, 13, system.PropertyUpdate{Stage: &qualified}); system.ErrorCode(err) != system.EDNC {
		t.Errorf("DNC owner to qualified: err = %v, want %s", err, system.EDNC)
	}
	p := &system.Property{Address: "2 Test St", City: "Memphis", State: "TN", Zip: "38101", OwnerName: "Dnc Owner",
		OwnerPhone: "+13125550199", Stage: system.StageOffer}
	if err := s.CreateProperty(ctx, p); system.ErrorCode(err) != system.EDNC {
		t.Errorf("create at offer for a DNC owner: err = %v, want %s", err, system.EDNC)
	}
}

func TestPipelineMatchesFixtures(t *testing.T) {
	s := postgres.NewPropertyService(openDB(t, true))
	rows, err := s.Pipeline(context.Background(), "seed")
	if err != nil {
		t.Fatal(err)
	}
	fx, _ := fixtures.Properties()
	count, value := map[system.Stage]int64{}, map[system.Stage]int64{}
	for _, p := range fx {
		count[system.Stage(p.Stage)]++
		value[system.Stage(p.Stage)] += p.ListPriceCents
	}
	if len(rows) != len(system.Stages) {
		t.Fatalf("Pipeline has %d rows, want one per stage", len(rows))
	}
	for i, r := range rows {
		if r.Stage != system.Stages[i] || r.Count != count[r.Stage] || r.ListPriceCents != value[r.Stage] {
			t.Errorf("row %d = %+v, want %s with %d properties worth %d", i, r, system.Stages[i], count[system.Stages[i]], value[system.Stages[i]])
		}
	}
}

func TestUsers(t *testing.T) {
	ctx := context.Background()
	s := postgres.NewUserService(openDB(t, true))
	u, err := s.FindUserByEmail(ctx, "Admin@Example.com")
	if err != nil || u.Role != system.RoleAdmin {
		t.Fatalf("FindUserByEmail(admin) = %+v, %v", u, err)
	}
	dup := &system.User{Email: "AGENT@example.com", Role: system.RoleAgent, PasswordHash: "x"}
	if err := s.CreateUser(ctx, dup); system.ErrorCode(err) != system.ECONFLICT {
		t.Errorf("duplicate email: err = %v, want %s", err, system.ECONFLICT)
	}
	if _, err := s.FindUserByID(ctx, 12345); system.ErrorCode(err) != system.ENOTFOUND {
		t.Errorf("unknown id: err = %v, want %s", err, system.ENOTFOUND)
	}
}

func TestRules(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, true)
	rules, err := postgres.NewRuleService(db).FindRules(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := fixtures.Rules()
	if len(rules) != len(want) {
		t.Fatalf("FindRules returned %d rules, want %d", len(rules), len(want))
	}
	p, _ := postgres.NewPropertyService(db).FindPropertyByID(ctx, 7) // a DNC owner
	reasons := system.Reasons(rules, p, fixedNow)
	if len(reasons) == 0 || reasons[0].RuleID != "dnc-owner" {
		t.Errorf("reasons for a DNC owner = %+v, want dnc-owner first", reasons)
	}
}

// A commit that wrote to the outbox wakes the relay; the relay's own commit
// does not, or an idle instance would poll PostgreSQL in a tight loop.
func TestOutboxWakesRelayOnlyForNewRows(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, true)
	wakes := 0
	db.Notify = func() { wakes++ }
	var published []string
	publish := func(_ context.Context, exchange, key, id string, _ []byte) error {
		published = append(published, exchange+"/"+key)
		return nil
	}

	notes := "wake the relay"
	if _, err := postgres.NewPropertyService(db).UpdateProperty(ctx, 30, system.PropertyUpdate{Notes: &notes}); err != nil {
		t.Fatal(err)
	}
	if wakes != 1 {
		t.Fatalf("an update that recorded an event woke the relay %d times, want 1", wakes)
	}
	for range 3 {
		if _, err := db.RelayOutbox(ctx, 100, publish); err != nil {
			t.Fatal(err)
		}
	}
	if wakes != 1 {
		t.Errorf("relaying woke the relay again: %d wakes, want 1", wakes)
	}
	if len(published) != 1 || published[0] != "events/property.updated" {
		t.Errorf("published %v, want the one property.updated event once", published)
	}
}

// Delivery events may overtake the worker's own record of the send: the
// status stays where the events put it, and the vendor's id is kept.
func TestLateSentKeepsStatusAndProviderID(t *testing.T) {
	ctx := context.Background()
	s := postgres.NewMessageService(openDB(t, true))
	m := &system.Message{PropertyID: 30, Channel: system.ChannelEmail, To: "owner30@example.com", From: "deals@reos.example.com", Subject: "s", Body: "b"}
	if err := s.QueueMessage(ctx, m); err != nil {
		t.Fatal(err)
	}
	if err := s.SetMessageStatus(ctx, m.ID, system.MessageDelivered, "", ""); err != nil {
		t.Fatal(err)
	}
	if err := s.SetMessageStatus(ctx, m.ID, system.MessageSent, "sg-1", ""); err != nil {
		t.Fatal(err)
	}
	got, err := s.FindMessage(ctx, m.ID)
	if err != nil || got.Status != system.MessageDelivered || got.ProviderID != "sg-1" {
		t.Errorf("after delivered, then a late sent: %+v, %v", got, err)
	}
}

// A key whose request never answered (its process died) is held for the
// lease only, then claimed again; an answered key is kept and replayed a
// day long; a released key is free at once.
func TestIdempotencyLease(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, false)
	now := fixedNow
	db.Now = func() time.Time { return now }
	s := postgres.NewIdempotencyService(db)
	if _, claimed, err := s.BeginRequest(ctx, 7, "k", "h1"); err != nil || !claimed {
		t.Fatalf("first claim: %v %v", claimed, err)
	}
	if rec, claimed, err := s.BeginRequest(ctx, 7, "k", "h1"); err != nil || claimed || rec.Status != 0 {
		t.Fatalf("within the lease: claimed %v, %+v, %v; want the in-flight record", claimed, rec, err)
	}
	if _, claimed, err := s.BeginRequest(ctx, 8, "k", "h1"); err != nil || !claimed {
		t.Errorf("another user's same key: claimed %v, %v; want its own claim", claimed, err)
	}
	now = now.Add(postgres.IdempotencyLease + time.Second)
	if _, claimed, err := s.BeginRequest(ctx, 7, "k", "h1"); err != nil || !claimed {
		t.Fatalf("after the lease: claimed %v, %v; want a new claim", claimed, err)
	}
	if err := s.CompleteRequest(ctx, 7, "k", &system.Idempotency{RequestHash: "h1", Status: 201, Body: []byte("done")}); err != nil {
		t.Fatal(err)
	}
	now = now.Add(12 * time.Hour)
	if rec, claimed, err := s.BeginRequest(ctx, 7, "k", "h1"); err != nil || claimed || rec.Status != 201 || string(rec.Body) != "done" {
		t.Errorf("an answered key, 12 h later: claimed %v, %+v, %v; want its answer", claimed, rec, err)
	}
	if _, claimed, _ := s.BeginRequest(ctx, 7, "k2", "h"); !claimed {
		t.Fatal("claim k2")
	}
	if err := s.ReleaseRequest(ctx, 7, "k2"); err != nil {
		t.Fatal(err)
	}
	if _, claimed, err := s.BeginRequest(ctx, 7, "k2", "h"); err != nil || !claimed {
		t.Errorf("a released key: claimed %v, %v; want it free", claimed, err)
	}
}
