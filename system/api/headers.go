package api

import (
	"net/http"

	"github.com/go-chi/cors"
)

// contentSecurityPolicy allows the API's own origin only: the UI it serves
// must work without inline script or style.
const contentSecurityPolicy = "default-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'"

// securityHeaders sets the headers a browser needs to keep the product's
// pages out of frames, sniffing and mixed content.
// securityHeaderValues are the headers securityHeaders sets, by canonical
// name, made once.
var securityHeaderValues = map[string][]string{
	"X-Frame-Options":            {"DENY"},
	"X-Content-Type-Options":     {"nosniff"},
	"Strict-Transport-Security":  {"max-age=31536000; includeSubDomains"},
	"Content-Security-Policy":    {contentSecurityPolicy},
	"Referrer-Policy":            {"strict-origin-when-cross-origin"},
	"Cross-Origin-Opener-Policy": {"same-origin"},
}

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		for k, v := range securityHeaderValues {
			h[k] = v // shared, never written to: Set and Add replace or copy
		}
		next.ServeHTTP(w, r)
	})
}

// corsHandler lets the configured origins call the API from a browser.
func corsHandler(origins []string) func(http.Handler) http.Handler {
	return cors.Handler(cors.Options{
		AllowedOrigins: origins,
		AllowedMethods: []string{"GET", "POST", "PATCH", "DELETE", "OPTIONS"},
		AllowedHeaders: []string{"Authorization", "Content-Type", "Idempotency-Key", "If-Match", "If-None-Match", "Last-Event-ID"},
		ExposedHeaders: []string{"ETag", "Location", "Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "Idempotent-Replayed"},
		MaxAge:         600,
	})
}
