package suites_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	h "github.com/real-estate-os/reos/suites/harness"
)

// exported reads a portfolio CSV: its rows and its TOTAL row, in cents.
func exported(body []byte) (rows [][]string, totals map[string]int64) {
	GinkgoHelper()
	all, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	Expect(err).NotTo(HaveOccurred(), "the export is not CSV")
	Expect(len(all)).To(BeNumerically(">=", 2))
	header, last := all[0], all[len(all)-1]
	Expect(last[0]).To(Equal("TOTAL"), "the last row is not the TOTAL row")
	totals = map[string]int64{}
	for i, col := range header {
		if v, err := strconv.ParseFloat(last[i], 64); err == nil {
			totals[col] = int64(math.Round(v * 100))
		}
	}
	return all[1 : len(all)-1], totals
}

var _ = Describe("06 portfolio export", Label("portfolio", "export", "csv"), func() {
	It("exports the spec's own properties with totals exactly equal to the sums of what it created", func() {
		s := env.NewSpec("export")
		var price, arv, rehab, rent int64
		for i := range 6 {
			p := s.CreateProperty(i+1, h.NewProperty{PriceDollars: int64(111_111 * (i + 1)), ARVDollars: int64(150_001 * (i + 1)),
				RehabDollars: int64(9_999 * i), RentDollars: int64(1_234 + i)})
			price, arv, rehab, rent = price+p.ListPriceCents, arv+p.ARVCents, rehab+p.RehabCents, rent+p.MonthlyRentCents
		}
		r, err := s.API.Expect(200, "GET", "/api/v1/portfolio/export.csv?tag="+s.Key, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(r.Header.Get("Content-Type")).To(HavePrefix("text/csv"))
		rows, totals := exported(r.Body)
		Expect(rows).To(HaveLen(6))
		Expect(totals).To(HaveKeyWithValue("list_price", price))
		Expect(totals).To(HaveKeyWithValue("arv", arv))
		Expect(totals).To(HaveKeyWithValue("rehab", rehab))
		Expect(totals).To(HaveKeyWithValue("monthly_rent", rent))
		Expect(totals).To(HaveKeyWithValue("equity", arv-price-rehab))
		hash, err := s.Pack.Hash(s.Name(), "portfolio-"+s.Key+".csv", r.Body)
		Expect(err).NotTo(HaveOccurred())
		again, err := s.API.Expect(200, "GET", "/api/v1/portfolio/export.csv?tag="+s.Key, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(again.Body).To(Equal(r.Body), "two exports of the same properties differ (first SHA-256 %s)", hash.SHA256)

		By("text a spreadsheet would run as a formula is exported as text")
		formula := s.CreateProperty(7, h.NewProperty{OwnerName: `=HYPERLINK("http://evil.example/x","Click")`})
		r, err = s.API.Expect(200, "GET", "/api/v1/portfolio/export.csv?tag="+s.Key, nil)
		Expect(err).NotTo(HaveOccurred())
		rows, _ = exported(r.Body)
		var owner string
		for _, row := range rows {
			if row[0] == fmt.Sprint(formula.ID) {
				owner = row[5]
			}
		}
		Expect(owner).To(Equal(`'=HYPERLINK("http://evil.example/x","Click")`), "the owner name of property %d as exported", formula.ID)
	})

	It("exports the seeded demo portfolio with totals within 0.5 % of the fixture file's", func() {
		s := env.NewSpec("export-seed")
		r, err := s.API.Expect(200, "GET", "/api/v1/properties?tag=seed&page_size=1", nil)
		Expect(err).NotTo(HaveOccurred())
		var list struct {
			Total int `json:"total"`
		}
		Expect(r.JSON(&list)).To(Succeed())
		if list.Total == 0 {
			Skip("the stack holds no seeded demo data (production seeds none; `reos seed --demo` adds it)")
		}
		raw, err := h.Fixture("properties.json")
		Expect(err).NotTo(HaveOccurred())
		var fixtures []struct {
			Price int64    `json:"list_price_cents"`
			ARV   int64    `json:"arv_cents"`
			Rehab int64    `json:"rehab_cents"`
			Rent  int64    `json:"monthly_rent_cents"`
			Tags  []string `json:"tags"`
		}
		Expect(json.Unmarshal(raw, &fixtures)).To(Succeed())
		want := map[string]int64{}
		n := 0
		for _, f := range fixtures {
			if slices.Contains(f.Tags, "seed") {
				n++
				want["list_price"] += f.Price
				want["arv"] += f.ARV
				want["rehab"] += f.Rehab
				want["monthly_rent"] += f.Rent
			}
		}
		want["equity"] = want["arv"] - want["list_price"] - want["rehab"]
		csvr, err := s.API.Expect(200, "GET", "/api/v1/portfolio/export.csv?tag=seed", nil)
		Expect(err).NotTo(HaveOccurred())
		rows, totals := exported(csvr.Body)
		Expect(rows).To(HaveLen(n), "rows for tag=seed")
		for col, v := range want {
			Expect(float64(totals[col])).To(BeNumerically("~", float64(v), math.Abs(float64(v))*0.005), "the %s total (fixtures: %d cents)", col, v)
		}
		_, err = s.Pack.Hash(s.Name(), "portfolio-seed.csv", csvr.Body)
		Expect(err).NotTo(HaveOccurred())
		Expect(strings.Count(string(csvr.Body), "\r\n")).To(Equal(n+2), "RFC 4180 CRLF rows")
	})
})
