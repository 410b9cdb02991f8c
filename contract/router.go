package contract

import (
	"errors"
	"net/http"
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers"
)

// router finds a request's operation by the document's path templates
// alone. kin-openapi's routers validate the whole document first, which
// vendors' own documents fail (QUIRKS.md: OpenAI's $recursiveRef,
// Twilio's examples); judging an exchange needs only its operation.
type router struct {
	doc    *openapi3.T
	routes []route
}

type route struct {
	path     string
	segments []string
	literals int // how specific: literal segments count first
}

var errNoRoute = errors.New("no operation matches")

func newRouter(doc *openapi3.T) *router {
	r := &router{doc: doc}
	for path := range doc.Paths.Map() {
		segs := strings.Split(strings.Trim(path, "/"), "/")
		n := 0
		for _, s := range segs {
			if !strings.Contains(s, "{") {
				n++
			}
		}
		r.routes = append(r.routes, route{path: path, segments: segs, literals: n})
	}
	sort.Slice(r.routes, func(i, j int) bool {
		if r.routes[i].literals != r.routes[j].literals {
			return r.routes[i].literals > r.routes[j].literals
		}
		return r.routes[i].path < r.routes[j].path
	})
	return r
}

// FindRoute returns the operation of req and its path parameters.
func (r *router) FindRoute(req *http.Request) (*routers.Route, map[string]string, error) {
	segs := strings.Split(strings.Trim(req.URL.Path, "/"), "/")
	for _, rt := range r.routes {
		if len(rt.segments) != len(segs) {
			continue
		}
		params, ok := map[string]string{}, true
		for i, t := range rt.segments {
			if !matchSegment(t, segs[i], params) {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		item := r.doc.Paths.Value(rt.path)
		op := item.GetOperation(req.Method)
		if op == nil {
			continue
		}
		return &routers.Route{Spec: r.doc, Path: rt.path, PathItem: item, Method: req.Method, Operation: op}, params, nil
	}
	return nil, nil, errNoRoute
}

// matchSegment matches one path segment against a template segment that
// may hold one parameter with a literal prefix and suffix ("{Sid}.json").
func matchSegment(tmpl, seg string, params map[string]string) bool {
	open := strings.IndexByte(tmpl, '{')
	if open < 0 {
		return tmpl == seg
	}
	end := strings.IndexByte(tmpl, '}')
	if end < open {
		return false
	}
	prefix, name, suffix := tmpl[:open], tmpl[open+1:end], tmpl[end+1:]
	if !strings.HasPrefix(seg, prefix) || !strings.HasSuffix(seg, suffix) || len(seg) <= len(prefix)+len(suffix) {
		return false
	}
	params[name] = seg[len(prefix) : len(seg)-len(suffix)]
	return true
}
