package contract

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
)

// Operation is one operation's part of a coverage report.
type Operation struct {
	Operation  string      `json:"operation"`
	Exchanges  int         `json:"exchanges"`
	Statuses   map[int]int `json:"statuses"` // exchanges by status code
	Violations int         `json:"violations"`
}

// Coverage is what a ledger shows of one contract: how many of its
// operations the run exercised, how many of those every exchange
// conformed to (or was refused as documented), the status codes seen, the
// violations, and the share of exchanges that kept the contract.
type Coverage struct {
	Contract    string         `json:"contract"`
	Spec        Spec           `json:"spec"`
	Behind      string         `json:"behind,omitempty"` // what answered: "the product", a double and its URL, the vendor
	Documented  int            `json:"documented"`
	Exercised   int            `json:"exercised"`
	Validated   int            `json:"validated"`
	Exchanges   int            `json:"exchanges"`
	Violations  int            `json:"violations"`
	Quirks      map[string]int `json:"known_quirks,omitempty"` // exchanges a known quirk explains, by quirk
	Outside     int            `json:"outside"`                // exchanges no operation of the contract matches
	Conformance float64        `json:"conformance"`            // exchanges without a violation, of all
	Operations  []Operation    `json:"operations"`
	// Failures are the violations, one line each, for the summary.
	Failures []string `json:"failures,omitempty"`
}

// Coverage reports what entries (this contract's) show of the contract.
func (j *Judge) Coverage(entries []Entry) Coverage {
	c := Coverage{Contract: j.Name, Spec: j.Spec, Documented: len(j.Operations())}
	ops := map[string]*Operation{}
	for _, e := range entries {
		if e.Contract != j.Name {
			continue
		}
		c.Exchanges++
		if e.Verdict == Violation {
			c.Violations++
			c.Failures = append(c.Failures, e.String())
		}
		if e.Verdict == KnownQuirk {
			if c.Quirks == nil {
				c.Quirks = map[string]int{}
			}
			c.Quirks[e.Quirk]++
		}
		if e.Operation == "" {
			c.Outside++
			continue
		}
		o := ops[e.Operation]
		if o == nil {
			o = &Operation{Operation: e.Operation, Statuses: map[int]int{}}
			ops[e.Operation] = o
		}
		o.Exchanges++
		o.Statuses[e.Status]++
		if e.Verdict == Violation {
			o.Violations++
		}
	}
	for _, k := range slices.Sorted(maps.Keys(ops)) {
		o := ops[k]
		c.Operations = append(c.Operations, *o)
		c.Exercised++
		if o.Violations == 0 {
			c.Validated++
		}
	}
	if c.Exchanges > 0 {
		c.Conformance = float64(c.Exchanges-c.Violations) / float64(c.Exchanges)
	}
	return c
}

// Summary is one line: the contract, its coverage and conformance.
func (c Coverage) Summary() string {
	q := 0
	for _, n := range c.Quirks {
		q += n
	}
	s := fmt.Sprintf("%-9s %3d of %3d operations exercised, %3d validated; %5d exchanges, %d violations (%.1f %% conform)",
		c.Contract, c.Exercised, c.Documented, c.Validated, c.Exchanges, c.Violations, 100*c.Conformance)
	if q > 0 {
		s += fmt.Sprintf("; %d known quirks", q)
	}
	return s
}

// Difference is one way two runs answered an operation differently.
type Difference struct {
	Contract  string `json:"contract"`
	Operation string `json:"operation"`
	What      string `json:"what"`
}

func (d Difference) String() string { return d.Contract + " " + d.Operation + ": " + d.What }

// Diff compares two runs' ledgers operation by operation, for the
// operations both exercised: the status codes each saw, and for each
// status both saw, the answer's fields and their JSON types. Values are
// never compared (ids, dates and tokens differ from run to run), nor
// operations only one run exercised (OneSided).
func Diff(a, b []Entry) []Difference {
	type shape struct {
		statuses map[int]bool
		fields   map[int]map[string]string // status → pointer → type, union over the run
	}
	collect := func(entries []Entry) map[string]*shape {
		out := map[string]*shape{}
		for _, e := range entries {
			if e.Operation == "" {
				continue
			}
			k := e.Contract + "\x00" + e.Operation
			s := out[k]
			if s == nil {
				s = &shape{statuses: map[int]bool{}, fields: map[int]map[string]string{}}
				out[k] = s
			}
			s.statuses[e.Status] = true
			if s.fields[e.Status] == nil {
				s.fields[e.Status] = map[string]string{}
			}
			for p, t := range e.Fields {
				if old, ok := s.fields[e.Status][p]; ok && old != t {
					s.fields[e.Status][p] = "mixed"
				} else {
					s.fields[e.Status][p] = t
				}
			}
		}
		return out
	}
	sa, sb := collect(a), collect(b)
	var out []Difference
	keys := slices.Sorted(maps.Keys(sa))
	for k := range sb {
		if _, ok := sa[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		contract, op, _ := strings.Cut(k, "\x00")
		d := func(format string, args ...any) {
			out = append(out, Difference{Contract: contract, Operation: op, What: fmt.Sprintf(format, args...)})
		}
		x, y := sa[k], sb[k]
		if x == nil || y == nil {
			continue // one run did not exercise it: nothing to compare (OneSided names these)
		}
		for st := range x.statuses {
			if !y.statuses[st] {
				d("status %d in A only", st)
			}
		}
		for st := range y.statuses {
			if !x.statuses[st] {
				d("status %d in B only", st)
			}
		}
		for st, fa := range x.fields {
			fb, ok := y.fields[st]
			if !ok {
				continue
			}
			for _, p := range slices.Sorted(maps.Keys(fa)) {
				if t, ok := fb[p]; !ok {
					d("status %d: field %s (%s) in A only", st, p, fa[p])
				} else if t != fa[p] && t != "mixed" && fa[p] != "mixed" {
					d("status %d: field %s is %s in A, %s in B", st, p, fa[p], t)
				}
			}
			for _, p := range slices.Sorted(maps.Keys(fb)) {
				if _, ok := fa[p]; !ok {
					d("status %d: field %s (%s) in B only", st, p, fb[p])
				}
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// OneSided names the operations ("contract METHOD /path") only one of the
// two ledgers exercised, with the side: "A" or "B".
func OneSided(a, b []Entry) map[string]string {
	ops := func(es []Entry) map[string]bool {
		m := map[string]bool{}
		for _, e := range es {
			if e.Operation != "" {
				m[e.Contract+" "+e.Operation] = true
			}
		}
		return m
	}
	oa, ob := ops(a), ops(b)
	out := map[string]string{}
	for k := range oa {
		if !ob[k] {
			out[k] = "A"
		}
	}
	for k := range ob {
		if !oa[k] {
			out[k] = "B"
		}
	}
	return out
}

// Add folds another run's coverage of the same contract into c (the
// shards of one run): operations, exchanges, statuses, violations and
// quirks add up, and what derives from them is counted again.
func (c Coverage) Add(o Coverage) Coverage {
	out := Coverage{Contract: c.Contract, Spec: c.Spec, Behind: c.Behind, Documented: max(c.Documented, o.Documented),
		Exchanges: c.Exchanges + o.Exchanges, Violations: c.Violations + o.Violations, Outside: c.Outside + o.Outside,
		Failures: slices.Concat(c.Failures, o.Failures)}
	if out.Contract == "" {
		out.Contract, out.Spec, out.Behind = o.Contract, o.Spec, o.Behind
	}
	for _, quirks := range []map[string]int{c.Quirks, o.Quirks} {
		for q, n := range quirks {
			if out.Quirks == nil {
				out.Quirks = map[string]int{}
			}
			out.Quirks[q] += n
		}
	}
	ops := map[string]*Operation{}
	for _, op := range slices.Concat(c.Operations, o.Operations) {
		m := ops[op.Operation]
		if m == nil {
			m = &Operation{Operation: op.Operation, Statuses: map[int]int{}}
			ops[op.Operation] = m
		}
		m.Exchanges += op.Exchanges
		m.Violations += op.Violations
		for s, n := range op.Statuses {
			m.Statuses[s] += n
		}
	}
	for _, k := range slices.Sorted(maps.Keys(ops)) {
		out.Operations = append(out.Operations, *ops[k])
		out.Exercised++
		if ops[k].Violations == 0 {
			out.Validated++
		}
	}
	if out.Exchanges > 0 {
		out.Conformance = float64(out.Exchanges-out.Violations) / float64(out.Exchanges)
	}
	return out
}
