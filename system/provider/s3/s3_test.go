package s3_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	mocks3 "github.com/real-estate-os/reos/mocks/s3"
	"github.com/real-estate-os/reos/system"
	"github.com/real-estate-os/reos/system/provider/s3"
)

func newStore(t testing.TB) *s3.Store {
	t.Helper()
	srv, err := mocks3.New(mocks3.Config{Dir: t.TempDir(), AccessKeys: map[string]string{"local": "local-secret"}})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	store, err := s3.New(s3.Config{Endpoint: hs.URL, AccessKeyID: "local", SecretAccessKey: "local-secret", Bucket: "memos", Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := store.EnsureBucket(ctx); err != nil {
		t.Fatal(err)
	}
	if err := store.EnsureBucket(ctx); err != nil {
		t.Fatalf("EnsureBucket twice: %v", err)
	}
	return store
}

func TestPutGetPresign(t *testing.T) {
	ctx := context.Background()
	store := newStore(t)
	data := []byte("%PDF-1.4 memo")
	if err := store.Put(ctx, "memos/ab/abc.pdf", data, "application/pdf"); err != nil {
		t.Fatal(err)
	}
	got, err := store.Get(ctx, "memos/ab/abc.pdf")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Get = %q, %v", got, err)
	}
	u, err := store.PresignGet(ctx, "memos/ab/abc.pdf", 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !bytes.Equal(body, data) || res.Header.Get("Content-Type") != "application/pdf" {
		t.Errorf("presigned GET = %d %q %s", res.StatusCode, body, res.Header.Get("Content-Type"))
	}
	if _, err := store.Get(ctx, "memos/none.pdf"); system.ErrorCode(err) != system.ENOTFOUND {
		t.Errorf("Get(missing) = %v, want ENOTFOUND", err)
	}
}

// TestLargeObjectRoundTrip guards against the multipart pitfall: over plain
// HTTP, streaming-signature framing must not end up inside the object.
func TestLargeObjectRoundTrip(t *testing.T) {
	ctx := context.Background()
	store := newStore(t)
	data := make([]byte, 17<<20)
	rand.Read(data)
	if err := store.Put(ctx, "big.bin", data, "application/octet-stream"); err != nil {
		t.Fatal(err)
	}
	got, err := store.Get(ctx, "big.bin")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("17 MiB round trip: %d bytes back, want %d (%v)", len(got), len(data), err)
	}
}

func BenchmarkPutGet(b *testing.B) {
	ctx := context.Background()
	store := newStore(b)
	data := make([]byte, 64<<10) // the size of a memo PDF
	rand.Read(data)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if err := store.Put(ctx, "bench.pdf", data, "application/pdf"); err != nil {
			b.Fatal(err)
		}
		if _, err := store.Get(ctx, "bench.pdf"); err != nil {
			b.Fatal(err)
		}
	}
}
