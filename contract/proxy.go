package contract

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
)

// maxJudged bounds the bodies a proxy keeps to judge; larger ones pass
// through unjudged (and are said to be).
const maxJudged = 8 << 20

// Proxy forwards every request to upstream unchanged and judges each
// exchange against j, adding it to ledger. Exchanges j.Skip names (a
// double's inspection endpoints) pass through unjudged. Nothing is changed
// in flight; bodies are not kept, only their shape.
func Proxy(j *Judge, upstream *url.URL, ledger *Ledger) http.Handler {
	rp := httputil.NewSingleHostReverseProxy(upstream)
	type sent struct {
		req  *http.Request
		body []byte
	}
	rp.ModifyResponse = func(res *http.Response) error {
		s, _ := res.Request.Context().Value(sentKey{}).(*sent)
		if s == nil {
			return nil
		}
		body, err := io.ReadAll(io.LimitReader(res.Body, maxJudged+1))
		res.Body.Close()
		res.Body = io.NopCloser(bytes.NewReader(body))
		if err != nil || len(body) > maxJudged {
			res.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), res.Body))
			return err
		}
		ledger.Add(j.Judge(s.req, s.body, res.StatusCode, res.Header, body))
		return nil
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if j.Skip != nil && j.Skip(r) {
			rp.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxJudged))
		if err != nil {
			http.Error(w, "reading the request: "+err.Error(), http.StatusBadGateway)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		s := &sent{req: r.Clone(r.Context()), body: body}
		rp.ServeHTTP(w, r.WithContext(withSent(r.Context(), s)))
	})
}

type sentKey struct{}

func withSent(ctx context.Context, s any) context.Context {
	return context.WithValue(ctx, sentKey{}, s)
}
