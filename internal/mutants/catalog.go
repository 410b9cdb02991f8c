// Package mutants is the mutation campaign reos runs on itself: a catalog
// of planted bugs, each a small edit of product code that breaks one claim
// of docs/ACCEPTANCE_MOCK_MODE.md, and the checks the claims table names
// for it. `reos mutants` (make mutants) plants each in a scratch copy of
// the clone, runs its checks, and writes the kill matrix.
package mutants

import (
	"fmt"
	"strings"
)

// Mutant is one planted bug.
type Mutant struct {
	ID    string // short, stable: the matrix's row
	Claim string // the claim it breaks (docs/ACCEPTANCE_MOCK_MODE.md)
	Bug   string // what the bug does, as a reviewer would say it
	File  string // relative to the clone
	// Find must occur exactly once in File; Replace takes its place.
	Find, Replace string
	// Test is the unit or integration check: go test -run Test Package.
	Package, Test string
	// Flow is the label filter of the flow that must go red too (a
	// user-visible promise); empty when the claim is one no user sees.
	Flow string
}

// Plant returns src with the bug planted.
func (m Mutant) Plant(src string) (string, error) {
	if n := strings.Count(src, m.Find); n != 1 {
		return "", fmt.Errorf("mutant %s: %s holds the text to replace %d times, want once (the catalog is stale)", m.ID, m.File, n)
	}
	return strings.Replace(src, m.Find, m.Replace, 1), nil
}

// Catalog is every planted bug, by claim.
var Catalog = []Mutant{
	{ID: "export-total-off-by-a-cent", Claim: "C10", Bug: "the CSV's TOTAL row adds a cent to the list prices",
		File: "system/api/properties.go", Find: `system.Amount(price), system.Amount(arv),`,
		Replace: `system.Amount(price+1), system.Amount(arv),`,
		Package: "./system/app", Test: "TestPipelineAndExportMatchFixtures|TestPortfolioPageMatchesTheCSV", Flow: "export"},
	{ID: "export-formula-not-neutralised", Claim: "C11", Bug: "CSV cells that start with = + - @ are written as they are",
		File: "system/api/properties.go", Find: `		return "'" + s`, Replace: `		return s`,
		Package: "./system/api", Test: "TestCellNeutralisesFormulas", Flow: "export"},
	{ID: "dnc-owner-moves-past-contacted", Claim: "C05", Bug: "a do-not-contact owner's deal may move to qualified and beyond",
		File: "system/property.go", Find: `if ownerDNC && !dncAllowed[stage] {`, Replace: `if false && ownerDNC && !dncAllowed[stage] {`,
		Package: "./system/postgres ./system", Test: "TestDNCOwnerCannotMovePastContacted|TestCheckTransition", Flow: "drawer"},
	{ID: "dnc-ignored", Claim: "C04", Bug: "the do-not-contact list blocks nothing",
		File: "system/contact.go", Find: `func (c Contactable) Blocked() bool { return c.RecipientListed || c.OwnerListed }`,
		Replace: `func (c Contactable) Blocked() bool { return false }`,
		Package: "./system/app", Test: "TestDNCRefusedAndNeverSent|TestInboundOptOutAndBackIn", Flow: "sms"},
	{ID: "dnc-owner-by-other-channel-ignored", Claim: "C04", Bug: "an owner who texted STOP may still be emailed",
		File: "system/contact.go", Find: `func (c Contactable) Blocked() bool { return c.RecipientListed || c.OwnerListed }`,
		Replace: `func (c Contactable) Blocked() bool { return c.RecipientListed }`,
		Package: "./system/app", Test: "TestOwnerOptOutStopsAQueuedEmail", Flow: "drawer"},
	{ID: "dnc-not-rechecked-at-send", Claim: "C04", Bug: "the worker sends what was queued before the owner opted out",
		File: "system/outreach.go", Find: `	if c.Blocked() {
		o.logger().InfoContext(ctx, "send stopped`, Replace: `	if false && c.Blocked() {
		o.logger().InfoContext(ctx, "send stopped`,
		Package: "./system ./system/app", Test: "TestDeliverChecksTheListAgain|TestDNCAddedBetweenQueueAndSend|TestOwnerOptOutStopsAQueuedEmail"},
	{ID: "partner-webhook-from-the-future", Claim: "C15", Bug: "partner webhooks signed with a timestamp ahead of now are accepted",
		File: "system/webhook/webhook.go", Find: `d > Skew || d < -Skew`, Replace: `d > Skew`,
		Package: "./system/webhook", Test: "TestVerify", Flow: "webhooks"},
	{ID: "twilio-signature-unchecked", Claim: "C14", Bug: "the product takes Twilio callbacks without checking their signature",
		File: "system/provider/twilio/signature.go", Find: `	return ok
}`, Replace: `	return ok || true
}`,
		Package: "./system/provider/twilio ./system/app", Test: "TestSignatureAgreesWithTwilioGo|TestBadTwilioWebhooks", Flow: "webhooks"},
	{ID: "idempotency-keys-shared-across-users", Claim: "C13", Bug: "an Idempotency-Key replays another user's answer",
		File: "system/api/idempotency.go", Find: `user := ClaimsFrom(r.Context()).UserID()`, Replace: `user := int64(1)`,
		Package: "./system/app", Test: "TestIdempotencyKey", Flow: "idempotency"},
	{ID: "job-shown-to-another-user", Claim: "C08", Bug: "GET /jobs/{id} answers any signed-in user, with a presigned memo URL",
		File: "system/job.go", Find: `return role == RoleAdmin || j.UserID == userID`, Replace: `return true`,
		Package: "./system/web ./system/app", Test: "TestMemoOfAnotherUserIsNotFound|TestMemoTwiceGivesTwoJobsAndOneHash", Flow: "memo"},
	{ID: "memo-clock-stamped", Claim: "C07", Bug: "the memo PDF carries the time it was rendered",
		File: "system/provider/pdf/pdf.go", Find: `	doc.SetCreationDate(documentDate)`, Replace: `	doc.SetCreationDate(time.Now())`,
		Package: "./system/provider/pdf", Test: "TestRenderIsDeterministicAcrossProcesses|TestRenderMatchesGoldenHash", Flow: "memo"},
	{ID: "reasons-equity-floor-ignored", Claim: "C03", Bug: "a rule's minimum equity is ignored (high equity is advised on thin deals)",
		File: "system/rule.go", Find: `			r.MinEquityBps != nil && equity < *r.MinEquityBps,
`, Replace: ``,
		Package: "./system", Test: "TestReasons", Flow: "drawer"},
	{ID: "etag-never-304", Claim: "C12", Bug: "a matching If-None-Match gets the whole answer again",
		File: "system/api/etag.go", Find: `	if noneMatch(r.Header.Get("If-None-Match"), etag) {`, Replace: `	if false && noneMatch(r.Header.Get("If-None-Match"), etag) {`,
		Package: "./system/app", Test: "TestConditionalGETs", Flow: "etag"},
	{ID: "if-match-ignored", Claim: "C12", Bug: "a PATCH with a stale If-Match overwrites the newer version",
		File: "system/postgres/property.go", Find: `if upd.IfVersion != nil && *upd.IfVersion != p.Version {`, Replace: `if false && upd.IfVersion != nil {`,
		Package: "./system/app", Test: "TestPatchProperty|TestConditionalGETs", Flow: "etag"},
	{ID: "login-address-not-limited", Claim: "C01", Bug: "a guesser's address is never locked out",
		File: "system/api/ratelimit.go", Find: `s.take(w, r, "login:ip:"+s.clientIP(r), loginLimit, false)`, Replace: `s.take(w, r, "login:ip:"+s.clientIP(r), loginLimit*1000, false)`,
		Package: "./system/app", Test: "TestLoginRateLimit|TestLoginPageErrorsAndLockout", Flow: "login"},
	{ID: "user-not-rate-limited", Claim: "C12", Bug: "a signed-in user is never answered 429",
		File: "system/api/ratelimit.go", Find: `s.take(w, r, key, s.cfg.RateLimitPerMinute, s.cfg.RateLimitFailOpen)`, Replace: `s.take(w, r, key, s.cfg.RateLimitPerMinute*1000, s.cfg.RateLimitFailOpen)`,
		Package: "./system/app", Test: "TestUserRateLimit", Flow: "ratelimit"},
	{ID: "email-open-not-recorded", Claim: "C06", Bug: "fetching the open pixel records nothing",
		File: "system/api/webhooks.go", Find: `	if err := s.messages.RecordEvent(r.Context(), m.ID, "open", map[string]any{"user_agent": r.UserAgent()}); err != nil {`,
		Replace: `	if err := func() error { _ = m; return nil }(); err != nil {`,
		Package: "./system/app", Test: "TestEmailThreadWithTracking", Flow: "email"},
	{ID: "stream-replay-skips-one", Claim: "C09", Bug: "a resumed stream leaves out the first event it missed",
		File: "system/redis/events.go", Find: `	for _, m := range msgs {
		events = append(events, fromMessage(m))
	}`, Replace: `	for i, m := range msgs {
		if i == 0 {
			continue
		}
		events = append(events, fromMessage(m))
	}`,
		Package: "./system/app", Test: "TestSSELiveReplayAndReset", Flow: "sse"},
	{ID: "threads-read-outside-a-snapshot", Claim: "C16", Bug: "the drawer's threads and messages are read in two snapshots",
		File: "system/postgres/message.go", Find: `threads, err = findThreads(ctx, q, propertyID)`, Replace: `threads, err = findThreads(ctx, s.db.Pool, propertyID)`,
		Package: "./system/postgres", Test: "TestFindThreadsUnderConcurrentWrites"},
	{ID: "relays-not-serialised", Claim: "C09", Bug: "several instances' relays publish the outbox at once, splitting its rows",
		File: "system/postgres/outbox.go", Find: "`SELECT pg_advisory_xact_lock($1)`", Replace: "`SELECT $1::bigint`",
		Package: "./system/postgres", Test: "TestRelayKeepsEachSubjectsCommitOrder"},
	{ID: "dlq-replay-not-republished", Claim: "C17", Bug: "replaying a dead letter marks it replayed but never sends it",
		File: "system/app/workers.go", Find: `	return m.Broker.Replay(ctx, &rabbitmq.DeadLetter{`, Replace: `	return nil
	return m.Broker.Replay(ctx, &rabbitmq.DeadLetter{`,
		Package: "./system/app", Test: "TestDeadLetterAndReplay", Flow: "dlq"},
	{ID: "dead-letter-before-its-failure", Claim: "C17", Bug: "a dead letter is stored without failing what it was for (a quick replay was then overwritten)",
		File: "system/postgres/deadletter.go", Find: `		switch d.Kind {
		case system.JobMemo:
			_, err = s.db.updateJob`, Replace: `		switch "not marked" {
		case system.JobMemo:
			_, err = s.db.updateJob`,
		Package: "./system/postgres", Test: "TestDeadLetterIsSeenWithItsFailure", Flow: "dlq"},
	{ID: "egress-outside-host-allowed", Claim: "C18", Bug: "the egress guard lets a vendor's host through",
		File: "system/egress/egress.go", Find: `	if slices.Contains(g.Allow, name) {
		return addr, nil
	}`, Replace: `	if true || slices.Contains(g.Allow, name) {
		return addr, nil
	}`,
		Package: "./system/egress ./system/app", Test: "TestResolve|TestRefusedBeforeAnyLookup|TestMockModeRefusesOutsideHosts", Flow: "egress"},
	{ID: "csp-dropped", Claim: "C19", Bug: "API answers go out without the Content-Security-Policy",
		File: "system/api/headers.go", Find: `	"Content-Security-Policy":    {contentSecurityPolicy},`, Replace: ``,
		Package: "./system/app", Test: "TestSecurityHeadersAndCORS", Flow: "headers"},
	{ID: "any-stage-move-allowed", Claim: "C02", Bug: "a deal may jump to any stage, closed included",
		File: "system/property.go", Find: `	if !allowed {
		return Errorf(ETRANSITION`, Replace: `	if false && !allowed {
		return Errorf(ETRANSITION`,
		Package: "./system ./system/app", Test: "TestCheckTransition|TestPatchProperty", Flow: "login"},
	{ID: "nul-byte-stored", Claim: "C21", Bug: "text with a NUL byte reaches PostgreSQL (which refuses it: a 500)",
		File: "system/api/text.go", Find: "func storable(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }",
		Replace: "func storable(s string) bool { return utf8.ValidString(s) }",
		Package: "./system/app", Test: "TestBadTextIsRefusedAtTheEdge"},
	{ID: "production-starts-without-credentials", Claim: "C22", Bug: "production mode starts with a vendor credential missing",
		File: "system/config/config.go", Find: `			if r.value == "" {
				errs = append(errs, fmt.Errorf("%s: missing; production mode needs it", r.name))`, Replace: `			if false && r.value == "" {
				errs = append(errs, fmt.Errorf("%s: missing; production mode needs it", r.name))`,
		Package: "./system/config", Test: "TestLoad"},
	{ID: "pack-tampering-unnoticed", Claim: "C20", Bug: "evidence verify accepts a file whose hash changed",
		File: "evidence/verify.go", Find: `			r.Changed = append(r.Changed, e.Path)`, Replace: `			_ = e.Path`,
		Package: "./evidence", Test: "TestVerifyCatchesTampering"},
	{ID: "csrf-unchecked", Claim: "C24", Bug: "a cookie-authenticated state change is taken without the session's CSRF token",
		File: "system/api/session.go", Find: `if changesState(r.Method) && !validCSRF(r, sess.CSRFToken) {`, Replace: `if false && changesState(r.Method) && !validCSRF(r, sess.CSRFToken) {`,
		Package: "./system/app", Test: "TestSessionCookieAndCSRF"},
	{ID: "api-token-opens-the-stream", Claim: "C25", Bug: "any API token opens the event stream (not only a stream token)",
		File: "system/api/sse.go", Find: `if err == nil && c.Scope != sseScope {`, Replace: `if err == nil && false {`,
		Package: "./system/app", Test: "TestSSETokens"},
	{ID: "bearer-token-in-transcripts", Claim: "C26", Bug: "transcripts in the pack keep the Authorization header's token",
		File: "evidence/records.go", Find: `"Authorization": "Bearer $TOKEN", `, Replace: ``,
		Package: "./evidence", Test: "TestExchangeRedactsSecrets", Flow: "etag"},
	{ID: "inbound-stored-twice", Claim: "C27", Bug: "an inbound text the vendor delivers twice is stored twice",
		File: "system/postgres/message.go", Find: "$9, $10, $10) ON CONFLICT DO NOTHING`,", Replace: "$9, $10, $10) ON CONFLICT (id) DO NOTHING`,",
		Package: "./system/app", Test: "TestInboundWebhookDeliveredTwiceIsStoredOnce"},
	{ID: "interrupted-send-repeated", Claim: "C28", Bug: "a send interrupted after it reached Twilio is sent again (a double text)",
		File: "system/outreach.go", Find: `	if resumed && m.ClaimedAt != nil {`, Replace: `	if false && resumed && m.ClaimedAt != nil {`,
		Package: "./system ./system/app", Test: "TestDeliverResumesWithoutTextingTwice|TestInterruptedSendIsNotRepeated"},
	{ID: "sendgrid-events-unverified", Claim: "C29", Bug: "SendGrid's event webhook is taken with any signature",
		File: "system/provider/sendgrid/signature.go", Find: `	return ecdsa.VerifyASN1(key, h.Sum(nil), sig), nil`, Replace: `	return ecdsa.VerifyASN1(key, h.Sum(nil), sig) || true, nil`,
		Package: "./system/provider/sendgrid ./system/app", Test: "TestVerifyAgreesWithSendGridGo|TestSendGridSignedEvents"},
}
