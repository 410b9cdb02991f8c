package s3_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	mocks3 "github.com/real-estate-os/reos/mocks/s3"
)

const key, secret = "reos-test", "reos-test-secret"

// start serves the mock with one key and a clock the test moves, and puts
// one object through a correctly signing client.
func start(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	clock := &atomic.Int64{}
	clock.Store(time.Now().UnixNano())
	h, err := mocks3.New(mocks3.Config{Dir: t.TempDir(), AccessKeys: map[string]string{key: secret}, Now: func() time.Time { return time.Unix(0, clock.Load()) }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c := client(t, srv, key, secret)
	ctx := context.Background()
	if err := c.MakeBucket(ctx, "memos", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutObject(ctx, "memos", "a/b.pdf", bytes.NewReader([]byte("%PDF-1.4 memo")), 13, minio.PutObjectOptions{ContentType: "application/pdf"}); err != nil {
		t.Fatal(err)
	}
	return srv, clock
}

func client(t *testing.T, srv *httptest.Server, id, secret string) *minio.Client {
	t.Helper()
	u, _ := url.Parse(srv.URL)
	c, err := minio.New(u.Host, &minio.Options{Creds: credentials.NewStaticV4(id, secret, ""), Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// s3Err fetches u and returns the status and S3's error code.
func s3Err(t *testing.T, req *http.Request) (int, string, string) {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var e struct{ Code, Message string }
	xml.Unmarshal(b, &e)
	return res.StatusCode, e.Code, e.Message
}

func TestSignedRequests(t *testing.T) {
	srv, _ := start(t)
	ctx := context.Background()
	obj, err := client(t, srv, key, secret).GetObject(ctx, "memos", "a/b.pdf", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(obj); err != nil || string(b) != "%PDF-1.4 memo" {
		t.Fatalf("a correctly signed GET: %q %v", b, err)
	}
	for _, tt := range []struct {
		name, id, secret, code string
	}{
		{"a wrong secret", key, "not-the-secret", "SignatureDoesNotMatch"},
		{"an unknown key", "AKIDUNKNOWN", secret, "InvalidAccessKeyId"},
	} {
		_, err := client(t, srv, tt.id, tt.secret).StatObject(ctx, "memos", "a/b.pdf", minio.StatObjectOptions{})
		_, err2 := client(t, srv, tt.id, tt.secret).ListBuckets(ctx)
		if resp := minio.ToErrorResponse(err2); resp.Code != tt.code || resp.StatusCode != 403 || err == nil {
			t.Errorf("%s: %v / %+v, want 403 %s", tt.name, err, resp, tt.code)
		}
	}
	if status, code, _ := s3Err(t, must(http.NewRequest("GET", srv.URL+"/memos/a/b.pdf", nil))); status != 403 || code != "AccessDenied" {
		t.Errorf("an anonymous GET: %d %s, want 403 AccessDenied", status, code)
	}
	// A body that is not the one whose hash was signed.
	req := must(http.NewRequest("PUT", srv.URL+"/memos/x", strings.NewReader("tampered")))
	req.Header.Set("X-Amz-Content-Sha256", strings.Repeat("0", 64))
	req.Header.Set("X-Amz-Date", time.Now().UTC().Format("20060102T150405Z"))
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+key+"/"+time.Now().UTC().Format("20060102")+"/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature="+strings.Repeat("a", 64))
	if status, code, _ := s3Err(t, req); status != 400 || code != "XAmzContentSHA256Mismatch" {
		t.Errorf("a body that does not match its signed hash: %d %s", status, code)
	}
}

func TestPresignedURLs(t *testing.T) {
	srv, clock := start(t)
	u, err := client(t, srv, key, secret).PresignedGetObject(context.Background(), "memos", "a/b.pdf", 10*time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	if status, code, _ := s3Err(t, must(http.NewRequest("GET", u.String(), nil))); status != 200 || code != "" {
		t.Fatalf("the presigned URL: %d %s", status, code)
	}
	changed := *u
	q := changed.Query()
	sig := []byte(q.Get("X-Amz-Signature"))
	sig[0] ^= 1
	q.Set("X-Amz-Signature", string(sig))
	changed.RawQuery = q.Encode()
	if status, code, _ := s3Err(t, must(http.NewRequest("GET", changed.String(), nil))); status != 403 || code != "SignatureDoesNotMatch" {
		t.Errorf("a changed signature: %d %s, want 403 SignatureDoesNotMatch", status, code)
	}
	other := strings.Replace(u.String(), "/a/b.pdf", "/a/c.pdf", 1)
	if status, code, _ := s3Err(t, must(http.NewRequest("GET", other, nil))); status != 403 || code != "SignatureDoesNotMatch" {
		t.Errorf("the signature of another object: %d %s, want 403 SignatureDoesNotMatch", status, code)
	}
	clock.Add(int64(11 * time.Minute))
	if status, code, msg := s3Err(t, must(http.NewRequest("GET", u.String(), nil))); status != 403 || code != "AccessDenied" || msg != "Request has expired" {
		t.Errorf("past its expiry: %d %s %q, want 403 AccessDenied \"Request has expired\"", status, code, msg)
	}
}

// An independent signer — curl's --aws-sigv4 — is accepted too, and with a
// wrong secret refused: the check is AWS's scheme, not minio-go's habits.
func TestCurlSigV4(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed (Debian package curl)")
	}
	srv, _ := start(t)
	run := func(secret string) string {
		out, _ := exec.Command("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--aws-sigv4", "aws:amz:us-east-1:s3",
			"-u", key+":"+secret, "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD", srv.URL+"/memos/a/b.pdf").Output()
		return string(out)
	}
	if got := run(secret); got != "200" {
		t.Errorf("curl --aws-sigv4 with the right secret: %s, want 200", got)
	}
	if got := run("wrong"); got != "403" {
		t.Errorf("curl --aws-sigv4 with a wrong secret: %s, want 403", got)
	}
}

func must(r *http.Request, err error) *http.Request {
	if err != nil {
		panic(err)
	}
	return r
}

// FuzzSignature: whatever Authorization header or presigned query a
// request carries, forged ones are refused with S3's 400 or 403 and never
// reach the buckets, and the check never panics.
func FuzzSignature(f *testing.F) {
	day := time.Now().UTC().Format("20060102")
	now := time.Now().UTC().Format("20060102T150405Z")
	f.Add("AWS4-HMAC-SHA256 Credential="+key+"/"+day+"/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=00", "")
	f.Add("AWS4-HMAC-SHA256 Credential=/x/y/s3/aws4_request,SignedHeaders=,Signature=", "")
	f.Add("AWS AKID:sig", "")
	f.Add("", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential="+key+"%2F"+day+"%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date="+now+"&X-Amz-Expires=600&X-Amz-SignedHeaders=host&X-Amz-Signature=ab")
	f.Add("", "X-Amz-Signature=1&X-Amz-Expires=-5")
	f.Add("", "X-Amz-Algorithm=x")
	h, err := mocks3.New(mocks3.Config{Dir: f.TempDir(), AccessKeys: map[string]string{key: secret}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, auth, query string) {
		req := httptest.NewRequest("GET", "/memos/a/b.pdf", nil)
		req.URL.RawQuery = query
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		req.Header.Set("X-Amz-Date", now)
		req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 400 && rec.Code != 403 {
			t.Errorf("auth %q query %q: %d, want 400 or 403", auth, query, rec.Code)
		}
		if !strings.Contains(rec.Body.String(), "<Error><Code>") {
			t.Errorf("auth %q query %q: body %q is not S3's XML error", auth, query, rec.Body.String())
		}
	})
}

func TestHealthNeedsNoSignature(t *testing.T) {
	srv, _ := start(t)
	if status, _, _ := s3Err(t, must(http.NewRequest("GET", srv.URL+mocks3.HealthPath, nil))); status != 200 {
		t.Errorf("GET %s: %d, want 200", mocks3.HealthPath, status)
	}
}
