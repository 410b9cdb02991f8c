package suites_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/real-estate-os/reos/suites/drill"
	h "github.com/real-estate-os/reos/suites/harness"
	"github.com/real-estate-os/reos/system/egress"
)

// partnerSignature signs body at t the way docs/ and the partner contract
// describe: HMAC-SHA256 over "<unix seconds>.<body>", hex, as
// "t=<seconds>,v1=<mac>".
func partnerSignature(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "."))
	m.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil))
}

var _ = Describe("08 api features", Label("api"), func() {
	It("is ready on PostgreSQL, Redis and RabbitMQ, and reports its mode, its providers (every one reachable) and its features", Label("status"), func() {
		s := env.NewSpec("status")
		ready, err := s.API.Expect(200, "GET", "/readyz", nil)
		Expect(err).NotTo(HaveOccurred())
		s.Record("readyz", ready)
		var checks struct{ Checks map[string]string }
		Expect(json.Unmarshal(ready.Body, &checks)).To(Succeed(), "%s", ready)
		for _, dep := range []string{"postgres", "redis", "rabbitmq"} {
			Expect(checks.Checks).To(HaveKeyWithValue(dep, "ok"), "readyz's %s", dep)
		}

		r, err := s.API.Expect(200, "GET", "/api/v1/status/providers?verbose=1", nil)
		Expect(err).NotTo(HaveOccurred())
		s.Record("status-providers", r)
		var status h.Status
		Expect(json.Unmarshal(r.Body, &status)).To(Succeed(), "%s", r)
		Expect(status.AppMode).To(Equal(s.Target.Mode), "the mode the product says it runs in")
		for _, role := range []string{"email", "sms", "storage", "pdf", "llm"} {
			Expect(status.Health).To(HaveKey(role))
			Expect(status.Health[role].Reachable).To(BeTrue(), "the %s provider (%s): %s", role, status.Health[role].Provider, status.Health[role].Error)
		}
		for role, provider := range s.Target.Vendors() {
			Expect(status.Health[role].Provider).To(Equal(provider), "the %s provider in %s mode", role, s.Target.Mode)
		}
		Expect(status.Features).To(HaveLen(5))
		for _, f := range []string{"cache_responses", "external_sends", "rate_limit", "use_llm", "webhook_signatures"} {
			Expect(status.Features).To(HaveKey(f))
		}
	})

	It("answers a matching ETag with 304 and a stale If-Match with 412", Label("etag"), func() {
		s := env.NewSpec("etag")
		p := s.CreateProperty(1, h.NewProperty{})
		path := fmt.Sprintf("/api/v1/properties/%d", p.ID)
		first, err := s.API.Expect(200, "GET", path, nil)
		Expect(err).NotTo(HaveOccurred())
		etag := first.Header.Get("ETag")
		Expect(etag).NotTo(BeEmpty(), "no ETag on %s", path)
		cached, err := s.API.Do("GET", path, nil, "If-None-Match", etag)
		Expect(err).NotTo(HaveOccurred())
		s.Record("etag-304", cached)
		Expect(cached.Status).To(Equal(http.StatusNotModified), "%s", cached)
		Expect(cached.Body).To(BeEmpty())
		_, err = s.API.Expect(200, "PATCH", path, map[string]string{"notes": "first writer"}, "If-Match", etag)
		Expect(err).NotTo(HaveOccurred())
		stale, err := s.API.Do("PATCH", path, map[string]string{"notes": "second writer, stale"}, "If-Match", etag)
		Expect(err).NotTo(HaveOccurred())
		s.Record("if-match-412", stale)
		Expect(stale.Status).To(Equal(http.StatusPreconditionFailed), "%s", stale)
		Expect(s.Property(p.ID).Version).To(Equal(p.Version+1), "the stale write changed the property")
	})

	It("holds a user to the rate limit with 429 and Retry-After", Label("ratelimit"), func() {
		s := env.NewSpec("ratelimit")
		var limited *h.Response
		for i := 0; i < 5000 && limited == nil; i++ {
			r, err := s.API.Do("GET", "/api/v1/auth/me", nil)
			Expect(err).NotTo(HaveOccurred())
			if r.Status == http.StatusTooManyRequests {
				limited = r
			} else {
				Expect(r.Status).To(Equal(200), "%s", r)
			}
		}
		Expect(limited).NotTo(BeNil(), "5000 requests in a row were never limited")
		s.Record("rate-limit-429", limited)
		Expect(limited.Header.Get("Retry-After")).To(MatchRegexp(`^[1-9]\d*$`))
		Expect(limited.Header.Get("Content-Type")).To(HavePrefix("application/problem+json"))
	})

	It("replays a POST under the same Idempotency-Key and refuses a changed body under it", Label("idempotency"), func() {
		s := env.NewSpec("idem")
		key := s.Key + "-create"
		body := map[string]any{"address": "9 Idempotent Row", "city": "Austin", "state": "TX", "zip": "78701", "owner_name": "Ida Empotent",
			"list_price_cents": 12300000, "arv_cents": 15000000, "tags": []string{s.Key}, "listed_on": "2026-06-01"}
		created, err := s.API.Expect(201, "POST", "/api/v1/properties", body, "Idempotency-Key", key)
		Expect(err).NotTo(HaveOccurred())
		replay, err := s.API.Expect(201, "POST", "/api/v1/properties", body, "Idempotency-Key", key)
		Expect(err).NotTo(HaveOccurred())
		s.Record("idempotency-replay", replay)
		Expect(replay.Header.Get("Idempotent-Replayed")).To(Equal("true"))
		Expect(replay.Body).To(Equal(created.Body), "the replay is not the first answer")
		body["list_price_cents"] = 99900000
		conflict, err := s.API.Do("POST", "/api/v1/properties", body, "Idempotency-Key", key)
		Expect(err).NotTo(HaveOccurred())
		s.Record("idempotency-conflict-422", conflict)
		Expect(conflict.Status).To(Equal(422), "%s", conflict)
		r, err := s.API.Expect(200, "GET", "/api/v1/properties?tag="+s.Key, nil)
		Expect(err).NotTo(HaveOccurred())
		var list struct {
			Total int `json:"total"`
		}
		Expect(r.JSON(&list)).To(Succeed())
		Expect(list.Total).To(Equal(1), "one key made more than one property")

		By("a key is the user's own: another user's request under it is not a replay of this one")
		other := env.NewSpec("idem-other")
		body["list_price_cents"] = 12300000
		theirs, err := other.API.Do("POST", "/api/v1/properties", body, "Idempotency-Key", key)
		Expect(err).NotTo(HaveOccurred())
		s.Record("idempotency-other-user", theirs)
		Expect(theirs.Status).To(Equal(201), "another user's first request under the same key: %s", theirs)
		Expect(theirs.Header.Get("Idempotent-Replayed")).NotTo(Equal("true"), "another user was given this user's answer: %s", theirs)
		Expect(theirs.Body).NotTo(Equal(created.Body), "another user was given this user's property")
	})

	It("refuses webhooks whose signature is missing, expired, tampered or replayed", Label("webhooks", "signatures"), func() {
		s := env.NewSpec("webhooks")
		unsigned, err := s.API.Do("POST", "/api/v1/webhooks/twilio/status", "MessageSid=SMdeadbeef&MessageStatus=delivered")
		Expect(err).NotTo(HaveOccurred())
		s.Record("twilio-unsigned-401", unsigned)
		Expect(unsigned.Status).To(Equal(401), "an unsigned Twilio callback: %s", unsigned)
		forged, err := s.API.Do("POST", "/api/v1/webhooks/twilio/status", "MessageSid=SMdeadbeef&MessageStatus=delivered", "X-Twilio-Signature", "Zm9yZ2Vk")
		Expect(err).NotTo(HaveOccurred())
		s.Record("twilio-forged", forged)
		Expect(forged.Status).To(BeElementOf(401, 403), "a forged Twilio callback: %s", forged)

		secret := env.Target.WebhookSecret
		if secret == "" {
			Skip("the partner webhook's signatures need one of the stack's WEBHOOK_SECRETS: set REOS_WEBHOOK_SECRET")
		}
		body := []byte(fmt.Sprintf(`{"type":"suite.check","data":{"spec":%q}}`, s.Key))
		send := func(name string, b []byte, sig string) *h.Response {
			GinkgoHelper()
			header := []string{"Content-Type", "application/json"}
			if sig != "" {
				header = append(header, "Reos-Signature", sig)
			}
			r, err := s.API.Do("POST", "/api/v1/webhooks/partner", b, header...)
			Expect(err).NotTo(HaveOccurred())
			s.Record(name, r)
			return r
		}
		Expect(send("partner-missing-401", body, "").Status).To(Equal(401), "no signature")
		Expect(send("partner-expired-401", body, partnerSignature(secret, time.Now().Add(-10*time.Minute), body)).Status).To(Equal(401), "a signature ten minutes old")
		Expect(send("partner-future-401", body, partnerSignature(secret, time.Now().Add(10*time.Minute), body)).Status).To(Equal(401), "a signature dated ten minutes ahead")
		tampered := bytes.Replace(body, []byte("suite.check"), []byte("suite.evil"), 1)
		Expect(send("partner-tampered-403", tampered, partnerSignature(secret, time.Now(), body)).Status).To(Equal(403), "a body changed after signing")
		good := partnerSignature(secret, time.Now(), body)
		Expect(send("partner-signed-202", body, good).Status).To(Equal(202), "a good signature")
		Expect(send("partner-replayed-409", body, good).Status).To(Equal(409), "the same signature again")
	})

	It("sends the security headers and a strict CSP on pages and API answers", Label("headers", "csp"), func() {
		s := env.NewSpec("headers")
		for _, path := range []string{"/login", "/api/v1/auth/me"} {
			r, err := s.API.Expect(200, "GET", path, nil)
			Expect(err).NotTo(HaveOccurred())
			s.Record("security-headers"+strings.ReplaceAll(path, "/", "-"), r)
			csp := r.Header.Get("Content-Security-Policy")
			Expect(csp).To(ContainSubstring("default-src 'self'"), "%s CSP", path)
			Expect(csp).NotTo(ContainSubstring("unsafe-inline"), "%s CSP", path)
			Expect(csp).NotTo(ContainSubstring("unsafe-eval"), "%s CSP", path)
			Expect(r.Header.Get("X-Content-Type-Options")).To(Equal("nosniff"), path)
			Expect(r.Header.Get("X-Frame-Options")).To(Equal("DENY"), path)
			Expect(r.Header.Get("Referrer-Policy")).NotTo(BeEmpty(), path)
		}
	})

	It("dead-letters a send the vendor keeps failing, and delivers it when replayed", Label("dlq", "drill"), func() {
		s := env.NewSpec("dlq")
		p := s.CreateProperty(1, h.NewProperty{})
		var log bytes.Buffer
		step := func(format string, args ...any) {
			fmt.Fprintf(&log, "%s  %s\n", time.Now().UTC().Format("15:04:05.000"), fmt.Sprintf(format, args...))
		}
		step("DLQ drill against %s, %s mode, spec %s", env.Target.URL, env.Target.Mode, s.Key)
		h.Vendor(env.Phone.Mend(context.Background(), p.OwnerPhone), env.Phone.Setting(), "breaking the SMS vendor for one number")
		dlq := &drill.DLQ{Sender: s.API, Admin: env.Admin, Vendor: env.Phone, PropertyID: p.ID, OwnerPhone: p.OwnerPhone, Tag: s.Key,
			Log: step, Record: s.Record}
		err := dlq.Run(context.Background())
		_, perr := s.Pack.DrillLog(s.Name(), s.Key+"-dlq-drill", log.Bytes())
		Expect(err).NotTo(HaveOccurred(), "the DLQ drill (its log: dlq/%s-dlq-drill.log)", s.Key)
		Expect(perr).NotTo(HaveOccurred())
	})

	It("refuses a connection to a vendor's host before any lookup, and records it", Label("egress", "drill"), func() {
		s := env.NewSpec("egress")
		var sink bytes.Buffer
		guard := &egress.Guard{Sink: &sink}
		c := guard.HTTPClient("egress-drill", 5*time.Second)
		req, _ := http.NewRequest("POST", "https://api.twilio.com/2010-04-01/Accounts/ACdrill/Messages.json", strings.NewReader("To=%2B15005550006&Body=drill"))
		res, err := c.Do(req)
		if err == nil {
			res.Body.Close()
		}
		var blocked *egress.BlockedError
		Expect(errors.As(err, &blocked)).To(BeTrue(), "a request to api.twilio.com was not refused by the guard: %v", err)
		Expect(sink.String()).To(ContainSubstring("api.twilio.com"))
		unexpected, err := s.Pack.GuardLog(s.Name(), s.Key, sink.Bytes(), func(a egress.Attempt) bool { return a.Provider == "egress-drill" })
		Expect(err).NotTo(HaveOccurred())
		Expect(unexpected).To(BeEmpty(), "attempts other than the drill's")
	})
})
