package app_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/real-estate-os/reos/fixtures"
)

// BenchmarkGetProperty measures an authenticated GET /api/v1/properties/{id}
// over loopback, through the whole middleware chain and PostgreSQL.
func BenchmarkGetProperty(b *testing.B) {
	s := startStack(b)
	token := s.login("agent@example.com", fixtures.DemoPassword)
	req, _ := http.NewRequest("GET", s.url+"/api/v1/properties/30", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
}
