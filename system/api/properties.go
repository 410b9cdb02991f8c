package api

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/real-estate-os/reos/system"
)

// Paging bounds for GET /properties.
const (
	defaultPageSize = 20
	maxPageSize     = 100
	maxQuery        = 200
)

type propertyList struct {
	Items    []*system.Property `json:"items"`
	Total    int                `json:"total"`
	Page     int                `json:"page"`
	PageSize int                `json:"page_size"`
}

// propertyFilter reads stage, tag and q from the query string.
func propertyFilter(q url.Values) (system.PropertyFilter, map[string]string) {
	f := system.PropertyFilter{Stage: system.Stage(q.Get("stage")), Tag: q.Get("tag"), Query: q.Get("q")}
	bad := map[string]string{}
	if f.Stage != "" && !f.Stage.Valid() {
		bad["stage"] = "one of new, contacted, qualified, offer, under_contract, closed, dead"
	}
	if f.Tag != "" && system.ValidateTags([]string{f.Tag}) != nil {
		bad["tag"] = "1–40 lower-case letters, digits and dashes"
	}
	if len(f.Query) > maxQuery {
		bad["q"] = fmt.Sprintf("at most %d bytes", maxQuery)
	}
	return f, bad
}

// intParam reads a positive integer query parameter within [1, max].
func intParam(q url.Values, name string, def, max int, bad map[string]string) int {
	raw := q.Get(name)
	if raw == "" {
		return def
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > max {
		bad[name] = fmt.Sprintf("an integer from 1 to %d", max)
		return def
	}
	return n
}

// listQuery reads GET /properties' query string: the filter, the page and
// its size, or what is wrong with each parameter.
func listQuery(raw string) (f system.PropertyFilter, page, size int, bad map[string]string) {
	q, bad := badParams(raw)
	if len(bad) > 0 {
		return f, 0, 0, bad
	}
	f, bad = propertyFilter(q)
	page = intParam(q, "page", 1, 1_000_000, bad)
	size = intParam(q, "page_size", defaultPageSize, maxPageSize, bad)
	f.Offset, f.Limit = (page-1)*size, size
	return f, page, size, bad
}

func (s *Server) handleListProperties(w http.ResponseWriter, r *http.Request) error {
	f, page, size, bad := listQuery(r.URL.RawQuery)
	if len(bad) > 0 {
		return system.Invalid(bad)
	}
	v, err := s.properties.CollectionVersion(r.Context())
	if err != nil {
		return err
	}
	if s.conditional(w, r, fmt.Sprintf(`"props.c%d"`, v)) {
		return nil
	}
	items, total, err := s.properties.FindProperties(r.Context(), f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, propertyList{Items: items, Total: total, Page: page, PageSize: size})
	return nil
}

// propertyID reads the {id} path parameter.
func propertyID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(chi.URLParam(r, "id"), 10, 64)
	if err != nil || id < 1 {
		return 0, system.Invalid(map[string]string{"id": "a positive integer"})
	}
	return id, nil
}

func (s *Server) handleGetProperty(w http.ResponseWriter, r *http.Request) error {
	id, err := propertyID(r)
	if err != nil {
		return err
	}
	v, err := s.properties.PropertyVersion(r.Context(), id)
	if err != nil {
		return err
	}
	if s.conditional(w, r, propertyETag(id, v)) {
		return nil
	}
	p, err := s.properties.FindPropertyByID(r.Context(), id)
	if err != nil {
		return err
	}
	// The body may be newer than the version asked first: its own is the tag.
	if s.conditional(w, r, propertyETag(id, p.Version)) {
		return nil
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

// createPropertyRequest is what a client may set on a new property.
type createPropertyRequest struct {
	Address          string       `json:"address"`
	City             string       `json:"city"`
	State            string       `json:"state"`
	Zip              string       `json:"zip"`
	OwnerName        string       `json:"owner_name"`
	OwnerPhone       string       `json:"owner_phone"`
	OwnerEmail       string       `json:"owner_email"`
	Stage            system.Stage `json:"stage"`
	ListPriceCents   int64        `json:"list_price_cents"`
	ARVCents         int64        `json:"arv_cents"`
	RehabCents       int64        `json:"rehab_cents"`
	MonthlyRentCents int64        `json:"monthly_rent_cents"`
	CapRateBps       int64        `json:"cap_rate_bps"`
	Tags             []string     `json:"tags"`
	Notes            string       `json:"notes"`
	ListedOn         string       `json:"listed_on"`
}

func (s *Server) handleCreateProperty(w http.ResponseWriter, r *http.Request) error {
	var req createPropertyRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.Stage == "" {
		req.Stage = system.StageNew
	}
	p := &system.Property{
		Address: req.Address, City: req.City, State: req.State, Zip: req.Zip,
		OwnerName: req.OwnerName, OwnerPhone: req.OwnerPhone, OwnerEmail: req.OwnerEmail, Stage: req.Stage,
		ListPriceCents: req.ListPriceCents, ARVCents: req.ARVCents, RehabCents: req.RehabCents,
		MonthlyRentCents: req.MonthlyRentCents, CapRateBps: req.CapRateBps, Tags: req.Tags, Notes: req.Notes, ListedOn: req.ListedOn,
	}
	if err := s.properties.CreateProperty(r.Context(), p); err != nil {
		return err
	}
	w.Header().Set("Location", fmt.Sprintf("/api/v1/properties/%d", p.ID))
	writeJSON(w, http.StatusCreated, p)
	return nil
}

func (s *Server) handlePatchProperty(w http.ResponseWriter, r *http.Request) error {
	id, err := propertyID(r)
	if err != nil {
		return err
	}
	// If-Match is read before the body so that a 428 does not wait for it.
	ifVersion, err := s.ifMatchVersion(r, id)
	if err != nil {
		return err
	}
	var upd system.PropertyUpdate
	if err := decodeJSON(r, &upd); err != nil {
		return err
	}
	if upd.Stage == nil && upd.Notes == nil && upd.Tags == nil {
		return system.Errorf(system.EINVALID, "nothing to change: send stage, notes or tags")
	}
	upd.IfVersion = ifVersion
	p, err := s.properties.UpdateProperty(r.Context(), id, upd)
	if err != nil {
		return err
	}
	if s.cfg.Features.CacheResponses {
		w.Header().Set("ETag", propertyETag(p.ID, p.Version))
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

type reasonsResponse struct {
	PropertyID int64           `json:"property_id"`
	Stage      system.Stage    `json:"stage"`
	Reasons    []system.Reason `json:"reasons"`
}

func (s *Server) handleReasons(w http.ResponseWriter, r *http.Request) error {
	id, err := propertyID(r)
	if err != nil {
		return err
	}
	pv, err := s.properties.PropertyVersion(r.Context(), id)
	if err != nil {
		return err
	}
	cv, err := s.properties.CollectionVersion(r.Context())
	if err != nil {
		return err
	}
	// Reasons count days, so the day is part of the validator.
	if s.conditional(w, r, fmt.Sprintf(`"r%d.v%d.c%d.d%s"`, id, pv, cv, s.now().UTC().Format("20060102"))) {
		return nil
	}
	p, reasons, err := system.ReasonsFor(r.Context(), s.properties, s.rules, id, s.now())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, reasonsResponse{PropertyID: p.ID, Stage: p.Stage, Reasons: reasons})
	return nil
}

type pipelineResponse struct {
	Stages         []system.StageTotal `json:"stages"`
	Count          int64               `json:"total_count"`
	ListPriceCents int64               `json:"total_list_price_cents"`
}

func (s *Server) handlePipeline(w http.ResponseWriter, r *http.Request) error {
	tag := r.URL.Query().Get("tag")
	if tag != "" && system.ValidateTags([]string{tag}) != nil {
		return system.Invalid(map[string]string{"tag": "1–40 lower-case letters, digits and dashes"})
	}
	v, err := s.properties.CollectionVersion(r.Context())
	if err != nil {
		return err
	}
	if s.conditional(w, r, fmt.Sprintf(`"pipeline.c%d"`, v)) {
		return nil
	}
	stages, err := s.properties.Pipeline(r.Context(), tag)
	if err != nil {
		return err
	}
	resp := pipelineResponse{Stages: stages}
	for _, st := range stages {
		resp.Count += st.Count
		resp.ListPriceCents += st.ListPriceCents
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// exportHeader is the first row of the portfolio CSV.
var exportHeader = []string{"id", "address", "city", "state", "zip", "owner_name", "stage",
	"list_price", "arv", "rehab", "monthly_rent", "equity", "cap_rate_pct", "tags"}

func (s *Server) handleExport(w http.ResponseWriter, r *http.Request) error {
	f, bad := propertyFilter(r.URL.Query())
	if len(bad) > 0 {
		return system.Invalid(bad)
	}
	v, err := s.properties.CollectionVersion(r.Context())
	if err != nil {
		return err
	}
	if s.conditional(w, r, fmt.Sprintf(`"export.c%d"`, v)) {
		return nil
	}
	items, _, err := s.properties.FindProperties(r.Context(), f)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8; header=present")
	w.Header().Set("Content-Disposition", `attachment; filename="portfolio.csv"`)
	cw := csv.NewWriter(w)
	cw.UseCRLF = true // RFC 4180
	_ = cw.Write(exportHeader)
	var price, arv, rehab, rent, equity int64
	for _, p := range items {
		eq := p.EquityCents()
		price, arv, rehab, rent, equity = price+p.ListPriceCents, arv+p.ARVCents, rehab+p.RehabCents, rent+p.MonthlyRentCents, equity+eq
		_ = cw.Write([]string{strconv.FormatInt(p.ID, 10), cell(p.Address), cell(p.City), p.State, p.Zip, cell(p.OwnerName), string(p.Stage),
			system.Amount(p.ListPriceCents), system.Amount(p.ARVCents), system.Amount(p.RehabCents), system.Amount(p.MonthlyRentCents), system.Amount(eq),
			system.Amount(p.CapRateBps), strings.Join(p.Tags, " ")})
	}
	_ = cw.Write([]string{"TOTAL", fmt.Sprintf("%d properties", len(items)), "", "", "", "", "",
		system.Amount(price), system.Amount(arv), system.Amount(rehab), system.Amount(rent), system.Amount(equity), "", ""})
	cw.Flush()
	return nil
}

// cell keeps a spreadsheet from reading a text field as a formula.
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
