package api

import (
	"net/url"
	"testing"
)

// FuzzListQuery: whatever the query string, GET /properties either names
// what is wrong or gets a filter whose every string PostgreSQL can store,
// a valid stage, and a page within bounds.
func FuzzListQuery(f *testing.F) {
	for _, seed := range []string{"", "stage=offer&tag=seed&q=oak&page=2&page_size=100", "q=%00", "q=%ff%fe", "tag=%00seed",
		"stage=nope", "page=0", "page_size=100000", "page=-1", "q=" + url.QueryEscape("Łódź"), "%zz", "a=1&a=%00", "%00=1", "q=%e2%82"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		flt, page, size, bad := listQuery(raw)
		if len(bad) > 0 {
			for k, why := range bad {
				if k == "" || why == "" {
					t.Errorf("listQuery(%q): a problem without a name or reason: %v", raw, bad)
				}
			}
			return
		}
		for _, s := range []string{string(flt.Stage), flt.Tag, flt.Query} {
			if !storable(s) {
				t.Errorf("listQuery(%q) accepted %q", raw, s)
			}
		}
		if flt.Stage != "" && !flt.Stage.Valid() {
			t.Errorf("listQuery(%q): stage %q", raw, flt.Stage)
		}
		if page < 1 || size < 1 || size > maxPageSize || flt.Offset != (page-1)*size || flt.Limit != size {
			t.Errorf("listQuery(%q): page %d size %d offset %d limit %d", raw, page, size, flt.Offset, flt.Limit)
		}
	})
}

func TestBadStringsNamesTheField(t *testing.T) {
	type inner struct {
		Name string `json:"name"`
	}
	v := struct {
		Address string            `json:"address"`
		Tags    []string          `json:"tags"`
		Owner   *inner            `json:"owner"`
		Extra   map[string]string `json:"extra"`
		Raw     []byte            `json:"raw"`
	}{Address: "1 Main St", Tags: []string{"ok", "bad\x00"}, Owner: &inner{Name: "\xff"}, Extra: map[string]string{"k": "v"}, Raw: []byte{0}}
	bad := badStrings(&v)
	if len(bad) != 2 || bad["tags.1"] == "" || bad["owner.name"] == "" {
		t.Errorf("badStrings = %v, want tags.1 and owner.name", bad)
	}
}
