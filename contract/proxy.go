package contract

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
)

// maxJudged bounds the bodies a proxy keeps to judge: an exchange with a
// larger body passes through whole, unjudged and off the ledger.
const maxJudged = 8 << 20

// Proxy forwards every request to upstream unchanged and judges each
// exchange against j, adding it to ledger. Exchanges j.Skip names (a
// double's inspection endpoints) pass through unjudged. Nothing is changed
// in flight; bodies are not kept, only their shape.
func Proxy(j *Judge, upstream *url.URL, ledger *Ledger) http.Handler {
	return Deferred(func() (*Judge, error) { return j, nil }, upstream, ledger)
}

// Deferred is Proxy with its judge made when the first exchange comes, not
// before: a vendor's document (Twilio's takes a quarter of a second to
// parse) need not be ready when the proxy starts, and a run that never
// reaches the vendor never waits for it. If judge fails, every exchange is
// answered 502 with its error, and none reaches upstream.
func Deferred(judge func() (*Judge, error), upstream *url.URL, ledger *Ledger) http.Handler {
	judge = sync.OnceValues(judge)
	rp := httputil.NewSingleHostReverseProxy(upstream)
	type sent struct {
		judge *Judge
		req   *http.Request
		body  []byte
	}
	rp.ModifyResponse = func(res *http.Response) error {
		s, _ := res.Request.Context().Value(sentKey{}).(*sent)
		if s == nil {
			return nil
		}
		answer := res.Body
		body, err := io.ReadAll(io.LimitReader(answer, maxJudged+1))
		if err != nil || len(body) > maxJudged { // passed on whole, unjudged
			res.Body = struct {
				io.Reader
				io.Closer
			}{io.MultiReader(bytes.NewReader(body), answer), answer}
			return err
		}
		answer.Close()
		res.Body = io.NopCloser(bytes.NewReader(body))
		ledger.Add(s.judge.Judge(s.req, s.body, res.StatusCode, res.Header, body))
		return nil
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		j, err := judge()
		if err != nil {
			http.Error(w, "the contract proxy has no judge: "+err.Error(), http.StatusBadGateway)
			return
		}
		if j.Skip != nil && j.Skip(r) {
			rp.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxJudged+1))
		if err != nil {
			http.Error(w, "reading the request: "+err.Error(), http.StatusBadGateway)
			return
		}
		if len(body) > maxJudged { // passed on whole, unjudged
			r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), r.Body))
			rp.ServeHTTP(w, r)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		s := &sent{judge: j, req: r.Clone(r.Context()), body: body}
		rp.ServeHTTP(w, r.WithContext(withSent(r.Context(), s)))
	})
}

type sentKey struct{}

func withSent(ctx context.Context, s any) context.Context {
	return context.WithValue(ctx, sentKey{}, s)
}
