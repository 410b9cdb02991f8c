package api

import (
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/real-estate-os/reos/system"
)

// Text that PostgreSQL cannot store — a NUL byte, or bytes that are not
// UTF-8 — is refused at the edge, naming where it came from, so that it
// never reaches SQL as a 500.

const badTextReason = "contains a NUL byte or is not valid UTF-8"

// storable reports whether PostgreSQL's text type takes s.
func storable(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

// refuseBadText answers 400 for a request whose path or any query
// parameter (name or value) is not storable text.
func (s *Server) refuseBadText(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !storable(r.URL.Path) {
			s.Error(w, r, system.Invalid(map[string]string{"path": badTextReason}))
			return
		}
		if r.URL.RawQuery == "" {
			next.ServeHTTP(w, r)
			return
		}
		if _, bad := badParams(r.URL.RawQuery); len(bad) > 0 {
			s.Error(w, r, system.Invalid(bad))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// badParams decodes raw, a query string or form body, and returns it with
// the parameters that are not storable text, or cannot be decoded.
func badParams(raw string) (url.Values, map[string]string) {
	bad := map[string]string{}
	values, err := url.ParseQuery(raw)
	if err != nil {
		bad["query"] = "malformed: " + err.Error()
	}
	for k, vs := range values {
		name := k
		if !storable(k) {
			name = strings.ToValidUTF8(strings.ReplaceAll(k, "\x00", `\0`), "\uFFFD")
		}
		for _, v := range vs {
			if !storable(k) || !storable(v) {
				bad[name] = badTextReason
			}
		}
	}
	return values, bad
}

// badStrings returns the JSON fields of v (a decoded request) holding text
// that is not storable, by their JSON names ("tags.2", "owner.name").
func badStrings(v any) map[string]string {
	bad := map[string]string{}
	walkStrings(reflect.ValueOf(v), "", func(path, s string) {
		if !storable(s) {
			bad[strings.TrimPrefix(path, ".")] = badTextReason
		}
	})
	return bad
}

func walkStrings(v reflect.Value, path string, visit func(path, s string)) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			walkStrings(v.Elem(), path, visit)
		}
	case reflect.String:
		visit(path, v.String())
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			walkStrings(v.Field(i), path+"."+name, visit)
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return // bytes, not text
		}
		for i := range v.Len() {
			walkStrings(v.Index(i), path+"."+strconv.Itoa(i), visit)
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			key := k.String()
			if k.Kind() == reflect.String {
				visit(path+"."+key, key)
			}
			walkStrings(v.MapIndex(k), path+"."+key, visit)
		}
	}
}
